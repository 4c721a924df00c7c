//! Many cameras, one process: every element instance shares one ONNX Runtime
//! session per (model file, threads), and sharing changes no result.
//!
//! One test in this file: the session counters are process-wide, and tests
//! in one binary run in parallel.

mod common;

use std::collections::BTreeMap;

use gst::prelude::*;

use blickfang::runtime;
use gstblickfang::meta;

const CLIP: &str = "videos_people/intel_preview_head-pose-face-detection-female-and-male.transcoded.mp4";
const CHAIN: &str = "blickfang-facedetect ! blickfang-demographics ! blickfang-gazedwell";
/// YuNet, FaceRes and FSA-Net's pair file (both variants in one, gazedwell's default).
const MODELS: usize = 3;
/// Users per pipeline: one per model, plus facedetect's privacy pass (`redact-detection-size`),
/// a second user of the detector's session (no session of its own; it fills the session's input).
const USERS_PER_PIPELINE: usize = MODELS + 1;

/// What the chain says about each frame: per face, its track, box, and the
/// demographics and head-pose params as text (every value, to the last bit).
type FrameMeta = Vec<BTreeMap<u32, String>>;

fn meta_of(buffers: &[gst::Buffer]) -> FrameMeta {
    buffers
        .iter()
        .map(|b| {
            b.iter_meta::<gst_video::VideoRegionOfInterestMeta>()
                .filter(|roi| roi.roi_type() == meta::ROI_TYPE_FACE)
                .map(|roi| {
                    let params: Vec<String> = roi.params().map(|p| p.to_string()).collect();
                    (meta::track_id(roi.id()), format!("{:?} {}", roi.rect(), params.join(" ")))
                })
                .collect()
        })
        .collect()
}

/// Builds the chain over the clip, ready to play, and its appsink.
fn pipeline() -> (gst::Pipeline, gst_app::AppSink) {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! {CHAIN} ! appsink name=sink sync=false",
        common::data(CLIP).display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    (pipeline, sink)
}

fn drain(sink: &gst_app::AppSink) -> Vec<gst::Buffer> {
    let mut buffers = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        buffers.push(sample.buffer().unwrap().to_owned());
    }
    buffers
}

#[test]
fn two_pipelines_share_one_session_per_model_and_give_the_same_results() {
    common::init();
    // Alone first: what one camera gives.
    let before = runtime::session_stats();
    let alone = meta_of(&common::clip_through(CLIP, CHAIN));
    assert!(alone.iter().any(|f| !f.is_empty()), "the clip has faces");
    let after_alone = runtime::session_stats();
    assert!(after_alone.created - before.created <= MODELS as u64, "{before:?} -> {after_alone:?}");
    assert_eq!(after_alone.users, 0, "a stopped pipeline holds no session: {after_alone:?}");

    // Two cameras at once: both started before either plays.
    let (a, sink_a) = pipeline();
    let (b, sink_b) = pipeline();
    a.set_state(gst::State::Playing).unwrap();
    b.set_state(gst::State::Playing).unwrap();
    let (out_b, out_a) = std::thread::scope(|s| {
        let b = s.spawn(|| drain(&sink_b));
        let out_a = drain(&sink_a);
        (b.join().unwrap(), out_a)
    });
    // Both pipelines have reached EOS but are not stopped yet: both hold their sessions.
    let both = runtime::session_stats();
    a.set_state(gst::State::Null).unwrap();
    b.set_state(gst::State::Null).unwrap();
    assert_eq!(both.created, after_alone.created, "the second and third camera load nothing: {both:?}");
    assert_eq!(both.in_use, MODELS, "one session per model: {both:?}");
    assert_eq!(
        both.users,
        2 * USERS_PER_PIPELINE,
        "each pipeline holds each model once (+ the privacy pass): {both:?}"
    );
    let end = runtime::session_stats();
    assert_eq!(end.users, 0, "{end:?}");
    assert!(end.loaded <= runtime::MAX_IDLE_SESSIONS, "idle sessions are bounded: {end:?}");

    // Shared sessions are stateless between runs: each camera gets what it got alone.
    assert_eq!(meta_of(&out_a), alone, "camera A");
    assert_eq!(meta_of(&out_b), alone, "camera B");
}
