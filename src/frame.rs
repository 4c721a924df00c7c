//! A borrowed view of one raw video frame, independent of GStreamer, and the
//! sampling that turns it into a model's input tensor without converting the
//! whole frame first.

/// The raw layouts a camera pipeline hands us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    I420,
    Yv12,
    Nv12,
    Nv21,
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Rgbx,
    Bgrx,
    Argb,
    Abgr,
    Xrgb,
    Xbgr,
    Gray8,
}

/// How Y'CbCr values map to R'G'B'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colorimetry {
    pub matrix: YuvMatrix,
    /// Full range (0..255) as JPEG decoders give, or limited (16..235).
    pub full_range: bool,
}

impl Default for Colorimetry {
    fn default() -> Self {
        Self { matrix: YuvMatrix::Bt601, full_range: false }
    }
}

/// One frame: up to three planes with their strides, as mapped from a buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub colorimetry: Colorimetry,
}

/// Integer fixed-point Y'CbCr → R'G'B' coefficients (scaled by 2^16).
#[derive(Debug, Clone, Copy)]
struct YuvCoefficients {
    y_offset: i32,
    y_gain: i32,
    r_cr: i32,
    g_cb: i32,
    g_cr: i32,
    b_cb: i32,
}

impl YuvCoefficients {
    fn new(c: Colorimetry) -> Self {
        let (kr, kb) = match c.matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        let (y_offset, y_gain, c_gain) = if c.full_range { (0, 1.0, 1.0) } else { (16, 255.0 / 219.0, 255.0 / 224.0) };
        let s = 65536.0;
        Self {
            y_offset,
            y_gain: (y_gain * s) as i32,
            r_cr: (2.0 * (1.0 - kr) * c_gain * s) as i32,
            g_cb: (2.0 * (1.0 - kb) * kb / kg * c_gain * s) as i32,
            g_cr: (2.0 * (1.0 - kr) * kr / kg * c_gain * s) as i32,
            b_cb: (2.0 * (1.0 - kb) * c_gain * s) as i32,
        }
    }

    #[inline]
    fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let y = (y - self.y_offset as f32) * self.y_gain as f32 / 65536.0;
        let u = u - 128.0;
        let v = v - 128.0;
        let r = y + v * self.r_cr as f32 / 65536.0;
        let g = y - u * self.g_cb as f32 / 65536.0 - v * self.g_cr as f32 / 65536.0;
        let b = y + u * self.b_cb as f32 / 65536.0;
        [r.clamp(0.0, 255.0), g.clamp(0.0, 255.0), b.clamp(0.0, 255.0)]
    }
}

/// Byte offsets of R, G, B inside one pixel of a packed format, and the pixel size.
fn packed_layout(format: PixelFormat) -> Option<([usize; 3], usize)> {
    use PixelFormat::*;
    Some(match format {
        Rgb => ([0, 1, 2], 3),
        Bgr => ([2, 1, 0], 3),
        Rgba | Rgbx => ([0, 1, 2], 4),
        Bgra | Bgrx => ([2, 1, 0], 4),
        Argb | Xrgb => ([1, 2, 3], 4),
        Abgr | Xbgr => ([3, 2, 1], 4),
        _ => return None,
    })
}

/// Errors in the shape of a frame or a tensor request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

