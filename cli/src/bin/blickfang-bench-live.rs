//! `blickfang-bench-live`: the whole chain on live, paced sources in one
//! process. Three parts, one run each (a benchmark, not a test):
//! - latency: one stream paced at its frame rate (decoded into a `sync=true`
//!   appsink, pushed into a live `appsrc`, as a camera), the time each frame spends in the chain (a probe where
//!   it enters facedetect, one where it leaves metajson), p50 / p99 / max,
//!   and frames later than one frame at a `sync=true` sink (`max-lateness`);
//! - streams: N copies of the clip transcoded once to 720p (a 720p camera
//!   decodes 720p), paced, in one process:
//!   frames late, CPU per frame, and resident memory with 1 and with N;
//! - state cycles: one pipeline taken to PLAYING and back to NULL 100
//!   times: resident memory after the first cycles and after the last.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use gst::prelude::*;

use blickfang_cli::bench::{self, fixture};

#[derive(Parser)]
#[command(name = "blickfang-bench-live", version, about = "Latency, streams and memory of the chain on live sources")]
struct Cli {
    /// Time this H.264 MP4 instead of the generated fixture.
    #[arg(long)]
    clip: Option<PathBuf>,
    /// Streams at 720p in one process.
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// facedetect's interval for the streams part.
    #[arg(long, default_value_t = 3)]
    interval: u32,
    /// State cycles (PLAYING, then NULL) of one pipeline.
    #[arg(long, default_value_t = 100)]
    cycles: usize,
}

const CHAIN: &str = "blickfang-demographics ! blickfang-gazedwell ! blickfang-blurredact ! blickfang-metajson";
/// One frame at 30 fps: the latency goal and the sink's max-lateness.
const FRAME_NS: u64 = 33_000_000;

fn main() {
    // SAFETY: no other thread exists yet (see blickfang::runtime::disable_telemetry).
    unsafe { blickfang::runtime::disable_telemetry() };
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("blickfang-bench-live: {e:#}");
        std::process::exit(1);
    }
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Per stream: where each frame (by PTS) entered the chain, and how long it stayed.
#[derive(Default)]
struct Timing {
    entered: HashMap<u64, Instant>,
    spent: Vec<Duration>,
}

struct Stream {
    /// Decodes the clip and hands each frame on at its time (a sync=true appsink).
    decode: gst::Pipeline,
    /// A live appsrc (do-timestamp) through the chain: a camera, as far as the
    /// elements can tell; like a camera it drops the oldest frames when the
    /// chain falls behind (two queued at most), so memory stays that of a camera.
    pipeline: gst::Pipeline,
    timing: Arc<Mutex<Timing>>,
    /// Frames the decoder paced out.
    paced: Arc<std::sync::atomic::AtomicU64>,
}

fn stream(clip: &std::path::Path, interval: u32) -> Result<Stream> {
    let decode = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! \
         appsink name=out sync=true max-buffers=2",
        clip.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=in is-live=true do-timestamp=true format=time max-buffers=2 leaky-type=downstream ! \
         blickfang-facedetect name=first interval={interval} ! {CHAIN} name=last ! \
         fakesink sync=true max-lateness={FRAME_NS} qos=true"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    let out = decode.by_name("out").context("no appsink")?.downcast::<gst_app::AppSink>().unwrap();
    let src = pipeline.by_name("in").context("no appsrc")?.downcast::<gst_app::AppSrc>().unwrap();
    let (src_caps, src_eos) = (src.clone(), src.clone());
    let paced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = paced.clone();
    out.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if src_caps.caps().is_none() {
                    src_caps.set_caps(sample.caps_owned().as_ref());
                }
                let mut buffer = sample.buffer_owned().ok_or(gst::FlowError::Error)?;
                {
                    let b = buffer.make_mut();
                    b.set_pts(gst::ClockTime::NONE);
                    b.set_dts(gst::ClockTime::NONE);
                }
                src_caps.push_buffer(buffer)
            })
            .eos(move |_| {
                let _ = src_eos.end_of_stream();
            })
            .build(),
    );
    let timing = Arc::new(Mutex::new(Timing::default()));
    let first = pipeline.by_name("first").context("no facedetect")?;
    let last = pipeline.by_name("last").context("no metajson")?;
    let t = timing.clone();
    first.static_pad("sink").context("pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
            t.lock().unwrap().entered.insert(pts.nseconds(), Instant::now());
        }
        gst::PadProbeReturn::Ok
    });
    let t = timing.clone();
    last.static_pad("src").context("pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
            let mut t = t.lock().unwrap();
            if let Some(start) = t.entered.remove(&pts.nseconds()) {
                t.spent.push(start.elapsed());
            }
        }
        gst::PadProbeReturn::Ok
    });
    Ok(Stream { decode, pipeline, timing, paced })
}

