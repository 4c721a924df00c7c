//! Per-track fusion: every usable view of a tracked face adds evidence; the
//! estimate is refined every `reclassify_interval` frames and frozen once it
//! has `freeze_after` views and a confident gender. Pure logic, no model.
//!
//! Views are averaged in the models' own terms (gender logit, age in years)
//! and calibrated afterwards, each weighted by how frontal it is (see
//! [`view_weight`]): a turned view counts, but frontal views outweigh it. The average does not grow more confident with
//! more views of the same face: their errors are not independent, and a
//! doubtful face must stay doubtful however long it stays.

use std::collections::HashMap;

use super::ViewUse;
use super::calibration::Calibration;
use super::model::RawView;
use crate::tracker::TrackId;

/// How tracks are sampled and when they freeze.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionConfig {
    /// A track that is not frozen gets a new view at most every this many frames.
    pub reclassify_interval: u32,
    /// Views after which a confident estimate is frozen (0: never freeze).
    pub freeze_after: u32,
    /// Below this confidence (of the likelier gender) the gender is `unknown`.
    pub confidence_threshold: f32,
    /// A track not seen for this many frames is forgotten.
    pub forget_after: u32,
    /// Views after which a track is frozen whatever its confidence (0: no
    /// limit). The average of a doubtful face does not grow more confident
    /// with more views (see the module notes), so a track that stays in
    /// front of the camera costs no model work forever.
    pub max_views: u32,
}

/// The default of [`FusionConfig::max_views`]: 15 views are 5 s of a track
/// at 30 fps and reclassify-interval 10.
pub const DEFAULT_MAX_VIEWS: u32 = 15;

impl Default for FusionConfig {
    fn default() -> Self {
        Self {
            reclassify_interval: 10,
            freeze_after: 5,
            confidence_threshold: 0.6,
            forget_after: 150,
            max_views: DEFAULT_MAX_VIEWS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    Unknown,
}

impl Gender {
    pub fn as_str(&self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Unknown => "unknown",
        }
    }
}

/// What is known about one track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Years; `None` until a usable view arrived.
    pub age: Option<f32>,
    pub gender: Gender,
    /// Calibrated probability of the likelier gender (0 without a view),
    /// also when it is too low to name one.
    pub gender_confidence: f32,
    /// Views fused.
    pub samples: u32,
    pub frozen: bool,
}

impl Estimate {
    pub const NONE: Estimate =
        Estimate { age: None, gender: Gender::Unknown, gender_confidence: 0.0, samples: 0, frozen: false };
}

/// How much a view counts in its track's average: the cosine of its yaw (a
/// face turned 60° shows about half of what a frontal one does), at least
/// 0.1; 1 without a yaw (a face chip).
pub fn view_weight(yaw_degrees: Option<f32>) -> f32 {
    yaw_degrees.map_or(1.0, |yaw| yaw.to_radians().cos().max(0.1))
}

#[derive(Debug, Clone, Default)]
struct TrackState {
    /// Weighted sums of the views' gender logits and ages, and of the weights.
    logit_sum: f64,
    age_sum: f64,
    weight_sum: f64,
    samples: u32,
    last_sample: Option<u64>,
    last_seen: u64,
    frozen: bool,
    /// Why the track's view was or was not used on its last frame.
    last_use: Option<ViewUse>,
}

impl TrackState {
    fn mean(&self) -> Option<RawView> {
        // add_view only takes positive weights: any sample makes weight_sum > 0.
        (self.samples > 0).then(|| RawView {
            gender_logit: (self.logit_sum / self.weight_sum) as f32,
            age: (self.age_sum / self.weight_sum) as f32,
        })
    }
}

/// The per-track evidence of one stream.
#[derive(Debug, Clone)]
pub struct Fusion {
    config: FusionConfig,
    calibration: Calibration,
    tracks: HashMap<TrackId, TrackState>,
}

impl Fusion {
    pub fn new(config: FusionConfig, calibration: Calibration) -> Self {
        Self { config, calibration, tracks: HashMap::new() }
    }

    pub fn config(&self) -> &FusionConfig {
        &self.config
    }

    /// New settings apply from the next view on; frozen tracks stay frozen.
    pub fn set_config(&mut self, config: FusionConfig) {
        self.config = config;
    }

    /// Notes that track `id` is on frame `frame` and says whether it wants a
    /// new view now: not frozen, and no view yet or the last one at least
    /// `reclassify_interval` frames ago.
    pub fn wants_view(&mut self, id: TrackId, frame: u64) -> bool {
        let t = self.tracks.entry(id).or_default();
        t.last_seen = frame;
        !t.frozen
            && t.last_sample
                .is_none_or(|last| frame.saturating_sub(last) >= self.config.reclassify_interval.max(1) as u64)
    }

