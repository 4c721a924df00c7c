//! `metajson`: records from real analysed frames, generic ROI params, person
//! events and content reports, modes; every record checked against
//! `schema/blickfang-records.schema.json`, and so are `blickfang analyze`'s lines.

mod common;
mod records_schema;

use std::process::Command;

use gst::prelude::*;
use gstblickfang::meta;
use gstblickfang::meta::{CONTENT_REPORT, PERSON_EVENT};
use records_schema::RecordSchema;
use serde_json::Value;

const CLIP: &str = "videos_people/intel_preview_face-demographics-walking.transcoded.mp4";

fn metajson(props: &[(&str, &str)]) -> gst::Element {
    let mut b = gst::ElementFactory::make("blickfang-metajson");
    for (k, v) in props {
        b = b.property_from_str(k, v);
    }
    b.build().unwrap()
}

fn ms(n: u64) -> gst::ClockTime {
    gst::ClockTime::from_mseconds(n)
}

/// A buffer as it leaves the harness: one JSON record.
fn record(b: &gst::Buffer) -> Value {
    let map = b.map_readable().unwrap();
    let text = std::str::from_utf8(map.as_slice()).unwrap();
    assert!(text.ends_with('\n') && text.matches('\n').count() == 1, "one line per buffer: {text:?}");
    serde_json::from_str(text).unwrap()
}

fn drain(h: &mut gst_check::Harness) -> Vec<Value> {
    std::iter::from_fn(|| h.try_pull()).map(|b| record(&b)).collect()
}

/// A small frame with no pixels worth reading, caps to match.
fn blank_frame() -> (gst::Buffer, gst::Caps) {
    let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray8, 64, 48)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap();
    (gst::Buffer::with_size(64 * 48).unwrap(), caps)
}

fn add_face(buf: &mut gst::BufferRef, id: i32, params: Vec<gst::Structure>) {
    let detection = gst::Structure::builder(meta::DETECTION)
        .field("confidence", 0.875f64)
        .field("x", 10.25f64)
        .field("y", 8.0f64)
        .field("width", 20.0f64)
        .field("height", 24.0f64)
        .field("landmarks", gst::Array::new((0..10).map(|i| 10.0 + i as f64)))
        .field("predicted", false)
        .build();
    let mut roi = gst_video::VideoRegionOfInterestMeta::add(buf, meta::ROI_TYPE_FACE, (10, 8, 20, 24));
    roi.set_id(id);
    roi.add_param(detection);
    for p in params {
        roi.add_param(p);
    }
}

fn add_analysis(buf: &mut gst::BufferRef, frame: u64, faces: u32) {
    let mut marker = gst::meta::CustomMeta::add(buf, meta::ANALYSIS_META).unwrap();
    let s = marker.mut_structure();
    s.set_name(meta::ANALYSIS);
    s.set("frame", frame);
    s.set("detector-ran", true);
    s.set("faces", faces);
    s.set("model-family", "yunet");
}

fn timed(b: &gst::Buffer, i: u64) -> gst::Buffer {
    let mut b = b.copy();
    {
        let b = b.get_mut().unwrap();
        b.set_pts(ms(40) * i);
        b.set_duration(ms(40));
    }
    b
}

