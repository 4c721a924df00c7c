//! The three fills of an area: solid, pixelated block means, and the blur
//! that interpolates the surroundings. Row arithmetic lives in `kernels`.

use super::Redactor;
use super::kernels::{PREFETCH_ROWS, RowQ, add_row, blur_row, prefetch, q16};
use super::planes::PlaneLayout;
use super::spans::{Area, ceil_i};

/// How much of the surroundings' variation the blur fill keeps. Flatter is
/// safer: the gradient a fill inherits from hair and shoulders is what a
/// detector still reads as a face (WIDER dev, faces re-found at score 0.2:
/// 13 at a half, 5 at a quarter; docs/redaction.md).
const FILL_CONTRAST: f32 = 0.25;

/// Blocks across the longer side of a pixelated region.
const PIXELATE_BLOCKS: f32 = 6.0;

impl Redactor {
    /// Block means over the area's bounding rectangle, written inside the
    /// shape one block row at a time, while its rows are still in cache.
    pub(super) fn pixelate(&mut self, plane: &mut [u8], a: &Area, layout: &PlaneLayout, long_side: f32) {
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
    pub(super) fn fill_from_surroundings(&mut self, plane: &mut [u8], a: &Area, layout: &PlaneLayout) {
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
            // With the profiles at FILL_CONTRAST <= 0.5, |slope| <= 255 levels fits
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

pub(super) fn fill_solid(plane: &mut [u8], a: &Area, layout: &PlaneLayout) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
