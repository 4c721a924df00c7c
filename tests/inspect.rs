//! The built plugin file, as gst-inspect-1.0 sees it: it registers from
//! GST_PLUGIN_PATH, and every property is documented with its default.

mod common;

use std::process::Command;

use common::plugin_dir;

/// gst-inspect-1.0 with only our plugin (as if no other plugin providing the
/// same names were installed) and a private registry.
fn inspect(args: &[&str]) -> String {
    let registry = std::env::temp_dir().join(format!("blickfang-registry-{}.bin", std::process::id()));
    let out = Command::new("gst-inspect-1.0")
        .args(args)
        .env("GST_PLUGIN_PATH", plugin_dir())
        .env("GST_PLUGIN_SYSTEM_PATH", "")
        .env("GST_REGISTRY", &registry)
        .output()
        .expect("gst-inspect-1.0 runs");
    std::fs::remove_file(&registry).ok();
    assert!(out.status.success(), "gst-inspect-1.0 {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn assert_documented(text: &str, properties: &[&str]) {
    let lines: Vec<&str> = text.lines().collect();
    for p in properties {
        let start = lines
            .iter()
            .position(|l| l.starts_with(&format!("  {p} ")) || l.starts_with(&format!("  {p}:")))
            .unwrap_or_else(|| panic!("property {p} missing:\n{text}"));
        // The property's block: its line and the deeper-indented ones after it.
        let end = lines[start + 1..].iter().position(|l| !l.starts_with("   ")).map_or(lines.len(), |e| start + 1 + e);
        let block = lines[start..end].join("\n");
        let blurb = lines[start].split_once(':').map(|x| x.1.trim()).unwrap_or("");
        assert!(blurb.len() > 10, "property {p} has no description: {block}");
        // A string property without a default (onnxruntime: searched) says null.
        assert!(block.contains("Default:"), "property {p} has no default: {block}");
    }
}

#[test]
fn facedetect_is_inspectable_under_both_names_with_documented_properties() {
    for name in ["blickfang-facedetect", "facedetect"] {
        let text = inspect(&[name]);
        assert!(text.contains("blickfang face detection"), "{name} is not ours:\n{text}");
        assert_documented(
            &text,
            &[
                "model",
                "model-family",
                "score-threshold",
                "nms-threshold",
                "min-face-size",
                "max-faces",
                "detection-size",
                "interval",
                "track-gap",
                "threads",
                "onnxruntime",
                "post-messages",
            ],
        );
    }
}

#[test]
fn blurredact_is_inspectable_under_both_names() {
    for name in ["blickfang-blurredact", "blurredact"] {
        let text = inspect(&[name]);
        assert!(text.contains("blickfang face redaction"), "{name}:\n{text}");
        assert_documented(&text, &["mode", "shape", "margin", "color", "on-missing-analysis", "hold"]);
    }
}

#[test]
fn the_plugin_lists_every_element() {
    let text = inspect(&["blickfang"]);
    for name in ["facedetect", "blickfang-facedetect", "blurredact", "blickfang-blurredact"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("{name}:"))), "{name} missing:\n{text}");
    }
}

#[test]
fn demographics_is_inspectable_under_both_names_with_documented_properties() {
    for name in ["blickfang-demographics", "demographics"] {
        let text = inspect(&[name]);
        assert!(text.contains("blickfang demographics"), "{name} is not ours:\n{text}");
        assert_documented(
            &text,
            &[
                "model",
                "onnxruntime",
                "threads",
                "reclassify-interval",
                "freeze-after",
                "confidence-threshold",
                "min-face-size",
                "min-confidence",
                "max-yaw",
                "min-sharpness",
                "flip",
                "crop-scales",
                "calibrate",
                "age-groups",
            ],
        );
    }
}
