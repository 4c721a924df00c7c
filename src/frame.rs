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

impl YuvMatrix {
    /// The luma weights (Kr, Kb) of R' and B' (Kg = 1 - Kr - Kb): the one
    /// place the BT.601 and BT.709 constants are written.
    pub const fn luma_weights(self) -> (f64, f64) {
        match self {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        }
    }
}

/// Limited ("studio") range: luma starts at this code value ...
pub const LIMITED_LUMA_OFFSET: u8 = 16;
/// ... and spans this many codes (16..=235);
pub const LIMITED_LUMA_SPAN: u8 = 219;
/// chroma spans this many codes around 128 (16..=240).
pub const LIMITED_CHROMA_SPAN: u8 = 224;

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

impl Colorimetry {
    /// The Y', Cb, Cr code values of an R'G'B' colour (e.g. a fill colour).
    pub fn rgb_to_yuv(self, rgb: [u8; 3]) -> [u8; 3] {
        let (kr, kb) = self.matrix.luma_weights();
        let (kr, kb) = (kr as f32, kb as f32);
        let [r, g, b] = rgb.map(|v| v as f32);
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let u = (b - y) / (2.0 * (1.0 - kb));
        let v = (r - y) / (2.0 * (1.0 - kr));
        let (y, u, v) = if self.full_range {
            (y, u + 128.0, v + 128.0)
        } else {
            let (luma, chroma) = (f32::from(LIMITED_LUMA_SPAN), f32::from(LIMITED_CHROMA_SPAN));
            (f32::from(LIMITED_LUMA_OFFSET) + y * luma / 255.0, 128.0 + u * chroma / 255.0, 128.0 + v * chroma / 255.0)
        };
        [y, u, v].map(|x| x.round().clamp(0.0, 255.0) as u8)
    }
}

/// Where a format keeps its components: the one table of our raw layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One plane, one byte per pixel.
    Gray,
    /// Y', then Cb and Cr planes subsampled 2x2, in planes `u` and `v`.
    Planar { u: usize, v: usize },
    /// Y', then one plane of Cb, Cr pairs subsampled 2x2; `u` is the
    /// offset of Cb in a pair.
    SemiPlanar { u: usize },
    /// One plane; byte offsets of R, G, B inside a pixel of `pixel` bytes
    /// (alpha or padding elsewhere).
    Packed { rgb: [usize; 3], pixel: usize },
}

impl PixelFormat {
    #[inline]
    pub const fn layout(self) -> Layout {
        use PixelFormat::*;
        match self {
            Gray8 => Layout::Gray,
            I420 => Layout::Planar { u: 1, v: 2 },
            Yv12 => Layout::Planar { u: 2, v: 1 },
            Nv12 => Layout::SemiPlanar { u: 0 },
            Nv21 => Layout::SemiPlanar { u: 1 },
            Rgb => Layout::Packed { rgb: [0, 1, 2], pixel: 3 },
            Bgr => Layout::Packed { rgb: [2, 1, 0], pixel: 3 },
            Rgba | Rgbx => Layout::Packed { rgb: [0, 1, 2], pixel: 4 },
            Bgra | Bgrx => Layout::Packed { rgb: [2, 1, 0], pixel: 4 },
            Argb | Xrgb => Layout::Packed { rgb: [1, 2, 3], pixel: 4 },
            Abgr | Xbgr => Layout::Packed { rgb: [3, 2, 1], pixel: 4 },
        }
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

/// Y'CbCr → R'G'B' coefficients: integer fixed-point (scaled by 2^16), kept
/// as f32 already divided by 2^16. Dividing by a power of two is exact, so
/// `x * (c / 2^16)` gives the very bits `x * c / 2^16` gave, one multiply less.
#[derive(Debug, Clone, Copy)]
struct YuvCoefficients {
    y_offset: f32,
    y_gain: f32,
    r_cr: f32,
    g_cb: f32,
    g_cr: f32,
    b_cb: f32,
}

impl YuvCoefficients {
    fn new(c: Colorimetry) -> Self {
        let (kr, kb) = c.matrix.luma_weights();
        let kg = 1.0 - kr - kb;
        let (y_offset, y_gain, c_gain) = if c.full_range {
            (0, 1.0, 1.0)
        } else {
            (
                i32::from(LIMITED_LUMA_OFFSET),
                255.0 / f64::from(LIMITED_LUMA_SPAN),
                255.0 / f64::from(LIMITED_CHROMA_SPAN),
            )
        };
        let s = 65536.0;
        let fixed = |v: f64| (v * s) as i32 as f32 / 65536.0;
        Self {
            y_offset: y_offset as f32,
            y_gain: fixed(y_gain),
            r_cr: fixed(2.0 * (1.0 - kr) * c_gain),
            g_cb: fixed(2.0 * (1.0 - kb) * kb / kg * c_gain),
            g_cr: fixed(2.0 * (1.0 - kr) * kr / kg * c_gain),
            b_cb: fixed(2.0 * (1.0 - kb) * c_gain),
        }
    }

    #[inline(always)]
    fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let y = (y - self.y_offset) * self.y_gain;
        let u = u - 128.0;
        let v = v - 128.0;
        let r = y + v * self.r_cr;
        let g = y - u * self.g_cb - v * self.g_cr;
        let b = y + u * self.b_cb;
        [r.clamp(0.0, 255.0), g.clamp(0.0, 255.0), b.clamp(0.0, 255.0)]
    }
}

/// R, G, B (0..255) at an integer pixel of a validated frame, for one layout:
/// loops over many pixels pick the layout once (see [`with_reader!`]) instead
/// of once per pixel.
trait Reader {
    fn at(&self, x: usize, y: usize) -> [f32; 3];
}

struct GrayReader<'a> {
    luma: &'a [u8],
    stride: usize,
}

