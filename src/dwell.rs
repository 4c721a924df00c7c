//! Who is in front of the screen, who looks, and for how long: one person per
//! `facedetect` track (no re-identification: someone who leaves and returns
//! is a new person), timed by the stream's running time in seconds.
//!
//! Vocabulary (Quividi / DPAA): a person present for at least `min_dwell` is
//! an OTS (opportunity to see); dwell time runs from first to last sight;
//! attention time is the sum of looking intervals; a glance is one looking
//! interval; a watcher has attention time of at least `min_attention`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DwellConfig {
    /// Gaps in sight (or in looking) up to this long are bridged.
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

/// Demographic labels carried into events and reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Demographics {
    pub gender: String,
    pub age_group: String,
}

/// One face on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub id: u64,
    /// `None` when the pose could not be judged on this frame.
    pub looking: Option<bool>,
    pub demographics: Option<Demographics>,
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

/// Something that happened to a person, with their totals so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonEvent {
    pub kind: EventKind,
    pub person: u64,
    /// Running time of the event, seconds.
    pub time: f64,
    pub dwell_time: f64,
    pub attention_time: f64,
    pub glances: u32,
    pub demographics: Option<Demographics>,
}

/// A person's presence: sight and looking intervals (seconds, end exclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub id: u64,
    pub first_seen: f64,
    /// End of the last frame the person was seen on.
    pub last_seen_end: f64,
    /// Closed looking intervals.
    pub looking: Vec<(f64, f64)>,
    /// The open looking interval: its start and the end of its last looking frame.
    open_look: Option<(f64, f64)>,
    pub demographics: Option<Demographics>,
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

    /// Dwell and attention time inside [start, end).
    pub fn within(&self, start: f64, end: f64) -> (f64, f64) {
        let overlap = |a: f64, b: f64| (b.min(end) - a.max(start)).max(0.0);
        (overlap(self.first_seen, self.last_seen_end), self.intervals().map(|(a, b)| overlap(a, b)).sum())
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

/// Tracks presences and looking over time and reports events.
#[derive(Debug, Default)]
pub struct Audience {
    config: DwellConfig,
    present: Vec<Presence>,
    /// People who left, kept until the content report that covers them.
    departed: Vec<Presence>,
}

impl Audience {
    pub fn new(config: DwellConfig) -> Self {
        Self { config, present: Vec::new(), departed: Vec::new() }
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

    fn event(&self, kind: EventKind, p: &Presence, time: f64) -> PersonEvent {
        PersonEvent {
            kind,
            person: p.id,
            time,
            dwell_time: p.dwell_time(),
            attention_time: p.attention_time(),
            glances: p.glances(),
            demographics: p.demographics.clone(),
        }
    }

    /// One analysed frame starting at `time` and lasting `duration` seconds.
    pub fn update(&mut self, time: f64, duration: f64, observations: &[Observation]) -> Vec<PersonEvent> {
        let mut events = Vec::new();
        let end = time + duration;
        for o in observations {
            let idx = match self.present.iter().position(|p| p.id == o.id) {
                Some(i) => i,
                None => {
                    self.present.push(Presence {
                        id: o.id,
                        first_seen: time,
                        last_seen_end: end,
                        looking: Vec::new(),
                        open_look: None,
                        demographics: None,
                        announced: false,
                    });
                    self.present.len() - 1
                }
            };
            let grace = self.config.grace;
            let p = &mut self.present[idx];
            p.last_seen_end = end;
            if let Some(d) = &o.demographics {
                p.demographics = Some(d.clone());
            }
            match o.looking {
                Some(true) => {
                    let started = match p.open_look.as_mut() {
                        // A short gap (missed frames) does not end a glance.
                        Some(iv) if time - iv.1 <= grace => {
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
        for p in &mut self.present {
            if let Some(iv) = p.open_look
                && time - iv.1 > self.config.grace
                && p.close_look()
                && p.announced
            {
                events.push(PersonEvent {
                    kind: EventKind::LookingStopped,
                    person: p.id,
                    time: iv.1,
                    dwell_time: p.dwell_time(),
                    attention_time: p.attention_time(),
                    glances: p.glances(),
                    demographics: p.demographics.clone(),
                });
            }
        }
        let grace = self.config.grace;
        events.extend(self.leave_where(|p| time - p.last_seen_end > grace));
        events
    }

    /// Everyone still present leaves (end of stream).
    pub fn finish(&mut self) -> Vec<PersonEvent> {
        self.leave_where(|_| true)
    }

    fn leave_where(&mut self, gone: impl Fn(&Presence) -> bool) -> Vec<PersonEvent> {
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
                    events.push(self.event(EventKind::Left, &p, p.last_seen_end));
                }
                self.departed.push(p);
            } else {
                i += 1;
            }
        }
        events
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

    fn obs(id: u64, looking: bool) -> Observation {
        Observation { id, looking: Some(looking), demographics: None }
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
}