impl<'a> FrameView<'a> {
    /// Checks that every plane is large enough for the claimed size, so that
    /// sampling can never read out of bounds.
    pub fn validate(&self) -> Result<(), FrameError> {
        use PixelFormat::*;
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(FrameError(format!("empty frame {w}x{h}")));
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let need: &[(usize, usize)] = &match self.format {
            I420 | Yv12 => [(w, h), (cw, ch), (cw, ch)],
            Nv12 | Nv21 => [(w, h), (cw * 2, ch), (0, 0)],
            Gray8 => [(w, h), (0, 0), (0, 0)],
            f => {
                let (_, px) = packed_layout(f).expect("packed");
                [(w * px, h), (0, 0), (0, 0)]
            }
        };
        for (i, &(row_bytes, rows)) in need.iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let stride = self.strides[i];
            if stride < row_bytes || self.planes[i].len() < stride * (rows - 1) + row_bytes {
                return Err(FrameError(format!(
                    "plane {i} too small for {:?} {w}x{h} (stride {stride}, {} bytes)",
                    self.format,
                    self.planes[i].len()
                )));
            }
        }
        Ok(())
    }

    /// Samples R, G, B at integer pixel (x, y).
    #[inline]
    fn rgb_at(&self, x: usize, y: usize, yuv: &YuvCoefficients) -> [f32; 3] {
        use PixelFormat::*;
        match self.format {
            Gray8 => {
                let v = self.planes[0][y * self.strides[0] + x] as f32;
                [v, v, v]
            }
            I420 | Yv12 => {
                let (ui, vi) = if self.format == I420 { (1, 2) } else { (2, 1) };
                let luma = self.planes[0][y * self.strides[0] + x] as f32;
                let (cx, cy) = (x / 2, y / 2);
                let u = self.planes[ui][cy * self.strides[ui] + cx] as f32;
                let v = self.planes[vi][cy * self.strides[vi] + cx] as f32;
                yuv.to_rgb(luma, u, v)
            }
            Nv12 | Nv21 => {
                let luma = self.planes[0][y * self.strides[0] + x] as f32;
                let o = (y / 2) * self.strides[1] + (x / 2) * 2;
                let (a, b) = (self.planes[1][o] as f32, self.planes[1][o + 1] as f32);
                let (u, v) = if self.format == Nv12 { (a, b) } else { (b, a) };
                yuv.to_rgb(luma, u, v)
            }
            f => {
                let (idx, px) = packed_layout(f).expect("packed");
                let o = y * self.strides[0] + x * px;
                let p = &self.planes[0][o..o + px];
                [p[idx[0]] as f32, p[idx[1]] as f32, p[idx[2]] as f32]
            }
        }
    }

    /// Bilinear R, G, B at a fractional position (OpenCV's INTER_LINEAR taps).
    #[inline]
    fn rgb_bilinear(&self, tap: &Tap, ty: &Tap, yuv: &YuvCoefficients) -> [f32; 3] {
        let p00 = self.rgb_at(tap.i0, ty.i0, yuv);
        if tap.w1 == 0.0 && ty.w1 == 0.0 {
            return p00;
        }
        let p01 = self.rgb_at(tap.i1, ty.i0, yuv);
        let p10 = self.rgb_at(tap.i0, ty.i1, yuv);
        let p11 = self.rgb_at(tap.i1, ty.i1, yuv);
        let mut out = [0.0; 3];
        for c in 0..3 {
            let top = p00[c] * (1.0 - tap.w1) + p01[c] * tap.w1;
            let bottom = p10[c] * (1.0 - tap.w1) + p11[c] * tap.w1;
            out[c] = top * (1.0 - ty.w1) + bottom * ty.w1;
        }
        out
    }
}

/// One bilinear tap along an axis: two source indices and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w1: f32,
}

fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            if src == dst {
                return Tap { i0: d, i1: d, w1: 0.0 };
            }
            // Half-pixel centres, clamped at the borders, as cv2.resize does.
            let s = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (s.floor() as usize).min(src - 1);
            let i1 = (i0 + 1).min(src - 1);
            let w1 = if i1 == i0 { 0.0 } else { (s - i0 as f64) as f32 };
            Tap { i0, i1, w1 }
        })
        .collect()
}

/// Channel order a model expects in its planar input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Bgr,
    Rgb,
}

/// Where the (scaled) image lies inside the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputGeometry {
    /// Size the image is resized to.
    pub scaled_width: usize,
    pub scaled_height: usize,
    /// Tensor size; the area right and below the image is zero padding.
    pub input_width: usize,
    pub input_height: usize,
}

impl InputGeometry {
    /// Scale from frame pixels to model pixels along x and y.
    pub fn scale_from(&self, frame_width: usize, frame_height: usize) -> (f32, f32) {
        (self.scaled_width as f32 / frame_width as f32, self.scaled_height as f32 / frame_height as f32)
    }
}

