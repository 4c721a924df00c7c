//! `blurredact` (also `blickfang-blurredact`): irreversibly redacts, in
//! place, every face that the upstream analysis found, and fails closed: a
//! frame that `facedetect` did not analyse is redacted whole (or dropped)
//! unless the user explicitly opts out.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! blickfang-facedetect ! \
//!     blickfang-blurredact mode=pixelate ! autovideosink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangRedactMode")]
pub enum RedactMode {
    #[default]
    #[enum_value(name = "Blur: a smooth interpolation of a 3x3-block grid of means", nick = "blur")]
    Blur = 0,
    #[enum_value(name = "Pixelate: block means", nick = "pixelate")]
    Pixelate = 1,
    #[enum_value(name = "Solid: fill with the colour property", nick = "solid")]
    Solid = 2,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangRedactShape")]
pub enum RedactShape {
    #[default]
    #[enum_value(name = "Ellipse through the corners of the (margin-scaled) box", nick = "ellipse")]
    Ellipse = 0,
    #[enum_value(name = "The whole (margin-scaled) box", nick = "box")]
    Box = 1,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangMissingAnalysis")]
pub enum MissingAnalysis {
    #[default]
    #[enum_value(name = "Redact the whole frame", nick = "redact-frame")]
    RedactFrame = 0,
    #[enum_value(name = "Drop the frame", nick = "drop")]
    Drop = 1,
    #[enum_value(
        name = "Pass it on with only the faces it carries redacted (opt-out, logged as a warning)",
        nick = "pass"
    )]
    Pass = 2,
}

glib::wrapper! {
    pub struct BlurRedact(ObjectSubclass<imp::BlurRedact>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    crate::register_element(plugin, "blurredact", BlurRedact::static_type())
}
