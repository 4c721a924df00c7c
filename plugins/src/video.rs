//! Adapts mapped GStreamer video frames to the core's `FrameView`.

use blickfang::frame::{Colorimetry, FrameView, PixelFormat, YuvMatrix};
use gst_video::VideoFormat;
use gst_video::prelude::*;

/// The raw formats every blickfang video element accepts.
pub const FORMATS: &[VideoFormat] = &[
    VideoFormat::I420,
    VideoFormat::Yv12,
    VideoFormat::Nv12,
    VideoFormat::Nv21,
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Argb,
    VideoFormat::Abgr,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
    VideoFormat::Gray8,
];

/// Caps for the formats above, any size and rate.
pub fn raw_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(FORMATS.iter().copied()).build()
}

/// Sink and src templates of an in-place video filter over [`raw_caps`].
pub fn filter_pad_templates() -> Vec<gst::PadTemplate> {
    let caps = raw_caps();
    vec![
        gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
        gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
    ]
}

pub fn pixel_format(format: VideoFormat) -> Option<PixelFormat> {
    use PixelFormat as P;
    Some(match format {
        VideoFormat::I420 => P::I420,
        VideoFormat::Yv12 => P::Yv12,
        VideoFormat::Nv12 => P::Nv12,
        VideoFormat::Nv21 => P::Nv21,
        VideoFormat::Rgb => P::Rgb,
        VideoFormat::Bgr => P::Bgr,
        VideoFormat::Rgba => P::Rgba,
        VideoFormat::Bgra => P::Bgra,
        VideoFormat::Rgbx => P::Rgbx,
        VideoFormat::Bgrx => P::Bgrx,
        VideoFormat::Argb => P::Argb,
        VideoFormat::Abgr => P::Abgr,
        VideoFormat::Xrgb => P::Xrgb,
        VideoFormat::Xbgr => P::Xbgr,
        VideoFormat::Gray8 => P::Gray8,
        _ => return None,
    })
}

pub fn colorimetry(info: &gst_video::VideoInfo) -> Colorimetry {
    let c = info.colorimetry();
    Colorimetry {
        matrix: if c.matrix() == gst_video::VideoColorMatrix::Bt709 { YuvMatrix::Bt709 } else { YuvMatrix::Bt601 },
        full_range: c.range() == gst_video::VideoColorRange::Range0_255,
    }
}

/// A core view of a mapped frame; `None` for a format we do not handle.
pub fn frame_view<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Option<FrameView<'a>> {
    let info = frame.info();
    let format = pixel_format(info.format())?;
    let mut planes: [&[u8]; 3] = [&[]; 3];
    let mut strides = [0usize; 3];
    for i in 0..(frame.n_planes() as usize).min(3) {
        planes[i] = frame.plane_data(i as u32).ok()?;
        strides[i] = frame.plane_stride()[i] as usize;
    }
    Some(FrameView {
        format,
        width: info.width() as usize,
        height: info.height() as usize,
        planes,
        strides,
        colorimetry: colorimetry(info),
    })
}

/// Maps `buf` read-only for analysis (the frame is neither written nor
/// copied); a failure is posted on `element` as a stream error.
pub fn map_readable<'a>(
    element: &impl IsA<gst::Element>,
    buf: &'a gst::BufferRef,
    info: &gst_video::VideoInfo,
) -> Result<gst_video::VideoFrameRef<&'a gst::BufferRef>, gst::FlowError> {
    gst_video::VideoFrameRef::from_buffer_ref_readable(buf, info).map_err(|_| {
        gst::element_error!(
            element,
            gst::StreamError::Format,
            ["cannot map a {}x{} frame", info.width(), info.height()]
        );
        gst::FlowError::Error
    })
}

/// How far an analytics worker thread steps back for the video (Linux nice
/// levels, 0..19). The streaming thread must finish a frame within one frame
/// time; an analytics worker's model run (a batch of age/gender crops, head
/// poses) can wait a few frames. At equal priority a worker's burst takes half
/// of a two-core player from the frames passing through (issue 16: the p99
/// latency); stepped back, it runs on what the video leaves idle, and as fast
/// as before when nothing else wants the cores. facedetect's privacy pass does
/// not step back: its finds are redacted, so it must not starve.
pub const WORKER_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority by `nice` (best effort:
/// raising a nice value needs no privilege; on other systems it does nothing).
pub fn step_back_for_video(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads plain integers; on Linux PRIO_PROCESS with
    // who = 0 names the calling thread only (nice values are per thread).
    unsafe {
        // Relative to the process's own nice value (a player may already run
        // it lowered); getpriority's -1 is a valid value, errors change nothing.
        let now = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, (now + nice).min(19));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// For the worker threads (no element to post on): maps a frame a worker
/// holds and runs `work` on its view; errors as text for the streaming
/// thread to post.
pub fn on_view<T, E: std::fmt::Display>(
    frame: gst::Buffer,
    info: &gst_video::VideoInfo,
    work: impl FnOnce(&FrameView<'_>) -> Result<T, E>,
) -> Result<T, String> {
    let frame =
        gst_video::VideoFrame::from_buffer_readable(frame, info).map_err(|_| "cannot map the frame".to_string())?;
    let frame = frame.as_video_frame_ref();
    let view = frame_view(&frame).ok_or_else(|| format!("unsupported format {:?}", info.format()))?;
    work(&view).map_err(|e| e.to_string())
}

/// [`frame_view`], with a format we do not handle posted on `element`.
pub fn view_of<'a>(
    element: &impl IsA<gst::Element>,
    frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>,
) -> Result<FrameView<'a>, gst::FlowError> {
    frame_view(frame).ok_or_else(|| {
        gst::element_error!(element, gst::StreamError::Format, ["unsupported format {:?}", frame.info().format()]);
        gst::FlowError::NotNegotiated
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_worker_steps_back_alone() {
        // SAFETY: getpriority reads plain integers (who = 0: this thread).
        let nice_here = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let before = nice_here();
        let worker = std::thread::spawn(move || {
            step_back_for_video(WORKER_NICE);
            nice_here()
        });
        assert_eq!(worker.join().unwrap(), (before + WORKER_NICE).min(19));
        assert_eq!(nice_here(), before, "the calling thread keeps its priority");
    }
}
