//! Age and gender per tracked face: aligned crops sampled straight from the
//! frame, one batched model run per frame for the faces that need it,
//! per-track fusion and freezing, calibration and age groups. The
//! `demographics` element wraps an [`Estimator`]; `eval` scores the output of
//! `blickfang analyze` against the UTKFace and FairFace labels.
//!
//! A view is classified only when its track wants one (not frozen, none in
//! the last `reclassify_interval` frames) and it is usable: a fresh detection
//! (not a position the tracker carried) at least `min_confidence`, a face at
//! least `min_face_size` pixels, turned less than `max_yaw` degrees, and sharper than
//! `min_sharpness`. A track without a usable view stays `unknown`.

pub mod align;
pub mod calibration;
pub mod eval;
pub mod fusion;
pub mod groups;
pub mod model;

use std::path::Path;

pub use align::FaceGeometry;
pub use calibration::Calibration;
pub use fusion::{DEFAULT_MAX_VIEWS, Estimate, Fusion, FusionConfig, Gender};
pub use groups::{AgeGroups, FAIRFACE_AGE_GROUPS};
pub use model::{AgeGenderModel, DEFAULT_MODEL, ModelFamily, RawView, SMALL_MODELS};

use crate::frame::{FrameSampler, FrameView};
use crate::geometry::{BBox, Landmarks};
use crate::runtime::RuntimeError;
use crate::tracker::TrackId;

/// Everything that shapes the estimates; mirrors the element's properties.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimatorConfig {
    /// One age/gender model, or "gender-model,age-model" (see [`model`]).
    pub model: String,
    pub threads: usize,
    pub fusion: FusionConfig,
    /// Faces whose box is smaller (shorter side, frame pixels) are not classified.
    pub min_face_size: u32,
    /// Detections less confident than this are not classified.
    pub min_confidence: f32,
    /// Faces turned further than this (degrees, from the landmarks) are not classified.
    pub max_yaw: f32,
    /// Views less sharp than this (see [`align::sharpness`]) are not classified.
    pub min_sharpness: f32,
    /// Classify each crop and its mirror image and average them.
    pub flip: bool,
    /// Crops per view, as factors of the model's own crop size, averaged
    /// (see [`parse_crop_scales`]); `[1.0]` is the model's crop alone.
    pub crop_scales: Vec<f32>,
    /// Apply the fitted calibration; off, the models' own numbers are reported.
    pub calibrate: bool,
    pub age_groups: AgeGroups,
}

pub const DEFAULT_MIN_FACE_SIZE: u32 = 36;
/// facedetect keeps faces from 0.6 by default; lower thresholds (as for the
/// WIDER FACE evaluation) bring many doubtful boxes that are not worth a
/// model run.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.5;
/// Beyond this the face is in profile: one eye is hidden and the detector's
/// landmarks (and the alignment built on them) are guesses. Up to it the
/// model stays usable: on FairFace, faces the landmarks put at 60-75° get
/// the right gender 14 times in 18, as the frontal 0-15° bin does (139 in
/// 162). Turned views count less in a track's average (`fusion::view_weight`).
pub const DEFAULT_MAX_YAW: f32 = 75.0;
pub const DEFAULT_MIN_SHARPNESS: f32 = 0.01;

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            threads: 1,
            fusion: FusionConfig::default(),
            min_face_size: DEFAULT_MIN_FACE_SIZE,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            max_yaw: DEFAULT_MAX_YAW,
            min_sharpness: DEFAULT_MIN_SHARPNESS,
            flip: true,
            crop_scales: vec![1.0],
            calibrate: true,
            age_groups: AgeGroups::default(),
        }
    }
}

/// The crop scales a still image gets from `blickfang analyze`: a photo is
/// one view, with no later frames of its track to average in, so it is
/// classified at two crop sizes (each with its mirror image) instead.
pub const STILL_IMAGE_CROP_SCALES: &str = "0.95,1.05";

/// Parses `crop-scales`: 1 to 4 comma-separated factors in 0.5..=2.
pub fn parse_crop_scales(spec: &str) -> Result<Vec<f32>, String> {
    let scales = spec
        .split(',')
        .map(|v| {
            let x: f32 = v.trim().parse().map_err(|_| format!("{v:?} is not a number"))?;
            if (0.5..=2.0).contains(&x) { Ok(x) } else { Err(format!("{x} is outside 0.5..2")) }
        })
        .collect::<Result<Vec<f32>, String>>()?;
    if scales.len() > 4 {
        return Err(format!("{} scales, at most 4", scales.len()));
    }
    Ok(scales)
}