#[test]
fn real_clip_frames_become_valid_frame_records() {
    common::init();
    let (frames, caps) = common::decode_frames(&common::data(CLIP), "I420", 24);
    let detector = gst::ElementFactory::make("blickfang-facedetect").build().unwrap();
    let mut fd = common::harness(detector, &caps);
    let analysed = common::run_frames(&mut fd, &frames);

    let mut h = common::harness(metajson(&[]), &caps);
    let mut schema = RecordSchema::load();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let mut total_faces = 0;
    let mut runs: Option<String> = None;
    for (i, buf) in analysed.iter().enumerate() {
        let out = h.push_and_pull(buf.clone()).expect("a record per frame");
        assert_eq!(out.pts(), buf.pts());
        let r = record(&out);
        schema.check(&r);
        assert!(schema.is_valid_as("frame", &r), "{r}");
        records_schema::assert_pixel_free(&r);
        assert_eq!(r["schema"], "blickfang/2");
        assert_eq!(r["type"], "frame");
        assert_eq!(r["seq"], i as u64);
        assert_eq!(
            r["screen"],
            gstblickfang::mqttsink::default_screen_id(),
            "the host name, as mqttsink's topic, unless screen-id is set"
        );
        let run = r["run"].as_str().unwrap().to_string();
        assert_eq!(run, *runs.get_or_insert_with(|| run.clone()), "one run while the element runs");
        assert_eq!(r["width"], info.width());
        assert_eq!(r["height"], info.height());
        assert_eq!(r["analysis"]["frame"], i as u64);
        assert_eq!(r["analysis"]["model_family"], "yunet");
        let pts = r["pts"].as_f64().unwrap();
        assert!((pts - 0.04 * i as f64).abs() < 1e-6, "{pts}");
        assert!((r["running_time"].as_f64().unwrap() - pts).abs() < 1e-6);
        let faces = meta::faces(buf);
        let got = r["faces"].as_array().unwrap();
        assert_eq!(got.len(), faces.len());
        for (j, f) in got.iter().zip(&faces) {
            assert_eq!(j["id"], f.id);
            assert!((j["box"][2].as_f64().unwrap() - f.bbox[2]).abs() < 0.01);
            assert!((j["confidence"].as_f64().unwrap() - f.confidence).abs() < 1e-4);
        }
        total_faces += faces.len();
    }
    assert!(total_faces > 10, "the clip shows people walking up: {total_faces} faces");
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    assert_eq!(caps.structure(0).unwrap().name(), "application/x-ndjson");
}

#[test]
fn roi_params_are_serialised_generically_and_pixels_never_pass() {
    common::init();
    let (mut buf, caps) = blank_frame();
    {
        let b = buf.get_mut().unwrap();
        let demographics = gst::Structure::builder("demographics")
            .field("age", 31.5f64)
            .field("age-group", "25-34")
            .field("gender", "female")
            .field("gender-confidence", 0.93f64)
            .build();
        let pose = gst::Structure::builder("head-pose")
            .field("yaw", -12.5f64)
            .field("pitch", 3.0f64)
            .field("roll", 1.0f32)
            .build();
        let attention = gst::Structure::builder("attention")
            .field("looking", true)
            .field("dwell-time", 2.5f64)
            .field("attention-time", 1.25f64)
            .field("glances", 2u32)
            .build();
        // Everything a careless element might attach to a face.
        let leaky = gst::Structure::builder("face-extra")
            .field("crop", gst::Buffer::from_slice(vec![7u8; 1024]))
            .field("embedding", gst::Array::new((0..128).map(|i| i as f64 / 128.0)))
            .field("thumbnail", "A".repeat(4096))
            .field("note", "kept")
            .build();
        add_face(b, 7, vec![demographics, pose, attention, leaky]);
        add_analysis(b, 0, 1);
        b.set_pts(ms(0));
    }
    // Pixels never enter metajson: the same metas on a buffer without any
    // video memory give the same record.
    let mut bare = gst::Buffer::new();
    {
        let b = bare.get_mut().unwrap();
        b.set_pts(ms(0));
        for m in buf.iter_meta::<gst_video::VideoRegionOfInterestMeta>() {
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(b, meta::ROI_TYPE_FACE, m.rect());
            roi.set_id(m.id());
            for p in m.params() {
                roi.add_param(p.to_owned());
            }
        }
        add_analysis(b, 0, 1);
    }
    assert_eq!(bare.size(), 0);
    // (The harness counts as a live source: no wall clock, it differs per record.)
    let mut h = common::harness(metajson(&[("screen-id", "lobby-1"), ("utc", "never")]), &caps);
    let r = record(&h.push_and_pull(buf).unwrap());
    let mut without_pixels = record(&h.push_and_pull(bare).unwrap());
    assert_eq!(without_pixels["seq"], 1);
    without_pixels["seq"] = 0.into();
    assert_eq!(r, without_pixels);
    let mut schema = RecordSchema::load();
    assert!(schema.is_valid_as("frame", &r), "{r}");
    records_schema::assert_pixel_free(&r);
    let face = &r["faces"][0];
    assert_eq!(face["id"], 7);
    assert_eq!(face["box"], serde_json::json!([10.25, 8.0, 20.0, 24.0]));
    assert_eq!(face["landmarks"][4], serde_json::json!([18.0, 19.0]));
    assert_eq!(face["demographics"]["age_group"], "25-34");
    assert_eq!(face["demographics"]["gender_confidence"], 0.93);
    assert_eq!(face["head_pose"]["yaw"], -12.5);
    assert_eq!(face["head_pose"]["roll"], 1.0);
    assert_eq!(face["attention"]["dwell_time"], 2.5);
    assert_eq!(face["attention"]["glances"], 2);
    assert_eq!(face["face_extra"], serde_json::json!({"note": "kept"}), "crop, embedding, thumbnail dropped");
    assert_eq!(r["screen"], "lobby-1");
    assert!(face.get("detection").is_none(), "detection fields are the face's own");
}

