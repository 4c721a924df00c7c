//! `blickfang-bench-live`: the whole chain on live, paced sources in one
//! process. Three parts, one run each (a benchmark, not a test):
//! - latency: one stream paced at its frame rate (decoded into a `sync=true`
//!   appsink, pushed into a live `appsrc`, as a camera), the time each frame spends in the chain (a probe where
//!   it enters facedetect, one where it leaves metajson), p50 / p99 / max,
//!   and frames later than one frame at a `sync=true` sink (`max-lateness`);
//!   `--seconds 300` loops the clip for the five minutes;
//! - streams: N copies of the clip transcoded once to 720p (a 720p camera
//!   decodes 720p), paced, in one process:
//!   frames late, CPU per frame, and resident memory with 1 and with N;
//!   first with no blickfang element (what N decoders cost anyway), then
//!   through the chain; the memory per extra stream also from fresh
//!   processes (this binary run again), which no earlier run has left
//!   freed memory to reuse;
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
    /// Streams at 720p in one process (0: skip the streams part).
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// facedetect's interval for the streams part.
    #[arg(long, default_value_t = 3)]
    interval: u32,
    /// Seconds of the latency part: the clip is looped (seamless segment
    /// seeks) until then; 0 plays it once. The run is 300.
    #[arg(long, default_value_t = 0)]
    seconds: u64,
    /// The decoders' `max-threads` (0: libav's default, one per core and one more).
    #[arg(long, default_value_t = 0)]
    decoder_threads: u32,
    /// Also find the most 720p and 1080p streams (with `--interval`) that stay
    /// on time: N = 1, 2, ... until one run drops or is late.
    #[arg(long)]
    most_streams: bool,
    /// State cycles (PLAYING, then NULL) of one pipeline.
    #[arg(long, default_value_t = 100)]
    cycles: usize,
    /// Only play this many streams of `--clip` (a 720p copy) once, through the
    /// chain (or none with `--rss-decode-only`), and print the resident memory:
    /// the fresh process that [`fresh_rss`] starts.
    #[arg(long, hide = true)]
    rss_of: Option<usize>,
    #[arg(long, hide = true)]
    rss_decode_only: bool,
}

const CHAIN: &str = "blickfang-demographics ! blickfang-gazedwell ! blickfang-blurredact ! blickfang-metajson";
/// A clip to pace, and its decoder's `max-threads` (`--decoder-threads`).
#[derive(Clone, Copy)]
struct Source<'a> {
    clip: &'a std::path::Path,
    decoder_threads: u32,
}
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
    /// The paced frames' numbers (buffer offsets) that reached the chain, to name those that did not.
    arrived: Vec<u64>,
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
    /// The chain's source, ended by hand when a looped clip stops.
    src: gst_app::AppSrc,
}

/// One paced stream through the chain with facedetect's `interval`, or, with
/// `None`, through no blickfang element at all.
fn stream(source: Source, interval: Option<u32>) -> Result<Stream> {
    let chain = match interval {
        Some(interval) => format!("blickfang-facedetect name=first interval={interval} ! {CHAIN} name=last"),
        None => "identity name=first ! identity name=last".into(),
    };
    let decode = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 max-threads={} ! videoconvert ! \
         appsink name=out sync=true max-buffers=2",
        source.clip.display(),
        source.decoder_threads
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=in is-live=true do-timestamp=true format=time max-buffers=2 leaky-type=downstream ! \
         {chain} ! \
         fakesink sync=true max-lateness={FRAME_NS} qos=true"
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    let out = decode.by_name("out").context("no appsink")?.downcast::<gst_app::AppSink>().unwrap();
    let src = pipeline.by_name("in").context("no appsrc")?.downcast::<gst_app::AppSrc>().unwrap();
    let (src_caps, src_eos) = (src.clone(), src.clone());
    let src_end = src.clone();
    let paced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = paced.clone();
    out.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let number = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if src_caps.caps().is_none() {
                    src_caps.set_caps(sample.caps_owned().as_ref());
                }
                let mut buffer = sample.buffer_owned().ok_or(gst::FlowError::Error)?;
                {
                    let b = buffer.make_mut();
                    b.set_pts(gst::ClockTime::NONE);
                    b.set_dts(gst::ClockTime::NONE);
                    b.set_offset(number);
                }
                src_caps.push_buffer(buffer)
            })
            .eos(move |_| {
                let _ = src_eos.end_of_stream();
            })
            .build(),
    );
    let timing = Arc::new(Mutex::new(Timing::default()));
    let first = pipeline.by_name("first").context("no first element")?;
    let last = pipeline.by_name("last").context("no last element")?;
    let t = timing.clone();
    first.static_pad("sink").context("pad")?.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(b) = info.buffer() {
            let mut t = t.lock().unwrap();
            t.arrived.push(b.offset());
            if let Some(pts) = b.pts() {
                t.entered.insert(pts.nseconds(), Instant::now());
            }
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
    Ok(Stream { decode, pipeline, timing, paced, src: src_end })
}

