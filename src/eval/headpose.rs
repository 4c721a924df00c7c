//! Head-pose accuracy: mean absolute error of yaw, pitch and roll against
//! labelled images (AFLW2000-3D's `labels.csv`).

use crate::geometry::BBox;

/// One labelled image: file name, pose in degrees, face box.
#[derive(Debug, Clone, PartialEq)]
pub struct PoseLabel {
    pub file: String,
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
    pub bbox: BBox,
}

/// Parses `file,yaw_deg,pitch_deg,roll_deg,box_x1,box_y1,box_x2,box_y2` with a header.
pub fn parse_labels(csv: &str) -> Result<Vec<PoseLabel>, String> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.trim().parse::<f64>().ok()).ok_or(format!("bad line: {line}"));
            Ok(PoseLabel {
                file: f[0].to_string(),
                yaw: num(1)?,
                pitch: num(2)?,
                roll: num(3)?,
                bbox: BBox::from_corners(num(4)? as f32, num(5)? as f32, num(6)? as f32, num(7)? as f32),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PoseMae {
    pub images: usize,
    /// Labelled images without a matching detected face.
    pub missed: usize,
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

/// MAE over the labels; `predict(file)` gives the detected faces of an image
/// as (box, [yaw, pitch, roll]); the face overlapping the label's box most is used.
pub fn evaluate(labels: &[PoseLabel], predict: impl Fn(&str) -> Vec<(BBox, [f64; 3])>) -> PoseMae {
    let mut m = PoseMae::default();
    for l in labels {
        let faces = predict(&l.file);
        let best = faces.iter().max_by(|a, b| a.0.iou(&l.bbox).total_cmp(&b.0.iou(&l.bbox)));
        match best.filter(|f| f.0.iou(&l.bbox) > 0.2) {
            Some((_, p)) => {
                m.images += 1;
                m.yaw += (p[0] - l.yaw).abs();
                m.pitch += (p[1] - l.pitch).abs();
                m.roll += (p[2] - l.roll).abs();
            }
            None => m.missed += 1,
        }
    }
    if m.images > 0 {
        let n = m.images as f64;
        (m.yaw, m.pitch, m.roll) = (m.yaw / n, m.pitch / n, m.roll / n);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mae_of_the_matching_face() {
        let labels = parse_labels("file,yaw,pitch,roll,x1,y1,x2,y2\na.jpg,10,0,-5,0,0,100,100\n").unwrap();
        let m = evaluate(&labels, |_| {
            vec![
                (BBox::new(0.0, 0.0, 100.0, 100.0), [12.0, 1.0, -5.0]),
                (BBox::new(300.0, 0.0, 10.0, 10.0), [90.0, 0.0, 0.0]),
            ]
        });
        assert_eq!((m.images, m.missed), (1, 0));
        assert!((m.yaw - 2.0).abs() < 1e-9 && (m.pitch - 1.0).abs() < 1e-9 && m.roll.abs() < 1e-9);
    }
}