/// A `left` person event as gazedwell sends it.
fn person_event(id: u32) -> gst::Event {
    let share = gst::Structure::builder(gstblickfang::meta::CONTENT_SHARE)
        .field("content-id", "spring-campaign")
        .field("start", 0.0f64)
        .field("end", 0.02f64)
        .field("dwell-time", 0.02f64)
        .field("attention-time", 0.01f64)
        .build();
    gst::event::CustomDownstream::new(
        gst::Structure::builder(PERSON_EVENT)
            .field("event", "left")
            .field("id", id)
            .field("running-time", 0.02f64)
            .field("dwell-time", 5.0f64)
            .field("attention-time", 2.5f64)
            .field("glances", 2u32)
            .field("gender", "female")
            .field("age-group", "25-34")
            .field("contents", gst::Array::new([share]))
            .field("ending", "normal")
            .build(),
    )
}

/// A content report as gazedwell sends it (suppressed cells: absent, or -1).
fn content_report() -> gst::Event {
    // One cell per gender and age group; a suppressed cell has no `ots`.
    let demographics = gst::Array::new([
        gst::Structure::builder("cell")
            .field("gender", "female")
            .field("age-group", "25-34")
            .field("ots", 6u32)
            .build(),
        gst::Structure::builder("cell").field("gender", "male").field("age-group", "35-44").build(),
    ]);
    gst::event::CustomDownstream::new(
        gst::Structure::builder(CONTENT_REPORT)
            .field("content-id", "spring-campaign")
            .field("start", 0.0f64)
            .field("end", 15.0f64)
            .field("ending", "eos")
            .field("min-group-size", 5u32)
            .field("ots", 12u32)
            .field("conversion", 0.5f64)
            .field("dwell-histogram", gst::Array::new([0i64, -1, 5, 6, 0, 0]))
            .field("dwell-bins", gst::Array::new([2.0f64, 5.0, 10.0, 30.0, 60.0]))
            .field("demographics", demographics)
            .field("suppressed", gst::Array::new(["watchers"]))
            .build(),
    )
}

