//! Head pose (yaw, pitch, roll in degrees) of a face: from FSA-Net (two
//! models averaged) or, as a cheap fallback, from the 5 landmarks alone.
//!
//! Conventions follow AFLW2000-3D: yaw > 0 turns the face toward the
//! viewer's left, pitch > 0 is chin up, roll > 0 tilts the head clockwise as
//! the viewer sees it (right eye, image-left, higher). (0, 0, 0) faces the camera.

mod fsanet;
pub mod interval;
pub mod pair;

pub use fsanet::FsaNet;
pub use interval::{Plan, PoseInterval};

use crate::geometry::Landmarks;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// A 3D mean face for the 5 landmarks in their image order (x right as the
/// camera sees it, y up, z toward the camera; units of the generic head model
/// used with OpenCV's solvePnP tutorials: eye centres between the eye corners
/// (+-225 / +-75, 170, -135), nose tip at the origin, mouth corners
/// (+-150, -150, -125)).
const MEAN_FACE: [[f32; 3]; 5] = [
    [-150.0, 170.0, -135.0],  // right eye (image-left)
    [150.0, 170.0, -135.0],   // left eye
    [0.0, 0.0, 0.0],          // nose tip
    [-150.0, -150.0, -125.0], // right mouth corner
    [150.0, -150.0, -125.0],  // left mouth corner
];

/// The mean face rotated by `yaw` then `pitch`, projected orthographically
/// (x right, y up).
fn project(yaw: f32, pitch: f32) -> [(f32, f32); 5] {
    let (sy, cy) = yaw.to_radians().sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    MEAN_FACE.map(|p| {
        // Positive yaw turns the face to the viewer's left, positive pitch lifts the chin.
        let x = p[0] * cy - p[2] * sy;
        let z = p[0] * sy + p[2] * cy;
        (x, p[1] * cp + z * sp)
    })
}

fn centred(pts: &[(f32, f32); 5]) -> [(f32, f32); 5] {
    let (mx, my) = pts.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0 / 5.0, a.1 + p.1 / 5.0));
    pts.map(|p| (p.0 - mx, p.1 - my))
}

/// Best similarity transform from `model` to `observed` (both centred):
/// returns the rotation (radians, counter-clockwise with y up) and the
/// remaining squared error relative to the observed spread.
fn procrustes(model: &[(f32, f32); 5], observed: &[(f32, f32); 5]) -> (f32, f32) {
    let (mut a, mut b, mut mm, mut oo) = (0.0, 0.0, 0.0, 0.0);
    for (m, o) in model.iter().zip(observed) {
        a += m.0 * o.0 + m.1 * o.1;
        b += m.0 * o.1 - m.1 * o.0;
        mm += m.0 * m.0 + m.1 * m.1;
        oo += o.0 * o.0 + o.1 * o.1;
    }
    let theta = b.atan2(a);
    // Residual of the optimal scaled rotation: |o|^2 - (a^2 + b^2) / |m|^2.
    let residual = (oo - (a * a + b * b) / mm.max(1e-6)).max(0.0) / oo.max(1e-6);
    (theta, residual)
}

/// Nose-tip depth in front of the eye-mouth plane, in eye distances
/// (anthropometric: about 32 mm for 63 mm between the pupils).
const NOSE_DEPTH_PER_EYE_DISTANCE: f32 = 0.5;
/// Nose-tip depth in eye-to-mouth heights, and where a frontal nose tip lies
/// along the eye-to-mouth axis (both from the mean face).
const NOSE_DEPTH_PER_FACE_HEIGHT: f32 = 130.0 / 320.0;
const FRONTAL_NOSE_POSITION: f32 = 170.0 / 320.0;

