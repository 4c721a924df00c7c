//! Irreversible redaction of face regions, in place, on any of our raw
//! formats, touching only the pixels inside each region.
//!
//! `Blur` and `Pixelate` both reduce a region to a coarse grid of block
//! means first, so the original detail is gone for good (a plain low-pass
//! filter could be partly inverted); `Blur` then interpolates smoothly between
//! the block means, `Pixelate` shows them as blocks.

use crate::frame::{Colorimetry, PixelFormat, YuvMatrix};
use crate::geometry::BBox;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactMode {
    Blur,
    Pixelate,
    Solid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactShape {
    Ellipse,
    Box,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedactStyle {
    pub mode: RedactMode,
    pub shape: RedactShape,
    /// Fill colour for `Solid`, as R, G, B.
    pub color: [u8; 3],
}

/// Blocks across the longer side of a region: few enough that no face
/// survives, whatever its size.
const BLUR_BLOCKS: f32 = 3.0;
const PIXELATE_BLOCKS: f32 = 6.0;

/// The region to redact for a face box: scaled by `margin` about its centre.
pub fn expand(bbox: &BBox, margin: f32) -> BBox {
    let (cx, cy) = bbox.center();
    let (w, h) = (bbox.w * margin, bbox.h * margin);
    BBox::new(cx - w / 2.0, cy - h / 2.0, w, h)
}

/// A mutable frame: planes and strides as mapped from a buffer.
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<&'a mut [u8]>,
    pub strides: Vec<usize>,
    pub colorimetry: Colorimetry,
}

/// How one plane stores its components.
struct PlaneLayout {
    /// Bytes from one pixel to the next.
    pixel_stride: usize,
    /// Byte offsets of the components to redact (alpha is left alone).
    offsets: [usize; 3],
    count: usize,
    /// Subsampling of this plane relative to the frame.
    sub: usize,
    /// Solid fill value per component.
    fill: [u8; 3],
}

fn rgb_to_yuv(rgb: [u8; 3], c: Colorimetry) -> [u8; 3] {
    let (kr, kb) = match c.matrix {
        YuvMatrix::Bt601 => (0.299, 0.114),
        YuvMatrix::Bt709 => (0.2126, 0.0722),
    };
    let [r, g, b] = rgb.map(|v| v as f32);
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    let u = (b - y) / (2.0 * (1.0 - kb));
    let v = (r - y) / (2.0 * (1.0 - kr));
    let (y, u, v) = if c.full_range {
        (y, u + 128.0, v + 128.0)
    } else {
        (16.0 + y * 219.0 / 255.0, 128.0 + u * 224.0 / 255.0, 128.0 + v * 224.0 / 255.0)
    };
    [y, u, v].map(|x| x.round().clamp(0.0, 255.0) as u8)
}

fn layouts(format: PixelFormat, color: [u8; 3], c: Colorimetry) -> Vec<PlaneLayout> {
    use PixelFormat::*;
    let yuv = rgb_to_yuv(color, c);
    let one = |fill: u8, sub: usize| PlaneLayout { pixel_stride: 1, offsets: [0; 3], count: 1, sub, fill: [fill; 3] };
    let packed = |px: usize, rgb_offsets: [usize; 3]| PlaneLayout {
        pixel_stride: px,
        offsets: rgb_offsets,
        count: 3,
        sub: 1,
        fill: color,
    };
    match format {
        Gray8 => vec![one(yuv[0], 1)],
        I420 => vec![one(yuv[0], 1), one(yuv[1], 2), one(yuv[2], 2)],
        Yv12 => vec![one(yuv[0], 1), one(yuv[2], 2), one(yuv[1], 2)],
        Nv12 | Nv21 => {
            let (a, b) = if format == Nv12 { (yuv[1], yuv[2]) } else { (yuv[2], yuv[1]) };
            vec![one(yuv[0], 1), PlaneLayout { pixel_stride: 2, offsets: [0, 1, 0], count: 2, sub: 2, fill: [a, b, 0] }]
        }
        Rgb => vec![packed(3, [0, 1, 2])],
        Bgr => vec![packed(3, [2, 1, 0])],
        Rgba | Rgbx => vec![packed(4, [0, 1, 2])],
        Bgra | Bgrx => vec![packed(4, [2, 1, 0])],
        Argb | Xrgb => vec![packed(4, [1, 2, 3])],
        Abgr | Xbgr => vec![packed(4, [3, 2, 1])],
    }
}

/// Scratch space for block means, reused between regions and frames.
#[derive(Debug, Default)]
pub struct Redactor {
    sums: Vec<u32>,
    means: Vec<f32>,
}

impl Redactor {
    /// Redacts `region` (frame pixels; clipped to the frame) in place.
    pub fn redact(&mut self, frame: &mut FrameMut<'_>, region: &BBox, style: &RedactStyle) {
        let clipped = region.clipped(frame.width as f32, frame.height as f32);
        if clipped.w < 1.0 || clipped.h < 1.0 {
            return;
        }
        let layouts = layouts(frame.format, style.color, frame.colorimetry);
        for (i, layout) in layouts.iter().enumerate() {
            let plane_w = frame.width.div_ceil(layout.sub);
            let plane_h = frame.height.div_ceil(layout.sub);
            let stride = frame.strides[i];
            let plane = &mut *frame.planes[i];
            self.redact_plane(plane, stride, plane_w, plane_h, layout, region, &clipped, style);
        }
    }

    /// Redacts the whole frame (when no analysis says where the faces are).
    pub fn redact_all(&mut self, frame: &mut FrameMut<'_>, style: &RedactStyle) {
        let (w, h) = (frame.width as f32, frame.height as f32);
        // Blocks of about 1/16 of the long side: even a face filling the
        // frame is reduced beyond recognition, while the scene stays readable.
        let block = (w.max(h) / 16.0).max(8.0);
        let tiled = RedactStyle { shape: RedactShape::Box, ..*style };
        let mut y = 0.0;
        while y < h {
            let mut x = 0.0;
            while x < w {
                // One region per block keeps the block size independent of the frame size.
                let tile = BBox::new(x, y, (block * 4.0).min(w - x), (block * 4.0).min(h - y));
                self.redact(frame, &tile, &tiled);
                x += block * 4.0;
            }
            y += block * 4.0;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn redact_plane(
        &mut self,
        plane: &mut [u8],
        stride: usize,
        plane_w: usize,
        plane_h: usize,
        layout: &PlaneLayout,
        shape_box: &BBox,
        clipped: &BBox,
        style: &RedactStyle,
    ) {
        let s = layout.sub as f32;
        // Plane-pixel range that covers the clipped region completely.
        let x0 = (clipped.x / s).floor() as usize;
        let y0 = (clipped.y / s).floor() as usize;
        let x1 = ((clipped.right() / s).ceil() as usize).min(plane_w);
        let y1 = ((clipped.bottom() / s).ceil() as usize).min(plane_h);
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let (rw, rh) = (x1 - x0, y1 - y0);
        // Ellipse in frame coordinates, from the unclipped box.
        let (cx, cy) = shape_box.center();
        let (ax, ay) = ((shape_box.w / 2.0).max(0.5), (shape_box.h / 2.0).max(0.5));
        let inside = |px: usize, py: usize| -> bool {
            match style.shape {
                RedactShape::Box => true,
                RedactShape::Ellipse => {
                    let fx = ((px as f32 + 0.5) * s - cx) / ax;
                    let fy = ((py as f32 + 0.5) * s - cy) / ay;
                    fx * fx + fy * fy <= 1.0
                }
            }
        };
        let n = layout.count;
        let offsets = &layout.offsets[..n];
        let px = layout.pixel_stride;
        if style.mode == RedactMode::Solid {
            for py in y0..y1 {
                let row = py * stride;
                for qx in x0..x1 {
                    if inside(qx, py) {
                        for (c, &o) in offsets.iter().enumerate() {
                            plane[row + qx * px + o] = layout.fill[c];
                        }
                    }
                }
            }
            return;
        }
        let blocks = if style.mode == RedactMode::Blur { BLUR_BLOCKS } else { PIXELATE_BLOCKS };
        // Square blocks sized from the region's long side (in frame pixels).
        let block = ((shape_box.w.max(shape_box.h) / blocks / s).ceil() as usize).max(1);
        let (gw, gh) = (rw.div_ceil(block), rh.div_ceil(block));
        self.sums.clear();
        self.sums.resize(gw * gh * (n + 1), 0);
        for py in y0..y1 {
            let gy = (py - y0) / block;
            let row = py * stride;
            for qx in x0..x1 {
                let cell = (gy * gw + (qx - x0) / block) * (n + 1);
                for (c, &o) in offsets.iter().enumerate() {
                    self.sums[cell + c] += plane[row + qx * px + o] as u32;
                }
                self.sums[cell + n] += 1;
            }
        }
        self.means.clear();
        self.means.extend((0..gw * gh).flat_map(|cell| {
            let count = self.sums[cell * (n + 1) + n].max(1) as f32;
            let sums = &self.sums;
            (0..n).map(move |c| sums[cell * (n + 1) + c] as f32 / count)
        }));
        let means = &self.means;
        let mean = |gx: usize, gy: usize, c: usize| means[(gy * gw + gx) * n + c];
        for py in y0..y1 {
            let row = py * stride;
            // Position in block units, measured from block centres.
            let fy = ((py - y0) as f32 + 0.5) / block as f32 - 0.5;
            let (gy0, wy) = split(fy, gh);
            for qx in x0..x1 {
                if !inside(qx, py) {
                    continue;
                }
                for (c, &o) in offsets.iter().enumerate() {
                    let v = match style.mode {
                        RedactMode::Pixelate => mean((qx - x0) / block, (py - y0) / block, c),
                        _ => {
                            let fx = ((qx - x0) as f32 + 0.5) / block as f32 - 0.5;
                            let (gx0, wx) = split(fx, gw);
                            let gx1 = (gx0 + 1).min(gw - 1);
                            let gy1 = (gy0 + 1).min(gh - 1);
                            let top = mean(gx0, gy0, c) * (1.0 - wx) + mean(gx1, gy0, c) * wx;
                            let bottom = mean(gx0, gy1, c) * (1.0 - wx) + mean(gx1, gy1, c) * wx;
                            top * (1.0 - wy) + bottom * wy
                        }
                    };
                    plane[row + qx * px + o] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// Index of the lower grid cell and the weight of the upper one, clamped.
fn split(f: f32, cells: usize) -> (usize, f32) {
    if f <= 0.0 {
        return (0, 0.0);
    }
    let i = f.floor() as usize;
    if i + 1 >= cells {
        return (cells - 1, 0.0);
    }
    (i, f - i as f32)
}

/// Keeps faces redacted for a while after their detection drops out, so a
/// face the detector misses for a frame or two never slips through.
#[derive(Debug, Default)]
pub struct HoldMemory {
    /// (track id, region, frames since last seen)
    held: Vec<(i64, BBox, u32)>,
}

impl HoldMemory {
    /// Records this frame's faces and returns the regions to redact: the
    /// current ones plus those not seen for at most `hold` frames.
    pub fn update(&mut self, current: &[(i64, BBox)], hold: u32) -> Vec<BBox> {
        for h in &mut self.held {
            h.2 += 1;
        }
        for &(id, region) in current {
            match self.held.iter_mut().find(|h| h.0 == id) {
                Some(h) => {
                    h.1 = region;
                    h.2 = 0;
                }
                None => self.held.push((id, region, 0)),
            }
        }
        self.held.retain(|h| h.2 <= hold);
        self.held.iter().map(|h| h.1).collect()
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Vec<u8> {
        (0..w * h * 3).map(|i| ((i * 37) % 251) as u8).collect()
    }

    fn rgb<'a>(data: &'a mut [u8], w: usize, h: usize) -> FrameMut<'a> {
        FrameMut {
            format: PixelFormat::Rgb,
            width: w,
            height: h,
            planes: vec![data],
            strides: vec![w * 3],
            colorimetry: Colorimetry::default(),
        }
    }

    #[test]
    fn only_pixels_inside_the_region_change() {
        for mode in [RedactMode::Blur, RedactMode::Pixelate, RedactMode::Solid] {
            for shape in [RedactShape::Box, RedactShape::Ellipse] {
                let (w, h) = (64, 48);
                let orig = gradient(w, h);
                let mut data = orig.clone();
                let region = BBox::new(10.0, 8.0, 30.0, 20.0);
                let style = RedactStyle { mode, shape, color: [0, 0, 0] };
                Redactor::default().redact(&mut rgb(&mut data, w, h), &region, &style);
                let mut changed_inside = 0;
                for y in 0..h {
                    for x in 0..w {
                        let i = (y * w + x) * 3;
                        let inside = x >= 10 && x < 40 && y >= 8 && y < 28;
                        if !inside {
                            assert_eq!(&data[i..i + 3], &orig[i..i + 3], "{mode:?} {shape:?} changed ({x},{y})");
                        } else if data[i..i + 3] != orig[i..i + 3] {
                            changed_inside += 1;
                        }
                    }
                }
                assert!(changed_inside > 400, "{mode:?} {shape:?}: only {changed_inside} pixels changed");
            }
        }
    }

    #[test]
    fn ellipse_leaves_the_corners() {
        let (w, h) = (40, 40);
        let orig = gradient(w, h);
        let mut data = orig.clone();
        let style = RedactStyle { mode: RedactMode::Solid, shape: RedactShape::Ellipse, color: [255, 0, 0] };
        Redactor::default().redact(&mut rgb(&mut data, w, h), &BBox::new(0.0, 0.0, 40.0, 40.0), &style);
        assert_eq!(&data[0..3], &orig[0..3]);
        let c = (20 * w + 20) * 3;
        assert_eq!(&data[c..c + 3], &[255, 0, 0]);
    }

    #[test]
    fn solid_fill_in_yuv() {
        let (w, h) = (8, 8);
        let mut y = vec![50u8; 64];
        let mut u = vec![50u8; 16];
        let mut v = vec![50u8; 16];
        let mut frame = FrameMut {
            format: PixelFormat::I420,
            width: w,
            height: h,
            planes: vec![&mut y, &mut u, &mut v],
            strides: vec![8, 4, 4],
            colorimetry: Colorimetry::default(),
        };
        let style = RedactStyle { mode: RedactMode::Solid, shape: RedactShape::Box, color: [0, 0, 0] };
        Redactor::default().redact(&mut frame, &BBox::new(0.0, 0.0, 4.0, 4.0), &style);
        assert_eq!(y[0], 16);
        assert_eq!(u[0], 128);
        assert_eq!(y[4], 50);
        assert_eq!(u[2], 50);
    }

    #[test]
    fn blur_destroys_detail() {
        let (w, h) = (64, 64);
        let mut data = gradient(w, h);
        let style = RedactStyle { mode: RedactMode::Blur, shape: RedactShape::Box, color: [0; 3] };
        Redactor::default().redact(&mut rgb(&mut data, w, h), &BBox::new(0.0, 0.0, 64.0, 64.0), &style);
        // Neighbouring pixels differ by little after blurring.
        let max_step = (1..w).map(|x| (data[x * 3] as i32 - data[(x - 1) * 3] as i32).abs()).max().unwrap();
        assert!(max_step <= 8, "step {max_step}");
    }

    #[test]
    fn hold_keeps_a_missed_face() {
        let mut m = HoldMemory::default();
        let b = BBox::new(1.0, 1.0, 5.0, 5.0);
        assert_eq!(m.update(&[(1, b)], 2).len(), 1);
        assert_eq!(m.update(&[], 2), vec![b]);
        assert_eq!(m.update(&[], 2), vec![b]);
        assert!(m.update(&[], 2).is_empty());
    }
}