impl Stream {
    /// Plays the clip over and over for `length`, as one unbroken live
    /// stream: a segment seek back to the start at each segment's end (no
    /// flush, so the running time and the pacing go on), then EOS.
    fn loop_for(&self, length: Duration) -> Result<()> {
        self.decode.set_state(gst::State::Paused)?;
        let (result, _, _) = self.decode.state(gst::ClockTime::from_seconds(30));
        result.context("decoder did not preroll")?;
        let rewind = |flags| self.decode.seek_simple(flags | gst::SeekFlags::SEGMENT, gst::ClockTime::ZERO);
        rewind(gst::SeekFlags::FLUSH).context("first segment seek")?;
        let (decode, src, bus) = (self.decode.clone(), self.src.clone(), self.decode.bus().context("no bus")?);
        let until = Instant::now() + length;
        std::thread::spawn(move || {
            let kinds = [gst::MessageType::SegmentDone, gst::MessageType::Error];
            while let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::NONE, &kinds) {
                let again = matches!(msg.view(), gst::MessageView::SegmentDone(_)) && Instant::now() < until;
                if !again || decode.seek_simple(gst::SeekFlags::SEGMENT, gst::ClockTime::ZERO).is_err() {
                    let _ = src.end_of_stream();
                    return;
                }
            }
        });
        self.decode.set_state(gst::State::Playing)?;
        Ok(())
    }

    fn stop(&self) -> Result<()> {
        self.decode.set_state(gst::State::Null)?;
        self.pipeline.set_state(gst::State::Null)?;
        Ok(())
    }
}

/// Plays the streams together to EOS (the clip once, or looped for `looped`);
/// returns the QoS messages (late frames) per stream, and the elements'
/// counters posted at EOS (`blickfang-*-stats`) of every stream.
fn play(streams: &[Stream], looped: Option<Duration>) -> Result<(Vec<u64>, Vec<gst::Structure>)> {
    // The chains first (models load), then the paced decoders.
    for s in streams {
        s.pipeline.set_state(gst::State::Playing)?;
    }
    for s in streams {
        match looped {
            Some(length) => s.loop_for(length)?,
            None => _ = s.decode.set_state(gst::State::Playing)?,
        }
    }
    let (mut late, mut stats) = (Vec::new(), Vec::new());
    for s in streams {
        let bus = s.pipeline.bus().context("no bus")?;
        let mut qos = 0;
        loop {
            let msg = bus.timed_pop(gst::ClockTime::from_seconds(900)).context("no EOS within 15 minutes")?;
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Qos(_) => qos += 1,
                gst::MessageView::Error(e) => return Err(anyhow!("{} ({:?})", e.error(), e.debug())),
                gst::MessageView::Element(e) => {
                    stats.extend(e.structure().filter(|s| s.name().ends_with("-stats")).map(|s| s.to_owned()))
                }
                _ => {}
            }
        }
        late.push(qos);
    }
    Ok((late, stats))
}