#[test]
fn person_events_and_content_reports_become_records_in_stream_order() {
    common::init();
    let (buf, caps) = blank_frame();
    let mut h = common::harness(metajson(&[]), &caps);
    h.push(timed(&buf, 0)).unwrap();
    assert!(h.push_event(person_event(3)));
    assert!(h.push_event(gst::event::CustomDownstream::new(gst::Structure::new_empty("something-else"))));
    h.push(timed(&buf, 1)).unwrap();
    assert!(h.push_event(content_report()));
    let records = drain(&mut h);
    let types: Vec<_> = records.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["frame", "person-event", "frame", "content-report"]);
    let seqs: Vec<_> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    let mut schema = RecordSchema::load();
    let p = &records[1];
    assert!(schema.is_valid_as("person_event", p), "{p}");
    assert_eq!(p["id"], 3);
    assert_eq!(p["dwell_time"], 5.0);
    assert_eq!(p["age_group"], "25-34");
    assert_eq!(p["contents"][0]["content_id"], "spring-campaign");
    assert_eq!(p["contents"][0]["attention_time"], 0.01);
    assert_eq!(p["ending"], "normal");
    assert_eq!(p["running_time"], 0.02, "the event's own time");
    assert!(p.get("pts").is_none(), "an event with its own time does not borrow a frame's pts: {p}");
    assert_eq!(records.iter().map(|r| r["run"].clone()).collect::<std::collections::HashSet<_>>().len(), 1);
    let c = &records[3];
    assert!(schema.is_valid_as("content_report", c), "{c}");
    assert_eq!(c["content_id"], "spring-campaign");
    assert_eq!(c["dwell_histogram"], serde_json::json!([0, -1, 5, 6, 0, 0]));
    assert_eq!(
        c["demographics"],
        serde_json::json!([{"gender": "female", "age_group": "25-34", "ots": 6}, {"gender": "male", "age_group": "35-44"}])
    );
    assert_eq!(c["pts"], 0.04, "without a time of its own, the time of the frame before it");
    assert_eq!(c["ending"], "eos");
    // Empty frames are records too (skip-empty is off by default).
    assert_eq!(records[0]["faces"], serde_json::json!([]));
    for r in &records {
        schema.check(r);
    }
    // The events also travel on downstream.
    let mut names = Vec::new();
    while let Some(e) = h.try_pull_event() {
        if let Some(s) = e.structure() {
            names.push(s.name().to_string());
        }
    }
    assert!(names.iter().any(|n| n == PERSON_EVENT) && names.iter().any(|n| n == "something-else"), "{names:?}");
}

#[test]
fn modes_select_records_and_skipped_frames_leave_gaps() {
    common::init();
    let (mut buf, caps) = blank_frame();
    let push_all = |h: &mut gst_check::Harness, buf: &gst::Buffer| {
        h.push(timed(buf, 0)).unwrap();
        h.push_event(person_event(1));
        h.push_event(content_report());
        h.push(timed(buf, 1)).unwrap();
    };
    let kinds = |records: &[Value]| records.iter().map(|r| r["type"].as_str().unwrap().to_string()).collect::<Vec<_>>();

    let mut h = common::harness(metajson(&[("mode", "person-events")]), &caps);
    push_all(&mut h, &buf);
    assert_eq!(kinds(&drain(&mut h)), ["person-event"]);
    let mut gaps = 0;
    while let Some(e) = h.try_pull_event() {
        gaps += usize::from(e.type_() == gst::EventType::Gap);
    }
    assert_eq!(gaps, 2, "a skipped frame becomes a gap, so sinks preroll");

    let mut h = common::harness(metajson(&[("mode", "content-reports")]), &caps);
    push_all(&mut h, &buf);
    assert_eq!(kinds(&drain(&mut h)), ["content-report"]);

    let mut h = common::harness(metajson(&[("mode", "frames")]), &caps);
    push_all(&mut h, &buf);
    assert_eq!(kinds(&drain(&mut h)), ["frame", "frame"]);

    add_face(buf.get_mut().unwrap(), 1, vec![]);
    let (empty, _) = blank_frame();
    let mut h = common::harness(metajson(&[("skip-empty", "true")]), &caps);
    h.push(timed(&empty, 0)).unwrap();
    h.push(timed(&buf, 1)).unwrap();
    let records = drain(&mut h);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["faces"][0]["id"], 1);
    assert_eq!(records[0]["seq"], 0);
}

