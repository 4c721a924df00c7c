//! Irreversible redaction of face regions, in place, on any of our raw
//! formats, touching only the pixels inside each region.
//!
//! Nothing inside a redacted area survives: `Blur` replaces it with a smooth
//! surface interpolated from the pixels just outside the area (heavily
//! smoothed along its edges), so not a single value depends on the face; a
//! low-pass blur of the face itself keeps a face-shaped blob that detectors
//! still find and that can be partly inverted. `Pixelate` shows a coarse grid
//! of block means; `Solid` fills.

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

/// How much of the surroundings' variation the blur fill keeps.
const FILL_CONTRAST: f32 = 0.5;

/// Blocks across the longer side of a pixelated region.
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
    edges: Vec<f32>,
    /// Horizontal patch coordinate of each column of the current area.
    u: Vec<f32>,
    /// Top and bottom edge profiles in 1/256 units, for the fixed-point rows.
    edges_q: Vec<i32>,
}

impl Redactor {
    /// Redacts `region` (frame pixels; clipped to the frame) in place. An
    /// ellipse circumscribes the region, so both shapes cover all of it.
    pub fn redact(&mut self, frame: &mut FrameMut<'_>, region: &BBox, style: &RedactStyle) {
        let region = &match style.shape {
            RedactShape::Ellipse => expand(region, std::f32::consts::SQRT_2),
            RedactShape::Box => *region,
        };
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
        let spans = Spans::new(shape_box, style.shape, s, (x0, y0, x1, y1));
        let area = Area { x0, y0, x1, y1, stride, plane_w, plane_h, spans };
        match style.mode {
            RedactMode::Solid => fill_solid(plane, &area, layout),
            RedactMode::Pixelate => self.pixelate(plane, &area, layout, shape_box.w.max(shape_box.h) / s),
            RedactMode::Blur => self.fill_from_surroundings(plane, &area, layout),
        }
    }

    /// Block means over the area's bounding rectangle, written inside the shape.
    fn pixelate(&mut self, plane: &mut [u8], a: &Area, layout: &PlaneLayout, long_side: f32) {
        let (n, px) = (layout.count, layout.pixel_stride);
        let offsets = &layout.offsets[..n];
        let block = ((long_side / PIXELATE_BLOCKS).ceil() as usize).max(1);
        let (rw, rh) = (a.x1 - a.x0, a.y1 - a.y0);
        let (gw, gh) = (rw.div_ceil(block), rh.div_ceil(block));
        self.sums.clear();
        self.sums.resize(gw * gh * n, 0);
        for py in a.y0..a.y1 {
            let cells = &mut self.sums[(py - a.y0) / block * gw * n..][..gw * n];
            let row = &plane[py * a.stride + a.x0 * px..py * a.stride + a.x1 * px];
            // One block-wide run of pixels per cell: no division per pixel.
            for (cell, run) in cells.chunks_exact_mut(n).zip(row.chunks(block * px)) {
                if px == 1 {
                    cell[0] += run.iter().map(|&v| v as u32).sum::<u32>();
                    continue;
                }
                for pixel in run.chunks_exact(px) {
                    for (c, &o) in offsets.iter().enumerate() {
                        cell[c] += pixel[o] as u32;
                    }
                }
            }
        }
        self.means.clear();
        for gy in 0..gh {
            let rows = block.min(rh - gy * block) as u32;
            for gx in 0..gw {
                let count = (rows * block.min(rw - gx * block) as u32).max(1);
                for c in 0..n {
                    self.means.push(self.sums[(gy * gw + gx) * n + c] as f32 / count as f32);
                }
            }
        }
        for py in a.y0..a.y1 {
            let Some((xa, xb)) = a.spans.row(py) else { continue };
            let means = &self.means[(py - a.y0) / block * gw * n..][..gw * n];
            let row = &mut plane[py * a.stride..];
            let mut x = xa;
            while x < xb {
                // The run of this row inside one block.
                let gx = (x - a.x0) / block;
                let end = (a.x0 + (gx + 1) * block).min(xb);
                let cell = &means[gx * n..][..n];
                if px == 1 {
                    row[x..end].fill((cell[0] + 0.5) as u8);
                    x = end;
                    continue;
                }
                for pixel in row[x * px..end * px].chunks_exact_mut(px) {
                    for (c, &o) in offsets.iter().enumerate() {
                        pixel[o] = (cell[c] + 0.5) as u8;
                    }
                }
                x = end;
            }
        }
    }

