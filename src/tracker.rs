//! Keeps a track id on each face while it stays in view, from motion and box
//! size alone. There is deliberately no appearance model: a face that
//! leaves and comes back gets a new id, so nobody is ever re-recognised.
//!
//! Time is in seconds (the buffers' timestamps), so a gap means the same at
//! any frame rate and `interval`. A face hidden for up to `track_gap` seconds
//! (a hand, a shelf label, another shopper in front) keeps its track,
//! carried meanwhile by damped constant velocity; a track is the one notion
//! of "still here" (gazedwell's presence follows it, see docs/gazedwell.md).

use crate::detect::Detection;
use crate::geometry::BBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Minimum IoU between a track's predicted box and a detection to match.
    pub iou_threshold: f32,
    /// Small fast faces barely overlap from one run to the next: a detection
    /// whose centre lies within this many box sizes of the prediction (and
    /// whose size is within a factor of 2) also matches. The reach grows
    /// with the time a track has been hidden, up to twice this at `track_gap`.
    pub max_centre_shift: f32,
    /// Seconds a track lives on without a matching detection (facedetect's
    /// `track-gap`): a face hidden this long is the same person, one found
    /// later is a new one.
    pub track_gap: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { iou_threshold: 0.3, max_centre_shift: 1.0, track_gap: DEFAULT_TRACK_GAP }
    }
}

/// The default `track_gap`, seconds: gazedwell's default `grace`, and longer
/// than the 4-8 frames (at 25 fps) a passing hand or shopper hides a face.
pub const DEFAULT_TRACK_GAP: f64 = 1.0;

/// Time constant (seconds) of the velocity's decay while a track is hidden:
/// the prediction follows the last motion at first and then settles, so a
/// face that stopped behind something is looked for near where it went.
const VELOCITY_DECAY: f64 = 1.0;

/// Timestamps are nanoseconds read as f64 seconds: differences are compared
/// with this slack so that 25 frames at 40 ms are exactly 1 s (also for
/// the grace periods of [`crate::dwell`]).
pub const TIME_SLACK: f64 = 1e-6;

/// A track id: one person (one presence) from first to last sight. The same
/// type everywhere: tracker, ROI meta, demographics, dwell, records.
///
/// `GstVideoRegionOfInterestMeta.id` is a `gint`, so ids stay in
/// 1..=[`MAX_TRACK_ID`] (`i32::MAX`) and the ROI carries the id unchanged.
/// After the last id the tracker starts again at 1, skipping ids still in
/// use: at 10 new people a second that is after 6.8 years of running, and a
/// reused id is only ever given to a new presence (never re-recognition).
pub type TrackId = u32;

/// The largest track id (the ROI meta's `gint` id holds it unchanged).
pub const MAX_TRACK_ID: TrackId = i32::MAX as TrackId;

/// One face followed over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub id: TrackId,
    /// Where the face is on the current frame: the latest matching detection,
    /// moved along the track's motion on frames where it was not matched.
    pub detection: Detection,
    /// Detection runs that matched this track.
    pub hits: u32,
    /// Detection runs in a row that did not match it (it is hidden).
    pub misses: u32,
    /// The detection that last matched, and its frame's start and end (s).
    matched: Detection,
    matched_time: f64,
    matched_end: f64,
    /// Centre motion in pixels per second.
    velocity: (f32, f32),
}

impl Track {
    /// Matched by the latest detection run (or carried from it between runs);
    /// a track that is not visible is hidden: its box is a prediction.
    pub fn is_visible(&self) -> bool {
        self.misses == 0
    }

    /// End (running time, seconds) of the frame the face was last detected on.
    pub fn last_seen_end(&self) -> f64 {
        self.matched_end
    }

    /// Moves the box along the motion to `time`: at constant velocity between
    /// runs, decaying towards a stop once the face is hidden.
    fn advance(&mut self, time: f64) {
        let dt = (time - self.matched_time).max(0.0);
        let travel = if self.is_visible() { dt } else { VELOCITY_DECAY * (1.0 - (-dt / VELOCITY_DECAY).exp()) };
        let travel = travel as f32;
        self.detection = self.matched.moved(self.velocity.0 * travel, self.velocity.1 * travel);
    }
}