/// Head pose from the 5 landmarks. Roll is the rotation of the best
/// similarity fit of the mean face (searched over yaw and pitch); yaw and
/// pitch follow from how far the nose tip, standing out of the face plane,
/// sits off the eye-to-mouth axis (yaw) and along it (pitch).
pub fn from_landmarks(l: &Landmarks) -> HeadPose {
    let observed = centred(&std::array::from_fn(|k| (l[k][0], -l[k][1])));
    let mut best = (0.0f32, 0.0f32, 0.0f32, f32::MAX);
    let (mut cy, mut cp, mut step) = (0.0f32, 0.0f32, 8.0f32);
    while step >= 0.5 {
        for i in -8..=8 {
            for j in -8..=8 {
                let (yaw, pitch) = (cy + i as f32 * step, cp + j as f32 * step);
                if yaw.abs() > 89.0 || pitch.abs() > 89.0 {
                    continue;
                }
                let (theta, e) = procrustes(&centred(&project(yaw, pitch)), &observed);
                if e < best.3 {
                    best = (yaw, pitch, theta, e);
                }
            }
        }
        (cy, cp) = (best.0, best.1);
        step /= 4.0;
    }
    // Clockwise as the viewer sees it is a negative rotation with y up.
    let roll = -best.2.to_degrees();
    // Nose offset relative to the eye-mouth axis (y up).
    let p = |k: usize| (l[k][0], -l[k][1]);
    let eyes = ((p(0).0 + p(1).0) / 2.0, (p(0).1 + p(1).1) / 2.0);
    let mouth = ((p(3).0 + p(4).0) / 2.0, (p(3).1 + p(4).1) / 2.0);
    let axis = (mouth.0 - eyes.0, mouth.1 - eyes.1);
    let axis_len2 = (axis.0 * axis.0 + axis.1 * axis.1).max(1e-6);
    let nose = (p(2).0 - eyes.0, p(2).1 - eyes.1);
    let along = (nose.0 * axis.0 + nose.1 * axis.1) / axis_len2;
    // Signed distance of the nose left of the axis (the axis points down the face).
    let across = (nose.0 * axis.1 - nose.1 * axis.0) / axis_len2.sqrt();
    let eye_distance = (p(1).0 - p(0).0).hypot(p(1).1 - p(0).1).max(1e-3);
    // The nose moving left means the face turned to the viewer's left: positive yaw.
    let yaw = (across / eye_distance / NOSE_DEPTH_PER_EYE_DISTANCE).atan().to_degrees();
    let pitch = ((FRONTAL_NOSE_POSITION - along) / NOSE_DEPTH_PER_FACE_HEIGHT).atan().to_degrees();
    HeadPose { yaw, pitch, roll }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Landmarks of the mean face at a pose, in image coordinates.
    fn landmarks(yaw: f32, pitch: f32) -> Landmarks {
        let p = project(yaw, pitch);
        std::array::from_fn(|k| [200.0 + 0.3 * p[k].0, 200.0 - 0.3 * p[k].1])
    }

    #[test]
    fn frontal_face_is_zero() {
        let p = from_landmarks(&landmarks(0.0, 0.0));
        assert!(p.yaw.abs() < 0.5 && p.pitch.abs() < 0.5 && p.roll.abs() < 0.5, "{p:?}");
    }

    #[test]
    fn turned_faces_have_the_right_signs() {
        for (yaw, pitch) in [(30.0, 0.0), (-45.0, 10.0), (10.0, -20.0)] {
            let p = from_landmarks(&landmarks(yaw, pitch));
            assert!(p.yaw.signum() == yaw.signum() && (p.yaw - yaw).abs() < 15.0, "{yaw} {pitch}: {p:?}");
            assert!(p.roll.abs() < 3.0, "{yaw} {pitch}: {p:?}");
        }
        assert!(from_landmarks(&landmarks(0.0, 20.0)).pitch > 5.0);
    }

    #[test]
    fn roll_from_the_eye_line() {
        // Right eye (image-left) higher: clockwise as seen, positive roll.
        let mut l = landmarks(0.0, 0.0);
        let (s, c) = 10f32.to_radians().sin_cos();
        for p in &mut l {
            let (x, y) = (p[0] - 200.0, p[1] - 200.0);
            *p = [200.0 + x * c - y * s, 200.0 + x * s + y * c];
        }
        let p = from_landmarks(&l);
        assert!((p.roll - 10.0).abs() < 0.5 && p.yaw.abs() < 1.0, "{p:?}");
    }
}
