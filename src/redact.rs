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

/// A mutable frame: planes and strides as mapped from a buffer. Fixed
/// arrays (GStreamer's four planes at most; unused ones empty) so that
/// wrapping a frame allocates nothing.
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a mut [u8]; 4],
    pub strides: [usize; 4],
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

/// The planes of `format` to redact; at most three, so no allocation per region.
fn layouts(format: PixelFormat, color: [u8; 3], c: Colorimetry) -> Planes {
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
    let single = |p: PlaneLayout| Planes { layouts: [p, one(0, 1), one(0, 1)], len: 1 };
    match format {
        Gray8 => single(one(yuv[0], 1)),
        I420 => Planes { layouts: [one(yuv[0], 1), one(yuv[1], 2), one(yuv[2], 2)], len: 3 },
        Yv12 => Planes { layouts: [one(yuv[0], 1), one(yuv[2], 2), one(yuv[1], 2)], len: 3 },
        Nv12 | Nv21 => {
            let (a, b) = if format == Nv12 { (yuv[1], yuv[2]) } else { (yuv[2], yuv[1]) };
            let uv = PlaneLayout { pixel_stride: 2, offsets: [0, 1, 0], count: 2, sub: 2, fill: [a, b, 0] };
            Planes { layouts: [one(yuv[0], 1), uv, one(0, 1)], len: 2 }
        }
        Rgb => single(packed(3, [0, 1, 2])),
        Bgr => single(packed(3, [2, 1, 0])),
        Rgba | Rgbx => single(packed(4, [0, 1, 2])),
        Bgra | Bgrx => single(packed(4, [2, 1, 0])),
        Argb | Xrgb => single(packed(4, [1, 2, 3])),
        Abgr | Xbgr => single(packed(4, [3, 2, 1])),
    }
}

struct Planes {
    layouts: [PlaneLayout; 3],
    len: usize,
}

impl Planes {
    fn iter(&self) -> impl Iterator<Item = &PlaneLayout> {
        self.layouts[..self.len].iter()
    }
}

/// `x.floor()` as an integer without a libm call (the baseline x86-64 target
/// has no rounding instruction); exact for |x| < 2^23.
#[inline]
fn floor_i(x: f32) -> i64 {
    let i = x as i64;
    i - i64::from(x < i as f32)
}

#[inline]
fn ceil_i(x: f32) -> i64 {
    -floor_i(-x)
}

/// Scratch space for block means, reused between regions and frames.
#[derive(Debug, Default)]
pub struct Redactor {
    /// Block means of one block row of the area being pixelated, spread
    /// over its byte columns.
    means: Vec<u8>,
    edges: Vec<f32>,
    /// Horizontal patch coordinate of each column of the current area.
    u: Vec<f32>,
    /// Per column of a one-component area: top profile, top-to-bottom
    /// difference and u, in the fixed point of [`blur_row`].
    columns_q: Vec<i16>,
    /// Running sums of one edge profile while it is smoothed.
    prefix: Vec<f32>,
    /// Per byte column of the area: sums over the rows of one block row.
    column_sums: Vec<u32>,
    /// The shape's extent per row of the current area.
    span_rows: Vec<(u32, u32)>,
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
        let planes = layouts(frame.format, style.color, frame.colorimetry);
        for (i, layout) in planes.iter().enumerate() {
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
        let x0 = floor_i(clipped.x / s).max(0) as usize;
        let y0 = floor_i(clipped.y / s).max(0) as usize;
        let x1 = (ceil_i(clipped.right() / s).max(0) as usize).min(plane_w);
        let y1 = (ceil_i(clipped.bottom() / s).max(0) as usize).min(plane_h);
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let spans = Spans::new(shape_box, style.shape, s, (x0, y0, x1, y1), std::mem::take(&mut self.span_rows));
        let area = Area { x0, y0, x1, y1, stride, plane_w, plane_h, spans };
        match style.mode {
            RedactMode::Solid => fill_solid(plane, &area, layout),
            RedactMode::Pixelate => self.pixelate(plane, &area, layout, shape_box.w.max(shape_box.h) / s),
            RedactMode::Blur => self.fill_from_surroundings(plane, &area, layout),
        }
        self.span_rows = area.spans.into_rows();
    }