/// The workers' counters of a live run, in a line: how far the privacy pass
/// lagged, and the frames each worker dropped.
fn worker_counters(stats: &[gst::Structure]) -> String {
    let values = |name: &'static str, key: &'static str| {
        stats.iter().filter(move |s| s.name() == name).filter_map(move |s| s.get::<u64>(key).ok())
    };
    let field = |name, key| -> u64 { values(name, key).sum() };
    let max = |name, key| values(name, key).max().unwrap_or(0);
    let (fd, dm, gd) = ("blickfang-facedetect-stats", "blickfang-demographics-stats", "blickfang-gazedwell-stats");
    format!(
        "privacy passes {} (lag max {} frames, mean {:.1}); frames dropped by the workers: demographics {}, head pose {}",
        field(fd, "privacy-passes"),
        max(fd, "privacy-lag-max"),
        field(fd, "privacy-lag-total") as f64 / field(fd, "privacy-passes").max(1) as f64,
        field(dm, "frames-dropped"),
        field(gd, "frames-dropped"),
    )
}

fn percentiles(mut d: Vec<Duration>) -> String {
    if d.is_empty() {
        return "no frames".into();
    }
    d.sort();
    let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} frames", at(0.5), at(0.99), at(1.0), d.len())
}

/// What one run of N paced streams showed.
struct Outcome {
    /// No frame dropped at the source and no QoS (late) message.
    on_time: bool,
    rss: f64,
}

/// Plays `n` paced copies of `clip` together once (through the chain with
/// facedetect's `interval`, or through no blickfang element) and prints the
/// frames late, the CPU per frame and the resident memory.
fn run_streams(source: Source, label: &str, n: usize, interval: Option<u32>, base_rss: f64) -> Result<Outcome> {
    let streams: Vec<Stream> = (0..n).map(|_| stream(source, interval)).collect::<Result<_>>()?;
    let (cpu0, start) = (bench::cpu_seconds().unwrap_or(0.0), Instant::now());
    let (late, stats) = play(&streams, None)?;
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
        "{n} x {label} live, {}: {}; {dropped} of {} frames dropped at the source; QoS messages {:?}; CPU {:.1} ms per frame ({:.2} cores over {:.0} s); \
         RSS {:.0} MB ({:.0} MB above the process before any pipeline)",
        interval.map_or("decode and pace only".into(), |i| format!("interval={i}")),
        percentiles(all),
        paced,
        late,
        1e3 * cpu / frames as f64,
        cpu / wall,
        wall,
        rss,
        rss - base_rss
    );
    if interval.is_some() {
        println!("  {}", worker_counters(&stats));
    }
    Ok(Outcome { on_time: dropped == 0 && late.iter().all(|&l| l == 0), rss })
}

/// N paced 720p streams in one process, one then N: resident memory per
/// extra stream. Without `interval` the streams only decode and pace (no
/// blickfang element): what a stream costs anyway.
fn streams_part(source_720p: Source, n: usize, interval: Option<u32>, base_rss: f64) -> Result<()> {
    let one = run_streams(source_720p, "720p30", 1, interval, base_rss)?;
    let many = run_streams(source_720p, "720p30", n, interval, base_rss)?;
    if n > 1 {
        // In this process the runs before left memory freed for these to reuse: the
        // fresh processes' figure is the one to quote.
        let (fresh_one, fresh_many) = (fresh_rss(source_720p, 1, interval)?, fresh_rss(source_720p, n, interval)?);
        println!(
            "resident memory per extra stream ({}): {:.0} MB in fresh processes (1 stream {:.0} MB, {n} streams {:.0} MB); \
             {:.0} MB in this process after the runs before",
            interval.map_or("decode and pace only", |_| "whole chain"),
            (fresh_many - fresh_one) / (n - 1) as f64,
            fresh_one,
            fresh_many,
            (many.rss - one.rss) / (n - 1) as f64
        );
    }
    Ok(())
}

