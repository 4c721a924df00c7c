//! The benchmarks' clip: the shared photo `t1.jpg` (six faces), slowly panned
//! and zoomed with a little sensor-like noise so that frames differ, encoded by
//! x264 as 1080p30 H.264 into `<target>/bench-fixtures/` (never the
//! repository). `blickfang-bench` makes it; the other benchmarks find the same
//! file through [`clip_path`].

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use gst::prelude::*;
use gst_video::prelude::*;

const WIDTH: usize = 1920;
const HEIGHT: usize = 1080;
const FPS: u64 = 30;
const FRAMES: u64 = 300;

/// Bump when the fixture's recipe changes, so a stale clip is not reused.
pub const FIXTURE_NAME: &str = "t1-panzoom-1080p30-h264-v1.mp4";

/// `$CARGO_TARGET_DIR`, else the `<target>` the running binary lives in
/// (`<target>/<profile>/`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The folder of generated benchmark inputs (never in the repository).
pub fn fixture_dir() -> PathBuf {
    target_dir().join("bench-fixtures")
}

/// The 1080p30 clip with six faces, once `blickfang-bench` has made it.
pub fn clip_path() -> PathBuf {
    fixture_dir().join(FIXTURE_NAME)
}

/// A packed RGB image.
struct Rgb {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

/// The clip, made once from the shared photo under `shared` (the shared data
/// folder) and reused while [`FIXTURE_NAME`] names the same recipe.
pub fn generated_clip(shared: &Path) -> Result<PathBuf> {
    let dir = fixture_dir();
    let path = clip_path();
    if path.is_file() {
        return Ok(path);
    }
    let photo = shared.join("data/photos/t1.jpg");
    if !photo.is_file() {
        bail!("no {} (set BLICKFANG_SHARED_DIR)", photo.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!("generating {} from {} ...", path.display(), photo.display());
    let started = Instant::now();
    // Written aside and renamed, so an interrupted run leaves no clip to reuse.
    let part = dir.join(format!("{}.part", FIXTURE_NAME));
    encode_fixture(&load_rgb(&photo)?, &part).context("cannot encode the fixture")?;
    std::fs::rename(&part, &path).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("... {} frames in {:.1} s", FRAMES, started.elapsed().as_secs_f64());
    Ok(path)
}

/// Bump when the 720p transcode's recipe changes.
const TRANSCODE_720P: &str = "720p30-h264-v1";

/// `clip` transcoded once to 720p (x264, 3 Mbit/s, 2 s GOP) into the fixture folder and reused:
/// streams of 720p cameras decode 720p, so they carry a 720p decoder, not a 1080p one and a
/// scaler (`blickfang-bench-live`'s streams).
pub fn clip_720p(clip: &Path) -> Result<PathBuf> {
    let dir = fixture_dir();
    let stem = clip.file_stem().and_then(|s| s.to_str()).context("clip without a file name")?;
    let stem = stem.replace("-1080p30-h264-v1", "");
    let path = dir.join(format!("{stem}-{TRANSCODE_720P}.mp4"));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    eprintln!("transcoding {} to {} ...", clip.display(), path.display());
    let part = dir.join(format!("{stem}-{TRANSCODE_720P}.mp4.part"));
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoscale ! video/x-raw,width=1280,height=720 \
         ! videoconvert ! x264enc speed-preset=medium bitrate=3000 key-int-max=60 ! video/x-h264,profile=high \
         ! h264parse ! mp4mux ! filesink location=\"{}\"",
        clip.display(),
        part.display()
    ))
    .context("needs x264enc (Debian gstreamer1.0-plugins-ugly) and mp4mux (gstreamer1.0-plugins-good)")?;
    let result = (|| -> Result<()> {
        pipeline.set_state(gst::State::Playing)?;
        let bus = pipeline.bus().context("pipeline without bus")?;
        let msg = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(600), &[gst::MessageType::Eos, gst::MessageType::Error])
            .context("the transcode did not finish")?;
        if let gst::MessageView::Error(e) = msg.view() {
            bail!("{} ({})", e.error(), e.debug().unwrap_or_default());
        }
        Ok(())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    match result {
        Ok(()) => std::fs::rename(&part, &path).with_context(|| format!("cannot write {}", path.display()))?,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e.context(format!("cannot transcode {} to 720p", clip.display())));
        }
    }
    Ok(path)
}