#[test]
fn utc_is_rfc3339_when_asked_and_absent_when_not() {
    common::init();
    let (buf, caps) = blank_frame();
    let schema = RecordSchema::load();
    let mut h = common::harness(metajson(&[("utc", "always")]), &caps);
    let r = record(&h.push_and_pull(timed(&buf, 0)).unwrap());
    let utc = r["utc"].as_str().unwrap();
    assert_eq!(utc.len(), 24, "{utc}");
    assert!(utc.starts_with("20") && utc.ends_with('Z'), "{utc}");
    schema.check(&r);
    let mut h = common::harness(metajson(&[("utc", "never")]), &caps);
    let r = record(&h.push_and_pull(timed(&buf, 0)).unwrap());
    assert!(r.get("utc").is_none());
}

#[test]
fn a_file_source_gives_no_utc_and_filesink_gets_every_line() {
    common::init();
    let out = std::env::temp_dir().join(format!("blickfang-metajson-{}.ndjson", std::process::id()));
    let desc = format!(
        "filesrc location={} ! decodebin ! videoconvert ! blickfang-facedetect ! blickfang-metajson ! filesink location={}",
        common::data(CLIP).display(),
        out.display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Error, gst::MessageType::Eos])
        .expect("EOS");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let records = RecordSchema::load().check_lines(&text);
    assert_eq!(records.len(), 35, "one record per frame of the 35-frame clip");
    assert!(records.iter().all(|r| r.get("utc").is_none()), "a file is not live");
    assert!(records.iter().enumerate().all(|(i, r)| r["seq"] == i as u64));
}

/// Two people in front of a camera with faces big enough for age and gender.
const PEOPLE_CLIP: &str = "videos_people/intel_preview_head-pose-face-detection-female-and-male.transcoded.mp4";

/// Runs `blickfang analyze` and returns every line of its output, each
/// checked against the schema (whole outputs, not a prefix).
fn analyze_records(schema: &RecordSchema, input: &std::path::Path) -> Vec<Value> {
    let name = input.file_name().unwrap().to_string_lossy();
    let out = std::env::temp_dir().join(format!("blickfang-analyze-{name}-{}.ndjson", std::process::id()));
    let status = Command::new(common::blickfang_binary_path())
        .arg("analyze")
        .arg(input)
        .arg("--output")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "blickfang analyze {}", input.display());
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    schema.check_lines(&text)
}

/// Every record of one run is numbered 0, 1, 2, ... in output order, so
/// (screen, run, seq) never repeats.
fn assert_numbered_per_run(records: &[Value]) {
    let mut next: std::collections::HashMap<(String, String), u64> = Default::default();
    for r in records {
        let key = (r["screen"].as_str().unwrap().to_string(), r["run"].as_str().unwrap().to_string());
        let expected = next.entry(key).or_default();
        assert_eq!(r["seq"].as_u64(), Some(*expected), "{r}");
        *expected += 1;
    }
}

