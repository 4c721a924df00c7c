//! The face detector: one ONNX Runtime session (whose input every detector on
//! it fills in turn) and a family decoder. No GStreamer here; the `facedetect`
//! element wraps it.

use std::path::{Path, PathBuf};

use ort::value::TensorRef;

use super::{Detection, DetectorFamily, FaceDecoder, OutputTensor, detection_scale, finish_detections};
use crate::frame::{FrameView, InputGeometry, ResizeCache, fill_planar_input};
use crate::runtime::{self, OutputProblem, RuntimeError, SharedSession};

/// Everything that shapes a detection run; mirrors the element's properties.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    pub model: PathBuf,
    /// `None`: decided from the model's outputs.
    pub family: Option<DetectorFamily>,
    pub score_threshold: f32,
    pub nms_threshold: f32,
    pub max_faces: usize,
    /// Long side of the copy the model sees; 0 = full resolution.
    pub detection_size: u32,
    pub min_face_size: u32,
    pub threads: usize,
}

/// A loaded detector. Cheap to call repeatedly: the session's input tensor is
/// reused, and the resize taps while the frame size stays the same.
pub struct FaceDetector {
    session: SharedSession,
    decoder: Box<dyn FaceDecoder>,
    config: DetectorConfig,
    resize: ResizeCache,
    candidates: Vec<Detection>,
}

impl FaceDetector {
    /// Loads the model with the given ONNX Runtime library.
    pub fn load(config: DetectorConfig, onnxruntime: &Path) -> Result<Self, RuntimeError> {
        Self::load_in_lane(config, onnxruntime, 0)
    }

    /// Loads the model in session `lane` (see [`runtime::SessionKey::lane`]).
    pub fn load_in_lane(config: DetectorConfig, onnxruntime: &Path, lane: u32) -> Result<Self, RuntimeError> {
        let model = &config.model;
        // Shared with every other facedetect of the process using this model, threads and lane.
        let session = runtime::shared_session_in_lane(onnxruntime, model, config.threads, lane)?;
        let names: Vec<String> = session.lock().outputs().iter().map(|o| o.name().to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let detected = DetectorFamily::from_output_names(&names);
        let family = match (config.family, detected) {
            (Some(f), _) => f,
            (None, Some(f)) => f,
            (None, None) => {
                return Err(RuntimeError::WrongModel {
                    path: model.clone(),
                    expected: "a known face detector",
                    found: format!("outputs {names:?}"),
                    hint: "set model-family",
                });
            }
        };
        Ok(Self { session, decoder: family.decoder(), config, resize: ResizeCache::default(), candidates: Vec::new() })
    }

    pub fn family(&self) -> DetectorFamily {
        self.decoder.family()
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Changes what may change while running: thresholds and limits.
    pub fn set_tuning(&mut self, score_threshold: f32, nms_threshold: f32, min_face_size: u32, max_faces: usize) {
        self.config.score_threshold = score_threshold;
        self.config.nms_threshold = nms_threshold;
        self.config.min_face_size = min_face_size;
        self.config.max_faces = max_faces;
    }

    /// Model input geometry for a frame of this size.
    pub fn geometry(&self, width: usize, height: usize) -> InputGeometry {
        let scale = detection_scale(width, height, self.config.detection_size);
        self.decoder.input_geometry(width, height, scale)
    }

    /// Finds the faces in `frame`, best first, in frame pixels.
    pub fn detect(&mut self, frame: &FrameView<'_>) -> Result<Vec<Detection>, RuntimeError> {
        let mut rest = Vec::new();
        let threshold = self.config.score_threshold;
        self.detect_with_candidates(frame, threshold, &mut rest)
    }

    /// As [`detect`](Self::detect), and in the same model run also fills
    /// `candidates` with what only privacy wants: detections scoring at least
    /// `redact_threshold` that are not among the faces (below `score_threshold`,
    /// smaller than `min_face_size`, or beyond `max_faces`). The faces are
    /// exactly those [`detect`](Self::detect) returns: NMS is greedy from the
    /// best score down, so weaker candidates never suppress a face.
    pub fn detect_with_candidates(
        &mut self,
        frame: &FrameView<'_>,
        redact_threshold: f32,
        candidates: &mut Vec<Detection>,
    ) -> Result<Vec<Detection>, RuntimeError> {
        let geometry = self.geometry(frame.width, frame.height);
        let len = 3 * geometry.input_width * geometry.input_height;
        let order = self.decoder.channel_order();
        let mut run = self.session.lock_for_run();
        run.fill_input(len, |input| fill_planar_input(frame, geometry, order, input, &mut self.resize))?;
        let (session, input) = run.session_and_input();
        let shape = [1usize, 3, geometry.input_height, geometry.input_width];
        let tensor = TensorRef::from_array_view((shape, input)).map_err(|e| RuntimeError::Tensor(e.to_string()))?;
        let model = &self.config.model;
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(|e| RuntimeError::Inference { model: model.clone(), reason: e.to_string() })?;
        let mut views = Vec::with_capacity(outputs.len());
        for (i, name) in outputs.keys().enumerate() {
            let (shape, data) = outputs[i].try_extract_tensor::<f32>().map_err(|e| {
                RuntimeError::output(model, OutputProblem::NotF32 { name: name.to_string(), reason: e.to_string() })
            })?;
            views.push(OutputTensor { name, shape, data });
        }
        let lowest = redact_threshold.min(self.config.score_threshold);
        self.candidates.clear();
        self.decoder
            .decode(&views, geometry, lowest, &mut self.candidates)
            .map_err(|e| RuntimeError::output(model, e))?;
        let (sx, sy) = geometry.scale_from(frame.width, frame.height);
        let all = finish_detections(
            &self.candidates,
            self.decoder.nms_flavour(),
            lowest,
            self.config.nms_threshold,
            usize::MAX,
            (1.0 / sx, 1.0 / sy),
            (frame.width as f32, frame.height as f32),
        );
        candidates.clear();
        let (min, max_faces) = (self.config.min_face_size as f32, self.config.max_faces);
        let mut faces = Vec::with_capacity(all.len().min(max_faces));
        for d in all {
            let face = d.score >= self.config.score_threshold && d.bbox.w.min(d.bbox.h) >= min;
            if face && faces.len() < max_faces {
                faces.push(d);
            } else if d.score >= lowest {
                candidates.push(d);
            }
        }
        Ok(faces)
    }
}
