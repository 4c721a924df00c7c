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
trait Reader: Sized {
    /// The components at (x, y) as stored: Y', Cb, Cr or R, G, B.
    fn fetch(&self, x: usize, y: usize) -> [f32; 3];

    /// R, G, B of fetched components.
    #[inline(always)]
    fn convert(&self, p: [f32; 3]) -> [f32; 3] {
        p
    }

    #[inline(always)]
    fn at(&self, x: usize, y: usize) -> [f32; 3] {
        self.convert(self.fetch(x, y))
    }

    /// The reader of row `y` alone: its `at(x, 0)` is `at(x, y)`, with the
    /// row's offsets in the planes computed once rather than per pixel.
    fn row(&self, y: usize) -> Self;

    /// `at(x(k), 0)` for `k` in `0..LANES`, as R, G, B planes: fetched one by
    /// one, converted side by side, so that the compiler turns the
    /// conversion into vector instructions (the same operations per lane, so
    /// the same bits).
    #[inline(always)]
    fn at_lanes(&self, x: impl Fn(usize) -> usize) -> [[f32; LANES]; 3] {
        self.convert_lanes(std::array::from_fn(|k| self.fetch(x(k), 0)))
    }

    /// [`Reader::convert`] of `LANES` fetched pixels, as R, G, B planes.
    #[inline(always)]
    fn convert_lanes(&self, p: [[f32; 3]; LANES]) -> [[f32; LANES]; 3] {
        let mut out = [[0.0; LANES]; 3];
        for (k, &p) in p.iter().enumerate() {
            [out[0][k], out[1][k], out[2][k]] = self.convert(p);
        }
        out
    }

    /// Converts the first `r.len()` pixels of row `y` into the planes `r`,
    /// `g`, `b` (of equal lengths): `at` of every pixel, [`LANES`] at a time.
    #[inline(always)]
    fn convert_row(&self, y: usize, [r, g, b]: [&mut [f32]; 3]) {
        let row = self.row(y);
        let (g, b) = (&mut g[..r.len()], &mut b[..r.len()]);
        let blocks = r.chunks_exact_mut(LANES).zip(g.chunks_exact_mut(LANES)).zip(b.chunks_exact_mut(LANES));
        for (i, ((r, g), b)) in blocks.enumerate() {
            let [cr, cg, cb] = row.at_lanes(|k| i * LANES + k);
            r.copy_from_slice(&cr);
            g.copy_from_slice(&cg);
            b.copy_from_slice(&cb);
        }
        for x in r.len() / LANES * LANES..r.len() {
            [r[x], g[x], b[x]] = row.at(x, 0);
        }
    }
}

/// Pixels [`Reader::at_lanes`] converts side by side.
const LANES: usize = 8;

struct GrayReader<'a> {
    luma: &'a [u8],
    stride: usize,
}

