//! `make bench-metadata`: records per second through `blickfang-metajson`
//! and through `blickfang-metajson ! blickfang-mqttsink` to a mosquitto on
//! 127.0.0.1 (started here, QoS 1, every record acknowledged before the
//! clock stops). Each video buffer carries 6 face ROIs (detection,
//! demographics, head pose, attention) and the analysis marker.

#[path = "../../../tests/mosquitto/mod.rs"]
mod mosquitto;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gst::prelude::*;
use gstblickfang::meta;

const FACES: usize = 6;

fn caps() -> gst::Caps {
    gst_video::VideoInfo::builder(gst_video::VideoFormat::Gray8, 1920, 1080)
        .fps(gst::Fraction::new(30, 1))
        .build()
        .unwrap()
        .to_caps()
        .unwrap()
}

/// A 1080p frame with 6 analysed faces (the pixels are never read).
fn analysed_frame() -> gst::Buffer {
    let mut buf = gst::Buffer::with_size(1920 * 1080).unwrap();
    {
        let b = buf.get_mut().unwrap();
        for i in 0..FACES {
            let x = 100.0 + 280.0 * i as f64;
            let detection = gst::Structure::builder(meta::DETECTION)
                .field("confidence", 0.9f64 - 0.01 * i as f64)
                .field("x", x)
                .field("y", 300.0f64)
                .field("width", 120.0f64)
                .field("height", 150.0f64)
                .field("landmarks", gst::Array::new((0..10).map(|k| x + k as f64 * 7.5)))
                .field("predicted", i % 3 == 0)
                .build();
            let demographics = gst::Structure::builder("demographics")
                .field("age", 30.0f64 + i as f64)
                .field("age-group", "25-34")
                .field("gender", if i % 2 == 0 { "female" } else { "male" })
                .field("gender-confidence", 0.9f64)
                .build();
            let pose = gst::Structure::builder("head-pose")
                .field("yaw", -10.0f64)
                .field("pitch", 4.0f64)
                .field("roll", 1.0f64)
                .build();
            let attention = gst::Structure::builder("attention")
                .field("looking", i % 2 == 0)
                .field("dwell-time", 3.5f64)
                .field("attention-time", 1.5f64)
                .field("glances", 2u32)
                .build();
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(b, meta::ROI_TYPE_FACE, (x as u32, 300, 120, 150));
            roi.set_id(i as i32 + 1);
            for p in [detection, demographics, pose, attention] {
                roi.add_param(p);
            }
        }
        let mut marker = gst::meta::CustomMeta::add(b, meta::ANALYSIS_META).unwrap();
        let s = marker.mut_structure();
        s.set_name(meta::ANALYSIS);
        s.set("frame", 0u64);
        s.set("detector-ran", true);
        s.set("faces", FACES as u32);
        s.set("model-family", "yunet");
        b.set_pts(gst::ClockTime::ZERO);
    }
    buf
}

struct Run {
    records: u64,
    seconds: f64,
    bytes_per_record: f64,
}

/// Pushes `n` frames into `appsrc ! <tail>` and times until EOS.
fn run(tail: &str, n: u64) -> Result<(Run, gst::Pipeline)> {
    let desc = format!("appsrc name=src format=time block=true max-buffers=256 ! {tail}");
    let pipeline = gst::parse::launch(&desc)?.downcast::<gst::Pipeline>().unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    src.set_caps(Some(&caps()));
    let frame = analysed_frame();
    pipeline.set_state(gst::State::Playing)?;
    let start = Instant::now();
    for _ in 0..n {
        src.push_buffer(frame.clone()).context("push")?;
    }
    src.end_of_stream()?;
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(600), &[gst::MessageType::Eos, gst::MessageType::Error])
        .context("no EOS within 10 minutes")?;
    let seconds = start.elapsed().as_secs_f64();
    if let gst::MessageView::Error(e) = msg.view() {
        bail!("{}: {:?}", e.error(), e.debug());
    }
    let bytes = pipeline
        .by_name("out")
        .map(|s| s.property::<Option<gst::Sample>>("last-sample"))
        .and_then(|s| s.and_then(|s| s.buffer().map(|b| b.size() as f64)))
        .unwrap_or(0.0);
    Ok((Run { records: n, seconds, bytes_per_record: bytes }, pipeline))
}

fn report(what: &str, r: &Run) {
    println!(
        "{what:<44} {:>8} records in {:>6.2} s = {:>9.0} records/s{}",
        r.records,
        r.seconds,
        r.records as f64 / r.seconds,
        if r.bytes_per_record > 0.0 {
            format!("  ({:.0} bytes per record)", r.bytes_per_record)
        } else {
            String::new()
        }
    );
}

fn main() -> Result<()> {
    // SAFETY: no other thread exists yet (see blickfang::runtime::disable_telemetry).
    unsafe { blickfang::runtime::disable_telemetry() };
    gst::init()?;
    gstblickfang::register_static()?;
    let n: u64 = std::env::var("BLICKFANG_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    println!("blickfang metadata benchmark: {FACES} faces per frame (detection, demographics, head pose, attention)");

    let (base, p) = run("fakesink sync=false", n)?;
    p.set_state(gst::State::Null)?;
    report("appsrc ! fakesink (producer only)", &base);

    let (json, p) = run("blickfang-metajson ! fakesink name=out sync=false enable-last-sample=true", n)?;
    p.set_state(gst::State::Null)?;
    report("metajson ! fakesink", &json);

    let broker = mosquitto::Mosquitto::start();
    let sink = format!(
        "blickfang-metajson ! blickfang-mqttsink name=mqtt host=127.0.0.1 port={} spool-size={} drain-timeout=600000",
        broker.port,
        n + 1
    );
    let (mqtt, p) = run(&sink, n)?;
    let mqttsink = p.by_name("mqtt").unwrap();
    let (published, dropped) = (mqttsink.property::<u64>("published"), mqttsink.property::<u64>("dropped"));
    p.set_state(gst::State::Null)?;
    report("metajson ! mqttsink (QoS 1, all acknowledged)", &mqtt);
    if published != n || dropped != 0 {
        bail!("mqttsink published {published} of {n}, dropped {dropped}");
    }
    std::thread::sleep(Duration::from_millis(10));
    Ok(())
}
