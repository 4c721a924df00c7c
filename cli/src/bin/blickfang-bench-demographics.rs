//! `blickfang-bench-demographics`: what `demographics` costs, in one run.
//!
//! 1. Per face and per frame with six faces (the shared photo `t1.jpg`,
//!    faces from `blickfang-facedetect`), through the core API: the aligned
//!    crop alone, and crop + model for all six in one batch against six runs
//!    of one, with and without the mirrored view (`flip`).
//! 2. The amortised cost per frame on the 1080p30 clip of `make bench`
//!    (`<target>/bench-fixtures/t1-panzoom-1080p30-h264-v1.mp4`, six faces,
//!    300 frames): `demographics` is timed inside the pipeline, between a
//!    frame entering its sink pad and leaving its source pad, with the
//!    default `reclassify-interval` (and freezing), and with a view every
//!    frame for comparison.
//!
//! A benchmark, not a test: numbers depend on the machine and its load.
//! Times are medians of repeated runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use blickfang::demographics::{AgeGenderModel, DEFAULT_MODEL, FaceGeometry, align};
use blickfang::frame::FrameSampler;
use blickfang::runtime;
use blickfang_cli::bench::fixture;
use clap::Parser;
use gst::prelude::*;
use gstblickfang::meta;

#[derive(Parser)]
#[command(
    name = "blickfang-bench-demographics",
    version,
    about = "Times demographics per face, per frame and amortised on a 1080p clip"
)]
struct Cli {
    /// demographics' model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Repetitions of each per-frame measurement (the median is reported).
    #[arg(long, default_value_t = 15)]
    repeat: usize,
    /// The clip for the amortised cost (default: `make bench`'s fixture).
    #[arg(long)]
    clip: Option<PathBuf>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The photo decoded to I420 with facedetect's ROI metas.
fn photo_with_faces(photo: &Path) -> Result<gst::Sample> {
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! blickfang-facedetect ! appsink name=sink sync=false",
        photo.display()
    );
    let pipeline = gst::parse::launch(&desc)?.downcast::<gst::Pipeline>().map_err(|_| anyhow!("not a pipeline"))?;
    let sink = pipeline.by_name("sink").and_then(|s| s.downcast::<gst_app::AppSink>().ok()).context("no appsink")?;
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(60));
    let _ = pipeline.set_state(gst::State::Null);
    sample.with_context(|| format!("{} decoded to nothing", photo.display()))
}

fn per_face(cli: &Cli) -> Result<()> {
    let photo = blickfang::eval::shared_dir().join("data/photos/t1.jpg");
    let sample = photo_with_faces(&photo)?;
    let info = gst_video::VideoInfo::from_caps(sample.caps().context("no caps")?)?;
    let buffer = sample.buffer().context("no buffer")?;
    let faces: Vec<FaceGeometry> = meta::faces(buffer)
        .iter()
        .map(|f| FaceGeometry::Landmarks(f.landmarks.map(|p| [p[0] as f32, p[1] as f32])))
        .collect();
    if faces.len() != 6 {
        bail!("expected 6 faces in {}, found {}", photo.display(), faces.len());
    }
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).map_err(|_| anyhow!("cannot map"))?;
    let view = gstblickfang::video::frame_view(&frame).context("unsupported format")?;
    let sampler = FrameSampler::new(&view)?;
    let mut model = AgeGenderModel::load(&cli.model, &runtime::find_onnxruntime(None), 1)?;
    let (g, a) = model.families();
    println!("blickfang demographics benchmark: {} ({} / {}), 1 ONNX Runtime thread", cli.model, g.name(), a.name());
    println!(
        "\n1. six faces of {} ({}x{} I420), median of {} runs",
        photo.display(),
        info.width(),
        info.height(),
        cli.repeat
    );

    // The crop alone: sampling 224x224 from the frame, per face.
    let spec = align::CropSpec { size: 224, scale: 1.15, encoding: align::PixelEncoding::BgrMinusMean };
    let mut slot = vec![0.0f32; spec.len()];
    let crop = median(
        (0..cli.repeat)
            .map(|_| {
                let t = Instant::now();
                for f in &faces {
                    let to_crop = align::crop_transform(f, spec.size, spec.scale).expect("geometry");
                    align::fill_crop(&sampler, &to_crop, &spec, false, &mut slot);
                    std::hint::black_box(&slot);
                }
                t.elapsed()
            })
            .collect(),
    );
    let checks = median(
        (0..cli.repeat)
            .map(|_| {
                let t = Instant::now();
                for f in &faces {
                    std::hint::black_box(align::sharpness(&sampler, f));
                }
                t.elapsed()
            })
            .collect(),
    );
    println!("   aligned 224x224 crop, per face:             {:7.2} ms", ms(crop) / 6.0);
    println!("   view checks (sharpness), per face:          {:7.2} ms", ms(checks) / 6.0);
    println!("   {:<44} {:>10} {:>10}", "crop + model", "per frame", "per face");
    for flip in [false, true] {
        // Warm-up, then interleave batched and one-by-one runs.
        model.classify(&sampler, &faces, flip, &[1.0])?;
        let (mut batched, mut single) = (Vec::new(), Vec::new());
        for _ in 0..cli.repeat {
            let t = Instant::now();
            model.classify(&sampler, &faces, flip, &[1.0])?;
            batched.push(t.elapsed());
            let t = Instant::now();
            for f in &faces {
                model.classify(&sampler, std::slice::from_ref(f), flip, &[1.0])?;
            }
            single.push(t.elapsed());
        }
        let views = if flip { "with mirrored view (default)" } else { "one view" };
        for (what, d) in [("one batch of 6", median(batched)), ("6 runs of 1", median(single))] {
            println!("   {:<44} {:7.1} ms {:7.1} ms", format!("{what}, {views}"), ms(d), ms(d) / 6.0);
        }
    }
    Ok(())
}

