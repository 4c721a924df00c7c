//! Who is in front of the screen, who looks, and for how long: one person per
//! `facedetect` track (no re-identification: someone who leaves and returns
//! is a new person), timed by the stream's running time in seconds.
//!
//! Vocabulary (Quividi / DPAA): a person present for at least `min_dwell` is
//! an OTS (opportunity to see); dwell time runs from first to last sight;
//! attention time is the sum of looking intervals; a glance is one looking
//! interval; a watcher has attention time of at least `min_attention`.
//!
//! "Still here" is the track's life: facedetect keeps a track through gaps
//! without a detection (its `track-gap`, carried by motion: a hidden face),
//! and [`Audience`] keeps the person present for as long as frames carry the
//! track, seen or hidden; a hidden track extends nobody's dwell (it is not a
//! sighting). `grace` only bridges frames that carry nothing about a track
//! (not analysed, or from a detector that does not carry hidden faces) and
//! gaps in looking: a look stays open until `grace` seconds pass without a
//! frame that says otherwise. It also keeps the content periods
//! (what the screen showed, from when to when), so a person's `left` event
//! says how long they were there and looked during each content item.

use serde::Serialize;

use crate::tracker::{TIME_SLACK, TrackId};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DwellConfig {
    /// Gaps in looking, and frames without any word of a track, up to this
    /// long are bridged (a hidden face is the tracker's: `track-gap`).
    pub grace: f64,
    /// Presences shorter than this are not counted.
    pub min_dwell: f64,
    /// Attention time that makes a watcher.
    pub min_attention: f64,
}

impl Default for DwellConfig {
    fn default() -> Self {
        Self { grace: 1.0, min_dwell: 1.0, min_attention: 1.0 }
    }
}

/// The demographic labels a person is counted under in events and reports
/// (from the `demographics` ROI param; no age in years, no confidence).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Profile {
    pub gender: String,
    pub age_group: String,
}

/// One face on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub id: TrackId,
    /// `None` when the pose could not be judged on this frame.
    pub looking: Option<bool>,
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Appeared,
    LookingStarted,
    LookingStopped,
    Left,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Appeared => "appeared",
            EventKind::LookingStarted => "looking-started",
            EventKind::LookingStopped => "looking-stopped",
            EventKind::Left => "left",
        }
    }
}

/// Why a person left or a content period ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// Out of sight for longer than the grace period, or the content changed.
    #[default]
    Normal,
    /// The end of the stream.
    Eos,
    /// A flushing seek: the timeline restarted, so everything open was closed.
    Flush,
}

impl Ending {
    pub fn name(self) -> &'static str {
        match self {
            Ending::Normal => "normal",
            Ending::Eos => "eos",
            Ending::Flush => "flush",
        }
    }
}

/// A person's time with one content item: the part of their presence that
/// fell inside one period of that item (the fleet's exact input).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContentShare {
    pub content_id: String,
    /// Running time (seconds) of the share's start and end: the overlap of
    /// the presence with the content period.
    pub start: f64,
    pub end: f64,
    pub dwell_time: f64,
    pub attention_time: f64,
}

/// Something that happened to a person, with their totals so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonEvent {
    pub kind: EventKind,
    pub id: TrackId,
    /// Running time of the event, seconds.
    pub time: f64,
    pub dwell_time: f64,
    pub attention_time: f64,
    pub glances: u32,
    pub profile: Option<Profile>,
    /// `left` only: per content period overlapping the presence, in time order.
    pub contents: Vec<ContentShare>,
    /// `left` only: why the presence ended.
    pub ending: Ending,
}

/// A person's presence: sight and looking intervals (seconds, end exclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub id: TrackId,
    pub first_seen: f64,
    /// End of the last frame the person was seen on.
    pub last_seen_end: f64,
    /// End of the last frame that carried the track, seen or hidden.
    last_tracked_end: f64,
    /// Closed looking intervals.
    pub looking: Vec<(f64, f64)>,
    /// The open looking interval: its start and the end of its last looking frame.
    open_look: Option<(f64, f64)>,
    pub profile: Option<Profile>,
    announced: bool,
}

impl Presence {
    pub fn dwell_time(&self) -> f64 {
        self.last_seen_end - self.first_seen
    }

