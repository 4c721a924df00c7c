//! `demographics` on real frames: through `gst_check::Harness` after
//! `facedetect`, whole pipelines over a real clip, and the core engine on the
//! same frames (one batched model run per frame, no identity embedding).

mod common;

use std::collections::BTreeMap;

use gst::prelude::*;
use gstblickfang::meta::{self, DemographicsRoi};

use blickfang::demographics::{self as core, Estimator, EstimatorConfig, FaceInput, ViewUse};
use blickfang::geometry::BBox;
use blickfang::runtime;

/// facedetect ! demographics (with these properties) as one harness, fed as a
/// file is (a harness answers the latency query as live unless told).
fn harness(props: &str, caps: &gst::Caps) -> gst_check::Harness {
    let mut h = gst_check::Harness::new_parse(&format!("blickfang-facedetect ! blickfang-demographics {props}"));
    h.set_live(false);
    h.set_src_caps(caps.clone());
    h
}

fn demographics_of(buffer: &gst::BufferRef) -> Vec<DemographicsRoi> {
    meta::face_demographics(buffer).into_iter().map(|d| d.expect("every face ROI has a demographics param")).collect()
}

fn t1(format: &str) -> (Vec<gst::Buffer>, gst::Caps) {
    common::decode_frames(&common::data("photos/t1.jpg"), format, 1)
}

#[test]
fn t1_three_women_three_men_in_every_colour_format() {
    common::init();
    let mut ages_by_format = Vec::new();
    for format in ["I420", "NV12", "BGR", "RGBA"] {
        let (frames, caps) = t1(format);
        let mut h = harness("", &caps);
        let out = common::run_frames(&mut h, &frames).remove(0);
        let faces = meta::faces(&out);
        let demo = demographics_of(&out);
        assert_eq!(faces.len(), 6, "{format}");
        let count = |g: &str| demo.iter().filter(|d| d.gender == g).count();
        assert_eq!((count("female"), count("male")), (3, 3), "{format}: {demo:#?}");
        for d in &demo {
            let age = d.age.expect("an age");
            assert!((18.0..=60.0).contains(&age), "{format}: adult ages, got {d:?}");
            assert_eq!(d.age_group, blickfang::demographics::AgeGroups::default().name_of(age), "{d:?}");
            assert!(d.gender_confidence >= 0.6 && d.gender_confidence <= 1.0, "{d:?}");
            assert_eq!(d.samples, 1);
            assert!(!d.frozen, "one view does not freeze (freeze-after 5)");
        }
        ages_by_format.push(demo.iter().map(|d| d.age.unwrap()).collect::<Vec<_>>());
    }
    // Chroma subsampling changes the crop a little, not the estimate.
    for ages in &ages_by_format[1..] {
        for (a, b) in ages.iter().zip(&ages_by_format[0]) {
            assert!((a - b).abs() < 2.5, "ages {ages:?} vs {:?}", ages_by_format[0]);
        }
    }
}

#[test]
fn faces_below_min_face_size_stay_unknown() {
    common::init();
    let (frames, caps) = t1("I420");
    // t1's faces are 90 to 130 pixels.
    let mut h = harness("min-face-size=200", &caps);
    let out = common::run_frames(&mut h, &frames).remove(0);
    let demo = demographics_of(&out);
    assert_eq!(demo.len(), 6);
    for d in &demo {
        assert_eq!(
            (d.gender.as_str(), d.age, d.age_group.as_str(), d.samples),
            ("unknown", None, "unknown", 0),
            "{d:?}"
        );
        assert_eq!(d.gender_confidence, 0.0);
    }
    // The same photo at a quarter of its size: faces of about 25 pixels are
    // found, and not guessed at with the default min-face-size.
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=I420,width=320,height=222 ! appsink name=sink sync=false",
        common::data("photos/t1.jpg").display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    let mut h = harness("", &sample.caps().unwrap().to_owned());
    let out = common::run_frames(&mut h, &[sample.buffer().unwrap().to_owned()]).remove(0);
    let faces = meta::faces(&out);
    assert!(!faces.is_empty(), "facedetect finds the small faces");
    assert!(faces.iter().all(|f| f.bbox[2].min(f.bbox[3]) < core::DEFAULT_MIN_FACE_SIZE as f64), "{faces:?}");
    assert!(demographics_of(&out).iter().all(|d| d.gender == "unknown" && d.age.is_none()));
}

