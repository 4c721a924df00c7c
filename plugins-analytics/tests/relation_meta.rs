//! A real clip through facedetect ! demographics ! analyticsmeta ! objectdetectionoverlay:
//! a probe after the overlay (a GStreamer >= 1.24 element that reads the relation meta) checks
//! that every face ROI has its ODMtd with the same box, its classifications and its track, and
//! the relations between them. Runs inside the Debian 13 root (tests/analytics_meta.rs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_analytics::prelude::*;
use gst_analytics::{
    AnalyticsClassificationMtd, AnalyticsODMtd, AnalyticsRelationMeta, AnalyticsTrackingMtd, RelTypes,
};
use gstblickfang::meta;

/// Two people in front of the camera, faces big enough for age and gender (the Makefile's DEMO_CLIP).
const CLIP: &str = "videos_people/intel_preview_head-pose-face-detection-female-and-male.transcoded.mp4";

fn clip() -> PathBuf {
    let shared = std::env::var_os("BLICKFANG_SHARED_DIR").expect("BLICKFANG_SHARED_DIR is not set");
    let p = PathBuf::from(shared).join("data").join(CLIP);
    assert!(p.exists(), "test clip {} is missing", p.display());
    p
}

#[derive(Default)]
struct Seen {
    frames: usize,
    faces: usize,
    classified: usize,
    /// First PTS of each track, as the probe saw it (the converter must agree).
    first_seen: HashMap<u64, gst::ClockTime>,
    errors: Vec<String>,
}

/// Checks one buffer, recording what is wrong in `seen.errors`.
fn check(buf: &gst::BufferRef, seen: &mut Seen) {
    let faces = meta::faces(buf);
    let demographics = meta::face_demographics(buf);
    seen.frames += 1;
    let pts = buf.pts().expect("buffer PTS");
    let Some(rmeta) = buf.meta::<AnalyticsRelationMeta>() else {
        if !faces.is_empty() {
            seen.errors.push(format!("{pts}: {} faces but no relation meta", faces.len()));
        }
        return;
    };
    let ods: Vec<_> = rmeta.iter::<AnalyticsODMtd>().collect();
    if ods.len() != faces.len() {
        seen.errors.push(format!("{pts}: {} face ROIs but {} ODMtds", faces.len(), ods.len()));
    }
    for (face, demo) in faces.iter().zip(&demographics) {
        seen.faces += 1;
        let (x, y, w, h) = face.rect;
        let od = ods
            .iter()
            .find(|od| od.location().is_ok_and(|l| (l.x, l.y, l.w, l.h) == (x as i32, y as i32, w as i32, h as i32)));
        let Some(od) = od else {
            seen.errors.push(format!("{pts}: no ODMtd with the box of track {} {:?}", face.id, face.rect));
            continue;
        };
        if od.obj_type().map(|q| q.as_str().to_owned()).as_deref() != Some("face") {
            seen.errors.push(format!("{pts}: ODMtd of track {} has type {:?}", face.id, od.obj_type()));
        }
        if (od.location().unwrap().loc_conf_lvl - face.confidence as f32).abs() > 1e-6 {
            seen.errors.push(format!("{pts}: ODMtd of track {} has another confidence", face.id));
        }
        // The track: the face RELATE_TO it, with the ROI's id, first seen when the probe first saw it.
        let tracks: Vec<_> = rmeta.iter_direct_related::<AnalyticsTrackingMtd>(od.id(), RelTypes::RELATE_TO).collect();
        match tracks.as_slice() {
            [t] => {
                let (id, first, last, lost) = t.info();
                let expected_first = *seen.first_seen.entry(id).or_insert(pts);
                if id != u64::from(face.id) || first != expected_first || last != pts || lost {
                    seen.errors.push(format!(
                        "{pts}: track of face {}: id {id}, first {first} (expected {expected_first}), last {last}, lost {lost}",
                        face.id
                    ));
                }
            }
            other => seen.errors.push(format!("{pts}: face {} has {} tracks", face.id, other.len())),
        }
        // The classes: each IS_PART_OF the face, which CONTAINs it; as many as the ROI's known labels.
        let mut classes: Vec<Vec<(String, f32)>> = Vec::new();
        for cls in rmeta.iter_direct_related::<AnalyticsClassificationMtd>(od.id(), RelTypes::CONTAIN) {
            if rmeta.relation(cls.id(), od.id()) != RelTypes::IS_PART_OF {
                seen.errors.push(format!("{pts}: class of face {} is not IS_PART_OF it", face.id));
            }
            classes.push(cls.iterate().map(|(q, level)| (q.as_str().to_string(), level)).collect());
        }
        let mut expected: Vec<Vec<(String, f32)>> = Vec::new();
        if let Some(d) = demo {
            if d.gender != "unknown" {
                let c = d.gender_confidence as f32;
                let (female, male) = if d.gender == "female" { (c, 1.0 - c) } else { (1.0 - c, c) };
                expected.push(vec![("female".into(), female), ("male".into(), male)]);
            }
            if d.age_group != "unknown" {
                expected.push(vec![(d.age_group.clone(), 1.0)]);
            }
        }
        if !expected.is_empty() {
            seen.classified += 1;
        }
        let same = classes.len() == expected.len()
            && classes.iter().zip(&expected).all(|(a, b)| {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() < 1e-6)
            });
        if !same {
            seen.errors.push(format!("{pts}: face {} classes {classes:?}, its ROI says {expected:?}", face.id));
        }
    }
}

#[test]
fn every_face_roi_has_its_detection_classes_and_track() {
    gst::init().unwrap();
    gstblickfang::register_static().unwrap();
    gstblickfanganalytics::register_static().unwrap();
    assert!(
        gst::ElementFactory::find("objectdetectionoverlay").is_some(),
        "objectdetectionoverlay (gstreamer1.0-plugins-bad >= 1.24) is missing"
    );
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! blickfang-facedetect ! blickfang-demographics ! \
         blickfang-analyticsmeta ! videoconvert ! objectdetectionoverlay name=overlay ! fakesink",
        clip().display()
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let pad = pipeline.by_name("overlay").unwrap().static_pad("src").unwrap();
    let s = seen.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            check(buf, &mut s.lock().unwrap());
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("pipeline error: {} ({:?})", e.error(), e.debug()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let seen = seen.lock().unwrap();
    println!(
        "{} frames, {} face ROIs ({} classified), {} tracks",
        seen.frames,
        seen.faces,
        seen.classified,
        seen.first_seen.len()
    );
    assert!(
        seen.errors.is_empty(),
        "{} problems, first: {:#?}",
        seen.errors.len(),
        &seen.errors[..seen.errors.len().min(10)]
    );
    // Two people in every frame of the clip: at least one face per frame on average.
    assert!(seen.faces >= seen.frames, "too few faces to say anything: {} in {} frames", seen.faces, seen.frames);
    assert!(seen.classified > 0, "no face was classified: demographics' classes went unchecked");
    assert!(!seen.first_seen.is_empty());
}
