//! Audience measurement on generated scenes with exact ground truth: real
//! faces from the shared data (frontal UTKFace crops as people looking at the
//! screen, AFLW2000-3D faces turned by 45-70 degrees as people looking away)
//! composed over a background for known frame ranges, with several people at
//! once, a short occlusion, a person who looks and then turns away, a brief
//! passer-by and a content switch. The video exists only in memory.

mod common;
mod scene_gen;

use std::collections::HashMap;

use gst::prelude::*;
use gstblickfang::gazedwell;
use gstblickfang::meta;
use gstblickfang::meta::{CONTENT_REPORT, PERSON_EVENT};
use scene_gen::{background, faces, paste};

const W: usize = 960;
const H: usize = 540;
const FPS: u64 = 10;
const FRAMES: usize = 120;
const FACE: usize = 110;
// The generator draws into frames of its own size.
const _: () = assert!(W == scene_gen::W && H == scene_gen::H);

/// What one person shows in a frame range.
struct Appearance {
    face: usize,
    frames: std::ops::Range<usize>,
}

/// A person standing at `x` (centre of the face), with appearances and occlusions.
struct Person {
    name: &'static str,
    x: usize,
    shows: Vec<Appearance>,
    hidden: std::ops::Range<usize>,
    /// Ground truth: frames present and frames looking (for dwell/attention).
    looking_faces: Vec<usize>,
}

impl Person {
    fn face_at(&self, frame: usize) -> Option<usize> {
        if self.hidden.contains(&frame) {
            return None;
        }
        self.shows.iter().find(|a| a.frames.contains(&frame)).map(|a| a.face)
    }

    fn first(&self) -> usize {
        self.shows.iter().map(|a| a.frames.start).min().unwrap()
    }

    fn end(&self) -> usize {
        self.shows.iter().map(|a| a.frames.end).max().unwrap()
    }

    /// Seconds present within [from, to) frames (occlusions shorter than the grace period count).
    fn dwell(&self, from: usize, to: usize) -> f64 {
        (self.end().min(to).saturating_sub(self.first().max(from))) as f64 / FPS as f64
    }

    fn attention(&self, from: usize, to: usize) -> f64 {
        let mut frames = 0;
        for a in self.shows.iter().filter(|a| self.looking_faces.contains(&a.face)) {
            frames += a.frames.end.min(to).saturating_sub(a.frames.start.max(from));
        }
        frames as f64 / FPS as f64
    }
}

/// The scene (10 fps, 12 s; content A for frames 0..70, B for 70..120).
fn people() -> Vec<Person> {
    let show = |face, frames| Appearance { face, frames };
    vec![
        Person { name: "P1 looks 6 s", x: 130, shows: vec![show(0, 0..60)], hidden: 0..0, looking_faces: vec![0] },
        Person { name: "P2 turned away", x: 320, shows: vec![show(5, 10..50)], hidden: 0..0, looking_faces: vec![] },
        Person {
            name: "P3 looks, occluded 0.4 s",
            x: 500,
            shows: vec![show(1, 30..100)],
            hidden: 50..54,
            looking_faces: vec![1],
        },
        Person {
            name: "P4 looks 3 s then turns",
            x: 690,
            shows: vec![show(2, 55..85), show(4, 85..110)],
            hidden: 0..0,
            looking_faces: vec![2],
        },
        Person {
            name: "P5 passes by 0.5 s",
            x: 860,
            shows: vec![show(3, 100..105)],
            hidden: 0..0,
            looking_faces: vec![3],
        },
    ]
}

const SWITCH: usize = 70;

struct Outcome {
    /// Per track id: the `left` event.
    left: HashMap<u32, gst::Structure>,
    reports: Vec<gst::Structure>,
    /// Track id -> face centre x seen on its frames.
    track_x: HashMap<u32, f64>,
}

fn run(props: &str) -> Outcome {
    common::init();
    let faces = faces();
    let people = people();
    let bg = background();
    let desc = format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={W},height={H},framerate={FPS}/1 ! \
         blickfang-facedetect ! blickfang-gazedwell name=gd content-id=A {props} ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let gd = pipeline.by_name("gd").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut track_x: HashMap<u32, f64> = HashMap::new();
    for f in 0..FRAMES {
        if f == SWITCH {
            // The player says what is on screen. Every earlier frame has come out of the
            // sink already (pulled below), so the event lands between frames 69 and 70.
            assert!(src.static_pad("src").unwrap().push_event(gazedwell::content_event("B")));
        }
        let mut frame = bg.clone();
        for p in &people {
            if let Some(face) = p.face_at(f) {
                paste(&mut frame, &faces[face], p.x, H / 2, FACE);
            }
        }
        let mut buf = gst::Buffer::from_mut_slice(frame);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(f as u64 * 1000 / FPS));
            b.set_duration(gst::ClockTime::from_mseconds(1000 / FPS));
        }
        src.push_buffer(buf).unwrap();
        let sample = sink.pull_sample().unwrap();
        for face in meta::faces(sample.buffer().unwrap()) {
            track_x.insert(face.id, face.bbox[0] + face.bbox[2] / 2.0);
        }
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let mut left = HashMap::new();
    let mut reports = Vec::new();
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == PERSON_EVENT && s.get::<String>("event").unwrap() == "left" {
                    left.insert(s.get::<u32>("id").unwrap(), s.to_owned());
                } else if s.name() == CONTENT_REPORT {
                    reports.push(s.to_owned());
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let _ = gd;
    Outcome { left, reports, track_x }
}

