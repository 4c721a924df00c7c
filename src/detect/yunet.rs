//! YuNet, decoded exactly as OpenCV's `FaceDetectorYN` does.

use super::nms::NmsFlavour;
use super::{DecodeError, Detection, DetectorFamily, FaceDecoder, OutputTensor, ceil32, find_output};
use crate::frame::{ChannelOrder, InputGeometry};
use crate::geometry::BBox;

const STRIDES: [usize; 3] = [8, 16, 32];

/// YuNet (libfacedetection): BGR 0..255 input padded to a multiple of 32.
#[derive(Debug, Default, Clone, Copy)]
pub struct YuNet;

impl FaceDecoder for YuNet {
    fn family(&self) -> DetectorFamily {
        DetectorFamily::YuNet
    }

    fn channel_order(&self) -> ChannelOrder {
        ChannelOrder::Bgr
    }

    fn nms_flavour(&self) -> NmsFlavour {
        NmsFlavour::OpenCvIntRect
    }

    fn input_geometry(&self, frame_width: usize, frame_height: usize, scale: f32) -> InputGeometry {
        let sw = ((frame_width as f32 * scale).round() as usize).max(1);
        let sh = ((frame_height as f32 * scale).round() as usize).max(1);
        // OpenCV pads right and bottom rather than stretching.
        InputGeometry { scaled_width: sw, scaled_height: sh, input_width: ceil32(sw), input_height: ceil32(sh) }
    }

    fn decode(
        &self,
        outputs: &[OutputTensor<'_>],
        geometry: InputGeometry,
        score_threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        for stride in STRIDES {
            let cols = geometry.input_width / stride;
            let rows = geometry.input_height / stride;
            let cells = rows * cols;
            let cls = find_output(outputs, &format!("cls_{stride}"))?.data;
            let obj = find_output(outputs, &format!("obj_{stride}"))?.data;
            let bbox = find_output(outputs, &format!("bbox_{stride}"))?.data;
            let kps = find_output(outputs, &format!("kps_{stride}"))?.data;
            if cls.len() < cells || obj.len() < cells || bbox.len() < cells * 4 || kps.len() < cells * 10 {
                return Err(DecodeError::GridTooSmall { family: "YuNet", stride: Some(stride), cols, rows });
            }
            let s = stride as f32;
            for r in 0..rows {
                for c in 0..cols {
                    let i = r * cols + c;
                    let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                    if score < score_threshold {
                        continue;
                    }
                    let (cf, rf) = (c as f32, r as f32);
                    let b = &bbox[i * 4..i * 4 + 4];
                    let cx = (cf + b[0]) * s;
                    let cy = (rf + b[1]) * s;
                    let w = b[2].exp() * s;
                    let h = b[3].exp() * s;
                    let k = &kps[i * 10..i * 10 + 10];
                    let landmarks = std::array::from_fn(|n| [(k[2 * n] + cf) * s, (k[2 * n + 1] + rf) * s]);
                    out.push(Detection { bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, w, h), score, landmarks });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_one_cell() {
        let g = YuNet.input_geometry(64, 64, 1.0);
        assert_eq!((g.input_width, g.input_height), (64, 64));
        let mut bufs: Vec<(String, Vec<i64>, Vec<f32>)> = Vec::new();
        for s in STRIDES {
            let n = (64 / s) * (64 / s);
            let mut cls = vec![0.0; n];
            let mut obj = vec![0.0; n];
            let mut bbox = vec![0.0; n * 4];
            if s == 16 {
                // Cell (col 1, row 2): centre offset 0.5, size exp(0)*16.
                let i = 2 * 4 + 1;
                cls[i] = 0.81;
                obj[i] = 1.0;
                bbox[i * 4] = 0.5;
                bbox[i * 4 + 1] = 0.5;
            }
            bufs.push((format!("cls_{s}"), vec![1, n as i64, 1], cls));
            bufs.push((format!("obj_{s}"), vec![1, n as i64, 1], obj));
            bufs.push((format!("bbox_{s}"), vec![1, n as i64, 4], bbox));
            bufs.push((format!("kps_{s}"), vec![1, n as i64, 10], vec![0.0; n * 10]));
        }
        let outputs: Vec<OutputTensor> =
            bufs.iter().map(|(n, s, d)| OutputTensor { name: n, shape: s, data: d }).collect();
        let mut found = Vec::new();
        YuNet.decode(&outputs, g, 0.5, &mut found).unwrap();
        assert_eq!(found.len(), 1);
        let d = found[0];
        assert!((d.score - 0.9).abs() < 1e-6);
        assert_eq!(d.bbox, BBox::new(16.0, 32.0, 16.0, 16.0));
        assert_eq!(d.landmarks[0], [16.0, 32.0]);
    }

    #[test]
    fn missing_output_is_an_error() {
        let g = YuNet.input_geometry(64, 64, 1.0);
        assert!(YuNet.decode(&[], g, 0.5, &mut Vec::new()).is_err());
    }
}
