//! Irreversible redaction of face regions, in place, on any of our raw
//! formats, touching only the pixels inside each region.
//!
//! Nothing inside a redacted area survives: `Blur` replaces it with a smooth
//! surface interpolated from the pixels just outside the area (heavily
//! smoothed along its edges), so not a single value depends on the face; a
//! low-pass blur of the face itself keeps a face-shaped blob that detectors
//! still find and that can be partly inverted. `Pixelate` shows a coarse grid
//! of block means; `Solid` fills.
//!
//! Here: the style and the entry points. `planes`: which bytes each format
//! redacts; `spans`: the shape's extent per row; `fill`: the three fills of
//! an area; `kernels`: their row arithmetic (fixed point, AVX2, prefetch);
//! `hold`: faces kept redacted across missed detections.

mod fill;
mod hold;
mod kernels;
mod planes;
mod spans;

pub use hold::{CandidateHold, HoldMemory};

use crate::frame::{Colorimetry, PixelFormat};
use crate::geometry::BBox;
use fill::fill_solid;
use planes::{PlaneLayout, layouts};
use spans::{Area, Spans, ceil_i, floor_i};

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
    /// difference and u, in the fixed point of `kernels::blur_row`.
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
}