impl Stream {
    fn stop(&self) -> Result<()> {
        self.decode.set_state(gst::State::Null)?;
        self.pipeline.set_state(gst::State::Null)?;
        Ok(())
    }
}

/// Plays the streams together to EOS; returns the QoS messages (late frames) per stream.
fn play(streams: &[Stream]) -> Result<Vec<u64>> {
    // The chains first (models load), then the paced decoders.
    for s in streams {
        s.pipeline.set_state(gst::State::Playing)?;
    }
    for s in streams {
        s.decode.set_state(gst::State::Playing)?;
    }
    let mut late = Vec::new();
    for s in streams {
        let bus = s.pipeline.bus().context("no bus")?;
        let mut qos = 0;
        loop {
            let msg = bus.timed_pop(gst::ClockTime::from_seconds(600)).context("no EOS within 10 minutes")?;
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Qos(_) => qos += 1,
                gst::MessageView::Error(e) => return Err(anyhow!("{} ({:?})", e.error(), e.debug())),
                _ => {}
            }
        }
        late.push(qos);
    }
    Ok(late)
}

fn percentiles(mut d: Vec<Duration>) -> String {
    if d.is_empty() {
        return "no frames".into();
    }
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} frames", at(0.5), at(0.99), at(1.0), d.len())
}

fn run(cli: &Cli) -> Result<()> {
    gst::init()?;
    gstblickfang::register_static()?;
    let clip = match &cli.clip {
        Some(c) => c.clone(),
        None => fixture::generated_clip(&blickfang::eval::shared_dir())?,
    };
    println!("blickfang-bench-live: {}", clip.display());
    let base_rss = rss_mb();

    // Latency: one 1080p stream, paced, defaults.
    let one = stream(&clip, 1)?;
    let late = play(std::slice::from_ref(&one))?;
    one.stop()?;
    let spent = std::mem::take(&mut one.timing.lock().unwrap().spent);
    println!("latency, 1 x 1080p30 live, defaults: {}; QoS (late) messages: {}", percentiles(spent), late[0]);
    drop(one);

    // Streams: 720p, paced, interval as given.
    let clip_720p = fixture::clip_720p(&clip)?;
    let mut rss_one = None;
    for n in [1, cli.streams] {
        let streams: Vec<Stream> = (0..n).map(|_| stream(&clip_720p, cli.interval)).collect::<Result<_>>()?;
        let (cpu0, start) = (bench::cpu_seconds().unwrap_or(0.0), Instant::now());
        let late = play(&streams)?;
        let (cpu, wall) = (bench::cpu_seconds().unwrap_or(0.0) - cpu0, start.elapsed().as_secs_f64());
        let rss = rss_mb();
        let mut all = Vec::new();
        for s in &streams {
            all.extend(std::mem::take(&mut s.timing.lock().unwrap().spent));
            s.stop()?;
        }
        let frames = all.len().max(1);
        // Frames the decoders paced out that never reached the end: dropped at the source.
        let paced: u64 = streams.iter().map(|s| s.paced.load(std::sync::atomic::Ordering::Relaxed)).sum();
        let dropped = paced.saturating_sub(all.len() as u64);
        println!(
            "{n} x 720p30 live, interval={}: {}; {dropped} of {} frames dropped at the source; QoS messages {:?}; CPU {:.1} ms per frame ({:.2} cores over {:.0} s); \
             RSS {:.0} MB ({:.0} MB above the process before any pipeline)",
            cli.interval,
            percentiles(all),
            paced,
            late,
            1e3 * cpu / frames as f64,
            cpu / wall,
            wall,
            rss,
            rss - base_rss
        );
        match rss_one {
            None => rss_one = Some(rss),
            Some(one) if n > 1 => println!("resident memory per extra stream: {:.0} MB", (rss - one) / (n - 1) as f64),
            Some(_) => {}
        }
    }

    // State cycles.
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! blickfang-facedetect ! {CHAIN} ! \
         fakesink sync=false",
        clip.display()
    ))?;
    let mut marks = Vec::new();
    for i in 0..cli.cycles {
        pipeline.set_state(gst::State::Playing)?;
        // A few frames through, then back to NULL.
        std::thread::sleep(Duration::from_millis(300));
        pipeline.set_state(gst::State::Null)?;
        if i == 9 || i + 1 == cli.cycles {
            marks.push((i + 1, rss_mb()));
        }
    }
    println!("state cycles (PLAYING 0.3 s, NULL): RSS {marks:?} (cycles, MB)");
    let s = blickfang::runtime::session_stats();
    println!("ONNX Runtime sessions built in this process: {} ({} held now)", s.created, s.loaded);
    Ok(())
}