/// The resident memory (MB) of a fresh process (this binary, `--rss-of`) that plays `n` paced
/// copies of the 720p `source` once, through the chain with `interval` or through no blickfang element.
fn fresh_rss(source: Source, n: usize, interval: Option<u32>) -> Result<f64> {
    let mut run = std::process::Command::new(std::env::current_exe()?);
    let threads = source.decoder_threads.to_string();
    run.arg("--clip").arg(source.clip).args(["--rss-of", &n.to_string(), "--decoder-threads", &threads]);
    match interval {
        Some(i) => run.args(["--interval", &i.to_string()]),
        None => run.arg("--rss-decode-only"),
    };
    let out = run.stderr(std::process::Stdio::inherit()).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rss = stdout.lines().find_map(|l| l.strip_prefix(RSS_LINE)?.trim().parse().ok());
    rss.ok_or_else(|| anyhow!("the fresh process for {n} streams printed no memory ({}): {stdout}", out.status))
}

/// How a fresh process (`--rss-of`) reports its resident memory.
const RSS_LINE: &str = "resident MB:";

/// The most paced streams of `source` one process keeps on time (no frame
/// dropped, none late), trying 1, 2, ... up to `limit`.
fn most_streams(source: Source, label: &str, interval: u32, limit: usize, base_rss: f64) -> Result<usize> {
    let mut held = 0;
    for n in 1..=limit {
        if !run_streams(source, label, n, Some(interval), base_rss)?.on_time {
            break;
        }
        held = n;
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!(
        "most {label} streams on time, interval={interval}: {held} on {cores} cores ({:.1} per core)",
        held as f64 / cores as f64
    );
    Ok(held)
}

fn run(cli: &Cli) -> Result<()> {
    gst::init()?;
    gstblickfang::register_static()?;
    let clip = match &cli.clip {
        Some(c) => c.clone(),
        None => fixture::generated_clip(&blickfang::eval::shared_dir())?,
    };
    let base_rss = rss_mb();
    let source = |clip| Source { clip, decoder_threads: cli.decoder_threads };
    if let Some(n) = cli.rss_of {
        let interval = (!cli.rss_decode_only).then_some(cli.interval);
        let outcome = run_streams(source(&clip), "720p30", n, interval, base_rss)?;
        println!("{RSS_LINE} {}", outcome.rss);
        return Ok(());
    }
    println!("blickfang-bench-live: {}", clip.display());

    // The streams' own cost first, without the chain: their decoders' memory
    // in a process no chain has used yet.
    let clip_720p = (cli.streams > 0).then(|| fixture::clip_720p(&clip)).transpose()?;
    if let Some(clip_720p) = &clip_720p {
        streams_part(source(clip_720p), cli.streams, None, base_rss)?;
    }

    // Latency: one 1080p stream, paced, defaults.
    let one = stream(source(&clip), Some(1))?;
    let looped = (cli.seconds > 0).then(|| Duration::from_secs(cli.seconds));
    let (late, stats) = play(std::slice::from_ref(&one), looped)?;
    one.stop()?;
    let spent = std::mem::take(&mut one.timing.lock().unwrap().spent);
    let paced = one.paced.load(std::sync::atomic::Ordering::Relaxed);
    let dropped = paced.saturating_sub(spent.len() as u64);
    let arrived: std::collections::HashSet<u64> = one.timing.lock().unwrap().arrived.iter().copied().collect();
    let missing: Vec<u64> = (0..paced).filter(|n| !arrived.contains(n)).take(10).collect();
    println!(
        "latency, 1 x 1080p30 live, defaults: {}; {dropped} of {paced} frames dropped at the source; QoS (late) messages: {}",
        percentiles(spent),
        late[0]
    );
    println!("  never reached the chain (paced frame numbers, first 10): {missing:?}; {}", worker_counters(&stats));
    drop(one);

    // Streams: 720p, paced, interval as given.
    if let Some(clip_720p) = &clip_720p {
        streams_part(source(clip_720p), cli.streams, Some(cli.interval), base_rss)?;
    }

    if cli.most_streams {
        let clip_720p = fixture::clip_720p(&clip)?;
        most_streams(source(&clip_720p), "720p30", cli.interval, 8, base_rss)?;
        most_streams(source(&clip), "1080p30", cli.interval, 8, base_rss)?;
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
