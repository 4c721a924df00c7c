//! FSA-Net head pose (two variants averaged), one ONNX Runtime session per
//! model file, shared by every instance in the process (see
//! [`runtime::shared_session`]). The pair file `blickfang models install` makes
//! holds both variants with a dynamic batch axis: one run per frame.

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;

use super::HeadPose;
use crate::frame::{ChannelOrder, FrameView, fill_planar_crop};
use crate::geometry::BBox;
use crate::runtime::{self, OutputProblem, RuntimeError, SharedSession};

const SIZE: usize = 64;
/// The crop is the face box's enclosing square grown by this share of its side on every side.
pub const CROP_MARGIN: f32 = 0.2;

pub struct FsaNet {
    models: Vec<Model>,
    /// The crops of all faces of a frame, `[N, 3, 64, 64]`: grows to the most
    /// faces seen in one frame and is reused, never shrunk.
    input: Vec<f32>,
    /// The poses of the last call, reused likewise.
    poses: Vec<HeadPose>,
}

struct Model {
    path: PathBuf,
    session: SharedSession,
    /// A dynamic batch axis: one run for all faces of a frame (the pair file
    /// [`super::pair`] makes); else one run per face (the upstream files, `[1, 3, 64, 64]`).
    batched: bool,
}

/// What FSA-Net looks like from outside, for the start-time check.
const EXPECTED: &str = "an FSA-Net head-pose model (input [N, 3, 64, 64], output of 3 values: yaw, pitch, roll)";

/// Whether a model's input and output shapes fit FSA-Net: a 3x64x64 input
/// and an output of 3 values. Run at start, so a model given for the wrong
/// role (a face detector, say) fails there instead of giving plausible but
/// meaningless angles for every face. Unknown (dynamic, -1) sizes pass.
pub fn fits_fsanet(input: &[i64], outputs: &[Vec<i64>]) -> bool {
    let fits = |found: i64, want: i64| found < 0 || found == want;
    let input_ok = input.len() == 4 && fits(input[1], 3) && fits(input[2], SIZE as i64) && fits(input[3], SIZE as i64);
    // One output whose sizes after the batch are known and hold 3 values.
    let output_ok =
        matches!(outputs, [o] if o.len() >= 2 && o[1..].iter().all(|&d| d > 0) && o[1..].iter().product::<i64>() == 3);
    input_ok && output_ok
}

fn check_role(model: &Path, session: &Session) -> Result<(), RuntimeError> {
    let shape = |t: &ort::value::ValueType| t.tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
    let inputs: Vec<(String, Vec<i64>)> =
        session.inputs().iter().map(|i| (i.name().to_string(), shape(i.dtype()))).collect();
    let outputs: Vec<(String, Vec<i64>)> =
        session.outputs().iter().map(|o| (o.name().to_string(), shape(o.dtype()))).collect();
    let output_shapes: Vec<Vec<i64>> = outputs.iter().map(|(_, s)| s.clone()).collect();
    if inputs.len() == 1 && fits_fsanet(&inputs[0].1, &output_shapes) {
        return Ok(());
    }
    Err(RuntimeError::WrongModel {
        path: model.to_path_buf(),
        expected: EXPECTED,
        found: format!("inputs {inputs:?}, outputs {outputs:?}"),
        hint: "`headpose-model` takes FSA-Net models (or empty for head pose from the landmarks)",
    })
}

impl FsaNet {
    /// Loads every model in `models` (FSA-Net's 1x1 and var variants, or the
    /// pair file holding both); their outputs are averaged.
    pub fn load(models: &[PathBuf], onnxruntime: &Path, threads: usize) -> Result<Self, RuntimeError> {
        let mut loaded = Vec::new();
        for model in models {
            let session = runtime::shared_session(onnxruntime, model, threads)?;
            let batched = {
                let session = session.lock();
                check_role(model, &session)?;
                session.inputs()[0].dtype().tensor_shape().is_some_and(|s| s.first().is_some_and(|&d| d < 0))
            };
            loaded.push(Model { path: model.clone(), session, batched });
        }
        if loaded.is_empty() {
            return Err(RuntimeError::NoModel { what: "head-pose" });
        }
        Ok(Self { models: loaded, input: Vec::new(), poses: Vec::new() })
    }

    /// Whether every model takes all faces of a frame in one run.
    pub fn batched(&self) -> bool {
        self.models.iter().all(|m| m.batched)
    }

