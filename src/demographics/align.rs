//! Face crops for the age/gender models: a similarity transform that puts
//! the five landmarks where the model expects them, and a sampler that warps
//! straight from the frame (any of our pixel formats) into one NHWC slot of
//! the model's input tensor. Also the view-quality measures that decide
//! whether a view is worth classifying: sharpness and head yaw.

use crate::frame::FrameSampler;
use crate::geometry::{BBox, Landmarks};

/// Where YuNet's five landmarks lie, on average, in a UTKFace chip (unit
/// square; right eye, left eye, nose tip, right and left mouth corner, image
/// left first), measured on the 931 chips of the UTKFace dev split where
/// YuNet finds the face. The HSE age/gender model was trained on crops laid
/// out like these chips (it scores best on them: see the README), so aligning
/// every face to this layout shows it what it expects.
pub const CHIP_TEMPLATE: Landmarks =
    [[0.2884, 0.2911], [0.6849, 0.2964], [0.4753, 0.5045], [0.3148, 0.6795], [0.6450, 0.6843]];

/// x' = a·x − b·y + tx, y' = b·x + a·y + ty: rotation, uniform scale and shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    #[inline]
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [self.a * p[0] - self.b * p[1] + self.tx, self.b * p[0] + self.a * p[1] + self.ty]
    }

    /// The scale factor (destination pixels per source pixel).
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    pub fn inverse(&self) -> Option<Similarity> {
        let det = self.a * self.a + self.b * self.b;
        if !(det.is_finite() && det > 1e-12) {
            return None;
        }
        let (a, b) = (self.a / det, -self.b / det);
        Some(Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) })
    }

    /// The least-squares similarity mapping `src` onto `dst` (Umeyama, no
    /// reflection); `None` when the source points coincide.
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let mean = |p: &[[f32; 2]]| {
            let s = p[..n].iter().fold([0.0f64; 2], |acc, q| [acc[0] + q[0] as f64, acc[1] + q[1] as f64]);
            [s[0] / n as f64, s[1] / n as f64]
        };
        let (sm, dm) = (mean(src), mean(dst));
        let (mut norm, mut dot, mut cross) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..n {
            let (sx, sy) = (src[i][0] as f64 - sm[0], src[i][1] as f64 - sm[1]);
            let (dx, dy) = (dst[i][0] as f64 - dm[0], dst[i][1] as f64 - dm[1]);
            norm += sx * sx + sy * sy;
            dot += sx * dx + sy * dy;
            cross += sx * dy - sy * dx;
        }
        if !(norm.is_finite() && norm > 1e-9) {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        let tx = dm[0] - (a * sm[0] - b * sm[1]);
        let ty = dm[1] - (b * sm[0] + a * sm[1]);
        let s = Similarity { a: a as f32, b: b as f32, tx: tx as f32, ty: ty as f32 };
        (s.scale() > 1e-6 && s.tx.is_finite() && s.ty.is_finite()).then_some(s)
    }
}

/// What a crop is aligned on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaceGeometry {
    /// The detector's five landmarks (frame pixels).
    Landmarks(Landmarks),
    /// Only a box: it is taken as a face chip laid out like UTKFace's (the
    /// whole image of a folder of face crops).
    Box(BBox),
}

impl FaceGeometry {
    /// The landmarks, or where a chip-shaped box puts them.
    pub fn points(&self) -> Landmarks {
        match self {
            FaceGeometry::Landmarks(l) => *l,
            FaceGeometry::Box(b) => CHIP_TEMPLATE.map(|t| [b.x + t[0] * b.w, b.y + t[1] * b.h]),
        }
    }
}

/// The template in a `size` x `size` crop: `scale` 1 is a UTKFace chip,
/// larger values show more around the face.
pub fn template_in_crop(size: usize, scale: f32) -> Landmarks {
    let s = size as f32;
    CHIP_TEMPLATE.map(|t| [((t[0] - 0.5) / scale + 0.5) * s, ((t[1] - 0.5) / scale + 0.5) * s])
}

/// Frame pixels → crop pixels for a face.
pub fn crop_transform(face: &FaceGeometry, size: usize, scale: f32) -> Option<Similarity> {
    Similarity::estimate(&face.points(), &template_in_crop(size, scale))
}

