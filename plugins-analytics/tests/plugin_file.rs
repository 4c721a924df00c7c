//! The built plugin file loads on this GStreamer (>= 1.24) and provides the
//! element, beside the main plugin file (which its file also carries, linked
//! in for the meta readers): run with GST_PLUGIN_PATH at a folder holding
//! both files (tests/analytics_meta.rs does).

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
    // The main plugin, from its own file, is unaffected by the copy of its code in ours.
    let facedetect =
        gst::ElementFactory::find("blickfang-facedetect").expect("the main plugin's file in GST_PLUGIN_PATH");
    assert_eq!(facedetect.plugin().unwrap().plugin_name(), "blickfang");
    facedetect.create().build().expect("a facedetect");
}