    fn intervals(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.looking.iter().copied().chain(self.open_look)
    }

    pub fn attention_time(&self) -> f64 {
        // fold from +0.0: f64's `sum()` of nothing is -0.0, published as "attention-time=-0".
        self.intervals().fold(0.0, |sum, (a, b)| sum + (b - a))
    }

    pub fn glances(&self) -> u32 {
        self.intervals().count() as u32
    }

    /// Whether the person's last judged frame was a looking one (the look is
    /// still open): the state the looking hysteresis starts from.
    pub fn is_looking(&self) -> bool {
        self.open_look.is_some()
    }

    /// Dwell and attention time inside [start, end).
    pub fn within(&self, start: f64, end: f64) -> (f64, f64) {
        let overlap = |a: f64, b: f64| (b.min(end) - a.max(start)).max(0.0);
        (overlap(self.first_seen, self.last_seen_end), self.intervals().fold(0.0, |sum, (a, b)| sum + overlap(a, b)))
    }

    fn close_look(&mut self) -> bool {
        match self.open_look.take() {
            Some(iv) => {
                self.looking.push(iv);
                true
            }
            None => false,
        }
    }
}

/// What the screen showed from `start` to `end` (running time, seconds; `end`
/// is `None` while it is on screen).
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPeriod {
    pub content_id: String,
    pub start: f64,
    pub end: Option<f64>,
}

/// A closed content period and everyone whose presence overlapped it: the
/// input of its content report.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedPeriod {
    pub content_id: String,
    pub start: f64,
    pub end: f64,
    pub presences: Vec<Presence>,
    pub ending: Ending,
}

/// Tracks presences, looking and content periods over time and reports events.
#[derive(Debug, Default)]
pub struct Audience {
    config: DwellConfig,
    present: Vec<Presence>,
    /// People who left, kept until the content report that covers them.
    departed: Vec<Presence>,
    /// Content periods a present person may still overlap, oldest first; the
    /// last one is open while content is on screen.
    periods: Vec<ContentPeriod>,
}

impl Audience {
    pub fn new(config: DwellConfig) -> Self {
        Self { config, ..Self::default() }
    }

