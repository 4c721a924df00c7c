#![doc = "blickfang: privacy-preserving audience analytics elements for GStreamer."]
//! Every element registers under its product name (`facedetect`) and under
//! `blickfang-<name>` (`blickfang-facedetect`), because GStreamer's OpenCV
//! plugin also has a `facedetect`: with both installed, whichever plugin the
//! registry scans last owns the short name, and the prefixed name always
//! reaches ours.

use gst::glib;
use gst::prelude::*;

pub mod blurredact;
pub mod demographics;
pub mod facedetect;
pub mod gazedwell;
pub mod meta;
pub mod metajson;
pub mod mqttsink;
pub(crate) mod property;
pub mod video;
pub(crate) mod worker;

/// Prefix of the unambiguous element names.
pub const ELEMENT_PREFIX: &str = "blickfang-";

/// Registers `type_` as `blickfang-<name>` and, unless another plugin in the
/// registry already provides it, as `name`. Taking a name from another
/// plugin would make that element vanish (GStreamer keeps one feature per
/// name), so we never do; the prefixed name always reaches ours.
pub(crate) fn register_element(
    plugin: Option<&gst::Plugin>,
    name: &str,
    type_: glib::Type,
) -> Result<(), glib::BoolError> {
    gst::Element::register(plugin, &format!("{ELEMENT_PREFIX}{name}"), gst::Rank::NONE, type_)?;
    let taken = gst::Registry::get()
        .lookup_feature(name)
        .and_then(|f| f.plugin_name())
        .is_some_and(|owner| owner != "blickfang");
    if taken {
        gst::info!(gst::CAT_RUST, "{name} belongs to another plugin; use {ELEMENT_PREFIX}{name}");
    } else if let Err(err) = gst::Element::register(plugin, name, gst::Rank::NONE, type_) {
        gst::warning!(gst::CAT_RUST, "could not register {name} (use {ELEMENT_PREFIX}{name}): {err}");
    }
    Ok(())
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // SAFETY: ONNX Runtime's telemetry must be off before any element starts
    // it (runtime::disable_telemetry says why the variable is the only way).
    // GStreamer calls plugin_init once per process, under its plugin-loading
    // lock and before any of our elements exists: none of our threads runs
    // and ONNX Runtime (the variable's reader) is not loaded. gst-launch and
    // the usual applications load plugins from the main thread while building
    // the pipeline, before streaming threads start. An application that
    // already runs threads calling getenv when it loads plugins sets
    // ORT_DISABLE_TELEMETRY=1 itself before starting them (the edge service's
    // unit does); then nothing is written here.
    unsafe { blickfang::runtime::disable_telemetry() };
    meta::register();
    facedetect::register(Some(plugin))?;
    demographics::register(Some(plugin))?;
    blurredact::register(Some(plugin))?;
    metajson::register(Some(plugin))?;
    mqttsink::register(Some(plugin))?;
    gazedwell::register(Some(plugin))?;
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
