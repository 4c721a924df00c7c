//! FSA-Net head pose (two variants averaged), one ONNX Runtime session each.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::HeadPose;
use crate::frame::{ChannelOrder, FrameView, fill_planar_crop};
use crate::geometry::BBox;
use crate::runtime::{self, OutputProblem, RuntimeError};

const SIZE: usize = 64;
/// The crop is the face box's enclosing square grown by this share of its side on every side.
pub const CROP_MARGIN: f32 = 0.2;

pub struct FsaNet {
    sessions: Vec<(PathBuf, Session)>,
    input: Vec<f32>,
}

impl FsaNet {
    /// Loads every model in `models` (FSA-Net's 1x1 and var variants); their
    /// outputs are averaged.
    pub fn load(models: &[PathBuf], onnxruntime: &Path, threads: usize) -> Result<Self, RuntimeError> {
        let env = runtime::environment(onnxruntime)?;
        let mut sessions = Vec::new();
        for model in models {
            let fail =
                |e: &dyn std::fmt::Display| RuntimeError::ModelLoad { path: model.clone(), reason: e.to_string() };
            let session = Session::builder(env)
                .map_err(|e| fail(&e))?
                .with_intra_threads(threads.max(1))
                .map_err(|e| fail(&e))?
                .commit_from_file(model)
                .map_err(|e| fail(&e))?;
            sessions.push((model.clone(), session));
        }
        if sessions.is_empty() {
            return Err(RuntimeError::NoModel { what: "head-pose" });
        }
        Ok(Self { sessions, input: vec![0.0; 3 * SIZE * SIZE] })
    }

    /// Head pose of the face in `bbox`.
    pub fn estimate(&mut self, frame: &FrameView<'_>, bbox: &BBox) -> Result<HeadPose, RuntimeError> {
        // A square around the face, as FSA-Net was trained on, grown on every side.
        let side = bbox.w.max(bbox.h) * (1.0 + 2.0 * CROP_MARGIN);
        let (cx, cy) = bbox.center();
        let crop = (cx - side / 2.0, cy - side / 2.0, side, side);
        fill_planar_crop(frame, crop, (SIZE, SIZE), ChannelOrder::Bgr, &mut self.input)?;
        for v in &mut self.input {
            *v = (*v - 127.5) / 128.0;
        }
        let mut sum = [0.0f32; 3];
        for (path, session) in &mut self.sessions {
            let tensor = TensorRef::from_array_view(([1usize, 3, SIZE, SIZE], &self.input[..]))
                .map_err(|e| RuntimeError::Tensor(e.to_string()))?;
            let outputs = session
                .run(ort::inputs![tensor])
                .map_err(|e| RuntimeError::Inference { model: path.clone(), reason: e.to_string() })?;
            const POSE: &str = "(yaw, pitch, roll)";
            let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| {
                RuntimeError::output(path, OutputProblem::NotF32 { name: POSE.into(), reason: e.to_string() })
            })?;
            if data.len() < 3 {
                let size = OutputProblem::Size { name: POSE.into(), found: data.len(), expected: 3 };
                return Err(RuntimeError::output(path, size));
            }
            for k in 0..3 {
                sum[k] += data[k];
            }
        }
        let n = self.sessions.len() as f32;
        Ok(HeadPose { yaw: sum[0] / n, pitch: sum[1] / n, roll: sum[2] / n })
    }
}