#[test]
fn blickfang_analyze_of_a_video_is_schema_valid_records_of_every_type() {
    common::init();
    let mut schema = RecordSchema::load();
    let records = analyze_records(&schema, &common::data(PEOPLE_CLIP));
    let count = |t: &str| records.iter().filter(|r| r["type"] == t).count();
    assert!(count("frame") > 50, "a frame record per frame");
    assert_eq!(count("person-event") % 2, 0);
    let left: Vec<&Value> = records.iter().filter(|r| r["event"] == "left").collect();
    assert_eq!(left.len(), 2, "two people, each leaves once");
    assert_eq!(count("content-report"), 1, "one content period, closed at EOS");
    for r in &records {
        let def = r["type"].as_str().unwrap().replace('-', "_");
        assert!(schema.is_valid_as(&def, r), "not a {def}: {r}");
    }
    assert_numbered_per_run(&records);
    // Demographics, head pose and attention on the faces; the people's records carry the same labels.
    let faces: Vec<&Value> = records.iter().flat_map(|r| r["faces"].as_array().into_iter().flatten()).collect();
    assert!(faces.iter().all(|f| f["demographics"]["gender"].is_string() && f["head_pose"]["yaw"].is_f64()));
    assert!(faces.iter().all(|f| f["attention"]["looking"].is_boolean()));
    for person in &left {
        assert!(person["gender"] == "female" || person["gender"] == "male", "{person}");
        let shares = person["contents"].as_array().unwrap();
        let dwell: f64 = shares.iter().map(|c| c["dwell_time"].as_f64().unwrap()).sum();
        assert!((dwell - person["dwell_time"].as_f64().unwrap()).abs() < 1e-6, "{person}");
        assert_eq!(person["ending"], "eos");
    }
    let report = records.iter().find(|r| r["type"] == "content-report").unwrap();
    assert_eq!(report["ending"], "eos");
    assert_eq!(report["losses"], serde_json::json!({"frames_untimed": 0, "frames_unanalysed": 0}), "{report}");
    assert!(report.get("ots").is_none(), "two people are fewer than k = 5: suppressed, {report}");
    assert_eq!(records.last().unwrap()["type"], "content-report", "the report closes the run");
}

