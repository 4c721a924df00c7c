//! The scene generator's primitives: real face photos from the shared data
//! pasted over a background at known places, so tests know every frame's
//! ground truth (tests/scene.rs: audience counts; tests/redaction_moving.rs:
//! redaction of moving faces). The video exists only in memory.

/// Frame size of the generated scenes.
pub const W: usize = 960;
pub const H: usize = 540;

/// An RGB picture in memory.
pub struct Picture {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<u8>,
}

pub fn load(path: &std::path::Path, crop: Option<(f32, f32, f32, f32)>) -> Picture {
    let (frames, caps) = crate::common::decode_frames(path, "RGB", 1);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let map = frames[0].map_readable().unwrap();
    let stride = info.stride()[0] as usize;
    let (cx, cy, cw, ch) = crop.unwrap_or((0.0, 0.0, info.width() as f32, info.height() as f32));
    let (w, h) = (cw as usize, ch as usize);
    let mut rgb = vec![0; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let sx = (cx as usize + x).min(info.width() as usize - 1);
            let sy = (cy as usize + y).min(info.height() as usize - 1);
            rgb[(y * w + x) * 3..][..3].copy_from_slice(&map[sy * stride + sx * 3..][..3]);
        }
    }
    Picture { w, h, rgb }
}

pub fn paste(frame: &mut [u8], pic: &Picture, cx: usize, cy: usize, size: usize) {
    let scale = pic.w.max(pic.h) as f32 / size as f32;
    let (w, h) = ((pic.w as f32 / scale) as usize, (pic.h as f32 / scale) as usize);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (cx + x - w / 2, cy + y - h / 2);
            if fx >= W || fy >= H {
                continue;
            }
            let (sx, sy) = (((x as f32 + 0.5) * scale) as usize, ((y as f32 + 0.5) * scale) as usize);
            let s = &pic.rgb[(sy.min(pic.h - 1) * pic.w + sx.min(pic.w - 1)) * 3..][..3];
            frame[(fy * W + fx) * 3..][..3].copy_from_slice(s);
        }
    }
}

pub fn background() -> Vec<u8> {
    let mut bg = vec![0u8; W * H * 3];
    for y in 0..H {
        for x in 0..W {
            let v = (90 + (x * 40 / W) + (y * 30 / H)) as u8;
            bg[(y * W + x) * 3..][..3].copy_from_slice(&[v, v, v.saturating_add(10)]);
        }
    }
    bg
}

/// The faces: 0..4 frontal (looking), 4..6 turned away.
pub fn faces() -> Vec<Picture> {
    let utk = crate::common::data("utkface_crop_subset/images");
    let aflw = crate::common::data("aflw2000_3d_prnet16");
    let labels = std::fs::read_to_string(aflw.join("labels.csv")).unwrap();
    let turned = |file: &str| {
        let line = labels.lines().find(|l| l.starts_with(file)).unwrap();
        let f: Vec<f32> = line.split(',').skip(4).map(|v| v.parse().unwrap()).collect();
        // The labelled face box grown by 40 %, for some head and hair around it.
        let (w, h) = ((f[2] - f[0]) * 1.4, (f[3] - f[1]) * 1.4);
        let (cx, cy) = ((f[0] + f[2]) / 2.0, (f[1] + f[3]) / 2.0);
        load(&aflw.join("images").join(file), Some((cx - w / 2.0, cy - h / 2.0, w, h)))
    };
    let mut v: Vec<Picture> = [
        "100_1_0_20170110183726390.jpg.chip.jpg",
        "10_0_0_20170110225414790.jpg.chip.jpg",
        "12_0_0_20170104013257914.jpg.chip.jpg",
        "13_0_0_20170104012320089.jpg.chip.jpg",
    ]
    .iter()
    .map(|f| load(&utk.join(f), None))
    .collect();
    v.push(turned("image02420.jpg")); // yaw 71
    v.push(turned("image04331.jpg")); // yaw 46
    v
}

/// A generated scene played through `chain` (`appsrc ! <chain> ! appsink`), one frame at a time:
/// each frame's output is pulled before the next is pushed, so a test sees every frame's
/// metadata and pixels, and the bus messages at the end.
pub struct Player {
    pub pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    frame_ns: u64,
}

impl Player {
    pub fn start(chain: &str, fps: u64) -> Self {
        Self::start_with(chain, fps, false)
    }

    /// As [`Player::start`], from a source that says it is live (a camera, to the elements).
    #[allow(dead_code)] // tests/redaction_moving.rs's live pass; not every test crate plays live
    pub fn start_live(chain: &str, fps: u64) -> Self {
        Self::start_with(chain, fps, true)
    }

    fn start_with(chain: &str, fps: u64, live: bool) -> Self {
        use gst::prelude::*;
        crate::common::init();
        let desc = format!(
            "appsrc name=src format=time is-live={live} \
             caps=video/x-raw,format=RGB,width={W},height={H},framerate={fps}/1 ! \
             {chain} ! appsink name=sink sync=false"
        );
        let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
        let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, src, sink, frame_ns: 1_000_000_000 / fps }
    }

    /// Pushes frame number `index` (RGB, `W`x`H`) and returns what came out for it.
    pub fn play(&self, frame: Vec<u8>, index: usize) -> gst::Sample {
        let mut buf = gst::Buffer::from_mut_slice(frame);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(index as u64 * self.frame_ns));
            b.set_duration(gst::ClockTime::from_nseconds(self.frame_ns));
        }
        self.src.push_buffer(buf).unwrap();
        self.sink.pull_sample().unwrap()
    }

    /// Sends an event downstream between frames (every earlier frame has come out already).
    #[allow(dead_code)] // tests/scene.rs's content switch; not every test crate sends one
    pub fn send_event(&self, event: gst::Event) {
        use gst::prelude::*;
        assert!(self.src.static_pad("src").unwrap().push_event(event));
    }

    /// Ends the stream and returns the element messages posted until EOS.
    pub fn finish(self) -> Vec<gst::Structure> {
        use gst::prelude::*;
        self.src.end_of_stream().unwrap();
        let bus = self.pipeline.bus().unwrap();
        let mut messages = Vec::new();
        while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(10)) {
            match msg.view() {
                gst::MessageView::Element(e) => messages.extend(e.structure().map(|s| s.to_owned())),
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                _ => {}
            }
        }
        self.pipeline.set_state(gst::State::Null).unwrap();
        messages
    }
}