fn load_rgb(photo: &Path) -> Result<Rgb> {
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    pipeline.by_name("src").context("no src")?.set_property("location", photo);
    let sink = pipeline.by_name("sink").and_then(|s| s.downcast::<gst_app::AppSink>().ok()).context("no appsink")?;
    pipeline.set_state(gst::State::Playing).with_context(|| format!("cannot decode {}", photo.display()))?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(30));
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.with_context(|| format!("{} decoded to nothing", photo.display()))?;
    let info = gst_video::VideoInfo::from_caps(sample.caps().context("no caps")?)?;
    let buffer = sample.buffer().context("no buffer")?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| anyhow!("cannot map the photo"))?;
    let (width, height) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let plane = frame.plane_data(0)?;
    let mut data = Vec::with_capacity(width * height * 3);
    for row in plane.chunks(stride).take(height) {
        data.extend_from_slice(&row[..width * 3]);
    }
    Ok(Rgb { width, height, data })
}

/// Frame `i`'s source window `(x0, y0, w, h)`: 16:9, zooming over 5 s and
/// panning vertically over 3 s, so that content moves a few output pixels a
/// frame. Tuned to t1.jpg (1280x886), whose faces span nearly its whole
/// width and y 58..476: the window keeps all six in view.
fn window(i: u64, src: &Rgb) -> (f64, f64, f64, f64) {
    let t = i as f64;
    let (sw, sh) = (src.width as f64, src.height as f64);
    let w = (sw * (0.96 + 0.04 * (TAU * t / 150.0).sin())).min(sh * 16.0 / 9.0);
    let h = w * 9.0 / 16.0;
    let room = (sh - h).clamp(0.0, 50.0);
    ((sw - w) / 2.0, room * (0.5 + 0.5 * (TAU * t / 90.0).sin()), w, h)
}

/// Bilinear resample of `win` to WIDTHxHEIGHT RGB, plus +-3 of luma noise:
/// a camera's noise, without which a panned still compresses to nearly
/// nothing and the decoder has little to do.
fn render(src: &Rgb, (x0, y0, w, h): (f64, f64, f64, f64), seed: u64, out: &mut [u8]) {
    // Fixed point, 8 fractional bits.
    let taps = |n: usize, origin: f64, span: f64, limit: usize| -> Vec<(usize, u32)> {
        (0..n)
            .map(|o| {
                let s = (origin + (o as f64 + 0.5) * span / n as f64 - 0.5).clamp(0.0, (limit - 1) as f64);
                let i = (s.floor() as usize).min(limit - 2);
                (i, ((s - i as f64) * 256.0).round() as u32)
            })
            .collect()
    };
    let cols = taps(WIDTH, x0, w, src.width);
    let rows = taps(HEIGHT, y0, h, src.height);
    let stride = src.width * 3;
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for (oy, &(sy, fy)) in rows.iter().enumerate() {
        let (top, bottom) = (&src.data[sy * stride..], &src.data[(sy + 1) * stride..]);
        let line = &mut out[oy * WIDTH * 3..(oy + 1) * WIDTH * 3];
        for (px, &(sx, fx)) in line.chunks_exact_mut(3).zip(&cols) {
            // xorshift64: cheap, and deterministic per frame.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let noise = (rng & 3) as i32 + ((rng >> 2) & 3) as i32 - 3;
            for (c, v) in px.iter_mut().enumerate() {
                let (a, b) = (sx * 3 + c, sx * 3 + 3 + c);
                let upper = top[a] as u32 * (256 - fx) + top[b] as u32 * fx;
                let lower = bottom[a] as u32 * (256 - fx) + bottom[b] as u32 * fx;
                let value = ((upper * (256 - fy) + lower * fy + (1 << 15)) >> 16) as i32;
                *v = (value + noise).clamp(0, 255) as u8;
            }
        }
    }
}