    /// Adds one classified view of track `id` with `weight` (see
    /// [`view_weight`]), freezing the track when it has enough views and a
    /// confident gender.
    pub fn add_view(&mut self, id: TrackId, frame: u64, view: RawView, weight: f32) {
        let t = self.tracks.entry(id).or_default();
        if t.frozen || !view.gender_logit.is_finite() || !view.age.is_finite() || weight.is_nan() || weight <= 0.0 {
            return;
        }
        let w = f64::from(weight);
        t.logit_sum += w * view.gender_logit as f64;
        t.age_sum += w * view.age as f64;
        t.weight_sum += w;
        t.samples += 1;
        t.last_sample = Some(frame);
        t.last_seen = t.last_seen.max(frame);
        let freeze_after = self.config.freeze_after;
        if freeze_after > 0 && t.samples >= freeze_after {
            let confident = Self::calibrated(&self.calibration, &self.config, t).gender != Gender::Unknown;
            t.frozen = confident;
        }
        let max_views = self.config.max_views;
        if max_views > 0 && t.samples >= max_views {
            t.frozen = true;
        }
    }

    fn calibrated(calibration: &Calibration, config: &FusionConfig, t: &TrackState) -> Estimate {
        let Some(mean) = t.mean() else { return Estimate::NONE };
        let (p_male, age) = calibration.apply(mean);
        let confidence = p_male.max(1.0 - p_male);
        let gender = if confidence < config.confidence_threshold {
            Gender::Unknown
        } else if p_male >= 0.5 {
            Gender::Male
        } else {
            Gender::Female
        };
        Estimate { age: Some(age), gender, gender_confidence: confidence, samples: t.samples, frozen: t.frozen }
    }

    /// The current estimate of track `id`.
    pub fn estimate(&self, id: TrackId) -> Estimate {
        self.tracks.get(&id).map_or(Estimate::NONE, |t| Self::calibrated(&self.calibration, &self.config, t))
    }

    /// Records why track `id`'s view was or was not used on this frame, and
    /// says whether that differs from its previous frame.
    pub fn note_view_use(&mut self, id: TrackId, view: ViewUse) -> bool {
        let t = self.tracks.entry(id).or_default();
        t.last_use.replace(view) != Some(view)
    }

    /// Forgets tracks not seen for `forget_after` frames.
    pub fn forget_stale(&mut self, frame: u64) {
        let keep = self.config.forget_after as u64;
        self.tracks.retain(|_, t| frame.saturating_sub(t.last_seen) <= keep);
    }

    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    /// Whether track `id` is remembered (seen within `forget_after` frames).
    pub fn knows(&self, id: TrackId) -> bool {
        self.tracks.contains_key(&id)
    }

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

    fn fusion(interval: u32, freeze_after: u32) -> Fusion {
        Fusion::new(
            FusionConfig {
                reclassify_interval: interval,
                freeze_after,
                confidence_threshold: 0.6,
                forget_after: 10,
                max_views: 0,
            },
            Calibration::IDENTITY,
        )
    }

    fn view(logit: f32, age: f32) -> RawView {
        RawView { gender_logit: logit, age }
    }

    #[test]
    fn unknown_until_a_view_arrives() {
        let mut f = fusion(5, 3);
        assert!(f.wants_view(1, 0));
        assert_eq!(f.estimate(1), Estimate::NONE);
        assert_eq!(f.estimate(1).gender, Gender::Unknown);
        // Still wanted on the next frame: no view was added.
        assert!(f.wants_view(1, 1));
    }

    #[test]
    fn views_are_taken_every_interval_and_averaged() {
        let mut f = fusion(5, 0);
        let mut taken = Vec::new();
        for frame in 0..12 {
            if f.wants_view(7, frame) {
                taken.push(frame);
                f.add_view(7, frame, view(if frame == 0 { 3.0 } else { 1.0 }, 30.0 + frame as f32), 1.0);
            }
        }
        assert_eq!(taken, [0, 5, 10]);
        let e = f.estimate(7);
        assert_eq!(e.samples, 3);
        assert!((e.age.unwrap() - 35.0).abs() < 1e-4);
        let p = 1.0 / (1.0 + (-(5.0f32 / 3.0)).exp());
        assert!((e.gender_confidence - p).abs() < 1e-4);
        assert_eq!(e.gender, Gender::Male);
        assert!(!e.frozen, "freeze_after 0 never freezes");
    }