impl Reader for GrayReader<'_> {
    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> [f32; 3] {
        let v = self.luma[y * self.stride + x] as f32;
        [v, v, v]
    }
}

struct PlanarReader<'a> {
    luma: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    strides: [usize; 3],
    yuv: YuvCoefficients,
}

impl Reader for PlanarReader<'_> {
    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> [f32; 3] {
        let luma = self.luma[y * self.strides[0] + x] as f32;
        let (cx, cy) = (x / 2, y / 2);
        let u = self.u[cy * self.strides[1] + cx] as f32;
        let v = self.v[cy * self.strides[2] + cx] as f32;
        self.yuv.to_rgb(luma, u, v)
    }
}

struct SemiPlanarReader<'a> {
    luma: &'a [u8],
    chroma: &'a [u8],
    strides: [usize; 2],
    /// Offset of Cb in a pair.
    u: usize,
    yuv: YuvCoefficients,
}

impl Reader for SemiPlanarReader<'_> {
    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> [f32; 3] {
        let luma = self.luma[y * self.strides[0] + x] as f32;
        let o = (y / 2) * self.strides[1] + (x / 2) * 2;
        let (u, v) = (self.chroma[o + self.u] as f32, self.chroma[o + (1 - self.u)] as f32);
        self.yuv.to_rgb(luma, u, v)
    }
}

struct PackedReader<'a> {
    data: &'a [u8],
    stride: usize,
    rgb: [usize; 3],
    pixel: usize,
}

impl Reader for PackedReader<'_> {
    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> [f32; 3] {
        let o = y * self.stride + x * self.pixel;
        let p = &self.data[o..o + self.pixel];
        [p[self.rgb[0]] as f32, p[self.rgb[1]] as f32, p[self.rgb[2]] as f32]
    }
}

/// Evaluates `$body` with `$r` bound to the [`Reader`] of `$frame`'s layout:
/// the body is compiled once per layout, so its inner loops carry no format
/// dispatch.
macro_rules! with_reader {
    ($frame:expr, $yuv:expr, |$r:ident| $body:expr) => {{
        let frame: &FrameView<'_> = $frame;
        let yuv: YuvCoefficients = $yuv;
        match frame.format.layout() {
            Layout::Gray => {
                let $r = GrayReader { luma: frame.planes[0], stride: frame.strides[0] };
                $body
            }
            Layout::Planar { u, v } => {
                let $r = PlanarReader {
                    luma: frame.planes[0],
                    u: frame.planes[u],
                    v: frame.planes[v],
                    strides: [frame.strides[0], frame.strides[u], frame.strides[v]],
                    yuv,
                };
                $body
            }
            Layout::SemiPlanar { u } => {
                let $r = SemiPlanarReader {
                    luma: frame.planes[0],
                    chroma: frame.planes[1],
                    strides: [frame.strides[0], frame.strides[1]],
                    u,
                    yuv,
                };
                $body
            }
            Layout::Packed { rgb, pixel } => {
                let $r = PackedReader { data: frame.planes[0], stride: frame.strides[0], rgb, pixel };
                $body
            }
        }
    }};
}

