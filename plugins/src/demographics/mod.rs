//! `demographics` (also `blickfang-demographics`): age and gender per tracked
//! face. Goes after `facedetect`; for each face ROI it aligns the face on its
//! landmarks in the full-resolution frame, runs the age/gender model on all
//! faces that need it in one batch, fuses the views of each track, and adds
//! a `demographics` structure to the ROI (see [`crate::meta`]). The video
//! passes through unchanged and uncopied.
//!
//! ```text
//! gst-launch-1.0 uridecodebin uri=file:///path/clip.mp4 ! videoconvert ! \
//!     blickfang-facedetect ! blickfang-demographics reclassify-interval=15 ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
mod live;

glib::wrapper! {
    pub struct Demographics(ObjectSubclass<imp::Demographics>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    crate::register_element(plugin, "demographics", Demographics::static_type())
}