    #[test]
    fn freezes_once_confident_and_then_ignores_views() {
        let mut f = fusion(1, 2);
        f.wants_view(1, 0);
        f.add_view(1, 0, view(-2.0, 25.0), 1.0);
        assert!(!f.estimate(1).frozen);
        f.wants_view(1, 1);
        f.add_view(1, 1, view(-2.0, 27.0), 1.0);
        let e = f.estimate(1);
        assert!(e.frozen);
        assert_eq!(e.gender, Gender::Female);
        assert!(!f.wants_view(1, 2), "a frozen track needs no model work");
        f.add_view(1, 2, view(5.0, 80.0), 1.0);
        assert_eq!(f.estimate(1), e, "frozen estimates do not move");
    }

    #[test]
    fn doubtful_faces_stay_unknown_and_unfrozen() {
        let mut f = fusion(1, 2);
        for frame in 0..20 {
            if f.wants_view(3, frame) {
                // Alternating views: the mean is undecided.
                f.add_view(3, frame, view(if frame % 2 == 0 { 0.3 } else { -0.3 }, 40.0), 1.0);
            }
        }
        let e = f.estimate(3);
        assert_eq!(e.gender, Gender::Unknown);
        assert!(!e.frozen);
        assert_eq!(e.samples, 20);
        assert!(e.age.is_some(), "the age is still reported");
    }

    #[test]
    fn a_doubtful_track_freezes_after_max_views() {
        let mut f = fusion(1, 2);
        f.set_config(FusionConfig { max_views: 6, ..*f.config() });
        let mut runs = 0;
        for frame in 0..20 {
            if f.wants_view(3, frame) {
                runs += 1;
                f.add_view(3, frame, view(if frame % 2 == 0 { 0.3 } else { -0.3 }, 40.0), 1.0);
            }
        }
        let e = f.estimate(3);
        assert_eq!((runs, e.samples, e.gender), (6, 6, Gender::Unknown), "still doubtful, no more model work");
        assert!(e.frozen);
    }

    #[test]
    fn tracks_are_independent_and_forgotten() {
        let mut f = fusion(1, 0);
        f.wants_view(1, 0);
        f.add_view(1, 0, view(4.0, 30.0), 1.0);
        f.wants_view(2, 0);
        f.add_view(2, 0, view(-4.0, 60.0), 1.0);
        assert_eq!(f.estimate(1).gender, Gender::Male);
        assert_eq!(f.estimate(2).gender, Gender::Female);
        f.wants_view(2, 8);
        f.forget_stale(15);
        assert_eq!(f.len(), 1);
        assert_eq!(f.estimate(1), Estimate::NONE);
    }

    #[test]
    fn frontal_views_outweigh_a_turned_one() {
        let mut f = fusion(1, 0);
        f.wants_view(1, 0);
        // Turned 70°: the model leans male; then two frontal views say female.
        f.add_view(1, 0, view(3.0, 50.0), view_weight(Some(70.0)));
        assert_eq!(f.estimate(1).gender, Gender::Male, "alone, a turned view still counts");
        f.add_view(1, 1, view(-2.0, 30.0), view_weight(Some(5.0)));
        f.add_view(1, 2, view(-2.0, 30.0), view_weight(Some(-5.0)));
        let e = f.estimate(1);
        assert_eq!(e.gender, Gender::Female);
        assert_eq!(e.samples, 3);
        // Weighted: (0.342 * 50 + 2 * 0.996 * 30) / (0.342 + 2 * 0.996).
        assert!((e.age.unwrap() - 32.9).abs() < 0.1, "{:?}", e.age);
        assert_eq!(view_weight(None), 1.0);
        assert_eq!(view_weight(Some(90.0)), 0.1);
    }

    #[test]
    fn a_view_use_is_new_only_when_it_changes() {
        let mut f = fusion(1, 0);
        assert!(f.note_view_use(1, ViewUse::TooSmall));
        assert!(!f.note_view_use(1, ViewUse::TooSmall), "the same reason again is no news");
        assert!(f.note_view_use(2, ViewUse::TooSmall), "tracks are independent");
        assert!(f.note_view_use(1, ViewUse::Classified));
        assert!(f.note_view_use(1, ViewUse::TooSmall));
    }

    #[test]
    fn non_finite_views_are_ignored() {
        let mut f = fusion(1, 0);
        f.wants_view(1, 0);
        f.add_view(1, 0, view(f32::NAN, 30.0), 1.0);
        assert_eq!(f.estimate(1).samples, 0);
    }
}