    /// Block means over the area's bounding rectangle, written inside the
    /// shape one block row at a time, while its rows are still in cache.
    fn pixelate(&mut self, plane: &mut [u8], a: &Area, layout: &PlaneLayout, long_side: f32) {
        let (n, px) = (layout.count, layout.pixel_stride);
        let offsets = &layout.offsets[..n];
        let block = (ceil_i(long_side / PIXELATE_BLOCKS).max(1)) as usize;
        let rw = a.x1 - a.x0;
        let bytes = rw * px;
        for r0 in (a.y0..a.y1).step_by(block) {
            let r1 = (r0 + block).min(a.y1);
            // Column sums first: one widening add per byte, in wide lanes.
            let sums = &mut self.column_sums;
            sums.clear();
            sums.resize(bytes, 0);
            for py in r0..r1 {
                add_row(sums, &plane[py * a.stride + a.x0 * px..][..bytes]);
                if py + PREFETCH_ROWS < a.y1 {
                    prefetch(&plane[(py + PREFETCH_ROWS) * a.stride + a.x0 * px..][..bytes]);
                }
            }
            // This block row's means, per byte column of the area.
            self.means.clear();
            self.means.resize(bytes, 0);
            for (x, run) in (0..rw).step_by(block).zip(sums.chunks(block * px)) {
                let cols = run.len() / px;
                let count = (cols * (r1 - r0)) as u32;
                for &o in offsets {
                    let mean = ((run.iter().skip(o).step_by(px).sum::<u32>() + count / 2) / count) as u8;
                    for col in 0..cols {
                        self.means[(x + col) * px + o] = mean;
                    }
                }
            }
            for py in r0..r1 {
                let Some((xa, xb)) = a.spans.row(py) else { continue };
                let (ia, ib) = (xa - a.x0, xb - a.x0);
                let row = &mut plane[py * a.stride + xa * px..py * a.stride + xb * px];
                let means = &self.means[ia * px..ib * px];
                if px == 1 {
                    row.copy_from_slice(means);
                } else {
                    // Component by component: alpha and padding bytes stay.
                    for (pixel, mean) in row.chunks_exact_mut(px).zip(means.chunks_exact(px)) {
                        for &o in offsets {
                            pixel[o] = mean[o];
                        }
                    }
                }
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
            // A column costs a cache line per row; its smoothing window spans
            // rh / 2 rows, so a sample every rh / 32 rows loses nothing visible.
            let step = (rh / 32).max(1);
            for (x, profile) in [(left, 2 * rw), (right, 2 * rw + rh)] {
                let read = |j: usize| plane[(a.y0 + j) * a.stride + x * px + o] as f32;
                sample_column(&mut e[profile..profile + rh], step, read);
            }
            let prefix = &mut self.prefix;
            smooth(&mut e[..rw], rw / 4, prefix);
            smooth(&mut e[rw..2 * rw], rw / 4, prefix);
            smooth(&mut e[2 * rw..2 * rw + rh], rh / 4, prefix);
            smooth(&mut e[2 * rw + rh..], rh / 4, prefix);
            // Pull every profile toward the mean: the fill keeps FILL_CONTRAST of the variation.
            let mean = e.iter().sum::<f32>() / len as f32;
            e.iter_mut().for_each(|v| *v = mean + FILL_CONTRAST * (*v - mean));
        }
        self.u.clear();
        let du = 1.0 / rw as f32;
        self.u.extend((0..rw).map(|i| (i as f32 + 0.5) * du));
        if px == 1 {
            self.blur_rows_fixed(plane, a, len);
            return;
        }
        for py in a.y0..a.y1 {
            let Some((xa, xb)) = a.spans.row(py) else { continue };
            let j = py - a.y0;
            let v = (j as f32 + 0.5) / rh as f32;
            let row = &mut plane[py * a.stride + xa * px..py * a.stride + xb * px];
            let (ia, ib) = (xa - a.x0, xb - a.x0);
            for (c, &o) in offsets.iter().enumerate() {
                let e = &self.edges[c * len..(c + 1) * len];
                let patch = PatchRow::new(e, rw, rh, j, v);
                let (t, b, u) = (&e[ia..ib], &e[rw + ia..rw + ib], &self.u[ia..ib]);
                for (((pixel, &tv), &bv), &uv) in row.chunks_exact_mut(px).zip(t).zip(b).zip(u) {
                    pixel[o] = ((1.0 - v) * tv + v * bv + patch.base + patch.slope * uv).clamp(0.0, 255.0) as u8;
                }
            }
        }
    }

    /// The blur fill of a one-component plane in 16-bit fixed point: twice
    /// the lanes of 32-bit arithmetic, and a single pack to bytes.
    fn blur_rows_fixed(&mut self, plane: &mut [u8], a: &Area, len: usize) {
        let (rw, rh) = (a.x1 - a.x0, a.y1 - a.y0);
        let e = &self.edges[..len];
        // Per column: the top profile and the top-to-bottom difference in
        // 1/64 levels (the latter doubled for the high-half multiply), and u in Q15.
        self.columns_q.clear();
        self.columns_q.extend(e[..rw].iter().map(|&t| (t * 64.0 + 0.5) as i16));
        self.columns_q.extend(e[..rw].iter().zip(&e[rw..2 * rw]).map(|(&t, &b)| q16((b - t) * 128.0)));
        self.columns_q.extend(self.u.iter().map(|&u| q16(u * 32768.0)));
        let (t, d, u) = (&self.columns_q[..rw], &self.columns_q[rw..2 * rw], &self.columns_q[2 * rw..3 * rw]);
        for py in a.y0..a.y1 {
            let Some((xa, xb)) = a.spans.row(py) else { continue };
            let j = py - a.y0;
            let v = (j as f32 + 0.5) / rh as f32;
            let patch = PatchRow::new(e, rw, rh, j, v);
            let (ia, ib) = (xa - a.x0, xb - a.x0);
            let row = &mut plane[py * a.stride + xa..py * a.stride + xb];
            // With the profiles at FILL_CONTRAST = 0.5, |slope| <= 255 levels fits
            // the doubled 1/64 units; q16 saturates should that ever change.
            let coefficients =
                RowQ { v: q16(v * 32768.0), base: q16(patch.base * 64.0), slope: q16(patch.slope * 128.0) };
            blur_row(row, &t[ia..ib], &d[ia..ib], &u[ia..ib], coefficients);
            if let Some(ahead) = a.span_bytes(plane, py + PREFETCH_ROWS, 1) {
                prefetch(ahead);
            }
        }
    }
}

/// Rows ahead of the one being worked on whose cache lines are requested:
/// rows lie a stride apart, which the hardware prefetchers follow poorly.
const PREFETCH_ROWS: usize = 8;

/// Asks for the cache lines of `bytes` ahead of their use (a hint only).
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch never faults and reads nothing; the address lies inside `bytes`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

impl Area {
    /// Row `py`'s bytes inside the shape, if it is in the area and not empty.
    fn span_bytes<'p>(&self, plane: &'p [u8], py: usize, px: usize) -> Option<&'p [u8]> {
        if py >= self.y1 {
            return None;
        }
        let (xa, xb) = self.spans.row(py)?;
        Some(&plane[py * self.stride + xa * px..py * self.stride + xb * px])
    }
}