/// Fills `dst` (planar [3, input_height, input_width], values 0..255) from `frame`,
/// resizing bilinearly and padding with zeros. Precomputed taps are cached in
/// `cache` so that a stream of same-sized frames allocates nothing.
pub fn fill_planar_input(
    frame: &FrameView<'_>,
    geometry: InputGeometry,
    order: ChannelOrder,
    dst: &mut [f32],
    cache: &mut ResizeCache,
) -> Result<(), FrameError> {
    frame.validate()?;
    let InputGeometry { scaled_width: sw, scaled_height: sh, input_width: iw, input_height: ih } = geometry;
    if sw == 0 || sh == 0 || sw > iw || sh > ih {
        return Err(FrameError(format!("bad input geometry {geometry:?}")));
    }
    if dst.len() != 3 * iw * ih {
        return Err(FrameError(format!("tensor holds {} values, {} needed", dst.len(), 3 * iw * ih)));
    }
    cache.prepare(frame.width, frame.height, sw, sh);
    let yuv = YuvCoefficients::new(frame.colorimetry);
    let plane = iw * ih;
    let (c0, c2) = match order {
        ChannelOrder::Bgr => (2, 0),
        ChannelOrder::Rgb => (0, 2),
    };
    for (oy, ty) in cache.y_taps.iter().enumerate() {
        let row = oy * iw;
        for (ox, tx) in cache.x_taps.iter().enumerate() {
            let rgb = frame.rgb_bilinear(tx, ty, &yuv);
            dst[row + ox] = rgb[c0];
            dst[plane + row + ox] = rgb[1];
            dst[2 * plane + row + ox] = rgb[c2];
        }
        dst[row + sw..row + iw].fill(0.0);
        dst[plane + row + sw..plane + row + iw].fill(0.0);
        dst[2 * plane + row + sw..2 * plane + row + iw].fill(0.0);
    }
    for c in 0..3 {
        dst[c * plane + sh * iw..(c + 1) * plane].fill(0.0);
    }
    Ok(())
}

/// Fills `dst` (planar [3, out_h, out_w]) with the frame's `crop` (x, y, w, h
/// in frame pixels, may reach outside the frame: borders are replicated),
/// resized bilinearly. For small model inputs such as face crops.
pub fn fill_planar_crop(
    frame: &FrameView<'_>,
    crop: (f32, f32, f32, f32),
    out: (usize, usize),
    order: ChannelOrder,
    dst: &mut [f32],
) -> Result<(), FrameError> {
    frame.validate()?;
    let (ow, oh) = out;
    let (cx, cy, cw, ch) = crop;
    if ow == 0 || oh == 0 || cw <= 0.0 || ch <= 0.0 || dst.len() != 3 * ow * oh {
        return Err(FrameError(format!("bad crop {crop:?} -> {ow}x{oh} into {} values", dst.len())));
    }
    let yuv = YuvCoefficients::new(frame.colorimetry);
    let tap = |pos: f32, size: usize| -> Tap {
        let s = pos.clamp(0.0, (size - 1) as f32);
        let i0 = s.floor() as usize;
        let i1 = (i0 + 1).min(size - 1);
        Tap { i0, i1, w1: s - i0 as f32 }
    };
    let plane = ow * oh;
    let (c0, c2) = match order {
        ChannelOrder::Bgr => (2, 0),
        ChannelOrder::Rgb => (0, 2),
    };
    for oy in 0..oh {
        let ty = tap(cy + (oy as f32 + 0.5) * ch / oh as f32 - 0.5, frame.height);
        for ox in 0..ow {
            let tx = tap(cx + (ox as f32 + 0.5) * cw / ow as f32 - 0.5, frame.width);
            let rgb = frame.rgb_bilinear(&tx, &ty, &yuv);
            let i = oy * ow + ox;
            dst[i] = rgb[c0];
            dst[plane + i] = rgb[1];
            dst[2 * plane + i] = rgb[c2];
        }
    }
    Ok(())
}

/// Bilinear taps for one (source size, destination size) pair, kept between frames.
#[derive(Debug, Default)]
pub struct ResizeCache {
    key: (usize, usize, usize, usize),
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
}

impl ResizeCache {
    fn prepare(&mut self, src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) {
        let key = (src_w, src_h, dst_w, dst_h);
        if self.key != key || self.x_taps.is_empty() {
            self.x_taps = taps(src_w, dst_w);
            self.y_taps = taps(src_h, dst_h);
            self.key = key;
        }
    }
}

/// Reads R, G, B (0..255) at any sub-pixel position of a frame, whatever its
/// layout, without converting the frame; positions outside it take the
/// nearest edge pixel. For warps and crops that need a few thousand pixels of
/// a large frame (aligned face crops).
#[derive(Debug, Clone, Copy)]
pub struct FrameSampler<'f, 'a> {
    frame: &'f FrameView<'a>,
    yuv: YuvCoefficients,
}

