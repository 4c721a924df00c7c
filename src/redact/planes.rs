//! Which bytes of which planes a redaction touches, per raw format, and the
//! solid fill value of each.

use crate::frame::{Colorimetry, Layout, PixelFormat};

/// How one plane stores its components.
pub(super) struct PlaneLayout {
    /// Bytes from one pixel to the next.
    pub(super) pixel_stride: usize,
    /// Byte offsets of the components to redact (alpha is left alone).
    pub(super) offsets: [usize; 3],
    pub(super) count: usize,
    /// Subsampling of this plane relative to the frame.
    pub(super) sub: usize,
    /// Solid fill value per component.
    pub(super) fill: [u8; 3],
}

/// The planes of `format` to redact; at most three, so no allocation per region.
pub(super) fn layouts(format: PixelFormat, color: [u8; 3], c: Colorimetry) -> Planes {
    let yuv = c.rgb_to_yuv(color);
    let one = |fill: u8, sub: usize| PlaneLayout { pixel_stride: 1, offsets: [0; 3], count: 1, sub, fill: [fill; 3] };
    let single = |p: PlaneLayout| Planes { layouts: [p, one(0, 1), one(0, 1)], len: 1 };
    match format.layout() {
        Layout::Gray => single(one(yuv[0], 1)),
        Layout::Planar { u, .. } => {
            // Planes 1 and 2 hold Cb and Cr in the format's order.
            let (p1, p2) = if u == 1 { (yuv[1], yuv[2]) } else { (yuv[2], yuv[1]) };
            Planes { layouts: [one(yuv[0], 1), one(p1, 2), one(p2, 2)], len: 3 }
        }
        Layout::SemiPlanar { u } => {
            let (a, b) = if u == 0 { (yuv[1], yuv[2]) } else { (yuv[2], yuv[1]) };
            let uv = PlaneLayout { pixel_stride: 2, offsets: [0, 1, 0], count: 2, sub: 2, fill: [a, b, 0] };
            Planes { layouts: [one(yuv[0], 1), uv, one(0, 1)], len: 2 }
        }
        Layout::Packed { rgb, pixel } => {
            single(PlaneLayout { pixel_stride: pixel, offsets: rgb, count: 3, sub: 1, fill: color })
        }
    }
}

pub(super) struct Planes {
    layouts: [PlaneLayout; 3],
    len: usize,
}

impl Planes {
    pub(super) fn iter(&self) -> impl Iterator<Item = &PlaneLayout> {
        self.layouts[..self.len].iter()
    }
}