/// Bilinear R, G, B at a fractional position (OpenCV's INTER_LINEAR taps).
#[inline(always)]
fn bilinear<R: Reader>(r: &R, tap: &Tap, ty: &Tap) -> [f32; 3] {
    let p00 = r.at(tap.i0, ty.i0);
    if tap.w1 == 0.0 && ty.w1 == 0.0 {
        return p00;
    }
    blend([p00, r.at(tap.i1, ty.i0), r.at(tap.i0, ty.i1), r.at(tap.i1, ty.i1)], tap.w1, ty.w1)
}

/// The bilinear mix of four neighbours (top left, top right, bottom left,
/// bottom right): one expression for every sampler, so that they agree to the bit.
#[inline(always)]
fn blend([p00, p01, p10, p11]: [[f32; 3]; 4], wx: f32, wy: f32) -> [f32; 3] {
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = p00[c] * (1.0 - wx) + p01[c] * wx;
        let bottom = p10[c] * (1.0 - wx) + p11[c] * wx;
        out[c] = top * (1.0 - wy) + bottom * wy;
    }
    out
}

/// Errors in the shape of a frame or a tensor request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("empty frame {width}x{height}")]
    Empty { width: usize, height: usize },
    #[error("plane {plane} too small for {format:?} {width}x{height} (stride {stride}, {len} bytes)")]
    PlaneTooSmall { plane: usize, format: PixelFormat, width: usize, height: usize, stride: usize, len: usize },
    #[error("bad input geometry {0:?}")]
    InputGeometry(InputGeometry),
    #[error("tensor holds {len} values, {needed} needed")]
    TensorSize { len: usize, needed: usize },
    #[error("bad crop {crop:?} -> {width}x{height} into {len} values")]
    Crop { crop: (f32, f32, f32, f32), width: usize, height: usize, len: usize },
}

impl<'a> FrameView<'a> {
    /// Checks that every plane is large enough for the claimed size, so that
    /// sampling can never read out of bounds.
    pub fn validate(&self) -> Result<(), FrameError> {
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(FrameError::Empty { width: w, height: h });
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let need: &[(usize, usize)] = &match self.format.layout() {
            Layout::Planar { .. } => [(w, h), (cw, ch), (cw, ch)],
            Layout::SemiPlanar { .. } => [(w, h), (cw * 2, ch), (0, 0)],
            Layout::Gray => [(w, h), (0, 0), (0, 0)],
            Layout::Packed { pixel, .. } => [(w * pixel, h), (0, 0), (0, 0)],
        };
        for (i, &(row_bytes, rows)) in need.iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let stride = self.strides[i];
            if stride < row_bytes || self.planes[i].len() < stride * (rows - 1) + row_bytes {
                return Err(FrameError::PlaneTooSmall {
                    plane: i,
                    format: self.format,
                    width: w,
                    height: h,
                    stride,
                    len: self.planes[i].len(),
                });
            }
        }
        Ok(())
    }
}

/// One bilinear tap along an axis: two source indices and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w1: f32,
}

impl Tap {
    /// The taps at `pos` (pixel centres at integers) on an axis of `size`
    /// pixels, edges replicated: the one way every sampler here builds them.
    /// In f64, as OpenCV's resize computes its coordinates; exact for f32
    /// positions. A zero weight names one pixel twice, so that sampling
    /// reads it once.
    #[inline]
    fn at(pos: f64, size: usize) -> Tap {
        let s = pos.clamp(0.0, (size - 1) as f64);
        let i0 = s.floor() as usize;
        let w1 = (s - i0 as f64) as f32;
        Tap { i0, i1: if w1 == 0.0 { i0 } else { i0 + 1 }, w1 }
    }
}

