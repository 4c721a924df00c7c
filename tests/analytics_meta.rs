//! GStreamer's analytics relation meta: the converter `blickfang-analyticsmeta`
//! (plugins-analytics/, GStreamer >= 1.24) built and run on a real GStreamer
//! 1.26, inside a Debian 13 root (scripts/trixie-root.sh: made once with
//! mmdebstrap and cached outside the clone, with the host's Rust toolchain
//! and a cached target folder mounted). Inside, plugins-analytics' own test
//! runs a real clip through facedetect ! demographics ! analyticsmeta !
//! objectdetectionoverlay and checks every face ROI against the relation meta.
//! Here, on Debian 12: the default plugin links no libgstanalytics.

mod common;

use std::process::Command;
use std::time::Instant;

const ROOT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/trixie-root.sh");
const MANIFEST: &str = "plugins-analytics/Cargo.toml";

fn run(what: &str, cmd: &mut Command) {
    let start = Instant::now();
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    eprintln!("{what}: {:.0} s", start.elapsed().as_secs_f64());
    assert!(status.success(), "{what} failed ({status}); see the output above");
}

#[test]
fn default_plugin_does_not_link_libgstanalytics() {
    // The main plugin must keep loading on GStreamer 1.22, which has no libgstanalytics.
    let so = common::plugin_dir().join("libgstblickfang.so");
    let bytes = std::fs::read(&so).unwrap();
    let needle = b"libgstanalytics";
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "{} names libgstanalytics: the default build must not need GStreamer >= 1.24",
        so.display()
    );
}

#[test]
fn converter_builds_and_runs_on_gstreamer_1_26() {
    let shared = common::shared_dir();
    assert!(shared.join("models").is_dir(), "no models in {}", shared.join("models").display());
    let ort = blickfang::runtime::find_onnxruntime(None);
    assert!(ort.exists(), "ONNX Runtime not found ({}): run scripts/setup.sh", ort.display());
    let root = env!("CARGO_MANIFEST_DIR");
    // Crates are fetched here, where the network is; the root builds offline from the same cache.
    run(
        "cargo fetch (plugins-analytics)",
        Command::new(env!("CARGO")).args(["fetch", "--locked", "--manifest-path", MANIFEST]).current_dir(root),
    );
    let in_root = |what: &str, script: &str| {
        run(
            what,
            Command::new("bash")
                .arg(ROOT_SCRIPT)
                .args(["run", "bash", "-euc", script])
                .env("BLICKFANG_SHARED_DIR", &shared)
                .env("BLICKFANG_ORT_LIB", &ort)
                .current_dir(root),
        )
    };
    in_root("Debian 13 root", "pkg-config --modversion gstreamer-1.0 gstreamer-analytics-1.0");
    // build (the plugin file too: cargo test does not link the cdylib), then the tests; the plugin
    // file is loaded beside the main one (cargo builds that, as a dependency, into deps/).
    in_root(
        "build and test plugins-analytics inside the root",
        &format!(
            "cargo build --release --locked --offline --manifest-path {MANIFEST}
             cargo test --release --locked --offline --manifest-path {MANIFEST} --lib --test relation_meta -- --nocapture
             plugins=$(mktemp -d)
             cp $CARGO_TARGET_DIR/release/libgstblickfanganalytics.so $CARGO_TARGET_DIR/release/deps/libgstblickfang.so $plugins/
             GST_PLUGIN_PATH=$plugins cargo test --release --locked --offline --manifest-path {MANIFEST} --test plugin_file"
        ),
    );
}
