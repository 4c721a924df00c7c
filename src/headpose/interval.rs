//! A lower head-pose rate (`headpose-interval`): each track's pose is
//! estimated at most every `interval` frames and carried in between.
//!
//! A track seen for the first time is estimated on that frame. Its next
//! estimate is placed on the least busy of the next `interval` frames, so
//! tracks that appear together (a file's first frame, a group walking in)
//! spread over the frames instead of all coming due on the same one: the
//! per-frame cost is about 1/`interval` of every face's, not a burst every
//! `interval` frames (a live source's latency is its worst frame). After that a
//! track comes due `interval` frames after its last estimate, or on the first
//! frame it can be read after that (a face hidden on its due frame is
//! estimated when it shows again).
//!
//! Only the tracks of the current frame are kept: a track that is not on a
//! frame has ended (facedetect's track is the person) and its pose is
//! forgotten then, so nothing of an ended track is left to match against.

use crate::headpose::HeadPose;
use crate::tracker::TrackId;

/// What to do with a face's pose on this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plan {
    /// Estimate it (a new track, or one that is due).
    Estimate,
    /// Use the track's last estimate, made `frames_ago` frames before this one.
    Carry { pose: HeadPose, frames_ago: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    id: TrackId,
    pose: HeadPose,
    /// Frame of the last estimate, and the frame the next one is due.
    estimated: u64,
    due: u64,
}

/// Which tracks' head poses are due, and every other track's last pose.
#[derive(Debug, Clone)]
pub struct PoseInterval {
    interval: u64,
    /// The current frame's number (the first frame is 1).
    frame: u64,
    tracks: Vec<Tracked>,
}

impl PoseInterval {
    /// `interval` 1 (or 0): every face on every frame.
    pub fn new(interval: u32) -> Self {
        Self { interval: interval.max(1) as u64, frame: 0, tracks: Vec::new() }
    }

    pub fn interval(&self) -> u32 {
        self.interval as u32
    }

    /// Starts the next frame: forgets every track for which `alive` is false
    /// (one that has ended: not on this frame).
    pub fn next_frame(&mut self, mut alive: impl FnMut(TrackId) -> bool) {
        self.frame += 1;
        self.tracks.retain(|t| alive(t.id));
    }

    /// Forgets every track (a flush: the timeline restarts).
    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    /// Whether track `id`'s pose is estimated on this frame or carried.
    pub fn plan(&self, id: TrackId) -> Plan {
        match self.tracks.iter().find(|t| t.id == id) {
            Some(t) if self.frame < t.due => Plan::Carry { pose: t.pose, frames_ago: self.frame - t.estimated },
            _ => Plan::Estimate,
        }
    }

    /// The current frame's number (the first frame is 1).
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// Track `id`'s last estimate and how many frames ago it was made, due or not.
    pub fn last(&self, id: TrackId) -> Option<(HeadPose, u64)> {
        self.tracks.iter().find(|t| t.id == id).map(|t| (t.pose, self.frame.saturating_sub(t.estimated)))
    }

    /// Records track `id`'s pose estimated on this frame and when its next is due.
    pub fn estimated(&mut self, id: TrackId, pose: HeadPose) {
        self.estimated_on(id, pose, self.frame);
    }

