//! Is a face looking at the screen? A decision about geometry: the head pose
//! is compared with the direction from that face to the screen, which depends
//! on where the camera sits relative to the screen (the angular centre of
//! "looking") and, optionally, on where the face is in the camera's view.

use crate::geometry::BBox;
use crate::headpose::HeadPose;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookingConfig {
    /// Head yaw and pitch (degrees) of someone looking at the screen centre
    /// from straight in front of the camera. A camera above the screen sees
    /// viewers' heads tilted down: negative pitch.
    pub centre_yaw: f32,
    pub centre_pitch: f32,
    /// Angular radius (degrees) around that centre that counts as looking.
    pub tolerance: f32,
    /// Extra radius to stop looking, so the state does not flicker at the edge.
    pub hysteresis: f32,
    /// The camera's horizontal field of view (degrees) to correct for viewers
    /// off the camera axis; 0 disables the correction.
    pub camera_hfov: f32,
}

impl Default for LookingConfig {
    fn default() -> Self {
        Self { centre_yaw: 0.0, centre_pitch: 0.0, tolerance: 20.0, hysteresis: 5.0, camera_hfov: 0.0 }
    }
}

/// Where the face is in the frame: centre in -1..1 from the image centre
/// (x right, y down), and the frame's aspect ratio (width / height).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewPosition {
    pub x: f32,
    pub y: f32,
    pub aspect: f32,
}

/// Angular distance (degrees) between the head pose and the direction to the screen.
pub fn off_angle(pose: &HeadPose, at: &ViewPosition, c: &LookingConfig) -> f32 {
    let (mut yaw, mut pitch) = (c.centre_yaw, c.centre_pitch);
    if c.camera_hfov > 0.0 {
        let tan_h = (c.camera_hfov.to_radians() / 2.0).tan();
        let tan_v = tan_h / at.aspect.max(1e-3);
        // A viewer right of the axis turns to the camera's left (positive yaw);
        // one above it lowers the chin (negative pitch).
        yaw += (at.x * tan_h).atan().to_degrees();
        pitch += (at.y * tan_v).atan().to_degrees();
    }
    (pose.yaw - yaw).hypot(pose.pitch - pitch)
}

/// The looking state after this frame, given the state before it.
pub fn is_looking(pose: &HeadPose, at: &ViewPosition, was_looking: bool, c: &LookingConfig) -> bool {
    let limit = if was_looking { c.tolerance + c.hysteresis } else { c.tolerance };
    off_angle(pose, at, c) <= limit
}

/// Per face box: whether it overlaps the box of a larger face (someone
/// nearer the camera). Such a face is partly hidden, as behind any occluder:
/// present, its pose not read. Any overlap counts: head pose reads a crop
/// grown around the box, and in the scene tests a sliver of the other head
/// in it already turned a look into "not looking" (`out` is reused, no
/// allocation per frame once grown).
pub fn behind_a_nearer_face(boxes: &[BBox], out: &mut Vec<bool>) {
    out.clear();
    out.extend(
        boxes.iter().enumerate().map(|(i, b)| {
            boxes.iter().enumerate().any(|(j, o)| j != i && o.area() > b.area() && b.intersection(o) > 0.0)
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENTRE: ViewPosition = ViewPosition { x: 0.0, y: 0.0, aspect: 16.0 / 9.0 };

    fn pose(yaw: f32, pitch: f32) -> HeadPose {
        HeadPose { yaw, pitch, roll: 0.0 }
    }

    #[test]
    fn only_a_face_overlapping_a_larger_one_is_behind() {
        let front = BBox::new(100.0, 100.0, 100.0, 120.0);
        let mut behind = Vec::new();
        // A smaller face partly under the larger one: behind; the larger one is not.
        behind_a_nearer_face(&[front, BBox::new(190.0, 110.0, 90.0, 100.0)], &mut behind);
        assert_eq!(behind, [false, true]);
        // Two people side by side, their boxes apart: both read.
        behind_a_nearer_face(&[front, BBox::new(205.0, 110.0, 90.0, 100.0)], &mut behind);
        assert_eq!(behind, [false, false]);
        // Overlapping faces of the same size: neither is nearer.
        behind_a_nearer_face(&[front, BBox::new(150.0, 100.0, 100.0, 120.0)], &mut behind);
        assert_eq!(behind, [false, false]);
    }

    #[test]
    fn hysteresis_holds_the_state_at_the_edge() {
        let c = LookingConfig::default();
        assert!(is_looking(&pose(15.0, 0.0), &CENTRE, false, &c));
        assert!(!is_looking(&pose(22.0, 0.0), &CENTRE, false, &c));
        assert!(is_looking(&pose(22.0, 0.0), &CENTRE, true, &c));
        assert!(!is_looking(&pose(26.0, 0.0), &CENTRE, true, &c));
    }

    #[test]
    fn camera_above_the_screen_shifts_the_centre() {
        let c = LookingConfig { centre_pitch: -15.0, ..LookingConfig::default() };
        assert!(is_looking(&pose(0.0, -15.0), &CENTRE, false, &c));
        assert!(!is_looking(&pose(0.0, 10.0), &CENTRE, false, &c));
    }

    #[test]
    fn off_axis_viewers_turn_toward_the_camera() {
        let c = LookingConfig { camera_hfov: 90.0, ..LookingConfig::default() };
        let right_edge = ViewPosition { x: 1.0, ..CENTRE };
        // At the right edge of a 90 degree view the camera is 45 degrees to the viewer's left.
        assert!(is_looking(&pose(45.0, 0.0), &right_edge, false, &c));
        assert!(!is_looking(&pose(0.0, 0.0), &right_edge, false, &c));
    }
}