#[test]
fn blickfang_analyze_of_an_image_folder_is_one_frame_record_per_image() {
    common::init();
    let mut schema = RecordSchema::load();
    let records = analyze_records(&schema, &common::data("photos"));
    let sources: Vec<&str> = records.iter().map(|r| r["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["Tom_Hanks_54745.png", "astronaut.png", "t1.jpg"], "sorted, relative");
    for r in &records {
        assert!(schema.is_valid_as("frame", r), "{r}");
        assert!(r.get("utc").is_none(), "a photo has no wall-clock time");
    }
    assert_numbered_per_run(&records);
    let faces: usize = records.iter().map(|l| l["faces"].as_array().unwrap().len()).sum();
    assert!(faces >= 8, "{faces} faces");
}

/// GStreamer 1.22 demuxes no video from this fragmented MP4: an empty output
/// with success would read as "nobody was there". Whatever a later GStreamer
/// makes of the file, `analyze` either writes frames or fails saying why.
#[test]
fn analyze_never_succeeds_silently_without_frames() {
    let clip = common::data("videos_people/3ddfa_obama.mp4");
    let out = std::env::temp_dir().join(format!("blickfang-no-frames-{}.jsonl", std::process::id()));
    let run = Command::new(common::blickfang_binary_path())
        .arg("analyze")
        .arg(&clip)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let lines = std::fs::read_to_string(&out).unwrap_or_default().lines().filter(|l| l.contains("\"frame\"")).count();
    let stderr = String::from_utf8_lossy(&run.stderr);
    if run.status.success() {
        assert!(lines > 0, "exit 0 with no frame written; stderr: {stderr}");
    } else {
        assert_eq!(lines, 0);
        assert!(stderr.contains("without a single video frame") && stderr.contains("3ddfa_obama.mp4"), "{stderr}");
    }
    std::fs::remove_file(&out).ok();
}

#[test]
fn the_schema_refuses_pixels_and_unknown_top_level_fields() {
    let mut schema = RecordSchema::load();
    let frame = serde_json::json!({
        "schema": "blickfang/2", "type": "frame", "screen": "s", "run": "r", "seq": 0, "width": 64, "height": 48,
        "faces": [{"id": 1, "box": [1, 2, 3, 4], "confidence": 0.9, "landmarks": [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]], "predicted": false}]
    });
    assert!(schema.is_valid_as("frame", &frame));
    for field in ["screen", "run", "seq"] {
        let mut bad = frame.clone();
        bad.as_object_mut().unwrap().remove(field);
        assert!(!schema.is_valid(&bad), "(screen, run, seq) is every record's key: {field} is required");
    }
    let mut bad = frame.clone();
    bad["faces"][0]["score"] = bad["faces"][0]["confidence"].take();
    assert!(!schema.is_valid(&bad), "version 2 says confidence");
    let mut bad = frame.clone();
    bad["image"] = Value::String("iVBORw0KGgo".into());
    assert!(!schema.is_valid(&bad), "no top-level field outside the schema");
    let mut bad = frame.clone();
    bad["faces"][0]["embedding"] = serde_json::json!({"v": vec![0.5; 128]});
    assert!(!schema.is_valid(&bad), "no long arrays in a face");
    let mut bad = frame.clone();
    bad["faces"][0]["crop"] = serde_json::json!({"png": "A".repeat(300)});
    assert!(!schema.is_valid(&bad), "no long strings in a face");
    let mut bad = frame.clone();
    bad["schema"] = "blickfang/1".into();
    assert!(!schema.is_valid(&bad), "the version is part of the record");
    let id =
        serde_json::from_str::<Value>(&std::fs::read_to_string(records_schema::schema_path()).unwrap()).unwrap()["$id"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(id.contains("v2"), "$id carries the version: {id}");
    assert_eq!(blickfang::records::SCHEMA, "blickfang/2");
}

#[test]
fn both_elements_document_every_property() {
    common::init();
    for name in ["blickfang-metajson", "metajson", "blickfang-mqttsink"] {
        let e = gst::ElementFactory::make(name).build().unwrap_or_else(|_| panic!("{name} is registered"));
        let own: Vec<_> = e.list_properties().into_iter().filter(|p| p.owner_type() == e.type_()).collect();
        assert!(own.len() >= 4, "{name}");
        for p in own {
            assert!(p.blurb().is_some_and(|b| b.len() > 10), "{name}: property {} has no description", p.name());
        }
    }
}

/// Records of `videotestsrc is-live=<live> ! metajson` with default properties.
fn test_source_records(live: bool) -> Vec<Value> {
    let desc = format!(
        "videotestsrc is-live={live} num-buffers=3 ! video/x-raw,format=GRAY8,width=64,height=48 ! \
         blickfang-metajson ! appsink name=out sync=false"
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut records = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        records.push(record(&sample.buffer_owned().unwrap()));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    records
}

#[test]
fn live_sources_get_wall_clock_utc_by_default() {
    common::init();
    let live = test_source_records(true);
    assert_eq!(live.len(), 3);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128;
    // Same fixed-width format: the strings compare as the times do.
    let (from, to) =
        (blickfang::time::utc_rfc3339(now - 60_000_000_000), blickfang::time::utc_rfc3339(now + 1_000_000_000));
    for r in &live {
        let utc = r["utc"].as_str().unwrap_or_else(|| panic!("no utc: {r}"));
        assert!(from.as_str() <= utc && utc <= to.as_str(), "{utc} not within a minute of now");
    }
    let not_live = test_source_records(false);
    assert_eq!(not_live.len(), 3);
    assert!(not_live.iter().all(|r| r.get("utc").is_none()));
}

/// `analyze` of an empty or corrupt file, or of a folder holding one, fails
/// naming the input and GStreamer's cause, not only "Internal data stream error".
#[test]
fn analyze_of_an_empty_or_corrupt_file_names_the_input_and_the_cause() {
    let dir = std::env::temp_dir().join(format!("blickfang-bad-inputs-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let empty = dir.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let corrupt = dir.join("corrupt.mp4");
    std::fs::write(&corrupt, (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
        .unwrap();
    std::fs::write(images.join("empty.jpg"), b"").unwrap();
    let out = dir.join("out.jsonl");
    for (input, named, cause) in [
        (&empty, &empty, "contains no data"),
        (&corrupt, &corrupt, "Could not determine type of stream"),
        (&images, &images.join("empty.jpg"), "contains no data"),
    ] {
        let run = Command::new(common::blickfang_binary_path())
            .arg("analyze")
            .arg(input)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{}: {stderr}", input.display());
        assert!(stderr.contains(&named.display().to_string()) && stderr.contains(cause), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
