//! How well `facedetect ! blurredact` with element defaults (no property
//! set: the privacy candidates of `redact-threshold` and the privacy pass of
//! `redact-detection-size` included) hides faces, on the WIDER FACE dev
//! images, next to OpenCV's `faceblur` (Haar detection + blur) and deface
//! (PyPI; CenterFace, then blur or mosaic):
//! - re-found: ground-truth faces of at least 20x20 px that a detector still
//!   finds after redaction (our facedetect at full resolution and score 0.3,
//!   or OpenCV's Haar facedetect); goal 0;
//! - covered: of the ground-truth faces facedetect found (IoU >= 0.5), the
//!   share whose face (the ellipse inscribed in the ground-truth box) is fully
//!   inside the redacted area; goal >= 99 %;
//! - false-positive area: the share of the redacted pixels outside every
//!   ground-truth face's own redaction area (the ellipse blurredact would draw
//!   for the ground-truth box), with the defaults and with candidates off
//!   (`redact-threshold` = `score-threshold`, no privacy pass): what the lower
//!   threshold costs;
//! - the lowest score at which a ground-truth face of at least 20 px is still
//!   detected (any detection at IoU >= 0.3 down to 0.05), beside the default
//!   `redact-threshold`.
//!
//! deface runs from `BLICKFANG_DEFACE_PYTHON` (default `.venv-ref/bin/python`,
//! which scripts/setup.sh --test installs) through tests/reference/deface_redact.py,
//! into a temporary folder this test deletes. Under CI=true a missing deface
//! fails the test; elsewhere its rows read "unavailable".

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use gst::prelude::*;

use blickfang::eval::wider;
use blickfang::geometry::BBox;
use gstblickfang::meta;

const HAAR: &str = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
const MAGENTA: u32 = 0xFF00FF;
/// Score at which our detector looks for faces left after redaction.
const REFIND_SCORE: f32 = 0.3;
/// facedetect's default `redact-threshold` (what the measurement is set beside).
const DEFAULT_REDACT_THRESHOLD: f32 = 0.2;
/// blurredact's default `margin`.
const MARGIN: f32 = 1.4;
/// facedetect with the candidates off: only what the analysis sees is redacted.
const CANDIDATES_OFF: &str = "redact-threshold=0.6 redact-detection-size=640";
/// facedetect as this test set it before the candidates existed.
const FULL_RESOLUTION: &str = "detection-size=0 score-threshold=0.5";

/// Redacted (magenta) pixels, and of them those outside every ground-truth
/// face's redaction ellipse (its box scaled by blurredact's margin, the
/// ellipse through that box's corners).
fn redacted_area(sample: &gst::Sample, faces: &[BBox]) -> (usize, usize) {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let stride = info.stride()[0] as usize;
    let ellipses: Vec<(f32, f32, f32, f32)> = faces
        .iter()
        .map(|g| {
            let (cx, cy) = g.center();
            let k = MARGIN * std::f32::consts::SQRT_2 / 2.0;
            (cx, cy, g.w * k, g.h * k)
        })
        .collect();
    let (mut redacted, mut outside) = (0, 0);
    for y in 0..info.height() as usize {
        for x in 0..info.width() as usize {
            if map[y * stride + x * 3..][..3] != [255, 0, 255] {
                continue;
            }
            redacted += 1;
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let inside = ellipses.iter().any(|&(cx, cy, ax, ay)| {
                let (fx, fy) = ((px - cx) / ax.max(0.5), (py - cy) / ay.max(0.5));
                fx * fx + fy * fy <= 1.0
            });
            outside += !inside as usize;
        }
    }
    (redacted, outside)
}

/// Runs `desc` (ending in `appsink name=sink`) and returns the one frame.
fn run_to_sample(desc: &str) -> gst::Sample {
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink.pull_sample().unwrap_or_else(|_| panic!("no frame from {desc}"));
    pipeline.set_state(gst::State::Null).unwrap();
    sample
}