    pub fn config(&self) -> &DwellConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: DwellConfig) {
        self.config = config;
    }

    pub fn present(&self) -> &[Presence] {
        &self.present
    }

    /// The presence of track `id`, if it is in front of the screen.
    pub fn person(&self, id: TrackId) -> Option<&Presence> {
        self.present.iter().find(|p| p.id == id)
    }

    /// Whether track `id` was looking on its last judged frame (see [`Presence::is_looking`]).
    pub fn is_looking(&self, id: TrackId) -> bool {
        self.person(id).is_some_and(Presence::is_looking)
    }

    /// The content on screen: its id and start, once [`Audience::switch_content`] opened one.
    pub fn content(&self) -> Option<(&str, f64)> {
        self.periods.last().filter(|p| p.end.is_none()).map(|p| (p.content_id.as_str(), p.start))
    }

    fn event(&self, kind: EventKind, p: &Presence, time: f64) -> PersonEvent {
        PersonEvent {
            kind,
            id: p.id,
            time,
            dwell_time: p.dwell_time(),
            attention_time: p.attention_time(),
            glances: p.glances(),
            profile: p.profile.clone(),
            contents: Vec::new(),
            ending: Ending::Normal,
        }
    }

    /// One analysed frame starting at `time` and lasting `duration` seconds.
    pub fn update(&mut self, time: f64, duration: f64, observations: &[Observation]) -> Vec<PersonEvent> {
        self.update_with_hidden(time, duration, observations, &[])
    }

    /// As [`update`](Self::update), where the frame also carries the tracks
    /// `hidden` without seeing their faces (predicted positions): those
    /// people are still here, but nothing of them is measured (their dwell
    /// ends at their last sighting unless they are seen again; a hidden
    /// track never starts a presence).
    pub fn update_with_hidden(
        &mut self,
        time: f64,
        duration: f64,
        observations: &[Observation],
        hidden: &[TrackId],
    ) -> Vec<PersonEvent> {
        let mut events = Vec::new();
        let end = time + duration;
        for p in self.present.iter_mut().filter(|p| hidden.contains(&p.id)) {
            p.last_tracked_end = end;
        }
        for o in observations {
            let idx = match self.present.iter().position(|p| p.id == o.id) {
                Some(i) => i,
                None => {
                    self.present.push(Presence {
                        id: o.id,
                        first_seen: time,
                        last_seen_end: end,
                        last_tracked_end: end,
                        looking: Vec::new(),
                        open_look: None,
                        profile: None,
                        announced: false,
                    });
                    self.present.len() - 1
                }
            };
            let grace = self.config.grace;
            let p = &mut self.present[idx];
            p.last_seen_end = end;
            p.last_tracked_end = end;
            if let Some(d) = &o.profile {
                p.profile = Some(d.clone());
            }
            match o.looking {
                Some(true) => {
                    let started = match p.open_look.as_mut() {
                        // A short gap (missed frames) does not end a glance.
                        Some(iv) if time - iv.1 <= grace + TIME_SLACK => {
                            iv.1 = end;
                            false
                        }
                        _ => {
                            p.close_look();
                            p.open_look = Some((time, end));
                            true
                        }
                    };
                    if started && p.announced {
                        let p = &self.present[idx];
                        events.push(self.event(EventKind::LookingStarted, p, time));
                    }
                }
                // Not a match guard: close_look() ends the look whether or not it is announced.
                #[allow(clippy::collapsible_match)]
                Some(false) => {
                    if p.close_look() && p.announced {
                        let p = &self.present[idx];
                        events.push(self.event(EventKind::LookingStopped, p, time));
                    }
                }
                None => {}
            }
            let p = &mut self.present[idx];
            if !p.announced && p.dwell_time() >= self.config.min_dwell {
                p.announced = true;
                let p = &self.present[idx];
                events.push(self.event(EventKind::Appeared, p, p.first_seen));
                if let Some((start, _)) = p.open_look {
                    events.push(self.event(EventKind::LookingStarted, p, start));
                }
            }
        }
        // Looking intervals not extended within the grace period end where they stopped.
        let grace = self.config.grace;
        for i in 0..self.present.len() {
            let p = &mut self.present[i];
            if let Some(iv) = p.open_look
                && time - iv.1 > grace + TIME_SLACK
                && p.close_look()
                && p.announced
            {
                let p = &self.present[i];
                events.push(self.event(EventKind::LookingStopped, p, iv.1));
            }
        }
        events.extend(self.leave_where(|p| time - p.last_tracked_end > grace + TIME_SLACK, Ending::Normal));
        events
    }

    /// Closes the content on screen at `time` (if any) and puts `next` on
    /// screen from `time` (if given). Returns the closed period with
    /// everyone who overlapped it, for its content report.
    pub fn switch_content(&mut self, time: f64, next: Option<&str>) -> Option<ClosedPeriod> {
        self.switch_content_ending(time, next, Ending::Normal)
    }

    fn switch_content_ending(&mut self, time: f64, next: Option<&str>, ending: Ending) -> Option<ClosedPeriod> {
        let closed = match self.periods.last_mut() {
            Some(open) if open.end.is_none() => {
                open.end = Some(time);
                let (content_id, start) = (open.content_id.clone(), open.start);
                Some(ClosedPeriod { content_id, start, end: time, presences: self.take_period(start, time), ending })
            }
            _ => None,
        };
        if let Some(id) = next {
            self.periods.push(ContentPeriod { content_id: id.to_string(), start: time, end: None });
        }
        self.forget_old_periods();
        closed
    }

    /// The end of the stream: everyone leaves, then the content closes.
    pub fn finish(&mut self, time: f64) -> (Vec<PersonEvent>, Option<ClosedPeriod>) {
        self.close_all(time, Ending::Eos)
    }

    /// A flushing seek: the timeline restarts, so everyone leaves and the
    /// content closes now, marked as ended by a flush (nothing seen before
    /// the seek is lost); afterwards the audience is empty, and the content
    /// reopens on the first frame after the flush.
    pub fn flush(&mut self, time: f64) -> (Vec<PersonEvent>, Option<ClosedPeriod>) {
        let out = self.close_all(time, Ending::Flush);
        self.departed.clear();
        self.periods.clear();
        out
    }

    fn close_all(&mut self, time: f64, ending: Ending) -> (Vec<PersonEvent>, Option<ClosedPeriod>) {
        let events = self.leave_where(|_| true, ending);
        let period = self.switch_content_ending(time, None, ending);
        (events, period)
    }

    /// Each content period's share of a presence, in time order.
    fn shares(&self, p: &Presence) -> Vec<ContentShare> {
        self.periods
            .iter()
            .filter_map(|period| {
                let end = period.end.unwrap_or(f64::INFINITY);
                let (start, end) = (p.first_seen.max(period.start), p.last_seen_end.min(end));
                (end > start).then(|| {
                    let (dwell_time, attention_time) = p.within(start, end);
                    ContentShare { content_id: period.content_id.clone(), start, end, dwell_time, attention_time }
                })
            })
            .collect()
    }

    fn leave_where(&mut self, gone: impl Fn(&Presence) -> bool, ending: Ending) -> Vec<PersonEvent> {
        let mut events = Vec::new();
        let mut i = 0;
        while i < self.present.len() {
            if gone(&self.present[i]) {
                let mut p = self.present.remove(i);
                let stopped = p.open_look.map(|iv| iv.1);
                if p.close_look() && p.announced {
                    events.push(self.event(EventKind::LookingStopped, &p, stopped.unwrap_or(p.last_seen_end)));
                }
                if p.announced {
                    let mut left = self.event(EventKind::Left, &p, p.last_seen_end);
                    left.contents = self.shares(&p);
                    left.ending = ending;
                    events.push(left);
                }
                self.departed.push(p);
            } else {
                i += 1;
            }
        }
        self.forget_old_periods();
        events
    }

    /// Closed periods that no present person overlaps are no longer needed
    /// for attribution (departed people were attributed when they left).
    fn forget_old_periods(&mut self) {
        let earliest = self.present.iter().map(|p| p.first_seen).fold(f64::INFINITY, f64::min);
        self.periods.retain(|p| p.end.is_none_or(|end| end > earliest));
    }

    /// Every presence that overlaps [start, end); departed people that ended
    /// before `end` are forgotten afterwards (reported at most once more).
    pub fn take_period(&mut self, start: f64, end: f64) -> Vec<Presence> {
        let mut out: Vec<Presence> = self
            .present
            .iter()
            .chain(self.departed.iter())
            .filter(|p| p.first_seen < end && p.last_seen_end > start)
            .cloned()
            .collect();
        self.departed.retain(|p| p.last_seen_end > end);
        out.sort_by_key(|p| p.id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: f64 = 10.0;

    fn obs(id: TrackId, looking: bool) -> Observation {
        Observation { id, looking: Some(looking), profile: None }
    }

    /// Runs frames 0..n, with `at(frame)` giving that frame's observations.
    fn run(a: &mut Audience, n: usize, at: impl Fn(usize) -> Vec<Observation>) -> Vec<PersonEvent> {
        let mut events = Vec::new();
        for f in 0..n {
            events.extend(a.update(f as f64 / FPS, 1.0 / FPS, &at(f)));
        }
        events
    }

    #[test]
    fn dwell_attention_and_glances() {
        let mut a = Audience::new(DwellConfig { grace: 0.5, min_dwell: 0.5, min_attention: 1.0 });
        // Present frames 0..50 (5 s); looking 10..30 and 40..45.
        let events =
            run(
                &mut a,
                60,
                |f| if f < 50 { vec![obs(1, (10..30).contains(&f) || (40..45).contains(&f))] } else { vec![] },
            );
        let left = events.iter().find(|e| e.kind == EventKind::Left).expect("left");
        assert!((left.dwell_time - 5.0).abs() < 1e-9, "{left:?}");
        assert!((left.attention_time - 2.5).abs() < 1e-9, "{left:?}");
        assert_eq!(left.glances, 2);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(kinds, vec![Appeared, LookingStarted, LookingStopped, LookingStarted, LookingStopped, Left]);
    }

    #[test]
    fn short_gaps_are_bridged() {
        let mut a = Audience::new(DwellConfig { grace: 0.5, min_dwell: 0.5, min_attention: 1.0 });
        // Looking throughout 0..30 but missed on frames 10..13 (0.3 s).
        let events = run(&mut a, 40, |f| if f < 30 && !(10..13).contains(&f) { vec![obs(1, true)] } else { vec![] });
        let left = events.iter().find(|e| e.kind == EventKind::Left).unwrap();
        assert_eq!(left.glances, 1);
        assert!((left.attention_time - 3.0).abs() < 1e-9 && (left.dwell_time - 3.0).abs() < 1e-9, "{left:?}");
    }

    /// A face hidden longer than `grace` (here 2 s, the tracker carrying it)
    /// stays one person; the hidden time is presence, and no sighting ends
    /// it: a person hidden until they leave is dated at their last sighting.
    #[test]
    fn hidden_tracks_keep_the_person_without_extending_dwell() {
        let mut a = Audience::new(DwellConfig { grace: 0.5, min_dwell: 0.5, min_attention: 1.0 });
        let mut events = Vec::new();
        // Seen 0..10, hidden 10..30, seen 30..40, hidden 40..50, then the track ends.
        for f in 0..70 {
            let (seen, hidden) = match f {
                0..10 | 30..40 => (vec![obs(1, true)], vec![]),
                10..30 | 40..50 => (vec![], vec![1]),
                _ => (vec![], vec![]),
            };
            events.extend(a.update_with_hidden(f as f64 / FPS, 1.0 / FPS, &seen, &hidden));
        }
        let left: Vec<&PersonEvent> = events.iter().filter(|e| e.kind == EventKind::Left).collect();
        assert_eq!(left.len(), 1, "{events:?}");
        assert!((left[0].dwell_time - 4.0).abs() < 1e-9 && (left[0].time - 4.0).abs() < 1e-9, "{:?}", left[0]);
        // Looking is not known while hidden for 2 s (> grace): two glances of 1 s.
        assert_eq!(left[0].glances, 2);
        assert!((left[0].attention_time - 2.0).abs() < 1e-9, "{:?}", left[0]);
        // A prediction alone never starts anybody.
        let mut b = Audience::new(DwellConfig::default());
        assert!(b.update_with_hidden(0.0, 0.1, &[], &[7]).is_empty() && b.present().is_empty());
    }

    /// Grace is inclusive to the frame: at 25 fps, 25 frames without a look
    /// (1 s) are bridged, 26 are not.
    #[test]
    fn a_gap_of_exactly_the_grace_is_bridged() {
        for (gap, glances) in [(25, 1), (26, 2)] {
            let mut a = Audience::new(DwellConfig::default());
            let mut events = Vec::new();
            for f in 0..100u64 {
                let t = (f * 40_000_000) as f64 / 1e9;
                let o = if (40..40 + gap).contains(&f) { vec![] } else { vec![obs(1, true)] };
                events.extend(a.update_with_hidden(t, 0.04, &o, &[1]));
            }
            events.extend(a.finish(4.0).0);
            let left = events.iter().find(|e| e.kind == EventKind::Left).unwrap();
            assert_eq!(left.glances, glances, "gap {gap}: {left:?}");
        }
    }

    #[test]
    fn brief_presences_are_not_announced() {
        let mut a = Audience::new(DwellConfig { grace: 0.2, min_dwell: 1.0, min_attention: 1.0 });
        let events = run(&mut a, 20, |f| if f < 5 { vec![obs(1, true)] } else { vec![] });
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_returning_person_is_new() {
        let mut a = Audience::new(DwellConfig { grace: 0.2, min_dwell: 0.1, min_attention: 1.0 });
        // The tracker gives a new id after a long absence; the same id after it would still be a new presence.
        let events = run(&mut a, 40, |f| if !(10..30).contains(&f) { vec![obs(1, false)] } else { vec![] });
        let appeared = events.iter().filter(|e| e.kind == EventKind::Appeared).count();
        assert_eq!(appeared, 2);
    }

    #[test]
    fn period_overlap() {
        let mut a = Audience::new(DwellConfig { grace: 0.2, min_dwell: 0.1, min_attention: 1.0 });
        run(&mut a, 30, |f| vec![obs(1, f >= 10)]);
        let ps = a.take_period(0.0, 2.0);
        let (dwell, attention) = ps[0].within(0.0, 2.0);
        assert!((dwell - 2.0).abs() < 1e-9 && (attention - 1.0).abs() < 1e-9);
    }

    #[test]
    fn left_events_split_presence_and_attention_by_content() {
        let mut a = Audience::new(DwellConfig { grace: 0.5, min_dwell: 0.5, min_attention: 1.0 });
        assert!(a.switch_content(0.0, Some("ad-a")).is_none(), "nothing was on screen before");
        let mut events = Vec::new();
        let mut reports = Vec::new();
        // Present frames 10..50 (1.0-5.0 s), looking 20..40; the content changes at 3.0 s.
        for f in 0..70 {
            let t = f as f64 / FPS;
            if f == 30 {
                reports.extend(a.switch_content(t, Some("ad-b")));
            }
            let o = if (10..50).contains(&f) { vec![obs(1, (20..40).contains(&f))] } else { vec![] };
            events.extend(a.update(t, 1.0 / FPS, &o));
        }
        let left = events.iter().find(|e| e.kind == EventKind::Left).expect("left");
        assert_eq!(left.ending, Ending::Normal);
        let shares: Vec<(&str, f64, f64, f64, f64)> = left
            .contents
            .iter()
            .map(|c| (c.content_id.as_str(), c.start, c.end, c.dwell_time, c.attention_time))
            .collect();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert_eq!(shares.len(), 2, "{shares:?}");
        assert_eq!((shares[0].0, shares[1].0), ("ad-a", "ad-b"));
        assert!(
            close(shares[0].1, 1.0) && close(shares[0].2, 3.0) && close(shares[0].3, 2.0) && close(shares[0].4, 1.0)
        );
        assert!(
            close(shares[1].1, 3.0) && close(shares[1].2, 5.0) && close(shares[1].3, 2.0) && close(shares[1].4, 1.0)
        );
        // The shares add up to the person's totals.
        let dwell: f64 = left.contents.iter().map(|c| c.dwell_time).sum();
        let attention: f64 = left.contents.iter().map(|c| c.attention_time).sum();
        assert!(close(dwell, left.dwell_time) && close(attention, left.attention_time), "{left:?}");
        // The closed period of ad-a saw the person; only ad-b is still open and kept.
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].presences.len(), 1);
        assert_eq!(a.content(), Some(("ad-b", 3.0)));
        assert_eq!(a.periods.len(), 1, "periods nobody present overlaps are forgotten");
    }

    #[test]
    fn a_flush_closes_everything_and_says_so() {
        let mut a = Audience::new(DwellConfig { grace: 0.5, min_dwell: 0.5, min_attention: 1.0 });
        a.switch_content(0.0, Some("ad-a"));
        run(&mut a, 20, |_| vec![obs(1, true), obs(2, false)]);
        assert!(a.is_looking(1) && !a.is_looking(2) && !a.is_looking(3));
        let (events, period) = a.flush(2.0);
        let left: Vec<&PersonEvent> = events.iter().filter(|e| e.kind == EventKind::Left).collect();
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|e| e.ending == Ending::Flush && e.contents.len() == 1));
        let period = period.expect("the content period closes");
        assert_eq!((period.ending, period.presences.len()), (Ending::Flush, 2));
        assert!(a.present().is_empty() && a.content().is_none());
        // After the flush the same track ids are new people.
        a.switch_content(0.0, Some("ad-a"));
        let events = run(&mut a, 10, |_| vec![obs(1, false)]);
        assert!(events.iter().any(|e| e.kind == EventKind::Appeared && e.id == 1));
    }

    #[test]
    fn eos_ends_everyone_with_their_shares() {
        let mut a = Audience::new(DwellConfig { grace: 0.5, min_dwell: 0.5, min_attention: 1.0 });
        a.switch_content(0.0, Some("ad-a"));
        run(&mut a, 20, |_| vec![obs(7, true)]);
        let (events, period) = a.finish(2.0);
        let left = events.iter().find(|e| e.kind == EventKind::Left).unwrap();
        assert_eq!((left.ending, left.contents.len()), (Ending::Eos, 1));
        assert!((left.contents[0].attention_time - 2.0).abs() < 1e-9);
        assert_eq!(period.map(|p| (p.ending, p.end)), Some((Ending::Eos, 2.0)));
    }
}