/// Per frame: track id → demographics, from a whole pipeline over a clip.
fn clip_demographics(clip: &str, props: &str) -> Vec<BTreeMap<u32, DemographicsRoi>> {
    common::clip_through(clip, &format!("blickfang-facedetect ! blickfang-demographics {props}"))
        .iter()
        .map(|b| meta::faces(b).iter().map(|f| f.id).zip(demographics_of(b)).collect())
        .collect()
}

#[test]
fn a_track_keeps_one_stable_estimate_through_a_clip() {
    // One man turning his head for 62 frames.
    let frames = clip_demographics("videos_people/intel_preview_head-pose-face-detection-male.transcoded.mp4", "");
    assert_eq!(frames.len(), 62);
    let ids: std::collections::BTreeSet<u32> = frames.iter().flat_map(|f| f.keys().copied()).collect();
    assert_eq!(ids.len(), 1, "one person, one track: {ids:?}");
    let track: Vec<&DemographicsRoi> = frames.iter().filter_map(|f| f.values().next()).collect();
    // Views are added at most every reclassify-interval (10) frames, and
    // the estimate only changes when one is.
    let mut changes = 0;
    for w in track.windows(2) {
        assert!(w[1].samples >= w[0].samples, "samples never go back");
        if w[1].samples == w[0].samples {
            assert_eq!(w[1], w[0], "no view, no change");
        } else {
            changes += 1;
        }
    }
    assert!(changes <= 62 / 10 + 1, "{changes} updates in 62 frames");
    let last = track.last().unwrap();
    assert!(last.samples >= 3, "{last:?}");
    let named: Vec<&str> = track.iter().map(|d| d.gender.as_str()).filter(|g| *g != "unknown").collect();
    assert!(!named.is_empty() && named.iter().all(|g| *g == "male"), "a man, and only a man: {named:?}");
    let ages: Vec<f64> = track.iter().filter_map(|d| d.age).collect();
    let (lo, hi) = ages.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    assert!(hi - lo < 8.0, "the fused age moves little: {lo:.1}..{hi:.1}");
    let groups: std::collections::BTreeSet<&str> =
        track.iter().filter(|d| d.samples >= 3).map(|d| d.age_group.as_str()).collect();
    assert!(groups.len() <= 2, "{groups:?}");
}

