#![doc = "blickfang: privacy-preserving audience analytics elements for GStreamer."]
//! Every element registers under its product name (`facedetect`) and under
//! `blickfang-<name>` (`blickfang-facedetect`), because GStreamer's OpenCV
//! plugin also has a `facedetect`: with both installed, whichever plugin the
//! registry scans last owns the short name, and the prefixed name always
//! reaches ours.

use gst::glib;

pub mod facedetect;
pub mod meta;
pub mod video;

/// Prefix of the unambiguous element names.
pub const ELEMENT_PREFIX: &str = "blickfang-";

/// Registers `type_` under `name` and `blickfang-<name>`. The short name may
/// already belong to another plugin; only the prefixed name must succeed.
pub(crate) fn register_element(
    plugin: Option<&gst::Plugin>,
    name: &str,
    type_: glib::Type,
) -> Result<(), glib::BoolError> {
    gst::Element::register(plugin, &format!("{ELEMENT_PREFIX}{name}"), gst::Rank::NONE, type_)?;
    if let Err(err) = gst::Element::register(plugin, name, gst::Rank::NONE, type_) {
        gst::warning!(gst::CAT_RUST, "could not register {name} (reach it as {ELEMENT_PREFIX}{name}): {err}");
    }
    Ok(())
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    facedetect::register(Some(plugin))?;
    Ok(())
}

/// Registers the elements without a plugin file, for tests and the
/// `blickfang` binary.
pub fn register_static() -> Result<(), glib::BoolError> {
    plugin_register_static()
}

gst::plugin_define!(
    blickfang,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
