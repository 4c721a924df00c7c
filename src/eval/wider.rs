//! The WIDER FACE evaluation protocol (the official toolkit's, as ported to
//! Python by the RetinaFace authors): per difficulty, faces outside that
//! difficulty's index list are ignore regions; scores are min-max normalised
//! over the whole set; 1000 score thresholds; IoU 0.5 with "+1" pixel areas;
//! VOC-style AP of the precision/recall curve.

use std::collections::HashMap;

use serde::Deserialize;

use crate::geometry::BBox;

/// One image's ground truth, as in `gt_full.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct GroundTruth {
    pub path: String,
    /// [x, y, w, h] in pixels.
    pub boxes: Vec<[f32; 4]>,
    /// 1-based indices of the faces that count at each difficulty.
    pub easy_idx: Vec<usize>,
    pub medium_idx: Vec<usize>,
    pub hard_idx: Vec<usize>,
}

impl GroundTruth {
    /// Real face boxes (an image without faces lists one all-zero box).
    pub fn faces(&self) -> impl Iterator<Item = BBox> + '_ {
        self.boxes.iter().filter(|b| b[2] > 0.0 && b[3] > 0.0).map(|b| BBox::new(b[0], b[1], b[2], b[3]))
    }
}

/// A detected box and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub bbox: BBox,
    pub score: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WiderAp {
    pub easy: f64,
    pub medium: f64,
    pub hard: f64,
}

const THRESHOLDS: usize = 1000;
const IOU: f64 = 0.5;

/// Detections per image from `blickfang analyze` records, keyed by the
/// frame record's `source` (the image path relative to the analysed folder).
pub fn parse_predictions(jsonl: &str) -> Result<HashMap<String, Vec<Scored>>, crate::records::ReadError> {
    let mut out = HashMap::new();
    for r in crate::records::frame_records(jsonl)? {
        let faces = r
            .faces
            .iter()
            .map(|f| {
                let b = f.bbox.map(|v| v as f32);
                Scored { bbox: BBox::new(b[0], b[1], b[2], b[3]), score: f.confidence as f32 }
            })
            .collect();
        out.insert(r.source.unwrap_or_default(), faces);
    }
    Ok(out)
}

/// Parses `gt_full.jsonl`.
pub fn parse_ground_truth(jsonl: &str) -> Result<Vec<GroundTruth>, serde_json::Error> {
    jsonl.lines().filter(|l| !l.trim().is_empty()).map(serde_json::from_str).collect()
}