#[test]
fn a_live_source_gets_its_estimates_on_later_frames_from_the_worker() {
    common::init();
    let (frames, caps) = t1("I420");
    let mut h = gst_check::Harness::new_parse("blickfang-facedetect ! blickfang-demographics reclassify-interval=1");
    h.set_live(true);
    h.set_src_caps(caps);
    // The first frame never waits for the model: its faces are still unknown.
    let first = common::run_frames(&mut h, &frames).remove(0);
    let first = demographics_of(&first);
    assert_eq!(first.len(), 6);
    assert!(first.iter().all(|d| d.samples == 0 && d.gender == "unknown"), "{first:?}");
    // Later frames carry what the worker found (bounded: a worker that never answers fails here).
    let mut later = Vec::new();
    for _ in 0..600 {
        later = demographics_of(&common::run_frames(&mut h, &frames).remove(0));
        if later.iter().all(|d| d.samples > 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(later.iter().all(|d| d.samples > 0), "{later:?}");
    let genders: Vec<&str> = later.iter().map(|d| d.gender.as_str()).collect();
    assert_eq!(genders.iter().filter(|g| **g == "female").count(), 3, "{genders:?}");
    assert_eq!(genders.iter().filter(|g| **g == "male").count(), 3, "{genders:?}");
}

#[test]
fn a_frozen_track_gets_no_more_model_work() {
    // Every frame a view until 3 confident views, then frozen.
    let frames = clip_demographics(
        "videos_people/intel_preview_head-pose-face-detection-male.transcoded.mp4",
        "reclassify-interval=1 freeze-after=3",
    );
    let track: Vec<&DemographicsRoi> = frames.iter().filter_map(|f| f.values().next()).collect();
    let first_frozen = track.iter().position(|d| d.frozen).expect("the track freezes");
    let frozen = track[first_frozen];
    assert_eq!(frozen.samples, 3);
    assert!(track[first_frozen..].iter().all(|d| *d == frozen), "frozen estimates never change");
}

/// The core engine on t1's detections: FaceInputs from facedetect's metas.
fn t1_engine_inputs() -> (gst::Buffer, gst::Caps, Vec<FaceInput>) {
    common::init();
    let (frames, caps) = t1("I420");
    let mut h = gst_check::Harness::new_parse("blickfang-facedetect");
    h.set_src_caps(caps.clone());
    let out = common::run_frames(&mut h, &frames).remove(0);
    let faces = meta::faces(&out)
        .iter()
        .map(|f| FaceInput {
            id: f.id,
            bbox: BBox::new(f.bbox[0] as f32, f.bbox[1] as f32, f.bbox[2] as f32, f.bbox[3] as f32),
            landmarks: Some(f.landmarks.map(|p| [p[0] as f32, p[1] as f32])),
            confidence: f.confidence as f32,
            fresh: true,
        })
        .collect();
    (out, caps, faces)
}

#[test]
fn all_faces_of_a_frame_go_through_the_model_in_one_batch_and_only_when_needed() {
    let (buffer, caps, faces) = t1_engine_inputs();
    assert_eq!(faces.len(), 6);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info).unwrap();
    let view = gstblickfang::video::frame_view(&frame).unwrap();
    let config = EstimatorConfig {
        fusion: core::FusionConfig { reclassify_interval: 3, ..Default::default() },
        ..Default::default()
    };
    let mut engine = Estimator::load(config, &runtime::find_onnxruntime(None)).unwrap();
    let first = engine.process(&view, &faces).unwrap();
    assert!(first.iter().all(|r| r.view == ViewUse::Classified));
    assert_eq!((engine.stats().model_runs, engine.stats().faces_classified), (1, 6), "one batch of six");
    // The next two frames: every track was just classified, nothing runs.
    for _ in 0..2 {
        let again = engine.process(&view, &faces).unwrap();
        assert!(again.iter().all(|r| r.view == ViewUse::NotNeeded));
        assert_eq!(
            again.iter().map(|r| &r.estimate).collect::<Vec<_>>(),
            first.iter().map(|r| &r.estimate).collect::<Vec<_>>()
        );
    }
    assert_eq!(engine.stats().model_runs, 1);
    // Frame 3: all six again, in one run.
    engine.process(&view, &faces).unwrap();
    assert_eq!((engine.stats().model_runs, engine.stats().faces_classified), (2, 12));
    // A frame without faces costs nothing.
    engine.skip_frame();
    assert_eq!(engine.stats().model_runs, 2);
    // Carried positions (not fresh) and low-confidence boxes are not classified.
    let mut carried = faces.clone();
    carried.iter_mut().for_each(|f| f.fresh = false);
    carried[0].id = 100;
    carried[1].id = 101;
    carried[1].fresh = true;
    carried[1].confidence = 0.1;
    let r = engine.process(&view, &carried).unwrap();
    assert_eq!((r[0].view, r[1].view), (ViewUse::NotFresh, ViewUse::LowConfidence));
    assert_eq!(engine.stats().model_runs, 2);
}

#[test]
fn the_identity_embedding_is_never_fetched_nor_emitted() {
    let (buffer, caps, faces) = t1_engine_inputs();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info).unwrap();
    let view = gstblickfang::video::frame_view(&frame).unwrap();
    let mut model = core::AgeGenderModel::load(core::DEFAULT_MODEL, &runtime::find_onnxruntime(None), 1).unwrap();
    let fetched = model.fetched_outputs();
    assert_eq!(fetched, [core::model::FACERES_GENDER_OUTPUT, core::model::FACERES_AGE_OUTPUT]);
    let sampler = blickfang::frame::FrameSampler::new(&view).unwrap();
    let geometry: Vec<core::FaceGeometry> =
        faces.iter().map(|f| core::FaceGeometry::Landmarks(f.landmarks.unwrap())).collect();
    for flip in [false, true] {
        let views = model.classify(&sampler, &geometry, flip, &[1.0]).unwrap();
        assert_eq!(views.len(), 6);
        let returned = model.last_outputs();
        let names: Vec<&str> = returned.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, fetched, "the session returned exactly the requested outputs");
        assert!(!names.contains(&core::model::FACERES_EMBEDDING_OUTPUT));
        for (name, shape) in returned {
            assert!(!shape.contains(&1024), "{name} {shape:?}");
        }
    }
    drop(frame);
    // Nothing we emit holds a long array: no param of any ROI, no line of analyze.
    let (frames, caps) = t1("I420");
    let mut h = harness("", &caps);
    let out = common::run_frames(&mut h, &frames).remove(0);
    for roi in out.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
        for param in roi.params() {
            for (field, value) in param.iter() {
                if let Ok(arr) = value.get::<gst::Array>() {
                    assert!(arr.len() <= 10, "{}.{field} has {} values", param.name(), arr.len());
                }
                if let Ok(list) = value.get::<gst::List>() {
                    assert!(list.len() <= 10, "{}.{field} has {} values", param.name(), list.len());
                }
            }
        }
    }
    let out_file = std::env::temp_dir().join(format!("blickfang-demographics-photos-{}.jsonl", std::process::id()));
    let status = std::process::Command::new(common::blickfang_binary_path())
        .arg("analyze")
        .arg(common::data("photos"))
        .arg("--output")
        .arg(&out_file)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out_file).unwrap();
    std::fs::remove_file(&out_file).ok();
    fn longest_array(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(a) => a.iter().map(longest_array).max().unwrap_or(0).max(a.len()),
            serde_json::Value::Object(o) => o.values().map(longest_array).max().unwrap_or(0),
            _ => 0,
        }
    }
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(longest_array(&v["faces"]) <= 10, "{line}");
        for f in v["faces"].as_array().unwrap() {
            let demographics = f["demographics"].as_object().unwrap_or_else(|| panic!("no demographics: {f}"));
            for k in ["age", "age_group", "gender", "gender_confidence"] {
                assert!(demographics.contains_key(k), "{k} missing: {f}");
            }
        }
    }
}