#[test]
fn scene_counts_times_and_attributes_exactly() {
    let out = run("min-group-size=1 grace=1.0 min-dwell=1.0 min-attention=1.0");
    let people = people();
    // Each counted person is one track whose position identifies them.
    for p in people.iter().filter(|p| p.dwell(0, FRAMES) >= 1.0) {
        let ids: Vec<u32> =
            out.track_x.iter().filter(|(_, x)| (**x - p.x as f64).abs() < 60.0).map(|(&id, _)| id).collect();
        let left: Vec<&gst::Structure> = ids.iter().filter_map(|id| out.left.get(id)).collect();
        assert_eq!(left.len(), 1, "{}: tracks {ids:?}, left events {left:?}", p.name);
        let (dwell, attention) =
            (left[0].get::<f64>("dwell-time").unwrap(), left[0].get::<f64>("attention-time").unwrap());
        println!(
            "{}: dwell {dwell:.2} (truth {:.2}), attention {attention:.2} (truth {:.2})",
            p.name,
            p.dwell(0, FRAMES),
            p.attention(0, FRAMES)
        );
        assert!((dwell - p.dwell(0, FRAMES)).abs() <= 0.2, "{}: dwell {dwell}", p.name);
        assert!((attention - p.attention(0, FRAMES)).abs() <= 0.2, "{}: attention {attention}", p.name);
        // The same person's time per content item: what the fleet sums per item.
        let shares: gst::Array = left[0].get("contents").unwrap();
        for share in shares.iter().map(|v| v.get::<gst::Structure>().unwrap()) {
            let (from, to) =
                if share.get::<String>("content-id").unwrap() == "A" { (0, SWITCH) } else { (SWITCH, FRAMES) };
            let (d, a) = (share.get::<f64>("dwell-time").unwrap(), share.get::<f64>("attention-time").unwrap());
            assert!((d - p.dwell(from, to)).abs() <= 0.2, "{}: {share}", p.name);
            assert!((a - p.attention(from, to)).abs() <= 0.2, "{}: {share}", p.name);
        }
        let items: Vec<String> =
            shares.iter().map(|v| v.get::<gst::Structure>().unwrap().get("content-id").unwrap()).collect();
        let truth: Vec<&str> = [("A", 0, SWITCH), ("B", SWITCH, FRAMES)]
            .into_iter()
            .filter(|(_, from, to)| p.dwell(*from, *to) > 0.0)
            .map(|(id, _, _)| id)
            .collect();
        assert_eq!(items, truth, "{}: the items they were there for", p.name);
    }
    assert_eq!(out.left.len(), 4, "P5's 0.5 s pass is below min-dwell: {:?}", out.left.keys());
    let ids: Vec<String> = out.reports.iter().map(|r| r.get("content-id").unwrap()).collect();
    assert_eq!(ids, ["A", "B"]);
    for (report, (from, to)) in out.reports.iter().zip([(0, SWITCH), (SWITCH, FRAMES)]) {
        let ots = people.iter().filter(|p| p.dwell(from, to) >= 1.0).count() as u32;
        let watchers =
            people.iter().filter(|p| p.dwell(from, to) >= 1.0 && p.attention(from, to) >= 1.0).count() as u32;
        println!("{report}");
        assert_eq!(report.get::<u32>("ots").unwrap(), ots, "{report}");
        assert_eq!(report.get::<u32>("watchers").unwrap(), watchers, "{report}");
        let truth: f64 = people.iter().filter(|p| p.dwell(from, to) >= 1.0).map(|p| p.attention(from, to)).sum();
        assert!((report.get::<f64>("attention-time-total").unwrap() - truth).abs() <= 0.2 * ots as f64, "{report}");
    }
    // The expected split, spelled out: A has P1-P4 (P2 never looks), B has P3 and P4.
    assert_eq!(out.reports[0].get::<u32>("ots").unwrap(), 4);
    assert_eq!(out.reports[0].get::<u32>("watchers").unwrap(), 3);
    assert_eq!(out.reports[1].get::<u32>("ots").unwrap(), 2);
}

#[test]
fn scene_reports_are_k_anonymous() {
    let out = run("grace=1.0 min-dwell=1.0 min-attention=1.0");
    for r in &out.reports {
        // Four and two people: below the default k of 5, so no counts are published.
        assert!(!r.has_field("ots") && !r.has_field("watchers") && !r.has_field("attention-time-total"), "{r}");
        let hist: gst::Array = r.get("dwell-histogram").unwrap();
        assert!(hist.iter().all(|v| matches!(v.get::<i64>().unwrap(), 0 | -1)), "{r}");
    }
}
