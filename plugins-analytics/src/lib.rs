#![doc = "blickfang-analyticsmeta: blickfang's face metadata as GStreamer's analytics relation meta (>= 1.24)."]
//! A plugin of its own (`blickfanganalytics`), built only where GStreamer
//! >= 1.24 is installed: the main plugin must keep loading on 1.22, which has
//! no libgstanalytics. See docs/analytics-meta.md for the mapping.

use gst::glib;

pub mod analyticsmeta;
pub mod tracks;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    analyticsmeta::register(Some(plugin))
}

/// Registers the element without a plugin file, for tests.
pub fn register_static() -> Result<(), glib::BoolError> {
    plugin_register_static()
}

gst::plugin_define!(
    blickfanganalytics,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