/// x264 at a typical IP camera's 6 Mbit/s, 2 s GOP.
fn encode_fixture(src: &Rgb, path: &Path) -> Result<()> {
    let pipeline = gst::parse::launch(
        "appsrc name=src ! videoconvert ! x264enc speed-preset=medium bitrate=6000 key-int-max=60 \
         ! video/x-h264,profile=high ! h264parse ! mp4mux ! filesink name=sink",
    )
    .context("needs x264enc (Debian gstreamer1.0-plugins-ugly) and mp4mux (gstreamer1.0-plugins-good)")?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    pipeline.by_name("sink").context("no filesink")?.set_property("location", path);
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, WIDTH as u32, HEIGHT as u32)
        .fps(gst::Fraction::new(FPS as i32, 1))
        .build()?;
    let appsrc = pipeline.by_name("src").and_then(|s| s.downcast::<gst_app::AppSrc>().ok()).context("no appsrc")?;
    appsrc.set_caps(Some(&info.to_caps()?));
    appsrc.set_format(gst::Format::Time);
    appsrc.set_block(true);
    appsrc.set_max_bytes(3 * info.size() as u64);
    let bus = pipeline.bus().context("pipeline without bus")?;
    let bus_error = || {
        bus.pop_filtered(&[gst::MessageType::Error]).map_or_else(
            || anyhow!("the encoder stopped"),
            |m| match m.view() {
                gst::MessageView::Error(e) => anyhow!("{} ({})", e.error(), e.debug().unwrap_or_default()),
                _ => anyhow!("the encoder stopped"),
            },
        )
    };

    let result = (|| -> Result<()> {
        pipeline.set_state(gst::State::Playing).map_err(|_| bus_error())?;
        let frame_duration = gst::ClockTime::SECOND / FPS;
        for i in 0..FRAMES {
            let mut data = vec![0u8; info.size()];
            render(src, window(i, src), i, &mut data);
            let mut buffer = gst::Buffer::from_mut_slice(data);
            {
                let b = buffer.get_mut().context("fresh buffer not writable")?;
                b.set_pts(frame_duration * i);
                b.set_duration(frame_duration);
            }
            appsrc.push_buffer(buffer).map_err(|_| bus_error())?;
        }
        appsrc.end_of_stream().map_err(|_| bus_error())?;
        let msg = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(600), &[gst::MessageType::Eos, gst::MessageType::Error])
            .context("the encoder did not finish")?;
        if let gst::MessageView::Error(e) = msg.view() {
            bail!("{} ({})", e.error(), e.debug().unwrap_or_default());
        }
        Ok(())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// t1.jpg's size: every frame's window is 16:9 and inside the photo.
    #[test]
    fn every_window_stays_inside_the_photo() {
        let src = Rgb { width: 1280, height: 886, data: Vec::new() };
        for i in 0..FRAMES {
            let (x0, y0, w, h) = window(i, &src);
            assert!(x0 >= 0.0 && y0 >= 0.0, "frame {i}");
            assert!(x0 + w <= 1280.0 && y0 + h <= 886.0, "frame {i}");
            assert!((w / h - 16.0 / 9.0).abs() < 1e-9, "frame {i}");
        }
    }

    /// A flat grey photo renders as that grey plus at most 3 of noise, the same
    /// for the same frame.
    #[test]
    fn render_is_the_resample_plus_bounded_deterministic_noise() {
        let src = Rgb { width: 64, height: 36, data: vec![128; 64 * 36 * 3] };
        let mut a = vec![0; WIDTH * HEIGHT * 3];
        let mut b = vec![0; WIDTH * HEIGHT * 3];
        render(&src, (0.0, 0.0, 64.0, 36.0), 7, &mut a);
        render(&src, (0.0, 0.0, 64.0, 36.0), 7, &mut b);
        assert!(a == b);
        assert!(a.iter().all(|&v| (125..=131).contains(&v)));
        assert!(a.iter().any(|&v| v != 128));
    }
}