fn opencv_factory(name: &str) -> gst::ElementFactory {
    let feature = gst::Registry::get()
        .features_by_plugin("opencv")
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("OpenCV's {name} is missing: install gstreamer1.0-opencv (make test does)"));
    feature.downcast::<gst::ElementFactory>().unwrap()
}

/// Faces found in the pixels alone by a fresh facedetect (full resolution,
/// score 0.3) and by OpenCV's Haar facedetect.
fn redetect(sample: &gst::Sample) -> (Vec<(BBox, f64)>, Vec<BBox>) {
    let caps = sample.caps().unwrap().to_owned();
    let pixels = gst::Buffer::from_mut_slice(sample.buffer().unwrap().map_readable().unwrap().to_vec());
    let ours = gst::ElementFactory::make("blickfang-facedetect")
        .property("detection-size", 0u32)
        .property("score-threshold", REFIND_SCORE)
        .build()
        .unwrap();
    let mut h = common::harness(ours, &caps);
    let found = common::run_frames(&mut h, std::slice::from_ref(&pixels));
    let ours: Vec<(BBox, f64)> = meta::faces(&found[0]).iter().map(|f| (to_box(f.bbox), f.confidence)).collect();

    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder().caps(&caps).format(gst::Format::Time).build();
    let convert = gst::ElementFactory::make("videoconvert").build().unwrap();
    let haar =
        opencv_factory("facedetect").create().property("display", false).property("profile", HAAR).build().unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([src.upcast_ref(), &convert, &haar, &sink]).unwrap();
    gst::Element::link_many([src.upcast_ref(), &convert, &haar, &sink]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut b = pixels;
    b.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(b).unwrap();
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let mut haar_faces = Vec::new();
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "facedetect") => {
                let s = e.structure().unwrap();
                for f in s.get::<gst::List>("faces").unwrap().iter() {
                    let f = f.get::<gst::Structure>().unwrap();
                    let g = |k: &str| f.get::<u32>(k).unwrap() as f64;
                    haar_faces.push(to_box([g("x"), g("y"), g("width"), g("height")]));
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("Haar facedetect: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (ours, haar_faces)
}

fn to_box(b: [f64; 4]) -> BBox {
    BBox::new(b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32)
}

fn found(gt: &BBox, dets: &[BBox], iou: f32) -> bool {
    dets.iter().any(|d| d.iou(gt) >= iou)
}

/// Every pixel of the ellipse inscribed in `gt` is magenta.
fn covered(sample: &gst::Sample, gt: &BBox) -> bool {
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let stride = info.stride()[0] as usize;
    let g = gt.clipped(info.width() as f32, info.height() as f32);
    let (cx, cy) = gt.center();
    for y in g.y as usize..(g.bottom().ceil() as usize).min(info.height() as usize) {
        for x in g.x as usize..(g.right().ceil() as usize).min(info.width() as usize) {
            let fx = (x as f32 + 0.5 - cx) / (gt.w / 2.0);
            let fy = (y as f32 + 0.5 - cy) / (gt.h / 2.0);
            if fx * fx + fy * fy <= 1.0 {
                let p = &map[y * stride + x * 3..y * stride + x * 3 + 3];
                if p != [255, 0, 255] {
                    return false;
                }
            }
        }
    }
    true
}

/// `BLICKFANG_REDACTION_IMAGES=N` evaluates only the first N images and
/// `BLICKFANG_REDACTION_PROPS="mode=pixelate"` sets blurredact properties (for
/// measuring other settings; the assertions hold for the defaults).
fn limit(all: usize) -> usize {
    std::env::var("BLICKFANG_REDACTION_IMAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(all).min(all)
}

/// deface's variants: row label, output folder, deface options.
const DEFACE: [(&str, &str, &str); 2] =
    [("deface (blur, default)", "default", ""), ("deface (mosaic)", "mosaic", "--replacewith mosaic")];

/// A folder removed when dropped, also when the test panics.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Python that has deface, or None (a panic under CI=true).
fn deface_python() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = std::env::var_os("BLICKFANG_DEFACE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv-ref/bin/python"));
    let ok = Command::new(&py).args(["-c", "import deface.deface"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let why = format!(
        "deface is not importable by {} (scripts/setup.sh --test installs it; or set BLICKFANG_DEFACE_PYTHON)",
        py.display()
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    println!("{why}: its rows are unavailable");
    None
}

/// Redacts `paths` (relative to `images`) with every deface variant into
/// `out/<variant>/<path>.png`; returns deface's own line (version, backend).
fn run_deface(python: &Path, images: &Path, paths: &[&str], out: &Path) -> String {
    let list = out.join("images.txt");
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(&list, paths.join("\n")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/deface_redact.py");
    let o = Command::new(python)
        .arg(script)
        .arg("--files-from")
        .arg(&list)
        .arg(images)
        .arg(out)
        .args(DEFACE.iter().map(|(_, name, opts)| format!("{name}={opts}")))
        .output()
        .expect("run deface_redact.py");
    assert!(o.status.success(), "deface_redact.py failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[derive(Default, Debug)]
struct Counts {
    gt_20: usize,
    refound_ours: usize,
    refound_haar: usize,
    refound_any: usize,
    /// Re-found by our facedetect at its default score (0.6) or by Haar.
    refound_any_default_score: usize,
    found_by_detector: usize,
    covered: usize,
    /// Re-found faces that the redacting facedetect had not found at all.
    refound_undetected: usize,
}

#[test]
fn blurredact_hides_wider_faces_better_than_opencv_faceblur() {
    common::init();
    let root = common::data("wider_face_val_subset");
    let gt = wider::parse_ground_truth(&std::fs::read_to_string(root.join("gt_full.jsonl")).unwrap()).unwrap();
    let mut ours = Counts::default();
    let mut faceblur = Counts::default();
    // The analysis at full resolution and score 0.5, as this test ran before the candidates: its
    // 0 re-found at the default score stays asserted while element defaults do not reach 0 yet.
    let mut full = Counts::default();
    let mut deface: Vec<Counts> = DEFACE.iter().map(|_| Counts::default()).collect();
    // Redacted pixels and those outside every ground-truth face: defaults, candidates off.
    let (mut area, mut area_fp, mut area_off, mut area_off_fp) = (0usize, 0usize, 0usize, 0usize);
    // Per ground-truth face >= 20 px: the best score of a detection at IoU >= 0.3 (0 = none).
    let mut best_scores: Vec<f64> = Vec::new();
    let decode_file = |path: &Path| {
        format!("filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=RGB", path.display())
    };
    let decode = |path: &str| decode_file(&root.join("images").join(path));
    let images = &gt[..limit(gt.len())];
    let tmp = TempDir(std::env::temp_dir().join(format!("blickfang-deface-{}", std::process::id())));
    let deface_ran = deface_python()
        .map(|py| {
            let paths: Vec<&str> = images.iter().map(|i| i.path.as_str()).collect();
            let t = std::time::Instant::now();
            let line = run_deface(&py, &root.join("images"), &paths, &tmp.0);
            println!("{line}, {:.0} s", t.elapsed().as_secs_f64());
        })
        .is_some();
    for img in images {
        let faces: Vec<BBox> = img.faces().collect();
        let big: Vec<&BBox> = faces.iter().filter(|b| b.w >= 20.0 && b.h >= 20.0).collect();
        // Element defaults: no property set.
        let detect = "blickfang-facedetect";
        let props = std::env::var("BLICKFANG_REDACTION_PROPS").unwrap_or_default();
        let redacted = run_to_sample(&format!(
            "{} ! {detect} ! blickfang-blurredact {props} ! appsink name=sink",
            decode(&img.path)
        ));
        let solid = run_to_sample(&format!(
            "{} ! {detect} ! blickfang-blurredact mode=solid color={MAGENTA} ! appsink name=sink",
            decode(&img.path)
        ));
        let redacted_full = run_to_sample(&format!(
            "{} ! blickfang-facedetect {FULL_RESOLUTION} ! blickfang-blurredact {props} ! appsink name=sink",
            decode(&img.path)
        ));
        let blurred_by_opencv = run_to_sample(&format!(
            "{} ! videoconvert ! faceblur profile={HAAR} ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
            decode(&img.path)
        ));
        let solid_off = run_to_sample(&format!(
            "{} ! blickfang-facedetect {CANDIDATES_OFF} ! blickfang-blurredact mode=solid color={MAGENTA} ! \
             appsink name=sink",
            decode(&img.path)
        ));
        let (a, fp) = redacted_area(&solid, &faces);
        area += a;
        area_fp += fp;
        let (a, fp) = redacted_area(&solid_off, &faces);
        area_off += a;
        area_off_fp += fp;
        // Everything the defaults' model runs find down to 0.05 (faces and candidates; blurredact
        // downstream turns the privacy pass on, as in the redacting pipeline).
        let low = run_to_sample(&format!(
            "{} ! blickfang-facedetect redact-threshold=0.05 ! blickfang-blurredact ! appsink name=sink",
            decode(&img.path)
        ));
        let low_buf = low.buffer().unwrap();
        let scored: Vec<(BBox, f64)> = meta::faces(low_buf)
            .iter()
            .map(|f| (to_box(f.bbox), f.confidence))
            .chain(meta::candidate_boxes(low_buf).map(|(b, c)| (to_box(b), c)))
            .collect();
        for g in &big {
            let best = scored.iter().filter(|(d, _)| d.iou(g) >= 0.3).map(|(_, c)| *c).fold(0.0, f64::max);
            best_scores.push(best);
        }
        // What the default redaction covered: face and candidate ROIs.
        let detections: Vec<BBox> = meta::faces(solid.buffer().unwrap())
            .iter()
            .map(|f| to_box(f.bbox))
            .chain(meta::candidate_boxes(solid.buffer().unwrap()).map(|(b, _)| to_box(b)))
            .collect();
        let mut redactions =
            vec![(&mut ours, redacted), (&mut full, redacted_full), (&mut faceblur, blurred_by_opencv)];
        if deface_ran {
            for ((_, name, _), counts) in DEFACE.iter().zip(deface.iter_mut()) {
                let out = tmp.0.join(name).join(&img.path).with_extension("png");
                redactions.push((counts, run_to_sample(&format!("{} ! appsink name=sink", decode_file(&out)))));
            }
        }
        for (counts, sample) in redactions {
            let sample = &sample;
            let (scored, h) = redetect(sample);
            let o: Vec<BBox> = scored.iter().map(|(b, _)| *b).collect();
            let o_default: Vec<BBox> = scored.iter().filter(|(_, c)| *c >= 0.6).map(|(b, _)| *b).collect();
            counts.gt_20 += big.len();
            for g in &big {
                let (fo, fh) = (found(g, &o, 0.3), found(g, &h, 0.3));
                counts.refound_any_default_score += (found(g, &o_default, 0.3) || fh) as usize;
                counts.refound_ours += fo as usize;
                counts.refound_haar += fh as usize;
                counts.refound_any += (fo || fh) as usize;
                counts.refound_undetected += ((fo || fh) && !found(g, &detections, 0.3)) as usize;
            }
        }
        for g in &faces {
            if found(g, &detections, 0.5) {
                ours.found_by_detector += 1;
                ours.covered += covered(&solid, g) as usize;
            }
        }
    }
    println!("WIDER FACE dev, {} images, {} faces >= 20 px", images.len(), ours.gt_20);
    println!("{:<28} {:>10} {:>10} {:>10} {:>14}", "redaction", "re-found", "by ours", "by Haar", "covered");
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>8}/{} ({:.2} %)",
        "blurredact (blur, ellipse)",
        ours.refound_any,
        ours.refound_ours,
        ours.refound_haar,
        ours.covered,
        ours.found_by_detector,
        100.0 * ours.covered as f64 / ours.found_by_detector as f64
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>14}  (at 0.6 or Haar: {})",
        format!("blurredact, {FULL_RESOLUTION}"),
        full.refound_any,
        full.refound_ours,
        full.refound_haar,
        "",
        full.refound_any_default_score
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>14}",
        "OpenCV faceblur (Haar)", faceblur.refound_any, faceblur.refound_ours, faceblur.refound_haar, "n/a"
    );
    for ((label, _, _), d) in DEFACE.iter().zip(&deface) {
        if deface_ran {
            println!("{label:<28} {:>10} {:>10} {:>10} {:>14}", d.refound_any, d.refound_ours, d.refound_haar, "n/a");
        } else {
            println!("{label:<28} {:>10}", "unavailable");
        }
    }
    let detected: Vec<f64> = best_scores.iter().copied().filter(|&s| s > 0.0).collect();
    let lowest = detected.iter().copied().fold(1.0, f64::min);
    let below = |t: f64| detected.iter().filter(|&&s| s < t).count();
    println!(
        "ground-truth faces >= 20 px: {} detected at some score >= 0.05 (of {}); lowest score {lowest:.3}; \
         below 0.6: {}, below 0.4: {}, below 0.3: {}, below {DEFAULT_REDACT_THRESHOLD}: {}; \
         default redact-threshold {DEFAULT_REDACT_THRESHOLD}",
        detected.len(),
        best_scores.len(),
        below(0.6),
        below(0.4),
        below(0.3),
        below(DEFAULT_REDACT_THRESHOLD as f64)
    );
    let share = |fp: usize, all: usize| 100.0 * fp as f64 / all.max(1) as f64;
    println!(
        "false-positive redacted area (outside every ground-truth face): defaults {:.2} % of {area} px; \
         candidates off ({CANDIDATES_OFF}) {:.2} % of {area_off} px",
        share(area_fp, area),
        share(area_off_fp, area_off)
    );
    assert!(ours.found_by_detector > 500, "facedetect found only {} faces", ours.found_by_detector);
    println!(
        "re-found by facedetect at score {REFIND_SCORE} or Haar (issue 14's goal: 0): {}; at facedetect's default \
         score 0.6 or Haar: {}",
        ours.refound_any, ours.refound_any_default_score
    );
    // Issue 14's goal: with element defaults, no face >= 20 px is found again, by our detector at
    // 0.3 or by Haar (measured 0; the strongest re-found blob scores just below 0.3: no margin).
    assert_eq!(
        ours.refound_any, 0,
        "faces found at score {REFIND_SCORE} or by Haar after blurredact with element defaults: {ours:?}"
    );
    assert_eq!(
        ours.refound_any_default_score, 0,
        "faces found at score 0.6 or by Haar after blurredact with element defaults: {ours:?}"
    );
    assert_eq!(full.refound_any_default_score, 0, "faces still found after blurredact ({FULL_RESOLUTION}): {full:?}");
    assert!(ours.covered as f64 >= 0.99 * ours.found_by_detector as f64, "coverage {ours:?}");
    assert!(faceblur.refound_any > ours.refound_any, "the comparison should show OpenCV's misses: {faceblur:?}");
    if deface_ran {
        for ((label, _, _), d) in DEFACE.iter().zip(&deface) {
            assert!(
                ours.refound_any <= d.refound_any,
                "{label} leaves fewer faces findable than blurredact: {d:?} vs {ours:?}"
            );
        }
    }
}