    /// Model runs that [`FsaNet::estimate_all`] makes for `faces` faces (none for none).
    pub fn runs_for(&self, faces: usize) -> u64 {
        let runs = |m: &Model| if m.batched { (faces > 0) as u64 } else { faces as u64 };
        self.models.iter().map(runs).sum()
    }

    /// Head pose of the face in `bbox`.
    pub fn estimate(&mut self, frame: &FrameView<'_>, bbox: &BBox) -> Result<HeadPose, RuntimeError> {
        Ok(self.estimate_all(frame, std::slice::from_ref(bbox))?[0])
    }

    /// Head poses of the faces in `boxes`, in their order: one run per model
    /// for all of them where the model's batch axis is dynamic, else one per face.
    pub fn estimate_all(&mut self, frame: &FrameView<'_>, boxes: &[BBox]) -> Result<&[HeadPose], RuntimeError> {
        const CROP: usize = 3 * SIZE * SIZE;
        let n = boxes.len();
        if self.input.len() < n * CROP {
            self.input.resize(n * CROP, 0.0);
        }
        for (bbox, dst) in boxes.iter().zip(self.input.chunks_exact_mut(CROP)) {
            // A square around the face, as FSA-Net was trained on, grown on every side.
            let side = bbox.w.max(bbox.h) * (1.0 + 2.0 * CROP_MARGIN);
            let (cx, cy) = bbox.center();
            let crop = (cx - side / 2.0, cy - side / 2.0, side, side);
            fill_planar_crop(frame, crop, (SIZE, SIZE), ChannelOrder::Bgr, dst)?;
            for v in dst {
                *v = (*v - 127.5) / 128.0;
            }
        }
        // Sums first, then one division: the same f32 operations for one model or many, batched or not.
        self.poses.clear();
        self.poses.resize(n, HeadPose::default());
        for model in &self.models {
            let mut session = model.session.lock_for_run();
            let step = if model.batched { n.max(1) } else { 1 };
            for first in (0..n).step_by(step) {
                let count = step.min(n - first);
                let input = &self.input[first * CROP..(first + count) * CROP];
                let tensor = TensorRef::from_array_view(([count, 3, SIZE, SIZE], input))
                    .map_err(|e| RuntimeError::Tensor(e.to_string()))?;
                let outputs = session
                    .run(ort::inputs![tensor])
                    .map_err(|e| RuntimeError::Inference { model: model.path.clone(), reason: e.to_string() })?;
                const POSE: &str = "(yaw, pitch, roll)";
                let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| {
                    RuntimeError::output(
                        &model.path,
                        OutputProblem::NotF32 { name: POSE.into(), reason: e.to_string() },
                    )
                })?;
                if data.len() != 3 * count {
                    let size = OutputProblem::Size { name: POSE.into(), found: data.len(), expected: 3 * count };
                    return Err(RuntimeError::output(&model.path, size));
                }
                for (pose, v) in self.poses[first..first + count].iter_mut().zip(data.chunks_exact(3)) {
                    pose.yaw += v[0];
                    pose.pitch += v[1];
                    pose.roll += v[2];
                }
            }
        }
        let k = self.models.len() as f32;
        for pose in &mut self.poses {
            *pose = HeadPose { yaw: pose.yaw / k, pitch: pose.pitch / k, roll: pose.roll / k };
        }
        Ok(&self.poses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fsanet_shapes_fit() {
        assert!(fits_fsanet(&[1, 3, 64, 64], &[vec![1, 3]]));
        assert!(fits_fsanet(&[-1, 3, 64, 64], &[vec![-1, 3]]));
        // YuNet: a 3-channel image of any size in, many score and box maps out.
        assert!(!fits_fsanet(&[1, 3, -1, -1], &[vec![1, -1, 1], vec![1, -1, 4]]));
        assert!(!fits_fsanet(&[1, 3, -1, -1], &[vec![1, -1, 3]]));
        assert!(!fits_fsanet(&[1, 3, 640, 640], &[vec![1, 6400, 1]]));
        assert!(!fits_fsanet(&[1, 64, 64, 3], &[vec![1, 3]]), "NHWC is another family");
        assert!(!fits_fsanet(&[1, 3, 64, 64], &[vec![1, 2]]));
        assert!(!fits_fsanet(&[1, 3, 64, 64], &[]));
    }
}
