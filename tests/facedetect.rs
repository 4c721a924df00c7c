//! `facedetect` on real frames, through `gst_check::Harness` and whole
//! pipelines, against OpenCV's FaceDetectorYN output on the same photos
//! (tests/reference/yunet_photos.json, made by tests/reference/yunet_reference.py).

mod common;

use std::collections::{BTreeSet, HashMap};

use gst::prelude::*;
use gstblickfang::meta::{self, FaceRoi};

fn facedetect(name: &str, props: &[(&str, glib::Value)]) -> gst::Element {
    let element = gst::ElementFactory::make(name).build().unwrap();
    for (k, v) in props {
        element.set_property_from_value(k, v);
    }
    element
}

use gst::glib;

#[derive(Debug)]
struct RefFace {
    bbox: [f64; 4],
    landmarks: [[f64; 2]; 5],
}

fn reference(image: &str, key: &str) -> Vec<RefFace> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/yunet_photos.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["images"][image][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b: Vec<f64> = f["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let l: Vec<Vec<f64>> = f["landmarks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
                .collect();
            RefFace { bbox: [b[0], b[1], b[2], b[3]], landmarks: std::array::from_fn(|k| [l[k][0], l[k][1]]) }
        })
        .collect()
}

/// Every reference face has exactly one of ours within `tol` pixels on each
/// box edge and landmark, and there are no extra faces.
fn assert_matches_reference(ours: &[FaceRoi], reference: &[RefFace], tol: f64, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}: {} faces, reference {}: {ours:#?}", ours.len(), reference.len());
    for r in reference {
        let (rcx, rcy) = (r.bbox[0] + r.bbox[2] / 2.0, r.bbox[1] + r.bbox[3] / 2.0);
        let o = ours
            .iter()
            .min_by(|a, b| {
                let d = |f: &FaceRoi| (f.bbox[0] + f.bbox[2] / 2.0 - rcx).hypot(f.bbox[1] + f.bbox[3] / 2.0 - rcy);
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        for k in 0..4 {
            assert!((o.bbox[k] - r.bbox[k]).abs() <= tol, "{what}: box {:?} vs reference {:?}", o.bbox, r.bbox);
        }
        for k in 0..5 {
            for c in 0..2 {
                assert!(
                    (o.landmarks[k][c] - r.landmarks[k][c]).abs() <= tol,
                    "{what}: landmarks {:?} vs reference {:?}",
                    o.landmarks,
                    r.landmarks
                );
            }
        }
    }
}

fn detect_photo(image: &str, format: &str, props: &[(&str, glib::Value)]) -> (Vec<FaceRoi>, gst::Buffer) {
    common::init();
    let (frames, caps) = common::decode_frames(&common::data(&format!("photos/{image}")), format, 1);
    let mut h = common::harness(facedetect("blickfang-facedetect", props), &caps);
    let out = common::run_frames(&mut h, &frames).remove(0);
    (meta::faces(&out), out)
}

#[test]
fn t1_six_faces_match_opencv_at_full_resolution() {
    let (faces, _) =
        detect_photo("t1.jpg", "BGR", &[("detection-size", 0u32.to_value()), ("score-threshold", 0.5f32.to_value())]);
    assert_matches_reference(&faces, &reference("t1.jpg", "faces"), 3.0, "t1 full size");
}

#[test]
fn t1_six_faces_match_opencv_at_640() {
    let (faces, _) = detect_photo("t1.jpg", "BGR", &[("score-threshold", 0.5f32.to_value())]);
    assert_matches_reference(&faces, &reference("t1.jpg", "faces_640"), 3.0, "t1 at 640");
}

#[test]
fn astronaut_one_face() {
    let (faces, _) = detect_photo("astronaut.png", "RGB", &[("score-threshold", 0.5f32.to_value())]);
    assert_matches_reference(&faces, &reference("astronaut.png", "faces"), 3.0, "astronaut");
}

#[test]
fn every_pixel_format_finds_the_same_faces() {
    let reference = reference("t1.jpg", "faces_640");
    for format in [
        "I420", "YV12", "NV12", "NV21", "RGB", "BGR", "RGBA", "BGRA", "RGBx", "BGRx", "ARGB", "ABGR", "xRGB", "xBGR",
        "GRAY8",
    ] {
        let (faces, _) = detect_photo("t1.jpg", format, &[("score-threshold", 0.5f32.to_value())]);
        // Chroma subsampling and grey conversion shift boxes a little; the faces stay.
        // Without colour the model sees another image: landmarks move most.
        let tol = if format == "GRAY8" { 12.0 } else { 5.0 };
        assert_matches_reference(&faces, &reference, tol, format);
    }
}

#[test]
fn video_passes_through_unchanged_and_every_frame_is_marked() {
    common::init();
    let (frames, caps) = common::decode_frames(&common::data("photos/t1.jpg"), "I420", 1);
    let black = {
        let mut b = frames[0].copy();
        let m = b.get_mut().unwrap();
        let mut map = m.map_writable().unwrap();
        map.as_mut_slice().fill(16);
        drop(map);
        b
    };
    let mut h = common::harness(facedetect("blickfang-facedetect", &[]), &caps);
    let out = common::run_frames(&mut h, &[frames[0].clone(), black]);
    let before = frames[0].map_readable().unwrap();
    let after = out[0].map_readable().unwrap();
    assert!(before.as_slice() == after.as_slice(), "pixels changed");
    assert_eq!(meta::faces(&out[0]).len(), 6);
    // No face detected on the black frame; the six tracks are carried there, hidden (`predicted`).
    let hidden = meta::faces(&out[1]);
    assert!(hidden.len() == 6 && hidden.iter().all(|f| f.predicted), "{hidden:?}");
    for (i, b) in out.iter().enumerate() {
        let a = meta::analysis(b).unwrap_or_else(|| panic!("frame {i} has no analysis marker"));
        assert_eq!(a.name(), meta::ANALYSIS);
        assert!(a.get::<bool>("detector-ran").unwrap());
        assert_eq!(a.get::<u32>("faces").unwrap() as usize, meta::faces(b).len());
    }
}

#[test]
fn both_element_names_work() {
    common::init();
    let ours = |name: &str| {
        let element = gst::ElementFactory::make(name).build().unwrap_or_else(|_| panic!("{name} not registered"));
        element.type_().name() == "BlickfangFaceDetect"
    };
    assert!(ours("blickfang-facedetect"));
    // The short name is ours unless GStreamer's OpenCV plugin is installed,
    // whose `facedetect` we must not make disappear.
    let opencv_has_it = gst::Registry::get().features_by_plugin("opencv").iter().any(|f| f.name() == "facedetect");
    assert_eq!(ours("facedetect"), !opencv_has_it);
}

/// Runs `desc` and returns the error it posts (its text and debug), or panics at EOS without one.
fn error_of(desc: &str) -> String {
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error, gst::MessageType::Eos])
        .expect("an error or EOS within 30 s");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} {}", e.error(), e.debug().unwrap_or_default()),
        _ => panic!("{desc}: EOS without an error"),
    }
}

