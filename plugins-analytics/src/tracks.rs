//! What the converter remembers between frames: when each track was first
//! seen (the ROI carries only the track id), and the gender classes' levels.
//! Pure logic, no GStreamer types.

use std::collections::HashMap;

/// A track not seen for this long (nanoseconds of buffer time) is forgotten.
/// The tracker never reuses an id, so forgetting a gone track loses nothing;
/// a track that only coasts (its ROI marked `predicted`) is still seen.
pub const FORGET_AFTER_NS: u64 = 10_000_000_000;

/// First and last time (nanoseconds, buffer PTS) each track was seen.
#[derive(Debug, Default)]
pub struct Tracks {
    seen: HashMap<u32, (u64, u64)>,
}

impl Tracks {
    /// Marks `id` seen at `now` and returns when it was first seen.
    pub fn seen(&mut self, id: u32, now: u64) -> u64 {
        let entry = self.seen.entry(id).or_insert((now, now));
        // A seek back in time starts the track again rather than showing a first-seen after last-seen.
        if now < entry.0 {
            *entry = (now, now);
        }
        entry.1 = now;
        entry.0
    }

    /// Forgets the tracks not seen within [`FORGET_AFTER_NS`] before `now`.
    pub fn forget_old(&mut self, now: u64) {
        self.seen.retain(|_, &mut (_, last)| now.saturating_sub(last) <= FORGET_AFTER_NS);
    }

    pub fn clear(&mut self) {
        self.seen.clear();
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// The gender classification as two classes, `female` and `male`, with the
/// levels `demographics`' calibrated probability gives them (the likelier
/// gender has `confidence`, the other the rest). `None` for `unknown`.
pub fn gender_levels(gender: &str, confidence: f64) -> Option<[(&'static str, f32); 2]> {
    let c = confidence.clamp(0.0, 1.0) as f32;
    match gender {
        "female" => Some([("female", c), ("male", 1.0 - c)]),
        "male" => Some([("female", 1.0 - c), ("male", c)]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_first_seen_per_track() {
        let mut t = Tracks::default();
        assert_eq!(t.seen(1, 100), 100);
        assert_eq!(t.seen(2, 200), 200);
        assert_eq!(t.seen(1, 300), 100);
        assert_eq!(t.seen(2, 400), 200);
    }

    #[test]
    fn forgets_only_tracks_gone_long_enough() {
        let mut t = Tracks::default();
        t.seen(1, 0);
        t.seen(2, 5_000_000_000);
        t.forget_old(FORGET_AFTER_NS + 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.seen(2, FORGET_AFTER_NS + 1), 5_000_000_000);
        assert_eq!(t.seen(1, FORGET_AFTER_NS + 2), FORGET_AFTER_NS + 2, "a forgotten id starts anew");
    }

    #[test]
    fn seeking_back_restarts_a_track() {
        let mut t = Tracks::default();
        t.seen(1, 1_000);
        assert_eq!(t.seen(1, 500), 500);
    }

    #[test]
    fn gender_levels_sum_to_one_and_unknown_is_none() {
        assert_eq!(gender_levels("female", 0.9), Some([("female", 0.9), ("male", 1.0 - 0.9f32)]));
        assert_eq!(gender_levels("male", 0.75), Some([("female", 0.25), ("male", 0.75)]));
        assert_eq!(gender_levels("unknown", 0.0), None);
        assert_eq!(gender_levels("male", 1.5), Some([("female", 0.0), ("male", 1.0)]));
    }
}
