//! Keeps a track id on each face while it stays in view, from motion and box
//! overlap alone. There is deliberately no appearance model: a face that
//! leaves and comes back gets a new id, so nobody is ever re-recognised.

use crate::detect::Detection;
use crate::geometry::BBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Minimum IoU between a track's predicted box and a detection to match.
    pub iou_threshold: f32,
    /// Small fast faces barely overlap from one run to the next: a detection
    /// whose centre lies within this many box sizes of the prediction (and
    /// whose size is within a factor of 2) also matches.
    pub max_centre_shift: f32,
    /// A track ends after missing this many detection runs in a row.
    pub max_misses: u32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self { iou_threshold: 0.3, max_centre_shift: 1.0, max_misses: 5 }
    }
}

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
    /// Detection runs in a row that did not match it.
    pub misses: u32,
    /// The detection that last matched.
    matched: Detection,
    /// Centre motion in pixels per frame.
    velocity: (f32, f32),
    /// Frames since `matched`.
    frames_since_match: u32,
}

impl Track {
    /// Matched by the latest detection run (or carried from it between runs).
    pub fn is_visible(&self) -> bool {
        self.misses == 0
    }

    fn advance(&mut self) {
        self.frames_since_match += 1;
        let f = self.frames_since_match as f32;
        self.detection = self.matched.moved(self.velocity.0 * f, self.velocity.1 * f);
    }
}

#[derive(Debug, Default)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: TrackId,
    /// Ids the last update started and ended (kept: no allocation per frame
    /// once grown), for the element's logs.
    started: Vec<TrackId>,
    ended: Vec<TrackId>,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, tracks: Vec::new(), next_id: 1, started: Vec::new(), ended: Vec::new() }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Ids of the tracks the last [`update`](Self::update) started (empty
    /// after [`predict`](Self::predict) and [`clear`](Self::clear)).
    pub fn started(&self) -> &[TrackId] {
        &self.started
    }

    /// Ids of the tracks the last [`update`](Self::update) ended (they
    /// missed more than `max_misses` runs in a row), or [`clear`](Self::clear)
    /// forgot.
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

    /// How well a detection fits a predicted box (lower is better), or `None`
    /// if it cannot be the same face.
    fn match_cost(&self, predicted: &BBox, detected: &BBox) -> Option<f32> {
        let iou = predicted.iou(detected);
        let (pcx, pcy) = predicted.center();
        let (dcx, dcy) = detected.center();
        let size = (predicted.w * predicted.h).sqrt().max(1.0);
        let shift = (pcx - dcx).hypot(pcy - dcy) / size;
        let ratio = (detected.w * detected.h).max(1.0) / (predicted.w * predicted.h).max(1.0);
        let similar_size = (0.25..=4.0).contains(&ratio);
        if iou >= self.config.iou_threshold || (similar_size && shift <= self.config.max_centre_shift) {
            Some(1.0 - iou + shift)
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
    }

    /// A frame on which the model did not run: move tracks along their motion.
    pub fn predict(&mut self) {
        self.started.clear();
        self.ended.clear();
        self.tracks.iter_mut().for_each(Track::advance);
    }

    /// A frame on which the model ran: match detections to the tracks'
    /// predicted boxes greedily by overlap, start tracks for the rest and end
    /// tracks that missed too many runs in a row.
    pub fn update(&mut self, detections: &[Detection]) {
        self.started.clear();
        self.ended.clear();
        self.tracks.iter_mut().for_each(Track::advance);
        // (cost, track, detection): overlap first, then centre distance.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            for (di, d) in detections.iter().enumerate() {
                if let Some(cost) = self.match_cost(&t.detection.bbox, &d.bbox) {
                    pairs.push((cost, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut det_taken = vec![false; detections.len()];
        for (_, ti, di) in pairs {
            if track_taken[ti] || det_taken[di] {
                continue;
            }
            track_taken[ti] = true;
            det_taken[di] = true;
            let t = &mut self.tracks[ti];
            let f = t.frames_since_match as f32;
            let (ox, oy) = t.matched.bbox.center();
            let (cx, cy) = detections[di].bbox.center();
            let v = ((cx - ox) / f, (cy - oy) / f);
            t.velocity = if t.hits == 1 { v } else { (0.5 * (t.velocity.0 + v.0), 0.5 * (t.velocity.1 + v.1)) };
            t.matched = detections[di];
            t.detection = detections[di];
            t.frames_since_match = 0;
            t.hits += 1;
            t.misses = 0;
        }
        for (t, taken) in self.tracks.iter_mut().zip(&track_taken) {
            if !taken {
                t.misses += 1;
            }
        }
        let max_misses = self.config.max_misses;
        let ended = &mut self.ended;
        self.tracks.retain(|t| {
            let keep = t.misses <= max_misses;
            if !keep {
                ended.push(t.id);
            }
            keep
        });
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
                    velocity: (0.0, 0.0),
                    frames_since_match: 0,
                });
            }
        }
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

    fn det(x: f32, y: f32) -> Detection {
        Detection { bbox: BBox::new(x, y, 40.0, 40.0), score: 0.9, landmarks: [[x, y]; 5] }
    }

    #[test]
    fn ids_follow_moving_faces() {
        let mut t = Tracker::new(TrackerConfig::default());
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
        let mut t = Tracker::new(TrackerConfig::default());
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
        let mut t = Tracker::new(TrackerConfig::default());
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
        let mut t = Tracker::new(TrackerConfig { max_misses: 2, ..TrackerConfig::default() });
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
        let mut t = Tracker::new(TrackerConfig::default());
        t.update(&[small(0.0), small(100.0)]);
        t.update(&[small(9.0), small(91.0)]);
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(t.tracks()[0].detection.bbox.x > 8.0);
    }

    #[test]
    fn short_miss_keeps_the_id() {
        let mut t = Tracker::new(TrackerConfig { max_misses: 2, ..TrackerConfig::default() });
        t.update(&[det(0.0, 0.0)]);
        t.update(&[]);
        assert_eq!(t.visible().count(), 0);
        t.update(&[det(1.0, 0.0)]);
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn started_and_ended_ids_are_reported_once() {
        let mut t = Tracker::new(TrackerConfig { max_misses: 1, ..TrackerConfig::default() });
        t.update(&[det(0.0, 0.0), det(200.0, 0.0)]);
        assert_eq!((t.started(), t.ended()), (&[1, 2][..], &[][..]));
        t.predict();
        assert!(t.started().is_empty() && t.ended().is_empty());
        t.update(&[det(1.0, 0.0)]);
        assert!(t.started().is_empty() && t.ended().is_empty(), "one miss keeps track 2");
        t.update(&[det(2.0, 0.0), det(400.0, 400.0)]);
        assert_eq!((t.started(), t.ended()), (&[3][..], &[2][..]));
        t.clear();
        assert_eq!((t.started(), t.ended()), (&[][..], &[1, 3][..]), "a flush ends every track");
    }

    #[test]
    fn ids_wrap_to_one_and_skip_ids_in_use() {
        let mut t = Tracker::new(TrackerConfig::default());
        t.next_id = MAX_TRACK_ID;
        t.update(&[det(10.0, 10.0)]);
        t.update(&[det(10.0, 10.0), det(300.0, 300.0)]);
        let mut ids: Vec<TrackId> = t.tracks().iter().map(|t| t.id).collect();
        ids.sort();
        assert_eq!(ids, vec![1, MAX_TRACK_ID]);
        assert!(i32::try_from(MAX_TRACK_ID).is_ok(), "the ROI meta's gint holds every id");
    }
}
