//! Face detection: the model-family interface, its decoders and the
//! ONNX Runtime-backed detector that runs them.

mod centerface;
mod detector;
pub mod nms;
mod yunet;

pub use centerface::CenterFace;
pub use detector::{DetectorConfig, FaceDetector};
pub use yunet::YuNet;

use crate::frame::{ChannelOrder, InputGeometry};
use crate::geometry::{BBox, Landmarks};
use nms::NmsFlavour;

/// One face found in a frame, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    pub landmarks: Landmarks,
}

impl Detection {
    /// The detection mapped by `sx`, `sy` (e.g. model pixels → frame pixels).
    pub fn scaled(&self, sx: f32, sy: f32) -> Detection {
        let mut landmarks = self.landmarks;
        for p in &mut landmarks {
            p[0] *= sx;
            p[1] *= sy;
        }
        Detection { bbox: self.bbox.scaled(sx, sy), score: self.score, landmarks }
    }
}

/// A model output as the decoder sees it.
#[derive(Debug, Clone, Copy)]
pub struct OutputTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// Error while decoding model output: a wrong or unexpected model file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("model has no output `{0}`")]
    MissingOutput(String),
    #[error("{family} has {expected} outputs, this model {found}")]
    OutputCount { family: &'static str, expected: usize, found: usize },
    /// Outputs with fewer cells than the input's grid has.
    #[error("{family} outputs{} are smaller than the {cols}x{rows} grid", at_stride(*stride))]
    GridTooSmall { family: &'static str, stride: Option<usize>, cols: usize, rows: usize },
}

fn at_stride(stride: Option<usize>) -> String {
    stride.map(|s| format!(" at stride {s}")).unwrap_or_default()
}

/// The face detector families we can decode; the model file's outputs
/// decide, or the user names one (facedetect's `model-family`). Not to be
/// confused with `demographics::ModelFamily`, the age/gender models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetectorFamily {
    YuNet,
    CenterFace,
}

impl DetectorFamily {
    /// Guesses the family from a model's output names.
    pub fn from_output_names<S: AsRef<str>>(names: &[S]) -> Option<Self> {
        let has = |n: &str| names.iter().any(|s| s.as_ref() == n);
        if has("cls_8") && has("bbox_8") && has("kps_8") {
            Some(DetectorFamily::YuNet)
        } else if names.len() == 4 {
            // CenterFace exports have anonymous numeric output names: heatmap,
            // scale, offset, landmarks.
            Some(DetectorFamily::CenterFace)
        } else {
            None
        }
    }

    pub fn decoder(self) -> Box<dyn FaceDecoder> {
        match self {
            DetectorFamily::YuNet => Box::new(YuNet),
            DetectorFamily::CenterFace => Box::new(CenterFace),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DetectorFamily::YuNet => "yunet",
            DetectorFamily::CenterFace => "centerface",
        }
    }
}

/// What one detector family needs to know to turn a frame into faces: how the
/// model wants its input, and how to read its output back.
pub trait FaceDecoder: Send + Sync {
    fn family(&self) -> DetectorFamily;

    fn channel_order(&self) -> ChannelOrder;

    fn nms_flavour(&self) -> NmsFlavour;

    /// Where a `frame_width` x `frame_height` frame, scaled by `scale`, sits in
    /// the model input.
    fn input_geometry(&self, frame_width: usize, frame_height: usize, scale: f32) -> InputGeometry;

    /// Candidate faces (before NMS) in model-input pixels, with scores at
    /// least `score_threshold`, appended to `out`.
    fn decode(
        &self,
        outputs: &[OutputTensor<'_>],
        geometry: InputGeometry,
        score_threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError>;
}

/// Rounds `v` up to a multiple of 32, as both families' strides require.
pub(crate) fn ceil32(v: usize) -> usize {
    v.div_ceil(32).max(1) * 32
}

/// Scale that brings the long side of a frame down to `detection_size`
/// (0 = keep the full resolution; frames are never enlarged).
pub fn detection_scale(frame_width: usize, frame_height: usize, detection_size: u32) -> f32 {
    let long = frame_width.max(frame_height) as f32;
    if detection_size == 0 || long <= detection_size as f32 { 1.0 } else { detection_size as f32 / long }
}

/// How many of the best candidates enter NMS (OpenCV FaceDetectorYN's default).
pub const NMS_TOP_K: usize = 5000;

/// Runs NMS over decoded candidates and maps the survivors to frame pixels.
pub fn finish_detections(
    candidates: &[Detection],
    flavour: NmsFlavour,
    score_threshold: f32,
    nms_threshold: f32,
    max_faces: usize,
    model_to_frame: (f32, f32),
    frame_size: (f32, f32),
) -> Vec<Detection> {
    let boxes: Vec<BBox> = candidates.iter().map(|d| d.bbox).collect();
    let scores: Vec<f32> = candidates.iter().map(|d| d.score).collect();
    nms::nms(&boxes, &scores, score_threshold, nms_threshold, NMS_TOP_K, flavour)
        .into_iter()
        .take(max_faces)
        .map(|i| {
            let mut d = candidates[i].scaled(model_to_frame.0, model_to_frame.1);
            d.bbox = d.bbox.clipped(frame_size.0, frame_size.1);
            d
        })
        .filter(|d| d.bbox.w > 0.0 && d.bbox.h > 0.0)
        .collect()
}

pub(crate) fn find_output<'a>(
    outputs: &'a [OutputTensor<'a>],
    name: &str,
) -> Result<&'a OutputTensor<'a>, DecodeError> {
    outputs.iter().find(|t| t.name == name).ok_or_else(|| DecodeError::MissingOutput(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_scale_only_shrinks() {
        assert_eq!(detection_scale(1920, 1080, 640), 640.0 / 1920.0);
        assert_eq!(detection_scale(320, 240, 640), 1.0);
        assert_eq!(detection_scale(1920, 1080, 0), 1.0);
    }

    #[test]
    fn family_from_names() {
        let yunet = ["cls_8", "cls_16", "obj_8", "bbox_8", "kps_8"];
        assert_eq!(DetectorFamily::from_output_names(&yunet), Some(DetectorFamily::YuNet));
        assert_eq!(DetectorFamily::from_output_names(&["537", "538", "539", "540"]), Some(DetectorFamily::CenterFace));
        assert_eq!(DetectorFamily::from_output_names(&["output"]), None);
    }
}