#[derive(Debug, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: TrackId,
    /// Frame width and height: a hidden track carried out of the frame ends.
    bounds: Option<(f32, f32)>,
    /// Ids the last update started and ended (kept: no allocation per frame
    /// once grown), for the element's logs.
    started: Vec<TrackId>,
    ended: Vec<TrackId>,
    /// Scratch of `update` and `predict`, kept for the same reason: candidate
    /// (cost, track, detection) pairs and which tracks and detections are taken.
    pairs: Vec<(f32, usize, usize)>,
    track_taken: Vec<bool>,
    det_taken: Vec<bool>,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, next_id: 1, ..Self::default() }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Ids of the tracks the last [`update`](Self::update) started (empty
    /// after [`predict`](Self::predict) and [`clear`](Self::clear)).
    pub fn started(&self) -> &[TrackId] {
        &self.started
    }

    /// Ids of the tracks the last [`update`](Self::update) or
    /// [`predict`](Self::predict) ended (hidden for longer than `track_gap`, or
    /// carried out of the frame), or [`clear`](Self::clear) forgot.
    pub fn ended(&self) -> &[TrackId] {
        &self.ended
    }

    /// Visible tracks, oldest first.
    pub fn visible(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.is_visible())
    }

    /// Forgets every track (a new stream): they all end; ids keep counting up.
    pub fn clear(&mut self) {
        self.started.clear();
        self.ended.clear();
        self.ended.extend(self.tracks.iter().map(|t| t.id));
        self.tracks.clear();
    }

    /// Changes `track_gap` (seconds) for the tracks from now on.
    pub fn set_track_gap(&mut self, track_gap: f64) {
        self.config.track_gap = track_gap;
    }

    /// The frame's size in pixels: hidden tracks carried out of it end (a
    /// face that left the picture is not hidden behind something).
    pub fn set_bounds(&mut self, width: f32, height: f32) {
        self.bounds = Some((width, height));
    }

    /// How well a detection fits a track's predicted box on the frame at
    /// `time` (lower is better), or `None` if it cannot be the same face.
    /// Motion (the prediction) and size only, never appearance. A track
    /// hidden for longer reaches further and costs more, so at a crossing
    /// the face in front keeps the detection and the hidden one waits.
    fn match_cost(&self, track: &Track, detected: &BBox, time: f64) -> Option<f32> {
        let predicted = &track.detection.bbox;
        let iou = predicted.iou(detected);
        let (pcx, pcy) = predicted.center();
        let (dcx, dcy) = detected.center();
        let size = (predicted.w * predicted.h).sqrt().max(1.0);
        let shift = (pcx - dcx).hypot(pcy - dcy) / size;
        let ratio = (detected.w * detected.h).max(1.0) / (predicted.w * predicted.h).max(1.0);
        let similar_size = (0.25..=4.0).contains(&ratio);
        let hidden = ((time - track.matched_end).max(0.0) / self.config.track_gap.max(TIME_SLACK)).min(1.0) as f32;
        let reach = self.config.max_centre_shift * (1.0 + hidden);
        if iou >= self.config.iou_threshold || (similar_size && shift <= reach) {
            // 1 - IoU and the shift in box sizes as before; the size change as
            // a log ratio of side lengths; the time hidden as a share of the gap.
            Some(1.0 - iou + shift + 0.5 * ratio.ln().abs() + hidden)
        } else {
            None
        }
    }

    /// The frame size changed (new caps mid-stream): maps every track's
    /// boxes, landmarks and motion by `sx`, `sy` (new size / old size), so
    /// the same faces keep their tracks instead of all restarting.
    pub fn rescale(&mut self, sx: f32, sy: f32) {
        for t in &mut self.tracks {
            t.detection = t.detection.scaled(sx, sy);
            t.matched = t.matched.scaled(sx, sy);
            t.velocity = (t.velocity.0 * sx, t.velocity.1 * sy);
        }
        if let Some((w, h)) = self.bounds {
            self.bounds = Some((w * sx, h * sy));
        }
    }

    /// A frame starting at `time` and lasting `duration` seconds on which the
    /// model did not run: move tracks along their motion; end those already
    /// hidden for too long (the others are not known to be hidden).
    pub fn predict(&mut self, time: f64, duration: f64) {
        self.started.clear();
        self.ended.clear();
        self.tracks.iter_mut().for_each(|t| t.advance(time));
        let mut visible = std::mem::take(&mut self.track_taken);
        visible.clear();
        visible.extend(self.tracks.iter().map(Track::is_visible));
        self.end_lost(time + duration, &visible);
        self.track_taken = visible;
    }

    /// A frame starting at `time` and lasting `duration` seconds on which the
    /// model ran: match detections to the tracks' predicted boxes greedily by
    /// cost, start tracks for the rest and end tracks hidden for longer than
    /// `track_gap` (or carried out of the frame).
    pub fn update(&mut self, detections: &[Detection], time: f64, duration: f64) {
        self.started.clear();
        self.ended.clear();
        self.tracks.iter_mut().for_each(|t| t.advance(time));
        // (cost, track, detection): overlap first, then centre distance.
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.clear();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                if let Some(cost) = self.match_cost(t, &d.bbox, time) {
                    pairs.push((cost, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut track_taken, mut det_taken) =
            (std::mem::take(&mut self.track_taken), std::mem::take(&mut self.det_taken));
        track_taken.clear();
        track_taken.resize(self.tracks.len(), false);
        det_taken.clear();
        det_taken.resize(detections.len(), false);
        for &(_, ti, di) in &pairs {
            if track_taken[ti] || det_taken[di] {
                continue;
            }
            track_taken[ti] = true;
            det_taken[di] = true;
            let t = &mut self.tracks[ti];
            let dt = (time - t.matched_time) as f32;
            if dt > 0.0 {
                let (ox, oy) = t.matched.bbox.center();
                let (cx, cy) = detections[di].bbox.center();
                let v = ((cx - ox) / dt, (cy - oy) / dt);
                t.velocity = if t.hits == 1 { v } else { (0.5 * (t.velocity.0 + v.0), 0.5 * (t.velocity.1 + v.1)) };
            }
            t.matched = detections[di];
            t.detection = detections[di];
            (t.matched_time, t.matched_end) = (time, time + duration);
            t.hits += 1;
            t.misses = 0;
        }
        for (t, taken) in self.tracks.iter_mut().zip(&track_taken) {
            if !taken {
                t.misses += 1;
            }
        }
        self.end_lost(time + duration, &track_taken);
        self.pairs = pairs;
        self.track_taken = track_taken;
        for (d, taken) in detections.iter().zip(&det_taken) {
            if !taken {
                let id = self.take_id();
                self.started.push(id);
                self.tracks.push(Track {
                    id,
                    detection: *d,
                    hits: 1,
                    misses: 0,
                    matched: *d,
                    matched_time: time,
                    matched_end: time + duration,
                    velocity: (0.0, 0.0),
                });
            }
        }
        self.det_taken = det_taken;
    }

    /// Ends the tracks not `kept` (by index) that by `end`, the end of this
    /// frame, were hidden for longer than `track_gap`, or that left the frame:
    /// at 25 fps and a 1 s gap, 25 frames hidden keep the track, 26 end it.
    fn end_lost(&mut self, end: f64, kept: &[bool]) {
        let (track_gap, bounds) = (self.config.track_gap, self.bounds);
        let ended = &mut self.ended;
        let mut i = 0;
        self.tracks.retain(|t| {
            let was_kept = kept.get(i).copied().unwrap_or(false);
            i += 1;
            let gone = end - t.matched_end > track_gap + TIME_SLACK;
            let outside = bounds.is_some_and(|(w, h)| {
                let b = t.detection.bbox.clipped(w, h);
                !t.is_visible() && (b.w < 1.0 || b.h < 1.0)
            });
            let keep = was_kept || !(gone || outside);
            if !keep {
                ended.push(t.id);
            }
            keep
        });
    }

    /// The next free id, wrapping after [`MAX_TRACK_ID`] to 1 (see [`TrackId`]).
    fn take_id(&mut self) -> TrackId {
        loop {
            let id = self.next_id.max(1);
            self.next_id = if id >= MAX_TRACK_ID { 1 } else { id + 1 };
            if !self.tracks.iter().any(|t| t.id == id) {
                return id;
            }
        }
    }
}

impl Detection {
    /// The detection shifted by (`dx`, `dy`) pixels.
    pub fn moved(&self, dx: f32, dy: f32) -> Detection {
        let mut d = *self;
        d.bbox.x += dx;
        d.bbox.y += dy;
        for p in &mut d.landmarks {
            p[0] += dx;
            p[1] += dy;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 25 fps.
    const DT: f64 = 0.04;

    fn det(x: f32, y: f32) -> Detection {
        Detection { bbox: BBox::new(x, y, 40.0, 40.0), score: 0.9, landmarks: [[x, y]; 5] }
    }

    /// A tracker fed one frame after another at 25 fps.
    struct Frames {
        tracker: Tracker,
        n: u32,
    }

    impl Frames {
        fn new(config: TrackerConfig) -> Self {
            Self { tracker: Tracker::new(config), n: 0 }
        }

        fn update(&mut self, detections: &[Detection]) {
            self.tracker.update(detections, self.n as f64 * DT, DT);
            self.n += 1;
        }

        fn predict(&mut self) {
            self.tracker.predict(self.n as f64 * DT, DT);
            self.n += 1;
        }
    }

    impl std::ops::Deref for Frames {
        type Target = Tracker;
        fn deref(&self) -> &Tracker {
            &self.tracker
        }
    }

    impl std::ops::DerefMut for Frames {
        fn deref_mut(&mut self) -> &mut Tracker {
            &mut self.tracker
        }
    }

    fn gap(track_gap: f64) -> TrackerConfig {
        TrackerConfig { track_gap, ..TrackerConfig::default() }
    }

    #[test]
    fn ids_follow_moving_faces() {
        let mut t = Frames::new(TrackerConfig::default());
        t.update(&[det(0.0, 0.0), det(200.0, 0.0)]);
        let ids: Vec<TrackId> = t.visible().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2]);
        for step in 1..10 {
            let s = step as f32 * 5.0;
            t.update(&[det(200.0 - s, 0.0), det(s, 0.0)]);
        }
        let mut by_x: Vec<(TrackId, f32)> = t.visible().map(|t| (t.id, t.detection.bbox.x)).collect();
        by_x.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(by_x.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn prediction_carries_motion_between_runs() {
        let mut t = Frames::new(TrackerConfig::default());
        t.update(&[det(0.0, 0.0)]);
        t.update(&[det(3.0, 0.0)]);
        t.predict();
        t.predict();
        let x = t.tracks()[0].detection.bbox.x;
        assert!((x - 9.0).abs() < 1e-3, "{x}");
        // A detection where the prediction said keeps the id.
        t.update(&[det(12.0, 0.0)]);
        assert_eq!(t.tracks().len(), 1);
        assert_eq!(t.tracks()[0].id, 1);
    }

    #[test]
    fn a_resolution_change_keeps_the_tracks() {
        let mut t = Frames::new(TrackerConfig::default());
        t.update(&[det(100.0, 100.0), det(400.0, 100.0)]);
        t.update(&[det(104.0, 100.0), det(400.0, 100.0)]);
        // Half the size: the same faces at half the coordinates.
        t.rescale(0.5, 0.5);
        let b = t.tracks()[0].detection.bbox;
        assert_eq!((b.x, b.w), (52.0, 20.0));
        t.predict();
        assert!((t.tracks()[0].detection.bbox.x - 54.0).abs() < 1e-3, "motion is rescaled too");
        let half = |d: Detection| d.scaled(0.5, 0.5);
        t.update(&[half(det(112.0, 100.0)), half(det(400.0, 100.0))]);
        let ids: Vec<TrackId> = t.visible().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2]);
        assert!(t.started().is_empty());
    }

    #[test]
    fn leaving_and_returning_is_a_new_person() {
        // Two frames' gap: hidden for 0.08 s stays, a third frame ends it.
        let mut t = Frames::new(gap(0.08));
        t.update(&[det(0.0, 0.0)]);
        for _ in 0..3 {
            t.update(&[]);
        }
        assert!(t.tracks().is_empty());
        t.update(&[det(0.0, 0.0)]);
        assert_eq!(t.tracks()[0].id, 2);
    }

    #[test]
    fn small_fast_face_keeps_its_id_without_overlap() {
        let small = |x: f32| Detection { bbox: BBox::new(x, 0.0, 12.0, 12.0), score: 0.9, landmarks: [[x, 0.0]; 5] };
        let mut t = Frames::new(TrackerConfig::default());
        t.update(&[small(0.0), small(100.0)]);
        t.update(&[small(9.0), small(91.0)]);
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(t.tracks()[0].detection.bbox.x > 8.0);
    }

    #[test]
    fn short_miss_keeps_the_id() {
        let mut t = Frames::new(gap(0.08));
        t.update(&[det(0.0, 0.0)]);
        t.update(&[]);
        assert_eq!(t.visible().count(), 0);
        assert_eq!(t.tracks().len(), 1, "hidden, not ended");
        t.update(&[det(1.0, 0.0)]);
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    /// The default gap: a face hidden for 25 frames at 25 fps (1 s) is the
    /// same person; hidden for 26 it has left, and a face there is new.
    #[test]
    fn a_face_hidden_up_to_the_gap_keeps_its_id() {
        for (hidden, same) in [(2, true), (8, true), (25, true), (26, false)] {
            let mut t = Frames::new(TrackerConfig::default());
            for _ in 0..10 {
                t.update(&[det(100.0, 100.0)]);
            }
            for _ in 0..hidden {
                t.update(&[]);
            }
            t.update(&[det(101.0, 100.0)]);
            let ids: Vec<TrackId> = t.tracks().iter().map(|t| t.id).collect();
            assert_eq!(ids, if same { vec![1] } else { vec![2] }, "hidden {hidden} frames");
        }
    }

    /// Hidden while walking: the box keeps moving along the motion, slowing
    /// down, and the face found further on is the same track.
    #[test]
    fn a_hidden_walker_is_carried_and_found_again() {
        let mut t = Frames::new(TrackerConfig::default());
        for f in 0..10 {
            t.update(&[det(100.0 + 4.0 * f as f32, 100.0)]);
        }
        let before = t.tracks()[0].detection.bbox.x;
        for _ in 0..12 {
            t.update(&[]);
        }
        let carried = t.tracks()[0].detection.bbox.x - before;
        // 100 px/s for 0.48 s: less than 48 px (decaying), well more than half.
        assert!(carried > 30.0 && carried < 48.0, "{carried}");
        t.update(&[det(100.0 + 4.0 * 22.0, 100.0)]);
        assert_eq!(t.tracks().iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    /// Two faces cross, the one behind hidden while they overlap: each keeps
    /// its id (motion and size decide, never appearance).
    #[test]
    fn two_people_crossing_keep_their_ids() {
        let mut t = Frames::new(TrackerConfig::default());
        let big = |x: f32| Detection { bbox: BBox::new(x, 100.0, 60.0, 60.0), score: 0.9, landmarks: [[x, 0.0]; 5] };
        // A (big, in front) walks right at 6 px a frame, B (40 px) walks left.
        for f in 0..60 {
            let (a, b) = (100.0 + 6.0 * f as f32, 460.0 - 6.0 * f as f32);
            if (a - b).abs() < 70.0 {
                t.update(&[big(a)]);
            } else {
                t.update(&[big(a), det(b + 10.0, 110.0)]);
            }
            let mut ids: Vec<(TrackId, f32)> = t.tracks().iter().map(|t| (t.id, t.detection.bbox.w)).collect();
            ids.sort_by_key(|p| p.0);
            assert_eq!(ids.len(), 2, "frame {f}: {ids:?}");
            assert_eq!((ids[0].0, ids[0].1), (1, 60.0), "frame {f}");
            let b_box = t.tracks().iter().find(|t| t.id == 2).unwrap().detection.bbox;
            assert!((b_box.center().0 - (b + 30.0)).abs() < 30.0, "frame {f}: B at {b_box:?}");
        }
    }

    #[test]
    fn a_hidden_track_carried_out_of_the_frame_ends() {
        let mut t = Frames::new(TrackerConfig::default());
        t.set_bounds(200.0, 200.0);
        for f in 0..5 {
            t.update(&[det(140.0 + 10.0 * f as f32, 100.0)]);
        }
        let mut frames = 0;
        while !t.tracks().is_empty() {
            t.update(&[]);
            frames += 1;
        }
        assert_eq!(t.ended(), &[1]);
        assert!(frames < 10, "ended after {frames} frames, not at the gap");
    }

    #[test]
    fn started_and_ended_ids_are_reported_once() {
        // Two frames' gap.
        let mut t = Frames::new(gap(2.0 * DT));
        t.update(&[det(0.0, 0.0), det(200.0, 0.0)]);
        assert_eq!((t.started(), t.ended()), (&[1, 2][..], &[][..]));
        t.predict();
        assert!(t.started().is_empty() && t.ended().is_empty());
        t.update(&[det(1.0, 0.0)]);
        assert!(t.started().is_empty() && t.ended().is_empty(), "two frames unseen keep track 2");
        t.update(&[det(2.0, 0.0), det(400.0, 400.0)]);
        assert_eq!((t.started(), t.ended()), (&[3][..], &[2][..]));
        t.clear();
        assert_eq!((t.started(), t.ended()), (&[][..], &[1, 3][..]), "a flush ends every track");
    }

    #[test]
    fn ids_wrap_to_one_and_skip_ids_in_use() {
        let mut t = Frames::new(TrackerConfig::default());
        t.next_id = MAX_TRACK_ID;
        t.update(&[det(10.0, 10.0)]);
        t.update(&[det(10.0, 10.0), det(300.0, 300.0)]);
        let mut ids: Vec<TrackId> = t.tracks().iter().map(|t| t.id).collect();
        ids.sort();
        assert_eq!(ids, vec![1, MAX_TRACK_ID]);
        assert!(i32::try_from(MAX_TRACK_ID).is_ok(), "the ROI meta's gint holds every id");
    }
}