/// The Coons patch along one row `j` (at `v`) of an area whose edge profiles
/// are `e` (top, bottom: `rw` values; left, right: `rh`): the row is
/// `(1 - v) t(u) + v b(u) + base + slope u`.
struct PatchRow {
    base: f32,
    slope: f32,
}

impl PatchRow {
    fn new(e: &[f32], rw: usize, rh: usize, j: usize, v: f32) -> Self {
        let (t, b) = (&e[..rw], &e[rw..2 * rw]);
        let (l, r) = (e[2 * rw + j], e[2 * rw + rh + j]);
        let (tl, tr, bl, br) = (t[0], t[rw - 1], b[0], b[rw - 1]);
        Self { base: l - ((1.0 - v) * tl + v * bl), slope: (r - l) - ((1.0 - v) * (tr - tl) + v * (br - bl)) }
    }
}

/// `x` rounded to an i16, saturated.
#[inline]
fn q16(x: f32) -> i16 {
    // `as` saturates; + 0.5 toward positive rounds all but negative halves.
    (x + 0.5) as i16
}

/// One row's fixed-point coefficients: `v` in Q15, `base` in 1/64 levels,
/// `slope` in 1/128 levels.
#[derive(Clone, Copy)]
struct RowQ {
    v: i16,
    base: i16,
    slope: i16,
}

/// The high half of a 16 x 16-bit product (one `pmulhw` lane).
#[inline(always)]
fn mul_high(a: i16, b: i16) -> i16 {
    ((i32::from(a) * i32::from(b)) >> 16) as i16
}

