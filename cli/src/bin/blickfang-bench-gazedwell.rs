//! `blickfang-bench-gazedwell`: what `gazedwell` costs, in one run.
//!
//! 1. Head pose per face: FSA-Net (the default, both models averaged, and
//!    each model alone) against the landmark fallback, timed directly through
//!    the core API (`FsaNet::estimate_all`, `headpose::from_landmarks`) on the
//!    faces `blickfang-facedetect` finds in the shared photo `t1.jpg` (six).
//! 2. `gazedwell` per frame with those six people: the photo, decoded once,
//!    repeated as a 30 fps stream through `appsrc ! blickfang-facedetect !
//!    fakesink` and `appsrc ! blickfang-facedetect ! blickfang-gazedwell !
//!    fakesink` (head pose by FSA-Net, and by landmarks). gazedwell's cost is
//!    the difference per frame; it is also timed inside the pipeline, between
//!    a frame entering gazedwell's sink pad and leaving its source pad.
//!
//! A benchmark, not a test: numbers depend on the machine and its load.
//! Times are medians (robust to the odd preemption on a shared machine);
//! pipeline runs are interleaved so that a burst of load hits all variants.

use blickfang_cli::bench;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use blickfang::geometry::BBox;
use blickfang::headpose::{self, FsaNet, HeadPose};
use blickfang::runtime;
use clap::Parser;
use gst::prelude::*;
use gstblickfang::meta::{self, FaceRoi};

#[derive(Parser)]
#[command(
    name = "blickfang-bench-gazedwell",
    version,
    about = "Times head pose per face (FSA-Net vs landmarks) and gazedwell per frame with 6 people"
)]
struct Cli {
    /// The photo whose faces are timed (default: <shared>/data/photos/t1.jpg, six faces).
    #[arg(long)]
    photo: Option<PathBuf>,
    /// Repetitions of the per-face timing, each over every face.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    repetitions: u32,
    /// Frames per pipeline run.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(20..))]
    frames: u64,
    /// Runs of each pipeline (interleaved); medians are over the frames of all runs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// ONNX Runtime intra-op threads, for FSA-Net and facedetect (the elements' default is 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
}

const FPS: u64 = 30;
/// Frames at the start of each pipeline run left out of the statistics
/// (ONNX Runtime's first inferences are slow).
const WARMUP_FRAMES: usize = 10;
const WARMUP_REPETITIONS: u32 = 10;
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    // SAFETY: no other thread exists yet (see blickfang::runtime::disable_telemetry).
    unsafe { blickfang::runtime::disable_telemetry() };
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("blickfang-bench-gazedwell: {e:#}");
        std::process::exit(1);
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 { s[m] } else { (s[m - 1] + s[m]) / 2.0 }
}

fn run(cli: &Cli) -> Result<()> {
    gst::init()?;
    gstblickfang::register_static()?;
    let photo = cli.photo.clone().unwrap_or_else(|| blickfang::eval::shared_dir().join("data/photos/t1.jpg"));
    if !photo.is_file() {
        bail!("photo {} not found (set BLICKFANG_SHARED_DIR or --photo)", photo.display());
    }

    eprintln!("decoding {}", photo.display());
    let (frame, caps) = decode(&photo)?;
    let info = gst_video::VideoInfo::from_caps(&caps)?;
    let analysed = detect(&frame, &caps, cli.threads)?;
    let faces = meta::faces(&analysed);
    if faces.is_empty() {
        bail!("facedetect found no face in {}", photo.display());
    }
    let what = format!(
        "{} ({}x{} {}), {} faces, {} ONNX Runtime thread(s)",
        photo.file_name().unwrap_or_default().to_string_lossy(),
        info.width(),
        info.height(),
        info.format().to_str(),
        faces.len(),
        cli.threads
    );

    per_face(cli, &frame, &info, &faces, &what)?;
    per_frame(cli, &frame, &caps, faces.len(), &what)
}

// --- frames ------------------------------------------------------------------

/// The photo as one raw I420 frame in memory of its own, and its caps at 30 fps.
fn decode(photo: &Path) -> Result<(gst::Buffer, gst::Caps)> {
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    pipeline.by_name("src").context("no filesrc")?.set_property("location", photo);
    let sink = pipeline.by_name("sink").and_then(|s| s.downcast::<gst_app::AppSink>().ok()).context("no appsink")?;
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(30));
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.with_context(|| format!("{} did not decode", photo.display()))?;
    let frame = sample.buffer().context("a sample without buffer")?.copy_deep()?;
    let mut caps = sample.caps().context("a sample without caps")?.to_owned();
    caps.make_mut().set("framerate", gst::Fraction::new(FPS as i32, 1));
    Ok((frame, caps))
}

