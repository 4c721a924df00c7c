//! Shared set-up for the element tests: GStreamer with our elements
//! registered statically, and the shared data and models. A missing data
//! folder, model or ONNX Runtime fails the test: nothing passes by skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstblickfang::register_static().expect("register blickfang elements");
    });
}

/// `$BLICKFANG_SHARED_DIR`, default `../shared` beside the checkout (the
/// tests are not installed, so they may know where they were built; the
/// library's own default is relative to the current directory).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("BLICKFANG_SHARED_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"), PathBuf::from)
}

/// `target/<profile>/`, where cargo puts the built binaries and the plugin
/// file: the test executable runs from its `deps/` folder.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("test executable {} is not in target/<profile>/deps/", exe.display()))
        .to_path_buf()
}

/// The `blickfang` binary (package blickfang-cli). `cargo test` does not build
/// another package's binaries: `make test` builds the workspace first.
pub fn blickfang_binary_path() -> PathBuf {
    let bin = profile_dir().join("blickfang");
    assert!(
        bin.exists(),
        "{} is not built (run `make build`, or `cargo build --release --workspace` first; make test does)",
        bin.display()
    );
    bin
}

/// The folder of the built plugin file (the cdylib is built next to the
/// binary; `cargo test` alone does not refresh it, `make test` builds first).
pub fn plugin_dir() -> PathBuf {
    let dir = profile_dir();
    assert!(
        dir.join("libgstblickfang.so").exists(),
        "libgstblickfang.so not built in {} (run `make build`, or `cargo build --release --workspace` first; make test does)",
        dir.display()
    );
    dir
}

/// A file or folder of the shared data set; panics with a clear message if missing.
pub fn data(rel: &str) -> PathBuf {
    let p = shared_dir().join("data").join(rel);
    assert!(p.exists(), "test data {} is missing (set BLICKFANG_SHARED_DIR)", p.display());
    p
}

/// Decodes an image or the first frames of a clip into raw frames of `format`.
pub fn decode_frames(path: &std::path::Path, format: &str, max: usize) -> (Vec<gst::Buffer>, gst::Caps) {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format={format} ! appsink name=sink sync=false",
        path.display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    let mut caps = None;
    while frames.len() < max {
        let Ok(sample) = sink.pull_sample() else { break };
        caps = sample.caps().map(|c| c.to_owned());
        frames.push(sample.buffer().unwrap().to_owned());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(!frames.is_empty(), "no frames decoded from {}", path.display());
    (frames, caps.unwrap())
}

/// Every buffer of a shared-data clip after `chain` (the elements between
/// videoconvert and the sink, launch syntax), in order: a whole pipeline.
pub fn clip_through(clip: &str, chain: &str) -> Vec<gst::Buffer> {
    init();
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! {chain} ! appsink name=sink sync=false",
        data(clip).display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut buffers = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        buffers.push(sample.buffer().unwrap().to_owned());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    buffers
}

/// A harness around a configured element.
pub fn harness(element: gst::Element, caps: &gst::Caps) -> gst_check::Harness {
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps(caps.clone());
    h
}

/// Pushes `frames` with 25 fps timestamps and returns what comes out.
pub fn run_frames(h: &mut gst_check::Harness, frames: &[gst::Buffer]) -> Vec<gst::Buffer> {
    let step = gst::ClockTime::from_mseconds(40);
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut b = f.copy();
            {
                let b = b.get_mut().unwrap();
                b.set_pts(step * i as u64);
                b.set_duration(step);
            }
            h.push_and_pull(b).expect("buffer out")
        })
        .collect()
}