/// Runs `desc` to EOS and returns the warnings it posted (an error fails the test).
fn warnings_of(desc: &str) -> Vec<String> {
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let mut warnings = Vec::new();
    while let Some(msg) = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Warning, gst::MessageType::Error, gst::MessageType::Eos],
    ) {
        match msg.view() {
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Error(e) => panic!("a warning, not an error: {}", e.error()),
            _ => break,
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    warnings
}

#[test]
fn missing_model_is_an_element_error_naming_the_property_and_file() {
    common::init();
    let err = error_of("videotestsrc num-buffers=3 ! blickfang-facedetect model=/nonexistent/face.onnx ! fakesink");
    assert!(err.contains("model") && err.contains("/nonexistent/face.onnx"), "{err}");
}

#[test]
fn model_that_is_not_a_face_detector_is_an_error() {
    common::init();
    let model = common::shared_dir().join("models/headpose/fsanet-1x1-iter-688590.onnx");
    assert!(model.exists(), "{} missing", model.display());
    let err =
        error_of(&format!("videotestsrc num-buffers=3 ! blickfang-facedetect model={} ! fakesink", model.display()));
    assert!(err.contains("fsanet") && err.contains("model-family"), "{err}");
}

/// Per frame: track id → box, from a whole pipeline over a real clip.
fn track_clip(clip: &str, interval: u32) -> Vec<HashMap<u32, [f64; 4]>> {
    common::clip_through(clip, &format!("blickfang-facedetect interval={interval}"))
        .iter()
        .map(|b| meta::faces(b).iter().map(|f| (f.id, f.bbox)).collect())
        .collect()
}

#[test]
fn track_ids_stay_stable_through_a_real_clip() {
    // One man turning his head for 62 frames.
    let frames = track_clip("videos_people/intel_preview_head-pose-face-detection-male.transcoded.mp4", 1);
    assert_eq!(frames.len(), 62);
    let ids: BTreeSet<u32> = frames.iter().flat_map(|f| f.keys().copied()).collect();
    let with_face = frames.iter().filter(|f| f.len() == 1).count();
    assert!(with_face >= 55, "face found on only {with_face} of 62 frames");
    assert_eq!(ids.len(), 1, "one person, ids {ids:?}");
}

#[test]
fn interval_three_keeps_ids_and_boxes_close_to_every_frame() {
    let clip = "videos_people/intel_preview_face-demographics-walking.transcoded.mp4";
    let every = track_clip(clip, 1);
    let third = track_clip(clip, 3);
    assert_eq!(every.len(), third.len());
    let distinct =
        |fs: &[HashMap<u32, [f64; 4]>]| fs.iter().flat_map(|f| f.keys().copied()).collect::<BTreeSet<_>>().len();
    assert!(distinct(&every) >= 2, "the clip has two people walking");
    assert_eq!(distinct(&third), distinct(&every), "interval=3 must not split or merge tracks");
    // Match each box of interval=3 to the nearest of interval=1 on the same frame.
    let (mut ious, mut missing) = (Vec::new(), 0);
    for (a, b) in every.iter().zip(&third) {
        for bb in b.values() {
            let best = a.values().map(|ab| iou(ab, bb)).fold(0.0, f64::max);
            ious.push(best);
        }
        missing += a.len().saturating_sub(b.len());
    }
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    assert!(mean > 0.7, "mean IoU {mean:.3} between interval=3 and interval=1 boxes");
    assert!(missing * 10 <= every.iter().map(|f| f.len()).sum::<usize>(), "{missing} faces lost with interval=3");
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    i / (a[2] * a[3] + b[2] * b[3] - i)
}

/// A `detection-size` too small to find faces is accepted, with a warning
/// at start naming the property; a folder given as `model` is said to be one.
#[test]
fn a_too_small_detection_size_warns_and_a_folder_as_model_is_named() {
    common::init();
    let warnings = warnings_of("videotestsrc num-buffers=2 ! blickfang-facedetect detection-size=32 ! fakesink");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`detection-size` = 32"), "{warnings:?}");

    let dir = common::shared_dir().join("models/face");
    let err =
        error_of(&format!("videotestsrc num-buffers=2 ! blickfang-facedetect model={} ! fakesink", dir.display()));
    assert!(err.contains("`model`") && err.contains("is a directory") && err.contains("models/face"), "{err}");
}

/// A photo decoded and scaled to `width` x `height` (BGR).
fn scaled_photo(image: &str, width: u32, height: u32) -> (gst::Buffer, gst::Caps) {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! \
         video/x-raw,format=BGR,width={width},height={height} ! appsink name=sink sync=false",
        common::data(&format!("photos/{image}")).display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().expect("a decoded photo");
    pipeline.set_state(gst::State::Null).unwrap();
    (sample.buffer().unwrap().to_owned(), sample.caps().unwrap().to_owned())
}

/// A resolution change mid-stream keeps the tracks: the tracker's boxes and
/// motion are rescaled to the new frame, so a still photo alternating
/// between two sizes is the same six people throughout, and with
/// `interval=3` the frames carried between model runs after a change have
/// boxes in the new resolution.
#[test]
fn a_resolution_change_keeps_the_same_people() {
    common::init();
    let sizes = [(1280u32, 886u32), (640, 443)];
    let photos: Vec<(gst::Buffer, gst::Caps)> = sizes.iter().map(|&(w, h)| scaled_photo("t1.jpg", w, h)).collect();
    let element = facedetect("blickfang-facedetect", &[("interval", 3u32.to_value())]);
    let mut h = common::harness(element, &photos[0].1);
    let mut ids = BTreeSet::new();
    let mut seen = Vec::new();
    let step = gst::ClockTime::from_mseconds(40);
    let mut n = 0u64;
    for change in 0..6 {
        let (photo, caps) = &photos[change % 2];
        let (width, height) = sizes[change % 2];
        if change > 0 {
            h.set_src_caps(caps.clone());
        }
        // Not a multiple of the interval: the model runs at different offsets after each change.
        for _ in 0..4 {
            let mut b = photo.copy();
            {
                let b = b.get_mut().unwrap();
                b.set_pts(step * n);
                b.set_duration(step);
            }
            n += 1;
            let out = h.push_and_pull(b).expect("buffer out");
            let faces = meta::faces(&out);
            assert_eq!(faces.len(), 6, "frame {n} ({width}x{height})");
            let ran = meta::analysis(&out).and_then(|a| a.get::<bool>("detector-ran").ok()).unwrap();
            seen.extend(faces.iter().map(|f| (change % 2, f.id, f.bbox, ran, n)));
            ids.extend(faces.iter().map(|f| f.id));
        }
    }
    // Every box, carried or detected, is where the model finds that face at that size.
    for &(size, id, bbox, _, n) in &seen {
        let detected = seen.iter().find(|s| s.0 == size && s.1 == id && s.3).map(|s| s.2);
        let detected = detected.unwrap_or_else(|| panic!("face {id} never detected at size {size}"));
        let tol = 0.05 * detected[2];
        for k in 0..4 {
            assert!((bbox[k] - detected[k]).abs() <= tol, "frame {n}, face {id}: {bbox:?}, detected {detected:?}");
        }
    }
    assert_eq!(ids.len(), 6, "six people, not six per change: {ids:?}");
}

/// The candidates come from the same model run as the faces and never change them: on WIDER
/// dev images, the face ROIs with the default `redact-threshold` (and the privacy pass) are
/// exactly those without candidates, and every candidate is a `face-candidate` ROI scoring at
/// least `redact-threshold`. The privacy pass at `redact-detection-size` runs only when
/// something downstream redacts (blurredact answers facedetect's query), and adds candidates.
#[test]
fn face_candidates_are_separate_rois_and_leave_the_faces_unchanged() {
    common::init();
    let root = common::data("wider_face_val_subset");
    let gt = blickfang::eval::wider::parse_ground_truth(&std::fs::read_to_string(root.join("gt_full.jsonl")).unwrap())
        .unwrap();
    let (mut candidates, mut faces, mut redacted_candidates) = (0, 0, 0);
    for img in gt.iter().take(12) {
        let (frames, caps) = common::decode_frames(&root.join("images").join(&img.path), "BGR", 1);
        let run = |props: &[(&str, glib::Value)]| {
            let mut h = common::harness(facedetect("blickfang-facedetect", props), &caps);
            common::run_frames(&mut h, &frames).remove(0)
        };
        let without = run(&[("redact-threshold", 0.6f32.to_value()), ("redact-detection-size", 640u32.to_value())]);
        let with = run(&[]);
        assert_eq!(meta::faces(&with), meta::faces(&without), "{}", img.path);
        assert_eq!(meta::candidate_boxes(&without).count(), 0, "{}", img.path);
        for (bbox, confidence) in meta::candidate_boxes(&with) {
            // The default `redact-threshold`, deface's 0.2.
            assert!(confidence >= 0.2, "{}: candidate {bbox:?} scores {confidence}", img.path);
        }
        let types: BTreeSet<String> =
            with.iter_meta::<gst_video::VideoRegionOfInterestMeta>().map(|m| m.roi_type().to_string()).collect();
        assert!(types.iter().all(|t| t == meta::ROI_TYPE_FACE || t == meta::ROI_TYPE_FACE_CANDIDATE), "{types:?}");
        candidates += meta::candidate_boxes(&with).count();
        let mut h = gst_check::Harness::new_parse("blickfang-facedetect ! blickfang-blurredact");
        // An image, not a camera: the pass runs on the frame itself (a live source's comes later).
        h.set_live(false);
        h.set_src_caps(caps.clone());
        let redacted = common::run_frames(&mut h, &frames).remove(0);
        assert_eq!(meta::faces(&redacted).len(), meta::faces(&with).len(), "{}", img.path);
        redacted_candidates += meta::candidate_boxes(&redacted).count();
        faces += meta::faces(&with).len();
    }
    println!(
        "12 WIDER images: {faces} faces, {candidates} candidates, {redacted_candidates} with blurredact downstream"
    );
    assert!(candidates > 0 && faces > 0, "{faces} faces, {candidates} candidates");
    assert!(redacted_candidates > candidates, "the privacy pass added nothing: {redacted_candidates}");
}

/// A frame that the detection sizes shrink so far that 20 px faces cannot be redacted is
/// said on the bus, once.
#[test]
fn a_frame_too_large_for_the_detection_sizes_warns_once() {
    common::init();
    let warnings = warnings_of(
        "videotestsrc num-buffers=3 ! video/x-raw,width=1920,height=1080 ! \
         blickfang-facedetect redact-detection-size=640 ! fakesink",
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`redact-detection-size` = 640") && warnings[0].contains("1920x1080"), "{warnings:?}");
}
