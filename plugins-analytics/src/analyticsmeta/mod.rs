//! `blickfang-analyticsmeta`: adds blickfang's faces to the buffer's
//! `GstAnalyticsRelationMeta` (GStreamer >= 1.24), for the elements that read
//! that meta (`objectdetectionoverlay`, DL Streamer, gst-plugins-rs'
//! analytics elements). Goes after `facedetect` (and `demographics`); the
//! face ROI metas stay on the buffer, the video passes through untouched.
//!
//! Per face ROI (`roi_type` `face`; `face-candidate` ROIs, which only
//! redaction uses, are not faces and are not exported):
//! - an `ODMtd` of type `face` with the ROI's box and detection confidence;
//! - a `TrackingMtd` (track id, first seen, last seen = this buffer's PTS),
//!   the face `RELATE_TO` the track;
//! - with `demographics`: a `ClsMtd` for the gender (`female`, `male`) and
//!   one for the age group, each `IS_PART_OF` the face, the face `CONTAIN`
//!   each.
//!
//! ```text
//! gst-launch-1.0 uridecodebin uri=file:///path/clip.mp4 ! videoconvert ! blickfang-facedetect ! \
//!     blickfang-demographics ! blickfang-analyticsmeta ! videoconvert ! objectdetectionoverlay ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct AnalyticsMeta(ObjectSubclass<imp::AnalyticsMeta>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// The element's name (one name, no short alias: nothing else is to be shadowed).
pub const ELEMENT_NAME: &str = "blickfang-analyticsmeta";
/// The `ODMtd` type of a face.
pub const FACE_TYPE: &str = "face";

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    gst::Element::register(plugin, ELEMENT_NAME, gst::Rank::NONE, AnalyticsMeta::static_type())
}
