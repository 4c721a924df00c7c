//! FSA-Net head pose (two variants averaged), one ONNX Runtime session each,
//! shared by every instance in the process (see [`runtime::shared_session`]).

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
    sessions: Vec<(PathBuf, SharedSession)>,
    input: Vec<f32>,
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
    /// Loads every model in `models` (FSA-Net's 1x1 and var variants); their
    /// outputs are averaged.
    pub fn load(models: &[PathBuf], onnxruntime: &Path, threads: usize) -> Result<Self, RuntimeError> {
        let mut sessions = Vec::new();
        for model in models {
            let session = runtime::shared_session(onnxruntime, model, threads)?;
            check_role(model, &session.lock())?;
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
        for (path, session) in &self.sessions {
            let mut session = session.lock();
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