#[test]
fn the_small_model_pair_runs_with_its_own_preprocessing() {
    common::init();
    let (frames, caps) = t1("I420");
    let mut h = harness(&format!("model={} confidence-threshold=0.5", core::SMALL_MODELS), &caps);
    let out = common::run_frames(&mut h, &frames).remove(0);
    let demo = demographics_of(&out);
    assert_eq!(demo.len(), 6);
    for d in &demo {
        assert!(d.gender == "female" || d.gender == "male", "{d:?}");
        assert!((5.0..=80.0).contains(&d.age.unwrap()), "{d:?}");
    }
}

#[test]
fn properties_are_documented_and_errors_name_the_property() {
    common::init();
    for name in ["blickfang-demographics", "demographics"] {
        let Ok(element) = gst::ElementFactory::make(name).build() else {
            // The short name may belong to another plugin; ours always has the prefixed one.
            assert_ne!(name, "blickfang-demographics");
            continue;
        };
        assert_eq!(element.type_().name(), "BlickfangDemographics");
        for p in element.list_properties() {
            if p.owner_type() != element.type_() {
                continue;
            }
            assert!(p.blurb().map_or(0, |b| b.len()) > 20, "{} undocumented", p.name());
        }
        assert_eq!(element.property::<u32>("reclassify-interval"), 10);
        assert_eq!(element.property::<u32>("max-views"), core::DEFAULT_MAX_VIEWS);
        assert_eq!(element.property::<String>("age-groups"), core::FAIRFACE_AGE_GROUPS);
        assert_eq!(element.property::<String>("crop-scales"), "1");
        assert_eq!(element.property::<String>("model"), core::DEFAULT_MODEL);
    }
    let run = |desc: &str| {
        let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
        let _ = pipeline.set_state(gst::State::Playing);
        let bus = pipeline.bus().unwrap();
        let msg =
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Error, gst::MessageType::Eos]);
        pipeline.set_state(gst::State::Null).unwrap();
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => format!("{} {}", e.error(), e.debug().unwrap_or_default()),
            _ => String::new(),
        }
    };
    let err = run("videotestsrc num-buffers=2 ! blickfang-demographics model=/nonexistent/agegender.onnx ! fakesink");
    assert!(err.contains("model") && err.contains("/nonexistent/agegender.onnx"), "{err}");
    let err = run("videotestsrc num-buffers=2 ! blickfang-demographics age-groups=0-9,20+ ! fakesink");
    assert!(err.contains("age-groups") && err.contains("must start at 10"), "{err}");
    let err = run("videotestsrc num-buffers=2 ! blickfang-demographics crop-scales=1,7 ! fakesink");
    assert!(err.contains("crop-scales") && err.contains("outside"), "{err}");
    let detector = common::shared_dir().join("models/face/yunet_s_dynamic.onnx");
    let err =
        run(&format!("videotestsrc num-buffers=2 ! blickfang-demographics model={} ! fakesink", detector.display()));
    assert!(err.contains("yunet_s_dynamic") && err.contains("`model`"), "{err}");
}
