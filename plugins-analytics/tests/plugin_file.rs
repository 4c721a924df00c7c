//! The built plugin file loads on this GStreamer (>= 1.24) and provides the
//! element: run with GST_PLUGIN_PATH at the target folder (tests/analytics_meta.rs does).

use gst::prelude::*;

#[test]
fn plugin_file_provides_the_element() {
    gst::init().unwrap();
    assert!(gst::version() >= (1, 24, 0, 0), "GStreamer {:?} has no analytics meta", gst::version());
    let factory = gst::ElementFactory::find("blickfang-analyticsmeta")
        .expect("blickfang-analyticsmeta not found: is GST_PLUGIN_PATH the folder of libgstblickfanganalytics.so?");
    let plugin = factory.plugin().expect("the element's plugin");
    assert_eq!(plugin.plugin_name(), "blickfanganalytics");
    assert!(plugin.filename().is_some(), "loaded from a file, not registered statically");
    factory.create().build().expect("an element");
}