impl<'f, 'a> FrameSampler<'f, 'a> {
    /// Checks the frame once so that sampling never reads out of bounds.
    pub fn new(frame: &'f FrameView<'a>) -> Result<Self, FrameError> {
        frame.validate()?;
        Ok(Self { frame, yuv: YuvCoefficients::new(frame.colorimetry) })
    }

    /// Bilinear R, G, B at (x, y), pixel centres at integer coordinates (as
    /// OpenCV's `warpAffine`), edges replicated.
    #[inline]
    pub fn rgb(&self, x: f32, y: f32) -> [f32; 3] {
        let (w, h) = (self.frame.width, self.frame.height);
        let tap = |v: f32, n: usize| {
            let v = v.clamp(0.0, (n - 1) as f32);
            let i0 = v.floor() as usize;
            let i1 = (i0 + 1).min(n - 1);
            Tap { i0, i1, w1: if i1 == i0 { 0.0 } else { v - i0 as f32 } }
        };
        self.frame.rgb_bilinear(&tap(x, w), &tap(y, h), &self.yuv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb_frame(w: usize, h: usize, data: &[u8]) -> FrameView<'_> {
        FrameView {
            format: PixelFormat::Rgb,
            width: w,
            height: h,
            planes: [data, &[], &[]],
            strides: [w * 3, 0, 0],
            colorimetry: Colorimetry::default(),
        }
    }

    #[test]
    fn identity_size_copies_pixels_and_swaps_to_bgr() {
        let data = [10u8, 20, 30, 40, 50, 60];
        let frame = rgb_frame(2, 1, &data);
        let g = InputGeometry { scaled_width: 2, scaled_height: 1, input_width: 4, input_height: 2 };
        let mut dst = vec![-1.0; 3 * 8];
        fill_planar_input(&frame, g, ChannelOrder::Bgr, &mut dst, &mut ResizeCache::default()).unwrap();
        assert_eq!(&dst[0..4], &[30.0, 60.0, 0.0, 0.0]); // B
        assert_eq!(&dst[8..12], &[20.0, 50.0, 0.0, 0.0]); // G
        assert_eq!(&dst[16..20], &[10.0, 40.0, 0.0, 0.0]); // R
        assert!(dst[4..8].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn halving_averages_neighbours() {
        let data = [0u8, 0, 0, 100, 100, 100];
        let frame = rgb_frame(2, 1, &data);
        let g = InputGeometry { scaled_width: 1, scaled_height: 1, input_width: 1, input_height: 1 };
        let mut dst = vec![0.0; 3];
        fill_planar_input(&frame, g, ChannelOrder::Rgb, &mut dst, &mut ResizeCache::default()).unwrap();
        assert_eq!(dst, vec![50.0, 50.0, 50.0]);
    }

    #[test]
    fn yuv_grey_maps_to_grey() {
        let y = [235u8; 4];
        let uv = [128u8; 1];
        let frame = FrameView {
            format: PixelFormat::I420,
            width: 2,
            height: 2,
            planes: [&y, &uv, &uv],
            strides: [2, 1, 1],
            colorimetry: Colorimetry::default(),
        };
        let g = InputGeometry { scaled_width: 2, scaled_height: 2, input_width: 2, input_height: 2 };
        let mut dst = vec![0.0; 12];
        fill_planar_input(&frame, g, ChannelOrder::Rgb, &mut dst, &mut ResizeCache::default()).unwrap();
        assert!(dst.iter().all(|&v| (v - 255.0).abs() < 0.5), "{dst:?}");
    }

    #[test]
    fn crop_samples_inside_and_replicates_outside() {
        let data = [0u8, 0, 0, 200, 200, 200];
        let frame = rgb_frame(2, 1, &data);
        let mut dst = vec![0.0; 3 * 2];
        // A crop twice the frame's width centred on it: left half clamps to pixel 0.
        fill_planar_crop(&frame, (-1.0, 0.0, 4.0, 1.0), (2, 1), ChannelOrder::Rgb, &mut dst).unwrap();
        assert_eq!(dst[0], 0.0);
        assert_eq!(dst[1], 200.0);
    }

    #[test]
    fn short_plane_is_an_error_not_a_panic() {
        let data = [0u8; 5];
        let frame = rgb_frame(2, 1, &data);
        assert!(frame.validate().is_err());
    }
}