fn overlap_plus_one(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    // Corner form, "+1" areas as in the toolkit's box_overlaps.
    let iw = a[2].min(b[2]) - a[0].max(b[0]) + 1.0;
    let ih = a[3].min(b[3]) - a[1].max(b[1]) + 1.0;
    if iw <= 0.0 || ih <= 0.0 {
        return 0.0;
    }
    let area = |r: &[f64; 4]| (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
    let inter = iw * ih;
    inter / (area(a) + area(b) - inter)
}

fn corners(b: &BBox) -> [f64; 4] {
    let (x, y, w, h) = (b.x as f64, b.y as f64, b.w as f64, b.h as f64);
    [x, y, x + w, y + h]
}

/// Per prediction (sorted by score, best first): how many counted faces are
/// recalled so far, and whether the prediction is a proposal (not matched to
/// an ignore region).
fn image_eval(preds: &[(f64, [f64; 4])], gt: &[[f64; 4]], keep: &[bool]) -> (Vec<usize>, Vec<bool>) {
    let mut recalled = vec![0i8; gt.len()];
    let mut recall_count = 0;
    let mut pred_recall = Vec::with_capacity(preds.len());
    let mut proposal = vec![true; preds.len()];
    for (h, (_, p)) in preds.iter().enumerate() {
        let mut best = (f64::MIN, 0usize);
        for (g, gb) in gt.iter().enumerate() {
            let o = overlap_plus_one(p, gb);
            if o > best.0 {
                best = (o, g);
            }
        }
        if best.0 >= IOU {
            let g = best.1;
            if !keep[g] {
                if recalled[g] == 1 {
                    recall_count -= 1;
                }
                recalled[g] = -1;
                proposal[h] = false;
            } else if recalled[g] == 0 {
                recalled[g] = 1;
                recall_count += 1;
            }
        }
        pred_recall.push(recall_count);
    }
    (pred_recall, proposal)
}

/// AP at easy, medium and hard for `predictions` (keyed by image path).
/// Images without an entry count as having no detections.
pub fn evaluate(ground_truth: &[GroundTruth], predictions: &HashMap<String, Vec<Scored>>) -> WiderAp {
    let all_scores = predictions.values().flatten().map(|p| p.score as f64);
    let (lo, hi) = all_scores.fold((f64::MAX, f64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let norm = |s: f32| if hi > lo { (s as f64 - lo) / (hi - lo) } else { 1.0 };
    let mut ap = [0.0; 3];
    for (setting, ap_out) in ap.iter_mut().enumerate() {
        let mut pr = vec![[0.0f64; 2]; THRESHOLDS];
        let mut count_face = 0usize;
        for img in ground_truth {
            let keep_idx = match setting {
                0 => &img.easy_idx,
                1 => &img.medium_idx,
                _ => &img.hard_idx,
            };
            count_face += keep_idx.len();
            let gt: Vec<[f64; 4]> = img.boxes.iter().map(|b| corners(&BBox::new(b[0], b[1], b[2], b[3]))).collect();
            let Some(preds) = predictions.get(&img.path) else { continue };
            if gt.is_empty() || preds.is_empty() {
                continue;
            }
            let mut keep = vec![false; gt.len()];
            for &k in keep_idx {
                if (1..=gt.len()).contains(&k) {
                    keep[k - 1] = true;
                }
            }
            let mut sorted: Vec<(f64, [f64; 4])> = preds.iter().map(|p| (norm(p.score), corners(&p.bbox))).collect();
            sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
            let (pred_recall, proposal) = image_eval(&sorted, &gt, &keep);
            for (t, cell) in pr.iter_mut().enumerate() {
                let thresh = 1.0 - (t + 1) as f64 / THRESHOLDS as f64;
                // Sorted descending: the last prediction at or above the threshold.
                let n = sorted.partition_point(|p| p.0 >= thresh);
                if n == 0 {
                    continue;
                }
                cell[0] += proposal[..n].iter().filter(|&&p| p).count() as f64;
                cell[1] += pred_recall[n - 1] as f64;
            }
        }
        let mut precision = Vec::with_capacity(THRESHOLDS);
        let mut recall = Vec::with_capacity(THRESHOLDS);
        for cell in &pr {
            precision.push(if cell[0] > 0.0 { cell[1] / cell[0] } else { 0.0 });
            recall.push(if count_face > 0 { cell[1] / count_face as f64 } else { 0.0 });
        }
        *ap_out = voc_ap(&recall, &precision);
    }
    WiderAp { easy: ap[0], medium: ap[1], hard: ap[2] }
}

/// Area under the precision envelope, sampled where recall changes.
fn voc_ap(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = vec![0.0];
    mrec.extend_from_slice(recall);
    mrec.push(1.0);
    let mut mpre = vec![0.0];
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    for i in (1..mpre.len()).rev() {
        mpre[i - 1] = mpre[i - 1].max(mpre[i]);
    }
    (1..mrec.len()).filter(|&i| mrec[i] != mrec[i - 1]).map(|i| (mrec[i] - mrec[i - 1]) * mpre[i]).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(path: &str, boxes: Vec<[f32; 4]>, hard: Vec<usize>) -> GroundTruth {
        GroundTruth { path: path.into(), boxes, easy_idx: hard.clone(), medium_idx: hard.clone(), hard_idx: hard }
    }

    fn scored(b: [f32; 4], score: f32) -> Scored {
        Scored { bbox: BBox::new(b[0], b[1], b[2], b[3]), score }
    }

    #[test]
    fn perfect_detections_score_one() {
        let g = vec![gt("a.jpg", vec![[10.0, 10.0, 50.0, 50.0], [100.0, 10.0, 50.0, 50.0]], vec![1, 2])];
        let mut p = HashMap::new();
        p.insert(
            "a.jpg".to_string(),
            vec![scored([10.0, 10.0, 50.0, 50.0], 0.9), scored([100.0, 10.0, 50.0, 50.0], 0.8)],
        );
        let ap = evaluate(&g, &p);
        assert!((ap.hard - 1.0).abs() < 1e-9, "{ap:?}");
    }

    #[test]
    fn missing_half_halves_ap_and_false_positives_hurt() {
        let g = vec![gt("a.jpg", vec![[10.0, 10.0, 50.0, 50.0], [100.0, 10.0, 50.0, 50.0]], vec![1, 2])];
        let mut p = HashMap::new();
        p.insert(
            "a.jpg".to_string(),
            vec![scored([10.0, 10.0, 50.0, 50.0], 0.9), scored([300.0, 300.0, 20.0, 20.0], 0.1)],
        );
        let ap = evaluate(&g, &p);
        assert!((ap.hard - 0.5).abs() < 1e-9, "{ap:?}");
        // A false positive ranked first halves precision at that recall.
        p.insert(
            "a.jpg".to_string(),
            vec![scored([300.0, 300.0, 20.0, 20.0], 0.9), scored([10.0, 10.0, 50.0, 50.0], 0.1)],
        );
        assert!((evaluate(&g, &p).hard - 0.25).abs() < 1e-9);
    }

    #[test]
    fn detections_of_ignored_faces_are_neither_hits_nor_false_positives() {
        let g = vec![gt("a.jpg", vec![[10.0, 10.0, 50.0, 50.0], [100.0, 10.0, 8.0, 8.0]], vec![1])];
        let mut p = HashMap::new();
        p.insert(
            "a.jpg".to_string(),
            vec![scored([100.0, 10.0, 8.0, 8.0], 0.9), scored([10.0, 10.0, 50.0, 50.0], 0.5)],
        );
        assert!((evaluate(&g, &p).hard - 1.0).abs() < 1e-9);
    }
}