/// One face of a frame as the detector left it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceInput {
    /// Track id: the evidence of all frames with this id is fused.
    pub id: TrackId,
    /// Frame pixels.
    pub bbox: BBox,
    /// The five landmarks; `None` for a box that is a face chip.
    pub landmarks: Option<Landmarks>,
    /// The detector's confidence.
    pub confidence: f32,
    /// Detected on this frame (false: a position the tracker carried).
    pub fresh: bool,
}

/// Why a face was or was not classified on a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewUse {
    /// Classified on this frame.
    Classified,
    /// Its track did not need a view (frozen, or classified recently).
    NotNeeded,
    /// A carried position, not a detection.
    NotFresh,
    LowConfidence,
    TooSmall,
    TurnedAway,
    Blurred,
}

impl ViewUse {
    /// What it means, in the words of the setting that decided it (for logs).
    pub fn as_str(&self) -> &'static str {
        match self {
            ViewUse::Classified => "classified",
            ViewUse::NotNeeded => "not needed (frozen or classified within reclassify-interval)",
            ViewUse::NotFresh => "a position the tracker carried, not a detection",
            ViewUse::LowConfidence => "detection confidence below min-confidence",
            ViewUse::TooSmall => "smaller than min-face-size",
            ViewUse::TurnedAway => "turned further than max-yaw",
            ViewUse::Blurred => "less sharp than min-sharpness",
        }
    }
}

/// What was measured of a view that was checked (for logs and tuning).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViewQuality {
    /// Degrees, from the landmarks (`None` without landmarks).
    pub yaw: Option<f32>,
    /// See [`align::sharpness`] (`None` when not measured).
    pub sharpness: Option<f32>,
}

/// The estimate for one face of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEstimate {
    pub id: TrackId,
    pub estimate: Estimate,
    /// The age group's name, or "unknown" without an age.
    pub age_group: String,
    pub view: ViewUse,
    /// `view` differs from the track's previous frame: a decision worth a
    /// log line (a face too small on every frame is reported once).
    pub view_changed: bool,
    pub quality: ViewQuality,
}

impl FaceEstimate {
    /// The track's estimate froze on this frame (freezing only happens when
    /// a view is added, and a frozen track is never classified again).
    pub fn froze(&self) -> bool {
        self.view == ViewUse::Classified && self.estimate.frozen
    }
}

/// Counters for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames: u64,
    /// Frames on which the model ran (once, batched).
    pub model_runs: u64,
    pub faces_classified: u64,
}

/// Estimates age and gender for the tracked faces of one stream: model,
/// per-track fusion and settings.
pub struct Estimator {
    model: AgeGenderModel,
    fusion: Fusion,
    config: EstimatorConfig,
    frame: u64,
    stats: Stats,
}

impl Estimator {
    pub fn load(config: EstimatorConfig, onnxruntime: &Path) -> Result<Self, RuntimeError> {
        let model = AgeGenderModel::load(&config.model, onnxruntime, config.threads)?;
        let calibration = Self::calibration_for(&model, config.calibrate);
        let fusion = Fusion::new(config.fusion, calibration);
        Ok(Self { model, fusion, config, frame: 0, stats: Stats::default() })
    }

    fn calibration_for(model: &AgeGenderModel, calibrate: bool) -> Calibration {
        if !calibrate {
            return Calibration::IDENTITY;
        }
        let (g, a) = model.families();
        Calibration::for_models(g, a)
    }

    pub fn model(&self) -> &AgeGenderModel {
        &self.model
    }