impl Reader for GrayReader<'_> {
    #[inline(always)]
    fn fetch(&self, x: usize, y: usize) -> [f32; 3] {
        let v = self.luma[y * self.stride + x] as f32;
        [v, v, v]
    }

    #[inline(always)]
    fn row(&self, y: usize) -> Self {
        Self { luma: &self.luma[y * self.stride..], ..*self }
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
    fn fetch(&self, x: usize, y: usize) -> [f32; 3] {
        let luma = self.luma[y * self.strides[0] + x] as f32;
        let (cx, cy) = (x / 2, y / 2);
        let u = self.u[cy * self.strides[1] + cx] as f32;
        let v = self.v[cy * self.strides[2] + cx] as f32;
        [luma, u, v]
    }

    #[inline(always)]
    fn convert(&self, [y, u, v]: [f32; 3]) -> [f32; 3] {
        self.yuv.to_rgb(y, u, v)
    }

    #[inline(always)]
    fn row(&self, y: usize) -> Self {
        let c = y / 2;
        Self {
            luma: &self.luma[y * self.strides[0]..],
            u: &self.u[c * self.strides[1]..],
            v: &self.v[c * self.strides[2]..],
            ..*self
        }
    }

    /// As the default, with the planes cut into blocks up front: `LANES`
    /// luma bytes and half as many of each chroma plane a block, no index
    /// arithmetic per pixel.
    #[inline(always)]
    fn convert_row(&self, y: usize, [r, g, b]: [&mut [f32]; 3]) {
        let w = r.len();
        let row = self.row(y);
        let (luma, u, v) = (&row.luma[..w], &row.u[..w.div_ceil(2)], &row.v[..w.div_ceil(2)]);
        let (g, b) = (&mut g[..w], &mut b[..w]);
        let src = luma.chunks_exact(LANES).zip(u.chunks_exact(LANES / 2).zip(v.chunks_exact(LANES / 2)));
        let out = r.chunks_exact_mut(LANES).zip(g.chunks_exact_mut(LANES).zip(b.chunks_exact_mut(LANES)));
        for ((luma, (u, v)), (r, (g, b))) in src.zip(out) {
            let p = std::array::from_fn(|k| [luma[k] as f32, u[k / 2] as f32, v[k / 2] as f32]);
            let [cr, cg, cb] = self.convert_lanes(p);
            r.copy_from_slice(&cr);
            g.copy_from_slice(&cg);
            b.copy_from_slice(&cb);
        }
        for x in w / LANES * LANES..w {
            [r[x], g[x], b[x]] = row.at(x, 0);
        }
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
    fn fetch(&self, x: usize, y: usize) -> [f32; 3] {
        let luma = self.luma[y * self.strides[0] + x] as f32;
        let o = (y / 2) * self.strides[1] + (x / 2) * 2;
        let (u, v) = (self.chroma[o + self.u] as f32, self.chroma[o + (1 - self.u)] as f32);
        [luma, u, v]
    }

    #[inline(always)]
    fn convert(&self, [y, u, v]: [f32; 3]) -> [f32; 3] {
        self.yuv.to_rgb(y, u, v)
    }

    #[inline(always)]
    fn row(&self, y: usize) -> Self {
        Self { luma: &self.luma[y * self.strides[0]..], chroma: &self.chroma[(y / 2) * self.strides[1]..], ..*self }
    }

    /// As [`PlanarReader`]'s: `LANES` luma bytes and `LANES` chroma bytes
    /// (half as many pairs) a block.
    #[inline(always)]
    fn convert_row(&self, y: usize, [r, g, b]: [&mut [f32]; 3]) {
        let w = r.len();
        let row = self.row(y);
        let (luma, chroma) = (&row.luma[..w], &row.chroma[..2 * w.div_ceil(2)]);
        let (g, b) = (&mut g[..w], &mut b[..w]);
        let (cu, cv) = (self.u, 1 - self.u);
        let src = luma.chunks_exact(LANES).zip(chroma.chunks_exact(LANES));
        let out = r.chunks_exact_mut(LANES).zip(g.chunks_exact_mut(LANES).zip(b.chunks_exact_mut(LANES)));
        for ((luma, chroma), (r, (g, b))) in src.zip(out) {
            let p = std::array::from_fn(|k| {
                let o = k / 2 * 2;
                [luma[k] as f32, chroma[o + cu] as f32, chroma[o + cv] as f32]
            });
            let [cr, cg, cb] = self.convert_lanes(p);
            r.copy_from_slice(&cr);
            g.copy_from_slice(&cg);
            b.copy_from_slice(&cb);
        }
        for x in w / LANES * LANES..w {
            [r[x], g[x], b[x]] = row.at(x, 0);
        }
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
    fn fetch(&self, x: usize, y: usize) -> [f32; 3] {
        let o = y * self.stride + x * self.pixel;
        let p = &self.data[o..o + self.pixel];
        [p[self.rgb[0]] as f32, p[self.rgb[1]] as f32, p[self.rgb[2]] as f32]
    }

    #[inline(always)]
    fn row(&self, y: usize) -> Self {
        Self { data: &self.data[y * self.stride..], ..*self }
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
    bilinear_rows(&r.row(ty.i0), &r.row(ty.i1), tap, ty.w1)
}

/// [`bilinear`] between the row readers of `ty.i0` and `ty.i1`, with `ty.w1`.
#[inline(always)]
fn bilinear_rows<R: Reader>(top: &R, bottom: &R, tap: &Tap, wy: f32) -> [f32; 3] {
    let p00 = top.at(tap.i0, 0);
    if tap.w1 == 0.0 && wy == 0.0 {
        return p00;
    }
    blend([p00, top.at(tap.i1, 0), bottom.at(tap.i0, 0), bottom.at(tap.i1, 0)], tap.w1, wy)
}

/// [`bilinear_rows`] at `LANES` taps, as R, G, B planes: the four
/// neighbours of all lanes converted side by side.
#[inline(always)]
fn bilinear_lanes<R: Reader>(top: &R, bottom: &R, taps: &[Tap; LANES], wy: f32) -> [[f32; LANES]; 3] {
    let (i0, i1) = (|k: usize| taps[k].i0, |k: usize| taps[k].i1);
    let p = [top.at_lanes(i0), top.at_lanes(i1), bottom.at_lanes(i0), bottom.at_lanes(i1)];
    let mut out = [[0.0; LANES]; 3];
    for (k, tap) in taps.iter().enumerate() {
        let [p00, p01, p10, p11] = p.map(|[r, g, b]| [r[k], g[k], b[k]]);
        let rgb = if tap.w1 == 0.0 && wy == 0.0 { p00 } else { blend([p00, p01, p10, p11], tap.w1, wy) };
        [out[0][k], out[1][k], out[2][k]] = rgb;
    }
    out
}

/// Fills the output planes `out` at `taps` between the row readers `top`
/// and `bottom` with [`bilinear_rows`], [`LANES`] taps at a time.
#[inline(always)]
fn bilinear_row<R: Reader>(top: &R, bottom: &R, taps: &[Tap], wy: f32, [or, og, ob]: [&mut [f32]; 3]) {
    let blocks = taps.chunks(LANES).zip(or.chunks_mut(LANES)).zip(og.chunks_mut(LANES).zip(ob.chunks_mut(LANES)));
    for ((taps, or), (og, ob)) in blocks {
        if let Ok(taps) = <&[Tap; LANES]>::try_from(taps) {
            let [r, g, b] = bilinear_lanes(top, bottom, taps, wy);
            or.copy_from_slice(&r);
            og.copy_from_slice(&g);
            ob.copy_from_slice(&b);
        } else {
            for (k, tap) in taps.iter().enumerate() {
                [or[k], og[k], ob[k]] = bilinear_rows(top, bottom, tap, wy);
            }
        }
    }
}

/// The bilinear mix of four neighbours (top left, top right, bottom left,
/// bottom right): one expression for every sampler, so that they agree to the bit.
/// Along x within each row, then along y: a row's mix along x depends on
/// that row alone, which lets [`fill_input_by_rows`] mix each source row once.
#[inline(always)]
fn blend([p00, p01, p10, p11]: [[f32; 3]; 4], wx: f32, wy: f32) -> [f32; 3] {
    let mut out = [0.0; 3];
    for c in 0..3 {
        let top = lerp(p00[c], p01[c], wx);
        let bottom = lerp(p10[c], p11[c], wx);
        out[c] = lerp(top, bottom, wy);
    }
    out
}

/// The one mixing expression of [`blend`]. With `w == 0` and `a == b` (a tap
/// on a whole pixel names it twice) it gives `a` to the bit: `a * 1 + a * 0`.
#[inline(always)]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    a * (1.0 - w) + b * w
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
    /// reads it once. `s` is not negative, so the cast truncates to its floor
    /// (without a call to libm's `floor` where the CPU baseline lacks `roundsd`).
    #[inline]
    fn at(pos: f64, size: usize) -> Tap {
        let s = pos.clamp(0.0, (size - 1) as f64);
        let i0 = s as usize;
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
    let planes = rgb_planes(dst, order);
    if cache.by_rows {
        with_reader!(frame, yuv, |r| fill_input_by_rows(&r, cache, iw, planes));
    } else {
        with_reader!(frame, yuv, |r| fill_input_rows(&r, cache, iw, planes));
    }
    Ok(())
}

/// The planes of a planar tensor `dst` in R, G, B order, whatever the model's order.
fn rgb_planes(dst: &mut [f32], order: ChannelOrder) -> [&mut [f32]; 3] {
    let plane = dst.len() / 3;
    let (p0, rest) = dst.split_at_mut(plane);
    let (p1, p2) = rest.split_at_mut(plane);
    match order {
        ChannelOrder::Bgr => [p2, p1, p0],
        ChannelOrder::Rgb => [p0, p1, p2],
    }
}

/// The rows of [`fill_planar_input`], for one layout, and the padding: each
/// output row written plane by plane, from the readers of its two source rows.
fn fill_input_rows<R: Reader>(r: &R, cache: &ResizeCache, iw: usize, mut planes: [&mut [f32]; 3]) {
    let sw = cache.x_taps.len();
    for (oy, ty) in cache.y_taps.iter().enumerate() {
        let [out_r, out_g, out_b] = output_row(&mut planes, oy * iw, sw, iw);
        let (top, bottom) = (r.row(ty.i0), r.row(ty.i1));
        if cache.whole_x && ty.w1 == 0.0 {
            // Every tap on a whole pixel (integer down-scales: 1080p to 640): one read a sample, no blend.
            let blocks = cache.x_taps.chunks(LANES).zip(out_r.chunks_mut(LANES));
            for ((taps, dr), (dg, db)) in blocks.zip(out_g.chunks_mut(LANES).zip(out_b.chunks_mut(LANES))) {
                if let Ok(taps) = <&[Tap; LANES]>::try_from(taps) {
                    let [cr, cg, cb] = top.at_lanes(|k| taps[k].i0);
                    dr.copy_from_slice(&cr);
                    dg.copy_from_slice(&cg);
                    db.copy_from_slice(&cb);
                } else {
                    for (k, tx) in taps.iter().enumerate() {
                        [dr[k], dg[k], db[k]] = top.at(tx.i0, 0);
                    }
                }
            }
        } else {
            bilinear_row(&top, &bottom, &cache.x_taps, ty.w1, [out_r, out_g, out_b]);
        }
    }
    pad_rows(&mut planes, cache.y_taps.len() * iw);
}

/// Output row `row..row + sw` of each plane; its padding (up to `row + iw`) zeroed.
#[inline(always)]
fn output_row<'p>(planes: &'p mut [&mut [f32]; 3], row: usize, sw: usize, iw: usize) -> [&'p mut [f32]; 3] {
    planes.each_mut().map(|p| {
        let (out, padding) = p[row..row + iw].split_at_mut(sw);
        padding.fill(0.0);
        out
    })
}

/// Zeroes the padding rows below the image, from `from` on, in all three planes.
fn pad_rows(planes: &mut [&mut [f32]; 3], from: usize) {
    for p in planes.iter_mut() {
        p[from..].fill(0.0);
    }
}

/// As [`fill_input_rows`], for resizes whose taps fall between pixels (1080p
/// to 1280, 720p to 640): each source row is converted to R, G, B planes
/// once and mixed along x once (the `top` or `bottom` of [`blend`], which
/// depend on that row alone), into two rows kept in the cache; each output
/// row then mixes those two along y. The same conversions and the same
/// [`lerp`]s in the same order as [`blend`] at every tap, so the same bits.
fn fill_input_by_rows<R: Reader>(r: &R, cache: &mut ResizeCache, iw: usize, mut planes: [&mut [f32]; 3]) {
    let ResizeCache { x_taps, y_taps, rows, row_index, line, .. } = cache;
    let sw = x_taps.len();
    let width = x_taps.last().map_or(0, |t| t.i1 + 1);
    line.resize(3 * width, 0.0);
    for row in rows.iter_mut() {
        row.resize(3 * sw, 0.0);
    }
    *row_index = [usize::MAX; 2];
    let x_taps: &[Tap] = x_taps;
    // Source row y converted into `line`, then mixed along x into `out` (R, G, B planes of sw).
    let mut mix_row = |out: &mut [f32], y: usize| {
        let (lr, rest) = line.split_at_mut(width);
        let (lg, lb) = rest.split_at_mut(width);
        r.convert_row(y, [&mut *lr, &mut *lg, &mut *lb]);
        let (or, rest) = out.split_at_mut(sw);
        let (og, ob) = rest.split_at_mut(sw);
        mix_along_x([lr, lg, lb], x_taps, [or, og, ob]);
    };
    for (oy, ty) in y_taps.iter().enumerate() {
        // Rows ty.i0 and ty.i1 in rows[0] and rows[1]; the last output row's bottom is often this one's top.
        if row_index[0] != ty.i0 {
            if row_index[1] == ty.i0 {
                rows.swap(0, 1);
                row_index.swap(0, 1);
            } else {
                mix_row(&mut rows[0], ty.i0);
                row_index[0] = ty.i0;
            }
        }
        // A whole-pixel tap along y reads its top row alone.
        if ty.w1 != 0.0 && row_index[1] != ty.i1 {
            mix_row(&mut rows[1], ty.i1);
            row_index[1] = ty.i1;
        }
        let out = output_row(&mut planes, oy * iw, sw, iw);
        let (top, bottom) = (rows[0].chunks_exact(sw), rows[1].chunks_exact(sw));
        for ((top, bottom), out) in top.zip(bottom).zip(out) {
            if ty.w1 == 0.0 {
                out.copy_from_slice(top);
            } else {
                for ((o, &a), &b) in out.iter_mut().zip(top).zip(bottom) {
                    *o = lerp(a, b, ty.w1);
                }
            }
        }
    }
    pad_rows(&mut planes, y_taps.len() * iw);
}

/// The `top` (or `bottom`) of [`blend`] at every tap of a row converted into
/// R, G, B planes `src`, into the planes `out`.
fn mix_along_x([sr, sg, sb]: [&[f32]; 3], taps: &[Tap], [or, og, ob]: [&mut [f32]; 3]) {
    let out = or.iter_mut().zip(og.iter_mut()).zip(ob.iter_mut());
    for (tx, ((or, og), ob)) in taps.iter().zip(out) {
        if tx.w1 == 0.0 {
            (*or, *og, *ob) = (sr[tx.i0], sg[tx.i0], sb[tx.i0]);
        } else {
            *or = lerp(sr[tx.i0], sr[tx.i1], tx.w1);
            *og = lerp(sg[tx.i0], sg[tx.i1], tx.w1);
            *ob = lerp(sb[tx.i0], sb[tx.i1], tx.w1);
        }
    }
}

/// Columns of a crop whose taps [`fill_planar_crop`] computes at once, on the stack.
const CROP_COLUMNS: usize = 64;

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
    let mut planes = rgb_planes(dst, order);
    // The taps along x of a band of columns once, not once per row.
    let mut x_taps = [Tap { i0: 0, i1: 0, w1: 0.0 }; CROP_COLUMNS];
    for x0 in (0..ow).step_by(CROP_COLUMNS) {
        let x_taps = &mut x_taps[..CROP_COLUMNS.min(ow - x0)];
        for (k, t) in x_taps.iter_mut().enumerate() {
            *t = tap(cx + ((x0 + k) as f32 + 0.5) * cw / ow as f32 - 0.5, frame.width);
        }
        with_reader!(frame, yuv, |r| {
            for oy in 0..oh {
                let ty = tap(cy + (oy as f32 + 0.5) * ch / oh as f32 - 0.5, frame.height);
                let (top, bottom) = (r.row(ty.i0), r.row(ty.i1));
                let i = oy * ow + x0;
                let out = planes.each_mut().map(|p| &mut p[i..i + x_taps.len()]);
                bilinear_row(&top, &bottom, x_taps, ty.w1, out);
            }
        });
    }
    Ok(())
}

/// Bilinear taps for one (source size, destination size) pair, kept between frames.
#[derive(Debug, Default)]
pub struct ResizeCache {
    key: (usize, usize, usize, usize),
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    /// Whether converting whole source rows costs no more pixel conversions
    /// than converting at every tap (see [`fill_input_by_rows`]).
    by_rows: bool,
    /// Whether every tap along x falls on a whole pixel.
    whole_x: bool,
    /// Two source rows converted and mixed along x (R, G, B planes of the
    /// output's width), and which rows they are.
    rows: [Vec<f32>; 2],
    row_index: [usize; 2],
    /// One source row converted (R, G, B planes of the frame's width).
    line: Vec<f32>,
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
            self.whole_x = self.x_taps.iter().all(|t| t.w1 == 0.0);
            // A converted row costs less a pixel than a tap (its conversion is
            // vectorised, its taps mixed once per row): rows win ties, such as
            // halving 720p to 640. Whole-pixel columns (1080p to 640) read one
            // pixel a sample at the taps, the least either way.
            self.by_rows = !self.whole_x && by_rows <= at_taps;
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

/// The samplers as they were before rows were read as rows: every tap
/// through `Reader::at` at (x, y), blended per sample, scattered into the
/// planes with `put`. The reference the fast paths must match to the bit, and
/// the "before" of `tests::sampling_cost`.
#[cfg(test)]
mod reference {
    use super::*;

    fn bilinear_at<R: Reader>(r: &R, tx: &Tap, ty: &Tap) -> [f32; 3] {
        let p00 = r.at(tx.i0, ty.i0);
        if tx.w1 == 0.0 && ty.w1 == 0.0 {
            return p00;
        }
        blend([p00, r.at(tx.i1, ty.i0), r.at(tx.i0, ty.i1), r.at(tx.i1, ty.i1)], tx.w1, ty.w1)
    }

    fn channels(order: ChannelOrder) -> (usize, usize) {
        match order {
            ChannelOrder::Bgr => (2, 0),
            ChannelOrder::Rgb => (0, 2),
        }
    }

    fn put(dst: &mut [f32], plane: usize, i: usize, rgb: [f32; 3], (c0, c2): (usize, usize)) {
        dst[i] = rgb[c0];
        dst[plane + i] = rgb[1];
        dst[2 * plane + i] = rgb[c2];
    }

    fn pad(dst: &mut [f32], g: InputGeometry) {
        let plane = dst.len() / 3;
        for c in 0..3 {
            for row in 0..g.scaled_height {
                let o = c * plane + row * g.input_width;
                dst[o + g.scaled_width..o + g.input_width].fill(0.0);
            }
            dst[c * plane + g.scaled_height * g.input_width..(c + 1) * plane].fill(0.0);
        }
    }

    /// `fill_planar_input` at every tap, with the taps of `cache` (prepared for `frame` and `g`).
    pub fn fill_input(
        frame: &FrameView<'_>,
        g: InputGeometry,
        order: ChannelOrder,
        dst: &mut [f32],
        cache: &ResizeCache,
    ) {
        let (plane, iw, co) = (dst.len() / 3, g.input_width, channels(order));
        with_reader!(frame, YuvCoefficients::new(frame.colorimetry), |r| {
            for (oy, ty) in cache.y_taps.iter().enumerate() {
                for (ox, tx) in cache.x_taps.iter().enumerate() {
                    put(dst, plane, oy * iw + ox, bilinear_at(&r, tx, ty), co);
                }
            }
        });
        pad(dst, g);
    }

    /// `fill_planar_input`'s former row path: source rows converted to
    /// `[f32; 3]` pixels, two kept, blended per sample.
    pub fn fill_input_by_rows(
        frame: &FrameView<'_>,
        g: InputGeometry,
        order: ChannelOrder,
        dst: &mut [f32],
        cache: &ResizeCache,
        rows: &mut [Vec<[f32; 3]>; 2],
    ) {
        let (plane, iw, co) = (dst.len() / 3, g.input_width, channels(order));
        let width = cache.x_taps.last().map_or(0, |t| t.i1 + 1);
        for row in rows.iter_mut() {
            row.resize(width, [0.0; 3]);
        }
        let mut row_index = [usize::MAX; 2];
        with_reader!(frame, YuvCoefficients::new(frame.colorimetry), |r| {
            let convert = |row: &mut Vec<[f32; 3]>, y: usize| {
                for (x, px) in row.iter_mut().enumerate() {
                    *px = r.at(x, y);
                }
            };
            for (oy, ty) in cache.y_taps.iter().enumerate() {
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
                for (ox, tx) in cache.x_taps.iter().enumerate() {
                    let p00 = top[tx.i0];
                    let rgb = if tx.w1 == 0.0 && ty.w1 == 0.0 {
                        p00
                    } else {
                        blend([p00, top[tx.i1], bottom[tx.i0], bottom[tx.i1]], tx.w1, ty.w1)
                    };
                    put(dst, plane, oy * iw + ox, rgb, co);
                }
            }
        });
        pad(dst, g);
    }

    /// `fill_planar_crop` at every tap, taps computed per sample.
    pub fn fill_crop(
        frame: &FrameView<'_>,
        (cx, cy, cw, ch): (f32, f32, f32, f32),
        (ow, oh): (usize, usize),
        order: ChannelOrder,
        dst: &mut [f32],
    ) {
        let tap = |pos: f32, size: usize| Tap::at(f64::from(pos), size);
        let (plane, co) = (ow * oh, channels(order));
        with_reader!(frame, YuvCoefficients::new(frame.colorimetry), |r| {
            for oy in 0..oh {
                let ty = tap(cy + (oy as f32 + 0.5) * ch / oh as f32 - 0.5, frame.height);
                for ox in 0..ow {
                    let tx = tap(cx + (ox as f32 + 0.5) * cw / ow as f32 - 0.5, frame.width);
                    put(dst, plane, oy * ow + ox, bilinear_at(&r, &tx, &ty), co);
                }
            }
        });
    }

    /// `FrameSampler::rgb` at every tap, with the frame's coefficients `yuv`.
    pub fn rgb(frame: &FrameView<'_>, yuv: YuvCoefficients, x: f32, y: f32) -> [f32; 3] {
        let (tx, ty) = (Tap::at(f64::from(x), frame.width), Tap::at(f64::from(y), frame.height));
        with_reader!(frame, yuv, |r| bilinear_at(&r, &tx, &ty))
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
            // 64 and 72 columns from 96 fall between pixels: rows are cheaper; halves cost as many
            // conversions either way (rows win ties); thirds and the same size read whole pixels.
            assert_eq!(chosen, matches!(sw, 64 | 72 | 48), "{sw}x{sh}: by rows {chosen}");
        }
    }

    const FORMATS: [PixelFormat; 15] = {
        use PixelFormat::*;
        [I420, Yv12, Nv12, Nv21, Rgb, Bgr, Rgba, Bgra, Rgbx, Bgrx, Argb, Abgr, Xrgb, Xbgr, Gray8]
    };

    /// The planes of a `w` x `h` frame of pseudo-random bytes in `format`,
    /// each row followed by a few bytes of padding (stride > row).
    fn noise_planes(format: PixelFormat, w: usize, h: usize) -> ([Vec<u8>; 3], [usize; 3]) {
        let bytes =
            |n: usize, seed: usize| -> Vec<u8> { (0..n).map(|i| ((i * 131 + seed * 7919) % 251) as u8).collect() };
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match format.layout() {
            Layout::Gray => ([bytes(h * (w + 5), 1), vec![], vec![]], [w + 5, 0, 0]),
            Layout::Planar { .. } => {
                ([bytes(h * (w + 5), 1), bytes(ch * (cw + 3), 2), bytes(ch * (cw + 7), 3)], [w + 5, cw + 3, cw + 7])
            }
            Layout::SemiPlanar { .. } => {
                ([bytes(h * (w + 5), 1), bytes(ch * (2 * cw + 3), 2), vec![]], [w + 5, 2 * cw + 3, 0])
            }
            Layout::Packed { pixel, .. } => ([bytes(h * (w * pixel + 9), 1), vec![], vec![]], [w * pixel + 9, 0, 0]),
        }
    }

    fn view<'a>(
        format: PixelFormat,
        w: usize,
        h: usize,
        (planes, strides): &'a ([Vec<u8>; 3], [usize; 3]),
    ) -> FrameView<'a> {
        let colorimetry = match format {
            PixelFormat::Nv21 | PixelFormat::Yv12 => Colorimetry { matrix: YuvMatrix::Bt709, full_range: true },
            _ => Colorimetry::default(),
        };
        FrameView {
            format,
            width: w,
            height: h,
            planes: [&planes[0], &planes[1], &planes[2]],
            strides: *strides,
            colorimetry,
        }
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    /// The output sizes a source of `w` x `h` is resized to in the tests: the
    /// models' down-scales (thirds, two thirds, halves), odd ones, upscales.
    fn scaled_sizes(w: usize, h: usize) -> Vec<(usize, usize)> {
        let mut sizes = vec![(w / 3, h / 3), (2 * w / 3, 2 * h / 3), (w / 2, h / 2), (w * 5 / 7, h * 4 / 9), (w, h)];
        sizes.extend([(w * 2 + 1, h * 3 / 2 + 1), (w + 3, h), (1, 1), (w, 1)]);
        sizes.into_iter().map(|(sw, sh)| (sw.max(1), sh.max(1))).collect()
    }

    #[test]
    fn every_path_gives_the_bits_of_reading_every_tap() {
        // Both paths (row reads at the taps, whole rows converted) against
        // the per-tap reference, for every layout, odd sizes, strides beyond
        // the rows, padding in the tensor; the tensor starts as garbage, so
        // a padding value left unwritten differs.
        let mut cache = ResizeCache::default();
        for format in FORMATS {
            for (w, h) in [(97usize, 55usize), (64, 36), (33, 17), (7, 5), (1, 1), (2, 3)] {
                let planes = noise_planes(format, w, h);
                let frame = view(format, w, h, &planes);
                for (sw, sh) in scaled_sizes(w, h) {
                    for (pad_w, pad_h) in [(0, 0), (3, 2)] {
                        let g = InputGeometry {
                            scaled_width: sw,
                            scaled_height: sh,
                            input_width: sw + pad_w,
                            input_height: sh + pad_h,
                        };
                        let order = if (sw + sh) % 2 == 0 { ChannelOrder::Bgr } else { ChannelOrder::Rgb };
                        let n = 3 * g.input_width * g.input_height;
                        cache.prepare(w, h, sw, sh);
                        let mut want = vec![1.0; n];
                        reference::fill_input(&frame, g, order, &mut want, &cache);
                        for by_rows in [false, true] {
                            cache.by_rows = by_rows;
                            let mut got = vec![-7.0; n];
                            fill_planar_input(&frame, g, order, &mut got, &mut cache).unwrap();
                            assert!(same_bits(&got, &want), "{format:?} {w}x{h} -> {g:?}, by rows {by_rows}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn full_hd_inputs_are_the_bits_of_reading_every_tap() {
        // The models' real sizes on the camera layouts: YuNet's 640x360 and the
        // privacy pass's 1280x720 from 1080p, 640x360 from 720p; the former
        // row path too.
        let mut cache = ResizeCache::default();
        for format in [PixelFormat::I420, PixelFormat::Nv12, PixelFormat::Bgrx] {
            for ((w, h), (sw, sh)) in
                [((1920, 1080), (640, 360)), ((1920, 1080), (1280, 720)), ((1280, 720), (640, 360))]
            {
                let planes = noise_planes(format, w, h);
                let frame = view(format, w, h, &planes);
                let g = InputGeometry {
                    scaled_width: sw,
                    scaled_height: sh,
                    input_width: sw,
                    input_height: sh.next_multiple_of(32),
                };
                let n = 3 * g.input_width * g.input_height;
                cache.prepare(w, h, sw, sh);
                let (mut want, mut former, mut got) = (vec![1.0; n], vec![2.0; n], vec![-7.0; n]);
                reference::fill_input(&frame, g, ChannelOrder::Bgr, &mut want, &cache);
                reference::fill_input_by_rows(
                    &frame,
                    g,
                    ChannelOrder::Bgr,
                    &mut former,
                    &cache,
                    &mut Default::default(),
                );
                fill_planar_input(&frame, g, ChannelOrder::Bgr, &mut got, &mut cache).unwrap();
                assert!(same_bits(&got, &want), "{format:?} {w}x{h} -> {sw}x{sh}");
                assert!(same_bits(&former, &want), "{format:?} {w}x{h} -> {sw}x{sh}: former row path");
            }
        }
    }

    #[test]
    fn crops_and_samples_are_the_bits_of_reading_every_tap() {
        for format in FORMATS {
            let (w, h) = (97usize, 55usize);
            let planes = noise_planes(format, w, h);
            let frame = view(format, w, h, &planes);
            // Inside, reaching out on every side, larger than the frame, tiny (upscaled), whole pixels.
            let crops = [
                (10.3, 7.9, 40.2, 30.7),
                (-12.5, -8.0, 30.0, 30.0),
                (80.0, 40.0, 33.3, 29.1),
                (-50.0, -50.0, 300.0, 200.0),
            ];
            let crops =
                crops.into_iter().chain([(20.0, 20.0, 3.0, 2.5), (0.0, 0.0, 97.0, 55.0), (1.0, 1.0, 64.0, 64.0)]);
            for crop in crops {
                for out in [(64, 64), (1, 1), (130, 7), (63, 65)] {
                    let n = 3 * out.0 * out.1;
                    let (mut want, mut got) = (vec![1.0; n], vec![-7.0; n]);
                    reference::fill_crop(&frame, crop, out, ChannelOrder::Bgr, &mut want);
                    fill_planar_crop(&frame, crop, out, ChannelOrder::Bgr, &mut got).unwrap();
                    assert!(same_bits(&got, &want), "{format:?} crop {crop:?} -> {out:?}");
                }
            }
            let sampler = FrameSampler::new(&frame).unwrap();
            for (x, y) in
                [(0.0, 0.0), (3.25, 7.5), (96.0, 54.0), (-3.0, 60.2), (50.7, -1.5), (100.5, 20.0), (13.0, 11.75)]
            {
                let (got, want) =
                    (sampler.rgb(x, y), reference::rgb(&frame, YuvCoefficients::new(frame.colorimetry), x, y));
                assert!(same_bits(&got, &want), "{format:?} at ({x}, {y})");
            }
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

    /// CPU time of the samplers at the sizes the models see, on a 1080p and a
    /// 720p I420 frame: `cargo test --release -p blickfang-core --lib
    /// frame::tests::sampling_cost -- --ignored --nocapture`. A benchmark, not a
    /// test: it asserts nothing about time.
    #[test]
    #[ignore]
    fn sampling_cost() {
        use std::hint::black_box;
        let i420 = |w: usize, h: usize| -> [Vec<u8>; 3] {
            let bytes =
                |n: usize, seed: usize| -> Vec<u8> { (0..n).map(|i| ((i * 131 + seed * 7919) % 251) as u8).collect() };
            [bytes(w * h, 1), bytes(w * h / 4, 2), bytes(w * h / 4, 3)]
        };
        fn view(w: usize, h: usize, p: &[Vec<u8>; 3]) -> FrameView<'_> {
            FrameView {
                format: PixelFormat::I420,
                width: w,
                height: h,
                planes: [&p[0], &p[1], &p[2]],
                strides: [w, w / 2, w / 2],
                colorimetry: Colorimetry::default(),
            }
        }
        let (p1080, p720) = (i420(1920, 1080), i420(1280, 720));
        let (f1080, f720) = (view(1920, 1080, &p1080), view(1280, 720, &p720));
        // CPU microseconds of this thread per call (its run time in
        // schedstat: waiting on a busy machine does not count; it may advance
        // in scheduler ticks, hence rounds of 0.1 s and more), the best of five.
        let cpu_ns = || -> u64 {
            let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            stat.split_whitespace().next().unwrap().parse().unwrap()
        };
        let time = |reps: usize, f: &mut dyn FnMut()| -> f64 {
            f();
            (0..5)
                .map(|_| {
                    let start = cpu_ns();
                    for _ in 0..reps {
                        f();
                    }
                    (cpu_ns() - start) as f64 / 1e3 / reps as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        let report = |name: &str, before: f64, after: f64| {
            println!("{name}: {before:.1} us per call before, {after:.1} after ({:.2}x)", before / after);
        };
        for (name, frame, (sw, sh, iw, ih), reps) in [
            ("1080p -> 640x360 in 640x384", &f1080, (640, 360, 640, 384), 100),
            ("1080p -> 1280x720 in 1280x736", &f1080, (1280, 720, 1280, 736), 30),
            ("720p -> 640x360 in 640x384", &f720, (640, 360, 640, 384), 50),
        ] {
            let g = InputGeometry { scaled_width: sw, scaled_height: sh, input_width: iw, input_height: ih };
            let mut dst = vec![0.0; 3 * iw * ih];
            let mut cache = ResizeCache::default();
            cache.prepare(frame.width, frame.height, sw, sh);
            let mut rows = Default::default();
            let before = time(reps, &mut || {
                if cache.by_rows {
                    reference::fill_input_by_rows(black_box(frame), g, ChannelOrder::Bgr, &mut dst, &cache, &mut rows);
                } else {
                    reference::fill_input(black_box(frame), g, ChannelOrder::Bgr, &mut dst, &cache);
                }
                black_box(&dst);
            });
            let after = time(reps, &mut || {
                fill_planar_input(black_box(frame), g, ChannelOrder::Bgr, &mut dst, &mut cache).unwrap();
                black_box(&dst);
            });
            report(name, before, after);
            cache.by_rows = !cache.by_rows;
            let other = time(reps, &mut || {
                fill_planar_input(black_box(frame), g, ChannelOrder::Bgr, &mut dst, &mut cache).unwrap();
                black_box(&dst);
            });
            println!("  the other path (by rows {}): {other:.1} us per call", cache.by_rows);
        }
        let mut crop = vec![0.0; 3 * 64 * 64];
        let face = (700.3, 400.7, 201.5, 201.5);
        let before = time(2000, &mut || {
            reference::fill_crop(black_box(&f1080), face, (64, 64), ChannelOrder::Bgr, &mut crop);
            black_box(&crop);
        });
        let after = time(2000, &mut || {
            fill_planar_crop(black_box(&f1080), face, (64, 64), ChannelOrder::Bgr, &mut crop).unwrap();
            black_box(&crop);
        });
        report("1080p face 201x201 -> 64x64 crop", before, after);
        let sampler = FrameSampler::new(&f1080).unwrap();
        let positions = || (0..112 * 112).map(|i| (800.0 + (i % 112) as f32 * 1.37, 300.0 + (i / 112) as f32 * 1.41));
        let before = time(100, &mut || {
            black_box(positions().map(|(x, y)| reference::rgb(black_box(&f1080), sampler.yuv, x, y)[1]).sum::<f32>());
        });
        let after = time(100, &mut || {
            black_box(positions().map(|(x, y)| sampler.rgb(black_box(x), y)[1]).sum::<f32>());
        });
        report("FrameSampler::rgb, 112x112 samples", before, after);
    }

    #[test]
    fn short_plane_is_an_error_not_a_panic() {
        let data = [0u8; 5];
        let frame = rgb_frame(2, 1, &data);
        assert!(frame.validate().is_err());
    }
}