    /// As [`Self::estimated`], for an estimate made on an earlier `frame` (a live
    /// source's worker answers later): the next one is due `interval` frames after it.
    /// An estimate older than the track's last is ignored.
    pub fn estimated_on(&mut self, id: TrackId, pose: HeadPose, frame: u64) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == id) {
            if frame >= t.estimated {
                *t = Tracked { id, pose, estimated: frame, due: frame + self.interval };
            }
            return;
        }
        // A new track: its next estimate on the least busy of the next `interval` frames
        // (a tie: the latest, so a lone track is estimated every `interval` frames).
        let load = |f: u64| self.tracks.iter().filter(|t| t.due.max(frame + 1) == f).count();
        let due = (frame + 1..=frame + self.interval).rev().min_by_key(|&f| load(f)).unwrap_or(frame + 1);
        self.tracks.push(Tracked { id, pose, estimated: frame, due });
    }

    /// Tracks kept (those of the last frame that have been estimated).
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pose(yaw: f32) -> HeadPose {
        HeadPose { yaw, pitch: 0.0, roll: 0.0 }
    }

    /// Plays `frames` frames with tracks `ids` on every frame; returns per frame the ids estimated.
    fn play(s: &mut PoseInterval, ids: &[TrackId], frames: usize) -> Vec<Vec<TrackId>> {
        let mut out = Vec::new();
        for f in 0..frames {
            s.next_frame(|id| ids.contains(&id));
            let due: Vec<TrackId> = ids.iter().copied().filter(|&id| s.plan(id) == Plan::Estimate).collect();
            for &id in &due {
                s.estimated(id, pose(f as f32));
            }
            out.push(due);
        }
        out
    }

    #[test]
    fn interval_one_estimates_every_face_on_every_frame() {
        let mut s = PoseInterval::new(1);
        let ids = [3, 7, 9];
        assert!(play(&mut s, &ids, 10).iter().all(|due| due == &ids));
        assert_eq!(PoseInterval::new(0).interval(), 1);
    }

    #[test]
    fn a_late_estimate_counts_from_its_own_frame() {
        let mut s = PoseInterval::new(1);
        s.next_frame(|_| true);
        let asked = s.frame();
        assert_eq!(s.last(4), None);
        s.next_frame(|_| true);
        s.next_frame(|_| true);
        s.estimated_on(4, pose(10.0), asked);
        assert_eq!(s.last(4), Some((pose(10.0), 2)));
        // An older answer arriving after a newer one changes nothing.
        s.estimated_on(4, pose(20.0), asked + 1);
        s.estimated_on(4, pose(30.0), asked);
        assert_eq!(s.last(4), Some((pose(20.0), 1)));
    }

    #[test]
    fn a_new_track_is_estimated_on_its_first_frame() {
        let mut s = PoseInterval::new(5);
        play(&mut s, &[1], 2);
        // Track 2 appears on frame 3: estimated at once, whatever track 1's phase.
        s.next_frame(|_| true);
        assert_eq!(s.plan(2), Plan::Estimate);
    }

    #[test]
    fn each_track_is_estimated_every_interval_frames_and_carried_between() {
        let mut s = PoseInterval::new(3);
        let per_frame = play(&mut s, &[4], 10);
        let frames: Vec<usize> = per_frame.iter().enumerate().filter(|(_, d)| !d.is_empty()).map(|(f, _)| f).collect();
        assert_eq!(frames, [0, 3, 6, 9]);
        // Frame 11 (index 10): estimated on index 9, carried one frame on.
        s.next_frame(|_| true);
        assert_eq!(s.plan(4), Plan::Carry { pose: pose(9.0), frames_ago: 1 });
    }

    #[test]
    fn tracks_that_appear_together_are_spread_over_the_frames() {
        let mut s = PoseInterval::new(3);
        let ids = [1, 2, 3, 4, 5, 6];
        let per_frame = play(&mut s, &ids, 30);
        assert_eq!(per_frame[0].len(), 6, "first sight: all at once");
        // Then two a frame, each track every third frame: a third of the work, no bursts.
        for due in &per_frame[1..] {
            assert_eq!(due.len(), 2, "{per_frame:?}");
        }
        for id in ids {
            let at: Vec<usize> =
                per_frame.iter().enumerate().filter(|(_, d)| d.contains(&id)).map(|(f, _)| f).collect();
            assert!(at.windows(2).all(|w| w[1] - w[0] <= 3), "track {id}: {at:?}");
            assert!(at[1..].windows(2).all(|w| w[1] - w[0] == 3), "track {id}: {at:?}");
        }
    }

    #[test]
    fn a_track_not_read_on_its_due_frame_is_estimated_when_it_shows_again() {
        let mut s = PoseInterval::new(3);
        play(&mut s, &[1], 1);
        // Hidden (not read) for five frames: the track goes on, its pose is not estimated.
        for _ in 0..5 {
            s.next_frame(|_| true);
        }
        s.next_frame(|_| true);
        assert_eq!(s.plan(1), Plan::Estimate);
    }

    #[test]
    fn an_ended_track_is_forgotten() {
        let mut s = PoseInterval::new(3);
        play(&mut s, &[1, 2], 1);
        assert_eq!(s.len(), 2);
        // Track 1 is not on the next frame: it ended, and nothing of it is kept.
        s.next_frame(|id| id == 2);
        assert_eq!(s.len(), 1);
        assert_eq!(s.plan(1), Plan::Estimate);
        assert!(matches!(s.plan(2), Plan::Carry { .. }));
        s.clear();
        assert!(s.is_empty());
    }
}