    pub fn config(&self) -> &EstimatorConfig {
        &self.config
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Changes what may change while running (not the model, threads or
    /// calibration); frozen tracks keep their estimate.
    pub fn set_tuning(&mut self, tuning: &EstimatorConfig) {
        self.fusion.set_config(tuning.fusion);
        self.config.fusion = tuning.fusion;
        self.config.min_face_size = tuning.min_face_size;
        self.config.min_confidence = tuning.min_confidence;
        self.config.max_yaw = tuning.max_yaw;
        self.config.min_sharpness = tuning.min_sharpness;
        self.config.flip = tuning.flip;
        self.config.age_groups = tuning.age_groups.clone();
    }

    /// Whether track `id` is remembered (see [`Fusion::knows`]).
    pub fn knows(&self, id: TrackId) -> bool {
        self.fusion.knows(id)
    }

    /// A new stream: every track is forgotten.
    pub fn reset(&mut self) {
        self.fusion.clear();
        self.frame = 0;
    }

    /// Whether a face's view may be classified, and how to align it.
    fn usable(
        &self,
        sampler: &FrameSampler<'_, '_>,
        face: &FaceInput,
        quality: &mut ViewQuality,
    ) -> Result<FaceGeometry, ViewUse> {
        if !face.fresh {
            return Err(ViewUse::NotFresh);
        }
        if face.confidence < self.config.min_confidence {
            return Err(ViewUse::LowConfidence);
        }
        if face.bbox.w.min(face.bbox.h) < self.config.min_face_size as f32 {
            return Err(ViewUse::TooSmall);
        }
        let geometry = match face.landmarks {
            Some(l) => {
                let yaw = align::yaw_degrees(&l);
                quality.yaw = Some(yaw);
                if yaw > self.config.max_yaw {
                    return Err(ViewUse::TurnedAway);
                }
                FaceGeometry::Landmarks(l)
            }
            None => FaceGeometry::Box(face.bbox),
        };
        if align::crop_transform(&geometry, 64, 1.0).is_none() {
            return Err(ViewUse::TurnedAway);
        }
        if self.config.min_sharpness > 0.0 {
            let sharpness = align::sharpness(sampler, &geometry);
            quality.sharpness = Some(sharpness);
            if sharpness < self.config.min_sharpness {
                return Err(ViewUse::Blurred);
            }
        }
        Ok(geometry)
    }

    /// A frame without faces: time passes, nothing runs.
    pub fn skip_frame(&mut self) {
        self.fusion.forget_stale(self.frame);
        self.frame += 1;
        self.stats.frames += 1;
    }

    /// The estimates for the faces of one frame, in order. The model runs at
    /// most once, on all faces whose tracks want a usable view.
    pub fn process(&mut self, frame: &FrameView<'_>, faces: &[FaceInput]) -> Result<Vec<FaceEstimate>, RuntimeError> {
        let sampler = FrameSampler::new(frame)?;
        let now = self.frame;
        let mut uses = Vec::with_capacity(faces.len());
        let mut batch = Vec::new();
        let mut batch_ids = Vec::new();
        let mut batch_weights = Vec::new();
        for face in faces {
            let mut quality = ViewQuality::default();
            if !self.fusion.wants_view(face.id, now) {
                uses.push((ViewUse::NotNeeded, quality));
                continue;
            }
            match self.usable(&sampler, face, &mut quality) {
                Ok(geometry) => {
                    uses.push((ViewUse::Classified, quality));
                    batch.push(geometry);
                    batch_ids.push(face.id);
                    batch_weights.push(fusion::view_weight(quality.yaw));
                }
                Err(why) => uses.push((why, quality)),
            }
        }
        if !batch.is_empty() {
            let views = self.model.classify(&sampler, &batch, self.config.flip, &self.config.crop_scales)?;
            for ((id, view), weight) in batch_ids.iter().zip(views).zip(&batch_weights) {
                self.fusion.add_view(*id, now, view, *weight);
            }
            self.stats.model_runs += 1;
            self.stats.faces_classified += batch.len() as u64;
        }
        let results = faces
            .iter()
            .zip(uses)
            .map(|(face, (view, quality))| {
                let estimate = self.fusion.estimate(face.id);
                let age_group = estimate
                    .age
                    .map_or_else(|| "unknown".to_string(), |a| self.config.age_groups.name_of(a as f64).to_string());
                let view_changed = self.fusion.note_view_use(face.id, view);
                FaceEstimate { id: face.id, estimate, age_group, view, view_changed, quality }
            })
            .collect();
        self.fusion.forget_stale(now);
        self.frame += 1;
        self.stats.frames += 1;
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_scales_parse_and_reject_nonsense() {
        assert_eq!(parse_crop_scales("1").unwrap(), vec![1.0]);
        assert_eq!(parse_crop_scales(STILL_IMAGE_CROP_SCALES).unwrap(), vec![0.95, 1.05]);
        assert_eq!(parse_crop_scales(" 0.9, 1.1 ").unwrap(), vec![0.9, 1.1]);
        assert!(parse_crop_scales("1,7").unwrap_err().contains("outside"));
        assert!(parse_crop_scales("big").unwrap_err().contains("not a number"));
        assert!(parse_crop_scales("1,1,1,1,1").unwrap_err().contains("at most 4"));
        assert!(parse_crop_scales("").is_err());
    }
}