/// One planar row of the blur fill: `t + d v + base + slope u` in 1/64
/// levels, rounded and saturated to bytes. With AVX2, 16 lanes at a time.
fn blur_row(row: &mut [u8], t: &[i16], d: &[i16], u: &[i16], q: RowQ) {
    #[inline(always)]
    fn kernel(row: &mut [u8], t: &[i16], d: &[i16], u: &[i16], q: RowQ) {
        for (((p, &tv), &dv), &uv) in row.iter_mut().zip(t).zip(d).zip(u) {
            let vertical = tv.saturating_add(mul_high(dv, q.v));
            let linear = q.base.saturating_add(mul_high(uv, q.slope));
            let level = vertical.saturating_add(linear).saturating_add(32) >> 6;
            *p = level.clamp(0, 255) as u8;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn kernel_avx2(row: &mut [u8], t: &[i16], d: &[i16], u: &[i16], q: RowQ) {
            kernel(row, t, d, u, q)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { kernel_avx2(row, t, d, u, q) };
        }
    }
    kernel(row, t, d, u, q)
}

/// `sums[i] += row[i]`, with AVX2 where the CPU has it.
fn add_row(sums: &mut [u32], row: &[u8]) {
    #[inline(always)]
    fn kernel(sums: &mut [u32], row: &[u8]) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += u32::from(v);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn kernel_avx2(sums: &mut [u32], row: &[u8]) {
            kernel(sums, row)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { kernel_avx2(sums, row) };
        }
    }
    kernel(sums, row)
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

/// Per-row extent of the shape, in plane pixels (pixel centres inside),
/// computed once per area in a tight loop rather than row by row between
/// the pixel work.
struct Spans {
    y0: usize,
    /// [start, end) per row of the area; start == end for an empty row.
    rows: Vec<(u32, u32)>,
}

impl Spans {
    /// `rows` is scratch space from an earlier area (see [`Spans::into_rows`]).
    fn new(
        shape_box: &BBox,
        shape: RedactShape,
        sub: f32,
        area: (usize, usize, usize, usize),
        mut rows: Vec<(u32, u32)>,
    ) -> Self {
        let (x0, y0, x1, y1) = area;
        rows.clear();
        match shape {
            RedactShape::Box => rows.resize(y1 - y0, (x0 as u32, x1 as u32)),
            RedactShape::Ellipse => {
                let (cx, cy) = shape_box.center();
                let (cx, cy) = (cx / sub, cy / sub);
                let ax = (shape_box.w / 2.0 / sub).max(0.5);
                let inv_ay = 1.0 / (shape_box.h / 2.0 / sub).max(0.5);
                rows.extend((y0..y1).map(|py| {
                    let fy = (py as f32 + 0.5 - cy) * inv_ay;
                    let half = ax * (1.0 - fy * fy).max(0.0).sqrt();
                    // Pixels whose centre qx + 0.5 lies within [cx - half, cx + half].
                    let a = (ceil_i(cx - half - 0.5).max(0) as usize).max(x0);
                    let b = ((floor_i(cx + half - 0.5) + 1).max(0) as usize).min(x1);
                    if fy.abs() > 1.0 || a >= b { (0, 0) } else { (a as u32, b as u32) }
                }));
            }
        }
        Self { y0, rows }
    }

    /// [start, end) of row `py` inside the shape, clipped to the area.
    #[inline]
    fn row(&self, py: usize) -> Option<(usize, usize)> {
        let (a, b) = self.rows[py - self.y0];
        (a < b).then_some((a as usize, b as usize))
    }

    fn into_rows(self) -> Vec<(u32, u32)> {
        self.rows
    }
}

fn fill_solid(plane: &mut [u8], a: &Area, layout: &PlaneLayout) {
    let (n, px) = (layout.count, layout.pixel_stride);
    for py in a.y0..a.y1 {
        if let Some(ahead) = a.span_bytes(plane, py + PREFETCH_ROWS, px) {
            prefetch(ahead);
        }
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

/// Fills `out` from `read(j)` at every `step`-th index and the last,
/// linearly interpolated in between.
fn sample_column(out: &mut [f32], step: usize, read: impl Fn(usize) -> f32) {
    let last = out.len() - 1;
    let (mut j0, mut v0) = (0, read(0));
    out[0] = v0;
    while j0 < last {
        let j1 = (j0 + step).min(last);
        let v1 = read(j1);
        let slope = (v1 - v0) / (j1 - j0) as f32;
        let mut value = v0;
        for v in &mut out[j0 + 1..=j1] {
            value += slope;
            *v = value;
        }
        out[j1] = v1;
        (j0, v0) = (j1, v1);
    }
}

/// In-place centred running mean with half-width `radius`, the window cut
/// at the ends (extending the end values instead leaves a more face-like
/// blob: it made the detector find two more WIDER faces after redaction);
/// `prefix` is scratch space kept between calls.
fn smooth(values: &mut [f32], radius: usize, prefix: &mut Vec<f32>) {
    let n = values.len();
    if radius == 0 || n < 2 {
        return;
    }
    prefix.clear();
    prefix.resize(n + 1, 0.0);
    // The running sum stays in a register (reading it back from `prefix` would
    // put a store-to-load round trip on every element).
    let mut sum = 0.0;
    for (p, &v) in prefix[1..].iter_mut().zip(values.iter()) {
        sum += v;
        *p = sum;
    }
    // At most half the profile, so a window is cut at one end only.
    let r = radius.min((n - 1) / 2);
    // Window lengths as float counters: int-to-float conversions are slow here.
    let mut count = (r + 1) as f32;
    for i in 0..r {
        values[i] = prefix[i + r + 1] / count;
        count += 1.0;
    }
    let scale = 1.0 / (2 * r + 1) as f32;
    for i in r..n - r {
        values[i] = (prefix[i + r + 1] - prefix[i - r]) * scale;
    }
    let mut count = (2 * r) as f32;
    for i in n - r..n {
        values[i] = (prefix[n] - prefix[i - r]) / count;
        count -= 1.0;
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
    pub fn update(
        &mut self,
        current: impl IntoIterator<Item = (i64, BBox)>,
        hold: u32,
    ) -> impl Iterator<Item = BBox> + '_ {
        for h in &mut self.held {
            h.2 += 1;
        }
        for (id, region) in current {
            match self.held.iter_mut().find(|h| h.0 == id) {
                Some(h) => {
                    h.1 = region;
                    h.2 = 0;
                }
                None => self.held.push((id, region, 0)),
            }
        }
        self.held.retain(|h| h.2 <= hold);
        self.held.iter().map(|h| h.1)
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
            planes: [data, &mut [], &mut [], &mut []],
            strides: [w * 3, 0, 0, 0],
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
            planes: [&mut y, &mut u, &mut v, &mut []],
            strides: [8, 4, 4, 0],
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
    fn fixed_point_blur_matches_the_float_patch() {
        // Gray8 goes through the 16-bit rows, RGB through the float ones: the
        // same picture must come out within one level.
        let (w, h) = (96, 80);
        let gray: Vec<u8> = (0..w * h).map(|i| ((i % w) * 2 + (i / w) * 3 + (i * 7919) % 23) as u8).collect();
        let mut rgb_data: Vec<u8> = gray.iter().flat_map(|&v| [v, v, v]).collect();
        let mut gray_data = gray.clone();
        let region = BBox::new(20.0, 15.0, 50.0, 45.0);
        for shape in [RedactShape::Box, RedactShape::Ellipse] {
            let style = RedactStyle { mode: RedactMode::Blur, shape, color: [0; 3] };
            let mut frame = FrameMut {
                format: PixelFormat::Gray8,
                width: w,
                height: h,
                planes: [&mut gray_data, &mut [], &mut [], &mut []],
                strides: [w, 0, 0, 0],
                colorimetry: Colorimetry::default(),
            };
            Redactor::default().redact(&mut frame, &region, &style);
            Redactor::default().redact(&mut rgb(&mut rgb_data, w, h), &region, &style);
            for (i, &g) in gray_data.iter().enumerate() {
                let diff = (g as i32 - rgb_data[i * 3] as i32).abs();
                assert!(diff <= 1, "{shape:?} pixel {i}: fixed {g}, float {}", rgb_data[i * 3]);
            }
            let centre = 45 * w + 45;
            assert_ne!(gray_data[centre], gray[centre], "{shape:?}: the area was not filled");
        }
    }

    #[test]
    fn smoothing_is_a_running_mean_cut_at_the_ends() {
        let mut prefix = Vec::new();
        let input: Vec<f32> = (0..40).map(|i| ((i * 37) % 11) as f32).collect();
        let mut smoothed = input.clone();
        smooth(&mut smoothed, 4, &mut prefix);
        for (i, &v) in smoothed.iter().enumerate() {
            let window = &input[i.saturating_sub(4)..(i + 5).min(40)];
            let mean = window.iter().sum::<f32>() / window.len() as f32;
            assert!((v - mean).abs() < 1e-4, "{i}: {v} vs {mean}");
        }
    }

    #[test]
    fn sampled_column_interpolates_between_samples() {
        let mut out = vec![0.0f32; 23];
        sample_column(&mut out, 5, |j| 10.0 + 2.0 * j as f32);
        for (j, &v) in out.iter().enumerate() {
            assert!((v - (10.0 + 2.0 * j as f32)).abs() < 1e-3, "{j}: {v}");
        }
    }

    #[test]
    fn hold_keeps_a_missed_face() {
        let mut m = HoldMemory::default();
        let b = BBox::new(1.0, 1.0, 5.0, 5.0);
        assert_eq!(m.update([(1, b)], 2).count(), 1);
        assert_eq!(m.update([], 2).collect::<Vec<_>>(), vec![b]);
        assert_eq!(m.update([], 2).collect::<Vec<_>>(), vec![b]);
        assert_eq!(m.update([], 2).count(), 0);
    }
}
