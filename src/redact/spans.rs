//! The geometry of a redaction: the plane rectangle it covers and, per row,
//! which pixels lie inside the shape.

use super::RedactShape;
use crate::geometry::BBox;

/// `x.floor()` as an integer without a libm call (the baseline x86-64 target
/// has no rounding instruction); exact for |x| < 2^23.
#[inline]
pub(super) fn floor_i(x: f32) -> i64 {
    let i = x as i64;
    i - i64::from(x < i as f32)
}

#[inline]
pub(super) fn ceil_i(x: f32) -> i64 {
    -floor_i(-x)
}

/// The plane rectangle being redacted and which pixels of each row are inside the shape.
pub(super) struct Area {
    pub(super) x0: usize,
    pub(super) y0: usize,
    pub(super) x1: usize,
    pub(super) y1: usize,
    pub(super) stride: usize,
    pub(super) plane_w: usize,
    pub(super) plane_h: usize,
    pub(super) spans: Spans,
}

/// Per-row extent of the shape, in plane pixels (pixel centres inside),
/// computed once per area in a tight loop rather than row by row between
/// the pixel work.
pub(super) struct Spans {
    y0: usize,
    /// [start, end) per row of the area; start == end for an empty row.
    rows: Vec<(u32, u32)>,
}

impl Spans {
    /// `rows` is scratch space from an earlier area (see [`Spans::into_rows`]).
    pub(super) fn new(
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
    pub(super) fn row(&self, py: usize) -> Option<(usize, usize)> {
        let (a, b) = self.rows[py - self.y0];
        (a < b).then_some((a as usize, b as usize))
    }

    pub(super) fn into_rows(self) -> Vec<(u32, u32)> {
        self.rows
    }
}

impl Area {
    /// Row `py`'s bytes inside the shape, if it is in the area and not empty.
    #[inline]
    pub(super) fn span_bytes<'p>(&self, plane: &'p [u8], py: usize, px: usize) -> Option<&'p [u8]> {
        if py >= self.y1 {
            return None;
        }
        let (xa, xb) = self.spans.row(py)?;
        Some(&plane[py * self.stride + xa * px..py * self.stride + xb * px])
    }
}
