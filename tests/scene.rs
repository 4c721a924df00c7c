//! Audience measurement on generated scenes with exact ground truth: real
//! faces from the shared data (frontal UTKFace crops as people looking at the
//! screen, AFLW2000-3D faces turned by 45-70 degrees as people looking away)
//! composed over a background for known frame ranges, with several people at
//! once, a short occlusion, a person who looks and then turns away, a brief
//! passer-by and a content switch. The video exists only in memory.

mod common;
mod scene_gen;

use std::collections::HashMap;

use gstblickfang::gazedwell;
use gstblickfang::meta;
use gstblickfang::meta::{CONTENT_REPORT, PERSON_EVENT};
use scene_gen::{Player, background, faces, paste};

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
    let player = Player::start(&format!("blickfang-facedetect ! blickfang-gazedwell content-id=A {props}"), FPS);
    let mut track_x: HashMap<u32, f64> = HashMap::new();
    for f in 0..FRAMES {
        if f == SWITCH {
            // The player says what is on screen. Every earlier frame has come out of the
            // sink already (pulled below), so the event lands between frames 69 and 70.
            player.send_event(gazedwell::content_event("B"));
        }
        let mut frame = bg.clone();
        for p in &people {
            if let Some(face) = p.face_at(f) {
                paste(&mut frame, &faces[face], p.x, H / 2, FACE);
            }
        }
        let sample = player.play(frame, f);
        for face in meta::faces(sample.buffer().unwrap()) {
            track_x.insert(face.id, face.bbox[0] + face.bbox[2] / 2.0);
        }
    }
    let (mut left, mut reports) = (HashMap::new(), Vec::new());
    for s in player.finish() {
        if s.name() == PERSON_EVENT && s.get::<String>("event").unwrap() == "left" {
            left.insert(s.get::<u32>("id").unwrap(), s);
        } else if s.name() == CONTENT_REPORT {
            reports.push(s);
        }
    }
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

// Track continuity: scenes at 25 fps (frames <-> seconds by the scene's fps)
// where faces are covered by an opaque object, cross, sit at the frame edge or
// stay for a minute. Each checks exact dwell, attention, OTS and watchers and
// that every person is exactly one track and every track exactly one person
// (no split, no swap).

/// One person of a continuity scene: one face, walking at `vx` pixels a frame.
struct Walker {
    name: &'static str,
    /// Index into `faces()`: 0..4 look at the screen, 4..6 look away.
    face: usize,
    /// Face centre x on frame 0 of `frames`, and its size.
    x: f64,
    vx: f64,
    size: usize,
    frames: std::ops::Range<usize>,
    /// Frames an opaque object stands in front of the face.
    covered: std::ops::Range<usize>,
}

impl Walker {
    fn new(name: &'static str, face: usize, x: f64, frames: std::ops::Range<usize>) -> Self {
        Walker { name, face, x, vx: 0.0, size: FACE, frames, covered: 0..0 }
    }

    fn x_at(&self, frame: usize) -> f64 {
        self.x + self.vx * (frame as f64 - self.frames.start as f64)
    }

    fn looks(&self) -> bool {
        self.face < 4
    }

    /// Ground truth in seconds: present from first to last frame (covered
    /// frames included: the person is there), looking all along if they look.
    fn dwell(&self, fps: u64) -> f64 {
        self.frames.len() as f64 / fps as f64
    }

    fn attention(&self, fps: u64) -> f64 {
        if self.looks() { self.dwell(fps) } else { 0.0 }
    }
}

struct Scene {
    fps: u64,
    frames: usize,
    walkers: Vec<Walker>,
}

struct Seen {
    frame: usize,
    id: u32,
    centre_x: f64,
    predicted: bool,
}