    /// Fills the area with a Coons patch spanned by the rows and columns just
    /// outside it, each smoothed by a running mean over a quarter of its
    /// length, at [`FILL_CONTRAST`] of their variation.
    fn fill_from_surroundings(&mut self, plane: &mut [u8], a: &Area, layout: &PlaneLayout) {
        let (n, px) = (layout.count, layout.pixel_stride);
        let offsets = &layout.offsets[..n];
        let (rw, rh) = (a.x1 - a.x0, a.y1 - a.y0);
        // The rows/columns just outside the area (the area's own border at the frame edge).
        let top = a.y0.saturating_sub(1);
        let bottom = a.y1.min(a.plane_h - 1);
        let left = a.x0.saturating_sub(1);
        let right = a.x1.min(a.plane_w - 1);
        // Edge profiles per component: top, bottom (rw each), left, right (rh each).
        let len = 2 * rw + 2 * rh;
        self.edges.clear();
        self.edges.resize(len * n, 0.0);
        for (c, &o) in offsets.iter().enumerate() {
            let e = &mut self.edges[c * len..(c + 1) * len];
            for i in 0..rw {
                e[i] = plane[top * a.stride + (a.x0 + i) * px + o] as f32;
                e[rw + i] = plane[bottom * a.stride + (a.x0 + i) * px + o] as f32;
            }
            for j in 0..rh {
                e[2 * rw + j] = plane[(a.y0 + j) * a.stride + left * px + o] as f32;
                e[2 * rw + rh + j] = plane[(a.y0 + j) * a.stride + right * px + o] as f32;
            }
            smooth(&mut e[..rw], rw / 4);
            smooth(&mut e[rw..2 * rw], rw / 4);
            smooth(&mut e[2 * rw..2 * rw + rh], rh / 4);
            smooth(&mut e[2 * rw + rh..], rh / 4);
            // Pull every profile toward the mean: the fill keeps FILL_CONTRAST of the variation.
            let mean = e.iter().sum::<f32>() / len as f32;
            e.iter_mut().for_each(|v| *v = mean + FILL_CONTRAST * (*v - mean));
        }
        self.u.clear();
        self.u.extend((0..rw).map(|i| (i as f32 + 0.5) / rw as f32));
        let du = 1.0 / rw as f32;
        self.edges_q.clear();
        for c in 0..n {
            let e = &self.edges[c * len..c * len + 2 * rw];
            self.edges_q.extend(e.iter().map(|v| (v * 256.0).round() as i32));
        }
        for py in a.y0..a.y1 {
            let Some((xa, xb)) = a.spans.row(py) else { continue };
            let j = py - a.y0;
            let v = (j as f32 + 0.5) / rh as f32;
            let row = &mut plane[py * a.stride + xa * px..py * a.stride + xb * px];
            for (c, &o) in offsets.iter().enumerate() {
                let e = &self.edges[c * len..(c + 1) * len];
                let (t, b) = (&e[..rw], &e[rw..2 * rw]);
                let (l, r) = (e[2 * rw + j], e[2 * rw + rh + j]);
                let (tl, tr, bl, br) = (t[0], t[rw - 1], b[0], b[rw - 1]);
                // Per row the patch is (1-v)t + v b plus a term linear in u.
                let base = l - ((1.0 - v) * tl + v * bl);
                let slope = (r - l) - ((1.0 - v) * (tr - tl) + v * (br - bl));
                let (ia, ib) = (xa - a.x0, xb - a.x0);
                let (wt, wb) = (1.0 - v, v);
                let (t, b, u) = (&t[ia..ib], &b[ia..ib], &self.u[ia..ib]);
                if px == 1 {
                    let q = &self.edges_q[c * 2 * rw..(c + 1) * 2 * rw];
                    let wt_q = (wt * 256.0).round() as i32;
                    let l0 = ((base + slope * u[0]) * 65536.0).round() as i32;
                    let step = (slope * du * 65536.0).round() as i32;
                    blur_row(row, &q[ia..ib], &q[rw + ia..rw + ib], wt_q, 256 - wt_q, l0, step);
                } else {
                    for (((pixel, &tv), &bv), &uv) in row.chunks_exact_mut(px).zip(t).zip(b).zip(u) {
                        pixel[o] = (wt * tv + wb * bv + base + slope * uv).clamp(0.0, 255.0) as u8;
                    }
                }
            }
        }
    }
}

