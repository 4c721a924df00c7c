//! Boxes, landmarks and overlap.

use serde::{Deserialize, Serialize};

/// An axis-aligned box in pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    pub fn new(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self { x, y, w, h }
    }

    pub fn from_corners(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x: x1, y: y1, w: x2 - x1, h: y2 - y1 }
    }

    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    pub fn intersection(&self, other: &BBox) -> f32 {
        let w = self.right().min(other.right()) - self.x.max(other.x);
        let h = self.bottom().min(other.bottom()) - self.y.max(other.y);
        w.max(0.0) * h.max(0.0)
    }

    /// Intersection over union; 0 for two empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box scaled by `sx`, `sy` about the origin (model pixels → frame pixels).
    pub fn scaled(&self, sx: f32, sy: f32) -> BBox {
        BBox { x: self.x * sx, y: self.y * sy, w: self.w * sx, h: self.h * sy }
    }

    /// The box clipped to a `width` x `height` frame.
    pub fn clipped(&self, width: f32, height: f32) -> BBox {
        let x1 = self.x.clamp(0.0, width);
        let y1 = self.y.clamp(0.0, height);
        let x2 = self.right().clamp(0.0, width);
        let y2 = self.bottom().clamp(0.0, height);
        BBox::from_corners(x1, y1, x2, y2)
    }
}

/// The five facial landmarks in image order: right eye, left eye, nose tip,
/// right and left mouth corner (the person's right is image-left).
pub type Landmarks = [[f32; 2]; 5];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_half_overlap() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 1.0, 1.0)), 0.0);
    }

    #[test]
    fn clipping_keeps_inside_part() {
        let b = BBox::new(-5.0, 90.0, 20.0, 20.0).clipped(100.0, 100.0);
        assert_eq!(b, BBox::new(0.0, 90.0, 15.0, 10.0));
    }
}