/// Runs a scene through facedetect ! gazedwell (element defaults but for
/// `props`): every face ROI of every frame, and the person events and content
/// reports on the bus.
fn run_scene(scene: &Scene, props: &str) -> (Vec<Seen>, Vec<gst::Structure>, Vec<gst::Structure>) {
    common::init();
    let faces = faces();
    let bg = background();
    let player = Player::start(
        &format!("blickfang-facedetect ! blickfang-gazedwell content-id=A min-group-size=1 {props}"),
        scene.fps,
    );
    let mut seen = Vec::new();
    for f in 0..scene.frames {
        let mut frame = bg.clone();
        // Later walkers are in front.
        for w in scene.walkers.iter().filter(|w| w.frames.contains(&f)) {
            let x = w.x_at(f).round() as usize;
            paste(&mut frame, &faces[w.face], x, H / 2, w.size);
            if w.covered.contains(&f) {
                cover(&mut frame, x, H / 2, w.size * 4 / 3);
            }
        }
        let sample = player.play(frame, f);
        for face in meta::faces(sample.buffer().unwrap()) {
            seen.push(Seen {
                frame: f,
                id: face.id,
                centre_x: face.bbox[0] + face.bbox[2] / 2.0,
                predicted: face.predicted,
            });
        }
    }
    let (mut left, mut reports) = (Vec::new(), Vec::new());
    for s in player.finish() {
        if s.name() == PERSON_EVENT && s.get::<String>("event").unwrap() == "left" {
            left.push(s);
        } else if s.name() == CONTENT_REPORT {
            reports.push(s);
        }
    }
    (seen, left, reports)
}

/// An opaque square (a shelf label, a hand) of `size` pixels centred on (`cx`, `cy`).
fn cover(frame: &mut [u8], cx: usize, cy: usize, size: usize) {
    for y in cy.saturating_sub(size / 2)..(cy + size / 2).min(H) {
        for x in cx.saturating_sub(size / 2)..(cx + size / 2).min(W) {
            frame[(y * W + x) * 3..][..3].copy_from_slice(&[150, 60, 40]);
        }
    }
}

/// Runs the scene and checks it against its ground truth: each person one
/// track (no split), each track one person (no swap), their `left` event's
/// dwell and attention time, the report's OTS and watchers; and that a
/// covered face keeps a (predicted) ROI while covered. Returns each walker's track id.
fn check_scene(scene: &Scene, props: &str) -> Vec<u32> {
    let (seen, left, reports) = run_scene(scene, props);
    let fps = scene.fps;
    // Which walker each detected face is: the nearest visible one, within half a face; while two
    // faces overlap (a crossing) the box cannot say whose it is, so those frames are not judged
    // (a swap there still shows on the frames after).
    let overlapping = |f: usize| {
        let here: Vec<&Walker> = scene.walkers.iter().filter(|w| w.frames.contains(&f)).collect();
        here.iter()
            .enumerate()
            .any(|(i, a)| here[i + 1..].iter().any(|b| (a.x_at(f) - b.x_at(f)).abs() < (a.size + b.size) as f64 / 2.0))
    };
    let mut ids_of: Vec<std::collections::BTreeSet<u32>> = vec![Default::default(); scene.walkers.len()];
    let mut walkers_of: HashMap<u32, std::collections::BTreeSet<usize>> = HashMap::new();
    for s in seen.iter().filter(|s| !s.predicted && !overlapping(s.frame)) {
        let nearest = scene
            .walkers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.frames.contains(&s.frame) && !w.covered.contains(&s.frame))
            .map(|(i, w)| (i, (w.x_at(s.frame) - s.centre_x).abs(), w.size))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, dist, size)) = nearest else { panic!("frame {}: a face where nobody is", s.frame) };
        assert!(dist < size as f64 / 2.0, "frame {}: a face {dist:.0} px from {}", s.frame, scene.walkers[i].name);
        ids_of[i].insert(s.id);
        walkers_of.entry(s.id).or_default().insert(i);
    }
    for (id, walkers) in &walkers_of {
        let names: Vec<&str> = walkers.iter().map(|&i| scene.walkers[i].name).collect();
        assert_eq!(walkers.len(), 1, "track {id} swapped between {names:?}");
    }
    let mut ids = Vec::new();
    for (w, ids_w) in scene.walkers.iter().zip(&ids_of) {
        assert_eq!(ids_w.len(), 1, "{}: split into tracks {ids_w:?}", w.name);
        let id = *ids_w.first().unwrap();
        ids.push(id);
        // Covered, the face keeps its track as a predicted position (blurredact covers it).
        for f in w.covered.clone() {
            assert!(seen.iter().any(|s| s.frame == f && s.id == id && s.predicted), "{}: no ROI on frame {f}", w.name);
        }
        let l: Vec<&gst::Structure> = left.iter().filter(|s| s.get::<u32>("id").unwrap() == id).collect();
        assert_eq!(l.len(), 1, "{}: left events {l:?}", w.name);
        let (dwell, attention) = (l[0].get::<f64>("dwell-time").unwrap(), l[0].get::<f64>("attention-time").unwrap());
        println!(
            "{}: track {id}, dwell {dwell:.2} (truth {:.2}), attention {attention:.2} (truth {:.2})",
            w.name,
            w.dwell(fps),
            w.attention(fps)
        );
        assert!((dwell - w.dwell(fps)).abs() <= 0.2, "{}: dwell {dwell}", w.name);
        assert!((attention - w.attention(fps)).abs() <= 0.2, "{}: attention {attention}", w.name);
    }
    assert_eq!(left.len(), scene.walkers.len(), "one presence each: {left:?}");
    assert_eq!(reports.len(), 1);
    let ots = scene.walkers.iter().filter(|w| w.dwell(fps) >= 1.0).count() as u32;
    let watchers = scene.walkers.iter().filter(|w| w.dwell(fps) >= 1.0 && w.attention(fps) >= 1.0).count() as u32;
    println!("{}", reports[0]);
    assert_eq!(reports[0].get::<u32>("ots").unwrap(), ots, "{}", reports[0]);
    assert_eq!(reports[0].get::<u32>("watchers").unwrap(), watchers, "{}", reports[0]);
    ids
}