/// One planar row of the blur fill in fixed point: `(wt t + wb b + l0 + s i) >> 16`
/// with t, b in 1/256 units, weights summing to 256 and the linear term in
/// 1/65536 units, saturated to bytes. Integer lanes pack to bytes cheaply, and
/// with AVX2 twice as many run at once.
fn blur_row(row: &mut [u8], t: &[i32], b: &[i32], wt: i32, wb: i32, l0: i32, s: i32) {
    #[inline(always)]
    fn kernel(row: &mut [u8], t: &[i32], b: &[i32], wt: i32, wb: i32, l0: i32, s: i32) {
        for (i, ((p, &tv), &bv)) in row.iter_mut().zip(t).zip(b).enumerate() {
            let v = (wt * tv + wb * bv + l0 + s * i as i32) >> 16;
            *p = v.clamp(0, 255) as u8;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn kernel_avx2(row: &mut [u8], t: &[i32], b: &[i32], wt: i32, wb: i32, l0: i32, s: i32) {
            kernel(row, t, b, wt, wb, l0, s)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { kernel_avx2(row, t, b, wt, wb, l0, s) };
        }
    }
    kernel(row, t, b, wt, wb, l0, s)
}

/// The plane rectangle being redacted and which pixels of each row are inside the shape.
struct Area {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    stride: usize,
    plane_w: usize,
    plane_h: usize,
    spans: Spans,
}

/// Per-row extent of the shape, in plane pixels (pixel centres inside).
struct Spans {
    ellipse: Option<(f32, f32, f32, f32)>,
    x0: usize,
    x1: usize,
}

impl Spans {
    fn new(shape_box: &BBox, shape: RedactShape, sub: f32, (x0, _, x1, _): (usize, usize, usize, usize)) -> Self {
        let ellipse = (shape == RedactShape::Ellipse).then(|| {
            let (cx, cy) = shape_box.center();
            (cx / sub, cy / sub, (shape_box.w / 2.0 / sub).max(0.5), (shape_box.h / 2.0 / sub).max(0.5))
        });
        Self { ellipse, x0, x1 }
    }

    /// [start, end) of row `py` inside the shape, clipped to the area.
    fn row(&self, py: usize) -> Option<(usize, usize)> {
        let (start, end) = match self.ellipse {
            None => (self.x0, self.x1),
            Some((cx, cy, ax, ay)) => {
                let fy = (py as f32 + 0.5 - cy) / ay;
                if fy.abs() > 1.0 {
                    return None;
                }
                let half = ax * (1.0 - fy * fy).sqrt();
                // Pixels whose centre qx + 0.5 lies within [cx - half, cx + half].
                let a = (cx - half - 0.5).ceil().max(0.0) as usize;
                let b = ((cx + half - 0.5).floor() + 1.0).max(0.0) as usize;
                (a.max(self.x0), b.min(self.x1))
            }
        };
        (start < end).then_some((start, end))
    }
}

fn fill_solid(plane: &mut [u8], a: &Area, layout: &PlaneLayout) {
    let (n, px) = (layout.count, layout.pixel_stride);
    for py in a.y0..a.y1 {
        let Some((xa, xb)) = a.spans.row(py) else { continue };
        let row = &mut plane[py * a.stride + xa * px..py * a.stride + xb * px];
        if px == 1 {
            row.fill(layout.fill[0]);
        } else {
            for pixel in row.chunks_exact_mut(px) {
                for c in 0..n {
                    pixel[layout.offsets[c]] = layout.fill[c];
                }
            }
        }
    }
}

/// In-place centred running mean with half-width `radius`.
fn smooth(values: &mut [f32], radius: usize) {
    if radius == 0 || values.len() < 2 {
        return;
    }
    let n = values.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0f32);
    for v in values.iter() {
        prefix.push(prefix.last().unwrap() + v);
    }
    for (i, v) in values.iter_mut().enumerate() {
        let a = i.saturating_sub(radius);
        let b = (i + radius + 1).min(n);
        *v = (prefix[b] - prefix[a]) / (b - a) as f32;
    }
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
                        let inside = match shape {
                            RedactShape::Box => (10..40).contains(&x) && (8..28).contains(&y),
                            RedactShape::Ellipse => {
                                // Through the box corners: semi-axes sqrt(2) x half the box.
                                let fx = (x as f32 + 0.5 - 25.0) / (15.0 * std::f32::consts::SQRT_2);
                                let fy = (y as f32 + 0.5 - 18.0) / (10.0 * std::f32::consts::SQRT_2);
                                fx * fx + fy * fy <= 1.0
                            }
                        };
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
    fn ellipse_covers_the_box_and_leaves_the_far_corners() {
        let (w, h) = (80, 80);
        let orig = gradient(w, h);
        let mut data = orig.clone();
        let style = RedactStyle { mode: RedactMode::Solid, shape: RedactShape::Ellipse, color: [255, 0, 0] };
        Redactor::default().redact(&mut rgb(&mut data, w, h), &BBox::new(20.0, 20.0, 40.0, 40.0), &style);
        for (x, y) in [(20, 20), (59, 20), (20, 59), (59, 59), (40, 40)] {
            let i = (y * w + x) * 3;
            assert_eq!(&data[i..i + 3], &[255, 0, 0], "({x}, {y}) of the box not covered");
        }
        assert_eq!(&data[0..3], &orig[0..3]);
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
    fn blur_keeps_nothing_of_the_inside() {
        let (w, h) = (64, 64);
        let style = RedactStyle { mode: RedactMode::Blur, shape: RedactShape::Box, color: [0; 3] };
        let region = BBox::new(16.0, 16.0, 32.0, 32.0);
        let mut a = gradient(w, h);
        let mut b = a.clone();
        // Two frames that differ only inside the area redact to the same pixels.
        for y in 20..44 {
            for x in 20..44 {
                b[(y * w + x) * 3] = 255 - b[(y * w + x) * 3];
            }
        }
        Redactor::default().redact(&mut rgb(&mut a, w, h), &region, &style);
        Redactor::default().redact(&mut rgb(&mut b, w, h), &region, &style);
        assert_eq!(a, b);
        // And the fill is smooth.
        let row = 32 * w * 3;
        let max_step = (17..47).map(|x| (a[row + x * 3] as i32 - a[row + (x - 1) * 3] as i32).abs()).max().unwrap();
        assert!(max_step <= 12, "step {max_step}");
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
