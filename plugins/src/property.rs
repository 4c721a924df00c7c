//! Properties the elements share: the `info` line gst-plugins-rs elements
//! write when a setting changes, and the ONNX Runtime properties.

use gst::glib;
use gst::prelude::*;

/// Logs "Changing `name` from `old` to `new`" on `cat` at INFO, if the value
/// changed. Floats print as typed (0.6, not 0.60000002384185791), strings
/// quoted and unescaped, enums as their nicks (as a launch line writes them).
pub fn log_change(
    cat: gst::DebugCategory,
    obj: &impl IsA<gst::Object>,
    name: &str,
    old: &glib::Value,
    new: &glib::Value,
) {
    if cat.threshold() < gst::DebugLevel::Info {
        return;
    }
    let (old, new) = (show(old), show(new));
    if old != new {
        gst::info!(cat, obj = obj, "Changing {name} from {old} to {new}");
    }
}

fn show(v: &glib::Value) -> String {
    if let Ok(x) = v.get::<f32>() {
        x.to_string()
    } else if let Ok(x) = v.get::<f64>() {
        x.to_string()
    } else if let Ok(x) = v.get::<Option<String>>() {
        x.map_or_else(|| "(unset)".into(), |x| format!("{x:?}"))
    } else {
        v.serialize().map_or_else(|_| format!("{v:?}"), Into::into)
    }
}

/// `onnxruntime`: the library every inference element can be pointed at.
pub fn onnxruntime() -> glib::ParamSpec {
    glib::ParamSpecString::builder("onnxruntime")
        .nick("ONNX Runtime library")
        .blurb(
            "Path of libonnxruntime.so; unset: $BLICKFANG_ORT_LIB, $ORT_DYLIB_PATH, \
                <data dir>/onnxruntime/libonnxruntime.so, then the system library path",
        )
        .mutable_ready()
        .build()
}

/// `threads`: ONNX Runtime intra-op threads of one element's models.
pub fn threads(default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("threads")
        .nick("Threads")
        .blurb("ONNX Runtime intra-op threads for this element")
        .minimum(1)
        .maximum(64)
        .default_value(default)
        .mutable_ready()
        .build()
}