/// The taps of a `src` to `dst` resize: half-pixel centres, clamped at the
/// borders, as cv2.resize's INTER_LINEAR.
fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    (0..dst).map(|d| Tap::at((d as f64 + 0.5) * scale - 0.5, src)).collect()
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
        return Err(FrameError::InputGeometry(geometry));
    }
    if dst.len() != 3 * iw * ih {
        return Err(FrameError::TensorSize { len: dst.len(), needed: 3 * iw * ih });
    }
    cache.prepare(frame.width, frame.height, sw, sh);
    let yuv = YuvCoefficients::new(frame.colorimetry);
    let plane = iw * ih;
    let (c0, c2) = match order {
        ChannelOrder::Bgr => (2, 0),
        ChannelOrder::Rgb => (0, 2),
    };
    if cache.by_rows {
        with_reader!(frame, yuv, |r| fill_input_by_rows(&r, cache, iw, (c0, c2), dst));
    } else {
        with_reader!(frame, yuv, |r| fill_input_rows(&r, cache, iw, (c0, c2), dst));
    }
    for c in 0..3 {
        dst[c * plane + sh * iw..(c + 1) * plane].fill(0.0);
    }
    Ok(())
}

/// The rows of [`fill_planar_input`], for one layout.
fn fill_input_rows<R: Reader>(r: &R, cache: &ResizeCache, iw: usize, (c0, c2): (usize, usize), dst: &mut [f32]) {
    let plane = dst.len() / 3;
    let sw = cache.x_taps.len();
    for (oy, ty) in cache.y_taps.iter().enumerate() {
        let row = oy * iw;
        for (ox, tx) in cache.x_taps.iter().enumerate() {
            let rgb = bilinear(r, tx, ty);
            put(dst, plane, row + ox, rgb, (c0, c2));
        }
        pad_row(dst, plane, row, sw, iw);
    }
}

/// Writes one sample's channels into the planar tensor, in the model's order.
#[inline(always)]
fn put(dst: &mut [f32], plane: usize, i: usize, rgb: [f32; 3], (c0, c2): (usize, usize)) {
    dst[i] = rgb[c0];
    dst[plane + i] = rgb[1];
    dst[2 * plane + i] = rgb[c2];
}

/// Zeroes a row's padding (columns `sw..iw` of the input) in all three planes.
fn pad_row(dst: &mut [f32], plane: usize, row: usize, sw: usize, iw: usize) {
    for c in 0..3 {
        dst[c * plane + row + sw..c * plane + row + iw].fill(0.0);
    }
}

/// As [`fill_input_rows`], for resizes whose taps fall between pixels (1080p
/// to 1280, 720p to 640): each source row is converted to RGB once, into
/// two rows kept in the cache, rather than each pixel once per tap that reads
/// it (four taps a sample). The same conversions and the same [`blend`], so
/// the same bits.
fn fill_input_by_rows<R: Reader>(r: &R, cache: &mut ResizeCache, iw: usize, (c0, c2): (usize, usize), dst: &mut [f32]) {
    let plane = dst.len() / 3;
    let ResizeCache { x_taps, y_taps, rows, row_index, .. } = cache;
    let sw = x_taps.len();
    let width = x_taps.last().map_or(0, |t| t.i1 + 1);
    for row in rows.iter_mut() {
        row.resize(width, [0.0; 3]);
    }
    *row_index = [usize::MAX; 2];
    let convert = |row: &mut Vec<[f32; 3]>, y: usize| {
        for (x, px) in row.iter_mut().enumerate() {
            *px = r.at(x, y);
        }
    };
    for (oy, ty) in y_taps.iter().enumerate() {
        // Rows ty.i0 and ty.i1 in rows[0] and rows[1]; the last output row's bottom is often this one's top.
        if row_index[0] != ty.i0 {
            if row_index[1] == ty.i0 {
                rows.swap(0, 1);
                row_index.swap(0, 1);
            } else {
                convert(&mut rows[0], ty.i0);
                row_index[0] = ty.i0;
            }
        }
        if row_index[1] != ty.i1 {
            convert(&mut rows[1], ty.i1);
            row_index[1] = ty.i1;
        }
        let (top, bottom) = (&rows[0], &rows[1]);
        let row = oy * iw;
        for (ox, tx) in x_taps.iter().enumerate() {
            let p00 = top[tx.i0];
            let rgb = if tx.w1 == 0.0 && ty.w1 == 0.0 {
                p00
            } else {
                blend([p00, top[tx.i1], bottom[tx.i0], bottom[tx.i1]], tx.w1, ty.w1)
            };
            put(dst, plane, row + ox, rgb, (c0, c2));
        }
        pad_row(dst, plane, row, sw, iw);
    }
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
        return Err(FrameError::Crop { crop, width: ow, height: oh, len: dst.len() });
    }
    let yuv = YuvCoefficients::new(frame.colorimetry);
    let tap = |pos: f32, size: usize| Tap::at(f64::from(pos), size);
    let plane = ow * oh;
    let (c0, c2) = match order {
        ChannelOrder::Bgr => (2, 0),
        ChannelOrder::Rgb => (0, 2),
    };
    with_reader!(frame, yuv, |r| {
        for oy in 0..oh {
            let ty = tap(cy + (oy as f32 + 0.5) * ch / oh as f32 - 0.5, frame.height);
            for ox in 0..ow {
                let tx = tap(cx + (ox as f32 + 0.5) * cw / ow as f32 - 0.5, frame.width);
                let rgb = bilinear(&r, &tx, &ty);
                let i = oy * ow + ox;
                dst[i] = rgb[c0];
                dst[plane + i] = rgb[1];
                dst[2 * plane + i] = rgb[c2];
            }
        }
    });
    Ok(())
}