/// Time spent inside `demographics` per frame of a clip, and the frames.
fn clip_run(clip: &Path, props: &str) -> Result<(Vec<Duration>, Duration)> {
    let desc = format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! blickfang-facedetect ! \
         blickfang-demographics name=d {props} ! fakesink sync=false",
        clip.display()
    );
    let pipeline = gst::parse::launch(&desc)?.downcast::<gst::Pipeline>().map_err(|_| anyhow!("not a pipeline"))?;
    let element = pipeline.by_name("d").context("no demographics")?;
    let entered: Arc<Mutex<Option<Instant>>> = Arc::default();
    let spent: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let e = entered.clone();
    element.static_pad("sink").context("no sink pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        *e.lock().unwrap() = Some(Instant::now());
        gst::PadProbeReturn::Ok
    });
    let (e, s) = (entered.clone(), spent.clone());
    element.static_pad("src").context("no src pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if let Some(t) = e.lock().unwrap().take() {
            s.lock().unwrap().push(t.elapsed());
        }
        gst::PadProbeReturn::Ok
    });
    let started = Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("no bus")?;
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(1800), &[gst::MessageType::Eos, gst::MessageType::Error]);
    let wall = started.elapsed();
    let _ = pipeline.set_state(gst::State::Null);
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(e)) => bail!("{} ({})", e.error(), e.debug().unwrap_or_default()),
        None => bail!("the clip did not finish"),
        _ => {}
    }
    let spent = std::mem::take(&mut *spent.lock().unwrap());
    Ok((spent, wall))
}

fn amortised(cli: &Cli) -> Result<()> {
    let clip = cli.clip.clone().unwrap_or_else(fixture::clip_path);
    if !clip.is_file() {
        println!(
            "\n2. amortised: skipped, no clip {} (run `make bench` once to generate it, or pass --clip)",
            clip.display()
        );
        return Ok(());
    }
    println!("\n2. amortised on {} (1080p30, six faces)", clip.display());
    println!("   {:<52} {:>8} {:>10} {:>10} {:>10}", "demographics", "frames", "total", "per frame", "max frame");
    for (what, props) in [
        ("defaults (reclassify-interval 10, freeze-after 5)", String::new()),
        ("a view every frame, never frozen", "reclassify-interval=1 freeze-after=0".to_string()),
    ] {
        let props = format!("model=\"{}\" {props}", cli.model);
        let (spent, _wall) = clip_run(&clip, &props)?;
        let total: Duration = spent.iter().sum();
        let max = spent.iter().max().copied().unwrap_or_default();
        println!(
            "   {:<52} {:>8} {:>8.0} ms {:>7.2} ms {:>7.1} ms",
            what,
            spent.len(),
            ms(total),
            ms(total) / spent.len().max(1) as f64,
            ms(max)
        );
    }
    Ok(())
}

fn main() {
    // SAFETY: no other thread exists yet (see blickfang::runtime::disable_telemetry).
    unsafe { blickfang::runtime::disable_telemetry() };
    let cli = Cli::parse();
    let result = gst::init()
        .context("cannot initialise GStreamer")
        .and_then(|_| gstblickfang::register_static().context("cannot register the blickfang elements"))
        .and_then(|_| per_face(&cli))
        .and_then(|_| amortised(&cli));
    if let Err(e) = result {
        eprintln!("blickfang-bench-demographics: {e:#}");
        std::process::exit(1);
    }
}
