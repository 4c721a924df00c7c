//! Non-maximum suppression in the two flavours our reference decoders use.

use crate::geometry::BBox;

/// How overlap is measured when suppressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NmsFlavour {
    /// OpenCV's `dnn::NMSBoxes` on integer rectangles (truncated towards zero),
    /// keeping a box while IoU <= threshold. FaceDetectorYN does this.
    OpenCvIntRect,
    /// The classic Python NMS with "+1" pixel areas, suppressing IoU >= threshold.
    /// deface's CenterFace does this.
    PlusOne,
}

fn iou_int_rect(a: &BBox, b: &BBox) -> f32 {
    let r = |v: &BBox| (v.x as i32, v.y as i32, v.w as i32, v.h as i32);
    let (ax, ay, aw, ah) = r(a);
    let (bx, by, bw, bh) = r(b);
    let iw = ((ax + aw).min(bx + bw) - ax.max(bx)).max(0) as i64;
    let ih = ((ay + ah).min(by + bh) - ay.max(by)).max(0) as i64;
    let inter = iw * ih;
    let union = aw.max(0) as i64 * ah.max(0) as i64 + bw.max(0) as i64 * bh.max(0) as i64 - inter;
    if union <= 0 { 0.0 } else { inter as f32 / union as f32 }
}

fn iou_plus_one(a: &BBox, b: &BBox) -> f32 {
    let area = |v: &BBox| (v.w + 1.0) * (v.h + 1.0);
    let iw = (a.right().min(b.right()) - a.x.max(b.x) + 1.0).max(0.0);
    let ih = (a.bottom().min(b.bottom()) - a.y.max(b.y) + 1.0).max(0.0);
    let inter = iw * ih;
    inter / (area(a) + area(b) - inter)
}

/// Returns the indices of the boxes to keep, highest score first. Boxes with a
/// score below `score_threshold` are dropped first, and only the `top_k`
/// best candidates enter the suppression (OpenCV's `top_k`).
pub fn nms(
    boxes: &[BBox],
    scores: &[f32],
    score_threshold: f32,
    iou_threshold: f32,
    top_k: usize,
    flavour: NmsFlavour,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len()).filter(|&i| scores[i] >= score_threshold).collect();
    // Stable sort: ties keep their decoding order, as std::stable_sort does in OpenCV.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order.truncate(top_k);
    let mut keep: Vec<usize> = Vec::new();
    for &i in &order {
        let suppressed = keep.iter().any(|&k| match flavour {
            NmsFlavour::OpenCvIntRect => iou_int_rect(&boxes[i], &boxes[k]) > iou_threshold,
            NmsFlavour::PlusOne => iou_plus_one(&boxes[i], &boxes[k]) >= iou_threshold,
        });
        if !suppressed {
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppresses_overlapping_lower_scores() {
        let boxes =
            [BBox::new(0.0, 0.0, 10.0, 10.0), BBox::new(1.0, 1.0, 10.0, 10.0), BBox::new(50.0, 50.0, 10.0, 10.0)];
        let scores = [0.8, 0.9, 0.7];
        for flavour in [NmsFlavour::OpenCvIntRect, NmsFlavour::PlusOne] {
            assert_eq!(nms(&boxes, &scores, 0.5, 0.3, 100, flavour), vec![1, 2]);
        }
    }

    #[test]
    fn score_threshold_and_top_k() {
        let boxes = [BBox::new(0.0, 0.0, 10.0, 10.0), BBox::new(30.0, 0.0, 10.0, 10.0)];
        assert_eq!(nms(&boxes, &[0.4, 0.9], 0.5, 0.3, 10, NmsFlavour::PlusOne), vec![1]);
        assert_eq!(nms(&boxes, &[0.6, 0.9], 0.5, 0.3, 1, NmsFlavour::PlusOne), vec![1]);
    }
}
