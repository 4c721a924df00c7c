//! Hold memory: faces stay redacted for a few frames after their detection drops out.

use crate::geometry::BBox;
use crate::tracker::TrackId;

/// Keeps faces redacted for a while after their detection drops out, so a
/// face the detector misses for a frame or two never slips through.
#[derive(Debug, Default)]
pub struct HoldMemory {
    /// (track id, region, frames since last seen)
    held: Vec<(TrackId, BBox, u32)>,
}

impl HoldMemory {
    /// Records this frame's faces and returns the regions to redact: the
    /// current ones plus those not seen for at most `hold` frames.
    pub fn update(
        &mut self,
        current: impl IntoIterator<Item = (TrackId, BBox)>,
        hold: u32,
    ) -> impl Iterator<Item = BBox> + '_ {
        for h in &mut self.held {
            h.2 += 1;
        }
        for (id, region) in current {
            match self.held.iter_mut().find(|h| h.0 == id) {
                Some(h) => {
                    h.1 = region;
                    h.2 = 0;
                }
                None => self.held.push((id, region, 0)),
            }
        }
        self.held.retain(|h| h.2 <= hold);
        self.held.iter().map(|h| h.1)
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }
}

/// Hold memory for face candidates, which carry no track id: a held region
/// is replaced by a current one that overlaps it, and otherwise kept for
/// `hold` frames, so a face whose score flickers around the redaction
/// threshold stays covered.
#[derive(Debug, Default)]
pub struct CandidateHold {
    /// (region, frames since last seen)
    held: Vec<(BBox, u32)>,
}

impl CandidateHold {
    /// Records this frame's candidates and returns the regions to redact.
    pub fn update(&mut self, current: impl IntoIterator<Item = BBox>, hold: u32) -> impl Iterator<Item = BBox> + '_ {
        for h in &mut self.held {
            h.1 += 1;
        }
        for region in current {
            self.held.retain(|h| h.1 == 0 || h.0.iou(&region) <= 0.0);
            self.held.push((region, 0));
        }
        self.held.retain(|h| h.1 <= hold);
        self.held.iter().map(|h| h.0)
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_keeps_a_missed_face() {
        let mut m = HoldMemory::default();
        let b = BBox::new(1.0, 1.0, 5.0, 5.0);
        assert_eq!(m.update([(1, b)], 2).count(), 1);
        assert_eq!(m.update([], 2).collect::<Vec<_>>(), vec![b]);
        assert_eq!(m.update([], 2).collect::<Vec<_>>(), vec![b]);
        assert_eq!(m.update([], 2).count(), 0);
    }

    #[test]
    fn candidate_hold_replaces_overlapping_and_keeps_missed() {
        let mut m = CandidateHold::default();
        let (a, b) = (BBox::new(1.0, 1.0, 5.0, 5.0), BBox::new(2.0, 1.0, 5.0, 5.0));
        assert_eq!(m.update([a], 1).count(), 1);
        // Moved: the old place is replaced, not kept beside it.
        assert_eq!(m.update([b], 1).collect::<Vec<_>>(), vec![b]);
        assert_eq!(m.update([], 1).collect::<Vec<_>>(), vec![b]);
        assert_eq!(m.update([], 1).count(), 0);
    }
}