/// An opaque object in front of a face for 2 to 25 frames at 25 fps (up to
/// 1 s, gazedwell's `grace` and facedetect's default `track-gap`): nobody is
/// split, the covered time is presence and, for those looking, attention.
#[test]
fn faces_covered_up_to_a_second_stay_one_person() {
    let covered = |name, face, x, frames: std::ops::Range<usize>| Walker {
        covered: frames,
        ..Walker::new(name, face, x, 0..150)
    };
    let scene = Scene {
        fps: 25,
        frames: 175,
        walkers: vec![
            covered("covered 2 frames, looks away", 4, 100.0, 50..52),
            covered("covered 5 frames", 0, 290.0, 50..55),
            covered("covered 8 frames", 1, 480.0, 60..68),
            covered("covered 13 frames", 2, 670.0, 40..53),
            covered("covered 25 frames (1 s)", 3, 860.0, 70..95),
        ],
    };
    check_scene(&scene, "");
}

/// Two people walk past each other, both looking at the screen, the nearer
/// (larger) face passing in front of the other: each keeps their track id
/// (motion and size, no appearance) and their whole attention time.
#[test]
fn two_people_crossing_keep_their_ids() {
    let scene = Scene {
        fps: 25,
        frames: 125,
        walkers: vec![
            // Both look at the screen: while the face in front covers the other, gazedwell does
            // not read the half-covered face's pose, and its attention goes on unbroken.
            Walker { vx: -5.0, size: 90, ..Walker::new("walks left, behind", 1, 730.0, 0..100) },
            Walker { vx: 5.0, ..Walker::new("walks right, in front", 0, 230.0, 0..100) },
        ],
    };
    check_scene(&scene, "");
}

/// A face cut by the frame's right edge (about a quarter outside) beside a
/// whole one: one person each, timed exactly.
#[test]
fn a_face_at_the_frame_edge_is_one_person() {
    let edge = W as f64 - 30.0;
    let scene = Scene {
        fps: 25,
        frames: 100,
        walkers: vec![Walker::new("in the middle", 0, 480.0, 10..60), Walker::new("at the edge", 1, edge, 0..75)],
    };
    check_scene(&scene, "");
}

/// Someone standing still in front of the screen for a minute (10 fps) is
/// one person with a minute of dwell and attention, however long it lasts.
#[test]
fn a_person_standing_still_for_a_minute_is_one_person() {
    let scene = Scene { fps: 10, frames: 610, walkers: vec![Walker::new("stands a minute", 2, 480.0, 5..605)] };
    check_scene(&scene, "");
}