/// Bilinear taps for one (source size, destination size) pair, kept between frames.
#[derive(Debug, Default)]
pub struct ResizeCache {
    key: (usize, usize, usize, usize),
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    /// Whether converting whole source rows costs fewer pixel conversions
    /// than converting at every tap (see [`fill_input_by_rows`]).
    by_rows: bool,
    /// Two source rows converted to RGB, and which rows they are.
    rows: [Vec<[f32; 3]>; 2],
    row_index: [usize; 2],
}

impl ResizeCache {
    fn prepare(&mut self, src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) {
        let key = (src_w, src_h, dst_w, dst_h);
        if self.key != key || self.x_taps.is_empty() {
            self.x_taps = taps(src_w, dst_w);
            self.y_taps = taps(src_h, dst_h);
            self.key = key;
            // Pixel conversions per frame either way.
            let reads = |t: &[Tap]| t.iter().map(|t| 1 + usize::from(t.w1 != 0.0)).sum::<usize>();
            let at_taps = reads(&self.x_taps) * reads(&self.y_taps);
            let mut distinct_rows: Vec<usize> = self.y_taps.iter().flat_map(|t| [t.i0, t.i1]).collect();
            distinct_rows.dedup();
            let by_rows = distinct_rows.len() * self.x_taps.last().map_or(0, |t| t.i1 + 1);
            self.by_rows = by_rows < at_taps;
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
        let (tx, ty) = (Tap::at(f64::from(x), w), Tap::at(f64::from(y), h));
        with_reader!(self.frame, self.yuv, |r| bilinear(&r, &tx, &ty))
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
    fn converting_whole_rows_gives_the_bits_of_converting_at_every_tap() {
        // An I420 frame of pseudo-random bytes, resized at the scales the models see.
        let (w, h) = (96usize, 54usize);
        let bytes =
            |n: usize, seed: usize| -> Vec<u8> { (0..n).map(|i| ((i * 131 + seed * 7919) % 251) as u8).collect() };
        let (y, u, v) = (bytes(w * h, 1), bytes(w * h / 4, 2), bytes(w * h / 4, 3));
        let frame = FrameView {
            format: PixelFormat::I420,
            width: w,
            height: h,
            planes: [&y, &u, &v],
            strides: [w, w / 2, w / 2],
            colorimetry: Colorimetry::default(),
        };
        for (sw, sh) in [(64, 36), (48, 27), (32, 18), (72, 40), (96, 54)] {
            let g = InputGeometry { scaled_width: sw, scaled_height: sh, input_width: sw + 3, input_height: sh + 2 };
            let (mut at_taps, mut by_rows) = (vec![0.0; 3 * g.input_width * g.input_height], vec![]);
            by_rows.resize(at_taps.len(), 1.0);
            let mut cache = ResizeCache::default();
            cache.prepare(w, h, sw, sh);
            let chosen = cache.by_rows;
            for (by, dst) in [(false, &mut at_taps), (true, &mut by_rows)] {
                cache.by_rows = by;
                fill_planar_input(&frame, g, ChannelOrder::Bgr, dst, &mut cache).unwrap();
            }
            let same = at_taps.iter().zip(&by_rows).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{sw}x{sh}: the two paths differ");
            // 64 and 72 columns from 96 fall between pixels: rows are cheaper; halves and thirds are not.
            assert_eq!(chosen, matches!(sw, 64 | 72), "{sw}x{sh}: by rows {chosen}");
        }
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
    fn luma_weights_are_the_same_in_f32() {
        // redact converts them to f32; the literals it had are what it gets.
        assert_eq!(YuvMatrix::Bt601.luma_weights(), (0.299, 0.114));
        let f32s = |m: YuvMatrix| (m.luma_weights().0 as f32, m.luma_weights().1 as f32);
        assert_eq!(f32s(YuvMatrix::Bt601), (0.299f32, 0.114f32));
        assert_eq!(f32s(YuvMatrix::Bt709), (0.2126f32, 0.0722f32));
    }

    #[test]
    fn rgb_to_yuv_inverts_the_sampling_conversion() {
        for full_range in [false, true] {
            for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709] {
                let c = Colorimetry { matrix, full_range };
                let yuv = YuvCoefficients::new(c);
                for rgb in [[0u8, 0, 0], [255, 255, 255], [200, 30, 90], [10, 180, 240]] {
                    let [y, u, v] = c.rgb_to_yuv(rgb).map(f32::from);
                    let back = yuv.to_rgb(y, u, v);
                    for k in 0..3 {
                        assert!((back[k] - rgb[k] as f32).abs() <= 3.0, "{c:?} {rgb:?} -> {back:?}");
                    }
                }
            }
        }
        let black = Colorimetry::default().rgb_to_yuv([0, 0, 0]);
        assert_eq!(black, [LIMITED_LUMA_OFFSET, 128, 128]);
    }

    #[test]
    fn taps_are_opencv_half_pixel_and_clamped() {
        // 4 -> 2: centres at 0.5 and 2.5.
        let t = taps(4, 2);
        assert_eq!((t[0].i0, t[0].i1, t[0].w1), (0, 1, 0.5));
        assert_eq!((t[1].i0, t[1].i1, t[1].w1), (2, 3, 0.5));
        // Same size: every pixel once.
        assert!(taps(5, 5).iter().enumerate().all(|(d, t)| t.i0 == d && t.i1 == d && t.w1 == 0.0));
        // 2 -> 4: the outer halves clamp to the edge pixels.
        let t = taps(2, 4);
        assert_eq!((t[0].i0, t[0].i1, t[0].w1), (0, 0, 0.0));
        assert_eq!((t[3].i0, t[3].i1, t[3].w1), (1, 1, 0.0));
        // Outside positions replicate the edges.
        let t = Tap::at(-3.0, 10);
        assert_eq!((t.i0, t.i1, t.w1), (0, 0, 0.0));
        let t = Tap::at(42.0, 10);
        assert_eq!((t.i0, t.i1, t.w1), (9, 9, 0.0));
        let t = Tap::at(2.25, 10);
        assert_eq!((t.i0, t.i1, t.w1), (2, 3, 0.25));
    }

    #[test]
    fn layouts_name_every_plane_a_format_uses() {
        assert_eq!(PixelFormat::Yv12.layout(), Layout::Planar { u: 2, v: 1 });
        assert_eq!(PixelFormat::Nv21.layout(), Layout::SemiPlanar { u: 1 });
        assert_eq!(PixelFormat::Xbgr.layout(), Layout::Packed { rgb: [3, 2, 1], pixel: 4 });
    }

    #[test]
    fn errors_are_variants() {
        let data = [0u8; 6];
        let frame = rgb_frame(2, 1, &data);
        let mut dst = vec![0.0; 5];
        let g = InputGeometry { scaled_width: 2, scaled_height: 1, input_width: 2, input_height: 1 };
        let err = fill_planar_input(&frame, g, ChannelOrder::Rgb, &mut dst, &mut ResizeCache::default());
        assert_eq!(err, Err(FrameError::TensorSize { len: 5, needed: 6 }));
        assert!(matches!(rgb_frame(0, 1, &data).validate(), Err(FrameError::Empty { width: 0, height: 1 })));
    }

    #[test]
    fn short_plane_is_an_error_not_a_panic() {
        let data = [0u8; 5];
        let frame = rgb_frame(2, 1, &data);
        assert!(frame.validate().is_err());
    }
}