/// How a model wants its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelEncoding {
    /// B, G, R minus the ImageNet means 103.939, 116.779, 123.68 (Keras
    /// "caffe" preprocessing; the HSE model).
    BgrMinusMean,
    /// B, G, R in 0..255 (SSR-Net, trained on OpenCV-read images).
    Bgr,
    /// Grey (0.2989 R + 0.587 G + 0.114 B) mapped to [-1, 1] (oarriaga's
    /// mini-Xception).
    GreySigned,
}

impl PixelEncoding {
    pub fn channels(&self) -> usize {
        match self {
            PixelEncoding::GreySigned => 1,
            _ => 3,
        }
    }
}

/// One model input: a square crop of `size` pixels at template `scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CropSpec {
    pub size: usize,
    pub scale: f32,
    pub encoding: PixelEncoding,
}

impl CropSpec {
    /// Values one face takes in the NHWC input.
    pub fn len(&self) -> usize {
        self.size * self.size * self.encoding.channels()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sub-samples per axis so that shrinking a big face does not alias: about
/// one per source pixel, at most 4.
fn supersampling(to_crop: &Similarity) -> usize {
    let per_crop_px = 1.0 / to_crop.scale().max(1e-6);
    (per_crop_px.ceil() as usize).clamp(1, 4)
}

/// Mean R, G, B of crop pixel (u, v): bilinear, averaged over k x k sub-samples.
#[inline]
fn crop_pixel(sampler: &FrameSampler<'_, '_>, inv: &Similarity, u: f32, v: f32, k: usize) -> [f32; 3] {
    if k == 1 {
        let p = inv.apply([u, v]);
        return sampler.rgb(p[0], p[1]);
    }
    let mut acc = [0.0f32; 3];
    let step = 1.0 / k as f32;
    for j in 0..k {
        for i in 0..k {
            let (du, dv) = ((i as f32 + 0.5) * step - 0.5, (j as f32 + 0.5) * step - 0.5);
            let q = inv.apply([u + du, v + dv]);
            let p = sampler.rgb(q[0], q[1]);
            acc[0] += p[0];
            acc[1] += p[1];
            acc[2] += p[2];
        }
    }
    let n = (k * k) as f32;
    [acc[0] / n, acc[1] / n, acc[2] / n]
}

const IMAGENET_BGR_MEAN: [f32; 3] = [103.939, 116.779, 123.68];

/// Writes the crop of a face into `dst` (one NHWC slot, `spec.len()` values),
/// mirrored left-right when `flip`. `to_crop` maps frame to crop pixels.
pub fn fill_crop(sampler: &FrameSampler<'_, '_>, to_crop: &Similarity, spec: &CropSpec, flip: bool, dst: &mut [f32]) {
    let Some(inv) = to_crop.inverse() else {
        dst.fill(0.0);
        return;
    };
    let k = supersampling(to_crop);
    let size = spec.size;
    let ch = spec.encoding.channels();
    for v in 0..size {
        for u in 0..size {
            let su = if flip { size - 1 - u } else { u };
            let [r, g, b] = crop_pixel(sampler, &inv, su as f32, v as f32, k);
            let o = (v * size + u) * ch;
            match spec.encoding {
                PixelEncoding::BgrMinusMean => {
                    dst[o] = b - IMAGENET_BGR_MEAN[0];
                    dst[o + 1] = g - IMAGENET_BGR_MEAN[1];
                    dst[o + 2] = r - IMAGENET_BGR_MEAN[2];
                }
                PixelEncoding::Bgr => {
                    dst[o] = b;
                    dst[o + 1] = g;
                    dst[o + 2] = r;
                }
                PixelEncoding::GreySigned => {
                    dst[o] = (0.2989 * r + 0.587 * g + 0.114 * b) / 127.5 - 1.0;
                }
            }
        }
    }
}

/// Writes `src` (one NHWC crop of `size` x `size` pixels of `ch` values)
/// mirrored left-right into `dst`: the very values [`fill_crop`] with `flip`
/// gives, without sampling the frame again.
pub fn mirror_crop(src: &[f32], size: usize, ch: usize, dst: &mut [f32]) {
    for (src_row, dst_row) in src.chunks_exact(size * ch).zip(dst.chunks_exact_mut(size * ch)) {
        for (s, d) in src_row.chunks_exact(ch).rev().zip(dst_row.chunks_exact_mut(ch)) {
            d.copy_from_slice(s);
        }
    }
}

/// Side of the grey crop the sharpness is measured on.
const SHARPNESS_SIZE: usize = 64;

/// How much fine detail a face view has: the variance of the Laplacian of a
/// 64 x 64 grey chip of the face, over its intensity variance (+25, so that
/// flat noise does not count). Independent of the face's size in the frame
/// and of contrast. Sharp UTKFace chips score 0.1 to 0.8 (median 0.25); a
/// Gaussian blur of sigma 4.5 pixels on the 200-pixel chip (1.5 pixels of the
/// 64-pixel one) brings the median to 0.015, sigma 6 to 0.007, where the
/// age/gender model starts to lose accuracy. 1 % of the FairFace dev faces
/// (upscaled small photos) score below 0.008.
pub fn sharpness(sampler: &FrameSampler<'_, '_>, face: &FaceGeometry) -> f32 {
    let n = SHARPNESS_SIZE;
    let Some(to_crop) = crop_transform(face, n, 1.0) else { return 0.0 };
    let Some(inv) = to_crop.inverse() else { return 0.0 };
    let k = supersampling(&to_crop);
    let mut grey = vec![0.0f32; n * n];
    for v in 0..n {
        for u in 0..n {
            let [r, g, b] = crop_pixel(sampler, &inv, u as f32, v as f32, k);
            grey[v * n + u] = 0.299 * r + 0.587 * g + 0.114 * b;
        }
    }
    sharpness_of_grey(&grey, n)
}

/// The sharpness measure of a square grey image (see [`sharpness`]).
pub fn sharpness_of_grey(grey: &[f32], n: usize) -> f32 {
    let var = |xs: &mut dyn Iterator<Item = f32>| {
        let (mut s, mut s2, mut c) = (0.0f64, 0.0f64, 0usize);
        for x in xs {
            s += x as f64;
            s2 += (x as f64) * (x as f64);
            c += 1;
        }
        if c == 0 { 0.0 } else { (s2 / c as f64 - (s / c as f64).powi(2)).max(0.0) }
    };
    let intensity = var(&mut grey.iter().copied());
    let mut lap = (1..n - 1).flat_map(|y| (1..n - 1).map(move |x| (x, y))).map(|(x, y)| {
        4.0 * grey[y * n + x]
            - grey[(y - 1) * n + x]
            - grey[(y + 1) * n + x]
            - grey[y * n + x - 1]
            - grey[y * n + x + 1]
    });
    (var(&mut lap) / (intensity + 25.0)) as f32
}

/// Head yaw in degrees (0 = frontal, sign dropped) estimated from the five
/// landmarks: the nose tip's offset from the eye midline, along the eye line,
/// in eye distances (r), gives yaw ≈ atan(2r). On the AFLW2000-3D images in
/// the shared data this is within about 5° of the labels up to 45°; beyond
/// that the detector's landmarks themselves become unreliable.
pub fn yaw_degrees(l: &Landmarks) -> f32 {
    let (ex, ey) = (l[1][0] - l[0][0], l[1][1] - l[0][1]);
    let d2 = ex * ex + ey * ey;
    if d2.is_nan() || d2 <= 1e-6 {
        return 90.0;
    }
    let mid = [(l[0][0] + l[1][0]) / 2.0, (l[0][1] + l[1][1]) / 2.0];
    let r = ((l[2][0] - mid[0]) * ex + (l[2][1] - mid[1]) * ey) / d2;
    (2.0 * r.abs()).atan().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Colorimetry, FrameView, PixelFormat};

    fn close(a: [f32; 2], b: [f32; 2], tol: f32) -> bool {
        (a[0] - b[0]).abs() <= tol && (a[1] - b[1]).abs() <= tol
    }

    #[test]
    fn estimate_recovers_a_known_similarity() {
        let t = Similarity { a: 0.8, b: 0.3, tx: 12.0, ty: -4.0 };
        let src = [[10.0, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [45.0, 61.0]];
        let dst = src.map(|p| t.apply(p));
        let e = Similarity::estimate(&src, &dst).unwrap();
        for (s, d) in src.iter().zip(&dst) {
            assert!(close(e.apply(*s), *d, 1e-3));
        }
        let inv = e.inverse().unwrap();
        assert!(close(inv.apply(e.apply([7.0, 9.0])), [7.0, 9.0], 1e-3));
        assert!(Similarity::estimate(&[[1.0, 1.0]; 5], &dst).is_none());
    }

    #[test]
    fn chip_box_maps_to_the_template() {
        // A 200 x 200 chip at scale 1 into a 200 crop is the identity.
        let t = crop_transform(&FaceGeometry::Box(BBox::new(0.0, 0.0, 200.0, 200.0)), 200, 1.0).unwrap();
        assert!(close(t.apply([37.0, 150.0]), [37.0, 150.0], 1e-3), "{t:?}");
        // Scale 2 halves the face around the crop centre.
        let t = crop_transform(&FaceGeometry::Box(BBox::new(0.0, 0.0, 200.0, 200.0)), 200, 2.0).unwrap();
        assert!(close(t.apply([0.0, 0.0]), [50.0, 50.0], 1e-3), "{t:?}");
    }

    fn gradient_frame(w: usize, h: usize) -> Vec<u8> {
        (0..h).flat_map(|y| (0..w).flat_map(move |x| [x as u8, y as u8, 100u8])).collect()
    }

    #[test]
    fn crop_samples_the_frame_in_bgr_and_flips() {
        let data = gradient_frame(100, 80);
        let frame = FrameView {
            format: PixelFormat::Rgb,
            width: 100,
            height: 80,
            planes: [&data, &[], &[]],
            strides: [300, 0, 0],
            colorimetry: Colorimetry::default(),
        };
        let sampler = FrameSampler::new(&frame).unwrap();
        // Identity transform: crop pixel (u, v) = frame pixel (u, v).
        let id = Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };
        let spec = CropSpec { size: 8, scale: 1.0, encoding: PixelEncoding::Bgr };
        let mut dst = vec![0.0; spec.len()];
        fill_crop(&sampler, &id, &spec, false, &mut dst);
        let px = |d: &[f32], u: usize, v: usize| [d[(v * 8 + u) * 3], d[(v * 8 + u) * 3 + 1], d[(v * 8 + u) * 3 + 2]];
        assert_eq!(px(&dst, 3, 5), [100.0, 5.0, 3.0]);
        fill_crop(&sampler, &id, &spec, true, &mut dst);
        assert_eq!(px(&dst, 0, 2), [100.0, 2.0, 7.0]);
        // A mirrored copy of the unflipped crop is the flipped crop, bit for bit (sub-pixel, supersampled).
        let turned = Similarity { a: 0.23, b: 0.05, tx: 1.3, ty: -0.7 };
        let (mut view, mut flipped, mut mirrored) =
            (vec![0.0; spec.len()], vec![0.0; spec.len()], vec![0.0; spec.len()]);
        fill_crop(&sampler, &turned, &spec, false, &mut view);
        fill_crop(&sampler, &turned, &spec, true, &mut flipped);
        mirror_crop(&view, spec.size, 3, &mut mirrored);
        assert_eq!(mirrored, flipped);
        // Outside the frame: the edge is replicated.
        let shifted = Similarity { a: 1.0, b: 0.0, tx: 4.0, ty: 4.0 };
        fill_crop(&sampler, &shifted, &spec, false, &mut dst);
        assert_eq!(px(&dst, 0, 0), [100.0, 0.0, 0.0]);
        let grey = CropSpec { size: 8, scale: 1.0, encoding: PixelEncoding::GreySigned };
        let mut g = vec![0.0; grey.len()];
        fill_crop(&sampler, &id, &grey, false, &mut g);
        assert!(g.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn sharpness_drops_with_blur() {
        let n = 64;
        let checker: Vec<f32> =
            (0..n * n).map(|i| if (i % n / 4 + i / n / 4) % 2 == 0 { 50.0 } else { 200.0 }).collect();
        let flat = vec![120.0; n * n];
        // A horizontal ramp: smooth, no fine detail.
        let ramp: Vec<f32> = (0..n * n).map(|i| (i % n) as f32 * 3.0).collect();
        assert!(sharpness_of_grey(&checker, n) > 0.1);
        assert_eq!(sharpness_of_grey(&flat, n), 0.0);
        assert!(sharpness_of_grey(&ramp, n) < 0.001);
    }

    #[test]
    fn yaw_from_landmarks() {
        let frontal = [[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]];
        assert!(yaw_degrees(&frontal) < 1.0);
        let mut turned = frontal;
        turned[2][0] = 80.0; // nose under the left eye: r = 0.5 → 45°
        assert!((yaw_degrees(&turned) - 45.0).abs() < 0.5);
        assert_eq!(yaw_degrees(&[[1.0, 1.0]; 5]), 90.0);
    }
}