/// `n` frames sharing the photo's memory, 30 fps timestamps.
fn stream(frame: &gst::Buffer, n: u64) -> Vec<gst::Buffer> {
    let step = gst::ClockTime::SECOND / FPS;
    (0..n)
        .map(|i| {
            let mut b = frame.copy();
            let bm = b.get_mut().expect("a fresh copy is writable");
            bm.set_pts(step * i);
            bm.set_duration(step);
            b
        })
        .collect()
}

/// Runs `frames` through `appsrc ! chain ! last` to EOS; a bus error is the error.
fn play(caps: &gst::Caps, frames: Vec<gst::Buffer>, chain: Vec<gst::Element>, last: gst::Element) -> Result<()> {
    let pipeline = gst::Pipeline::new();
    // Unbounded: every frame is queued before PLAYING, so only the streaming thread's work is timed.
    let src = gst_app::AppSrc::builder().caps(caps).format(gst::Format::Time).max_bytes(0).build();
    let mut elements = vec![src.clone().upcast::<gst::Element>()];
    elements.extend(chain);
    elements.push(last);
    pipeline.add_many(&elements)?;
    gst::Element::link_many(&elements)?;
    for b in frames {
        src.push_buffer(b).map_err(|e| anyhow!("appsrc refused a frame: {e:?}"))?;
    }
    src.end_of_stream().map_err(|e| anyhow!("appsrc refused EOS: {e:?}"))?;
    let bus = pipeline.bus().context("pipeline without bus")?;
    let bus_error = || {
        bus.pop_filtered(&[gst::MessageType::Error]).and_then(|m| match m.view() {
            gst::MessageView::Error(e) => Some(anyhow!("{} ({})", e.error(), e.debug().unwrap_or_default())),
            _ => None,
        })
    };
    let result = (|| {
        pipeline.set_state(gst::State::Playing).map_err(|_| bus_error().unwrap_or_else(|| anyhow!("cannot play")))?;
        let deadline = Instant::now() + RUN_TIMEOUT;
        while Instant::now() < deadline {
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(e) => bail!("{} ({})", e.error(), e.debug().unwrap_or_default()),
                _ => {}
            }
        }
        bail!("timed out after {} s", RUN_TIMEOUT.as_secs())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn facedetect(threads: u32) -> Result<gst::Element> {
    Ok(gst::ElementFactory::make("blickfang-facedetect").property("threads", threads).build()?)
}

/// The photo through facedetect: the frame with its face ROIs.
fn detect(frame: &gst::Buffer, caps: &gst::Caps, threads: u32) -> Result<gst::Buffer> {
    let sink = gst_app::AppSink::builder().sync(false).build();
    let out = Arc::new(Mutex::new(None));
    let keep = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                *keep.lock().unwrap() = sample.buffer_owned();
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    play(caps, stream(frame, 1), vec![facedetect(threads)?], sink.upcast())?;
    let analysed = out.lock().unwrap().take().context("facedetect gave no frame")?;
    Ok(analysed)
}

// --- 1. head pose per face ---------------------------------------------------

fn bbox(face: &FaceRoi) -> BBox {
    BBox::new(face.bbox[0] as f32, face.bbox[1] as f32, face.bbox[2] as f32, face.bbox[3] as f32)
}

fn landmarks(face: &FaceRoi) -> blickfang::geometry::Landmarks {
    face.landmarks.map(|p| [p[0] as f32, p[1] as f32])
}

/// Median wall milliseconds per face of `estimate_all`, which estimates every
/// face once, `n` times; and the CPU milliseconds per face over all `n`
/// (which the machine's other load hardly moves).
fn time_per_face(faces: &[FaceRoi], n: u32, mut estimate_all: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..WARMUP_REPETITIONS {
        estimate_all()?;
    }
    let mut per_face = Vec::with_capacity(n as usize);
    let cpu = bench::cpu_seconds()?;
    for _ in 0..n {
        let t = Instant::now();
        estimate_all()?;
        per_face.push(t.elapsed().as_secs_f64() * 1e3 / faces.len() as f64);
    }
    let cpu = (bench::cpu_seconds()? - cpu) * 1e3 / (n as f64 * faces.len() as f64);
    Ok((median(&per_face), cpu))
}

fn per_face(cli: &Cli, frame: &gst::Buffer, info: &gst_video::VideoInfo, faces: &[FaceRoi], what: &str) -> Result<()> {
    // The element's own default, so that the bench times what a pipeline runs.
    let default: String = gst::ElementFactory::make("blickfang-gazedwell").build()?.property("headpose-model");
    let models = default.split(',').map(|m| runtime::find_model(m.trim())).collect::<Result<Vec<PathBuf>, _>>()?;
    let library = runtime::find_onnxruntime(None);
    let mapped = gst_video::VideoFrameRef::from_buffer_ref_readable(frame.as_ref(), info)
        .map_err(|_| anyhow!("cannot map the frame"))?;
    let view = gstblickfang::video::frame_view(&mapped).context("frame format not handled")?;

    let stem = |p: &PathBuf| p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let mut variants =
        vec![(format!("FSA-Net default ({})", models.iter().map(stem).collect::<Vec<_>>().join(", ")), models)];
    // The two upstream files the default pair file is made of: together (as before batching) and alone.
    let upstream = ["headpose/fsanet-1x1-iter-688590.onnx", "headpose/fsanet-var-iter-688590.onnx"]
        .map(runtime::find_model)
        .into_iter()
        .collect::<Result<Vec<PathBuf>, _>>()?;
    variants.push(("FSA-Net, both upstream files, per face".into(), upstream.clone()));
    variants.extend(upstream.iter().map(|m| (format!("FSA-Net {} alone", stem(m)), vec![m.clone()])));
    let boxes: Vec<BBox> = faces.iter().map(bbox).collect();
    let mut rows = Vec::new();
    let mut poses: Vec<Vec<HeadPose>> = Vec::new();
    for (name, models) in &variants {
        eprintln!("timing: {name}");
        let mut net = FsaNet::load(models, &library, cli.threads as usize)?;
        // Every face of the frame at once: one run per model where its batch axis is dynamic.
        let ms = time_per_face(faces, cli.repetitions, || {
            black_box(net.estimate_all(&view, black_box(&boxes))?);
            Ok(())
        })?;
        let how = if net.batched() { "one run per frame" } else { "one run per face" };
        rows.push((format!("{name}, {how}"), ms));
        poses.push(net.estimate_all(&view, &boxes)?.to_vec());
    }
    eprintln!("timing: landmarks");
    let name = "landmarks (fallback, headpose-model=\"\")".to_string();
    rows.push((
        name,
        time_per_face(faces, cli.repetitions, || {
            for f in faces {
                black_box(headpose::from_landmarks(&landmarks(black_box(f))));
            }
            Ok(())
        })?,
    ));
    poses.push(faces.iter().map(|f| headpose::from_landmarks(&landmarks(f))).collect());

    println!();
    println!("Head pose per face: {what}, median of {} repetitions", cli.repetitions);
    println!("{:<72} {:>10} {:>10} {:>12}", "method", "ms/face", "faces/s", "CPU ms/face");
    for (name, (ms, cpu)) in &rows {
        println!("{name:<72} {ms:>10.3} {:>10.0} {cpu:>12.3}", 1e3 / ms);
    }
    println!();
    println!("Poses found (yaw/pitch/roll, degrees): FSA-Net default vs landmarks");
    println!("{:>4} {:>9} {:>20} {:>20}", "face", "box px", "FSA-Net", "landmarks");
    let (fsa, lm) = (&poses[0], poses.last().unwrap());
    for (i, f) in faces.iter().enumerate() {
        let p = |h: &HeadPose| format!("{:.0}/{:.0}/{:.0}", h.yaw, h.pitch, h.roll);
        println!(
            "{:>4} {:>9} {:>20} {:>20}",
            f.id,
            format!("{:.0}x{:.0}", f.bbox[2], f.bbox[3]),
            p(&fsa[i]),
            p(&lm[i])
        );
    }
    Ok(())
}

// --- 2. gazedwell per frame --------------------------------------------------

#[derive(Default)]
struct Timings {
    /// Milliseconds between consecutive frames reaching the sink.
    interval: Vec<f64>,
    /// Milliseconds each frame spent inside gazedwell (sink pad in, source pad out).
    inside: Vec<f64>,
    faces: Vec<usize>,
}

/// Probes timing frames into and out of `element` (same streaming thread).
fn probe_inside(element: &gst::Element, t: &Arc<Mutex<Timings>>) -> Result<()> {
    let entered = Arc::new(Mutex::new(None::<Instant>));
    let e = entered.clone();
    element.static_pad("sink").context("no sink pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        *e.lock().unwrap() = Some(Instant::now());
        gst::PadProbeReturn::Ok
    });
    let t = t.clone();
    element.static_pad("src").context("no src pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if let Some(at) = entered.lock().unwrap().take() {
            t.lock().unwrap().inside.push(at.elapsed().as_secs_f64() * 1e3);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// One run of `appsrc ! facedetect [! gazedwell headpose-model=<m>] ! fakesink`.
fn time_run(cli: &Cli, frame: &gst::Buffer, caps: &gst::Caps, headpose: Option<&str>) -> Result<Timings> {
    let timings = Arc::new(Mutex::new(Timings::default()));
    let mut chain = vec![facedetect(cli.threads)?];
    if let Some(model) = headpose {
        let gaze = gst::ElementFactory::make("blickfang-gazedwell")
            .property("threads", cli.threads)
            .property("headpose-model", model)
            .build()?;
        probe_inside(&gaze, &timings)?;
        chain.push(gaze);
    }
    let sink = gst::ElementFactory::make("fakesink").property("sync", false).build()?;
    let last = Arc::new(Mutex::new(None::<Instant>));
    let t = timings.clone();
    sink.static_pad("sink").context("fakesink without sink pad")?.add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            let now = Instant::now();
            let mut t = t.lock().unwrap();
            if let Some(prev) = last.lock().unwrap().replace(now) {
                t.interval.push((now - prev).as_secs_f64() * 1e3);
            }
            if let Some(b) = info.buffer() {
                t.faces.push(meta::faces(b).len());
            }
            gst::PadProbeReturn::Ok
        },
    );
    play(caps, stream(frame, cli.frames), chain, sink)?;
    let mut t = std::mem::take(&mut *timings.lock().unwrap());
    if t.faces.len() as u64 != cli.frames {
        bail!("{} of {} frames reached the sink", t.faces.len(), cli.frames);
    }
    t.interval.drain(..WARMUP_FRAMES.min(t.interval.len()));
    t.inside.drain(..WARMUP_FRAMES.min(t.inside.len()));
    Ok(t)
}

fn per_frame(cli: &Cli, frame: &gst::Buffer, caps: &gst::Caps, faces: usize, what: &str) -> Result<()> {
    let variants: [(&str, Option<&str>); 3] = [
        ("appsrc ! facedetect ! fakesink (baseline)", None),
        ("appsrc ! facedetect ! gazedwell ! fakesink (FSA-Net)", Some("default")),
        ("  ... gazedwell headpose-model=\"\" (landmarks)", Some("")),
    ];
    let default: String = gst::ElementFactory::make("blickfang-gazedwell").build()?.property("headpose-model");
    let mut all: Vec<Timings> = variants.iter().map(|_| Timings::default()).collect();
    for run in 0..cli.runs {
        for (i, (name, model)) in variants.iter().enumerate() {
            eprintln!("timing: run {}/{}: {}", run + 1, cli.runs, name.trim());
            let model = model.map(|m| if m == "default" { default.as_str() } else { m });
            let t = time_run(cli, frame, caps, model)?;
            all[i].interval.extend(t.interval);
            all[i].inside.extend(t.inside);
            all[i].faces.extend(t.faces);
        }
    }
    let base = median(&all[0].interval);
    println!();
    println!(
        "gazedwell per frame with {faces} people: {what}, {} frames x {} run(s), medians after {WARMUP_FRAMES} warm-up frames",
        cli.frames, cli.runs
    );
    println!(
        "{:<54} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "pipeline", "ms/frame", "frames/s", "gaze diff", "gaze in", "faces/fr"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let ms = median(&all[i].interval);
        let faces_per_frame = all[i].faces.iter().sum::<usize>() as f64 / all[i].faces.len().max(1) as f64;
        let (diff, inside) = if i == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (format!("{:.3}", ms - base), format!("{:.3}", median(&all[i].inside)))
        };
        println!("{name:<54} {ms:>9.3} {:>9.1} {diff:>10} {inside:>10} {faces_per_frame:>10.2}", 1e3 / ms);
    }
    println!("  gaze diff: ms/frame minus the baseline's; gaze in: ms from gazedwell's sink pad to its source pad.");
    Ok(())
}
