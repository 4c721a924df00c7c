use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::dwell::{Audience, Demographics, DwellConfig, Observation, PersonEvent};
use blickfang::headpose::{self, FsaNet, HeadPose};
use blickfang::looking::{self, LookingConfig, ViewPosition};
use blickfang::report::{self, ContentReport};
use blickfang::runtime;

use super::{CONTENT_EVENT, CONTENT_REPORT, PERSON_EVENT};
use crate::{meta, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("gazedwell", gst::DebugColorFlags::empty(), Some("blickfang looking, dwell and attention"))
});

const DEFAULT_HEADPOSE_MODEL: &str = "headpose/fsanet-1x1-iter-688590.onnx,headpose/fsanet-var-iter-688590.onnx";
const DEFAULT_CONTENT_ID: &str = "unknown";

#[derive(Debug, Clone)]
struct Settings {
    headpose_model: String,
    onnxruntime: Option<String>,
    threads: u32,
    looking: LookingConfig,
    dwell: DwellConfig,
    min_group_size: u32,
    content_id: String,
}

/// What a frame or event reads: plain values copied out of the lock (the
/// model names and the content id matter only at start or on a change).
#[derive(Clone, Copy)]
struct FrameSettings {
    looking: LookingConfig,
    dwell: DwellConfig,
    min_group_size: u32,
}

impl Settings {
    fn per_frame(&self) -> FrameSettings {
        FrameSettings { looking: self.looking, dwell: self.dwell, min_group_size: self.min_group_size }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            headpose_model: DEFAULT_HEADPOSE_MODEL.into(),
            onnxruntime: None,
            threads: 1,
            looking: LookingConfig::default(),
            dwell: DwellConfig::default(),
            min_group_size: 5,
            content_id: DEFAULT_CONTENT_ID.into(),
        }
    }
}

struct State {
    info: Option<gst_video::VideoInfo>,
    fsanet: Option<FsaNet>,
    audience: Audience,
    /// Looking state per track, for hysteresis.
    looking: Vec<(u64, bool)>,
    /// The content on screen and since when (running time, seconds).
    content: Option<(String, f64)>,
    /// A content change asked for from outside the streaming thread.
    pending_content: Option<String>,
    /// End of the last frame, running time in seconds.
    last_end: f64,
    live: Option<bool>,
}

#[derive(Default)]
pub struct GazeDwell {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for GazeDwell {
    const NAME: &'static str = "BlickfangGazeDwell";
    type Type = super::GazeDwell;
    type ParentType = gst_base::BaseTransform;
}

fn seconds_param(name: &str, nick: &str, blurb: &str, default: f64) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(0.0)
        .maximum(3600.0)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn degrees_param(name: &str, nick: &str, blurb: &str, min: f64, default: f64) -> glib::ParamSpec {
    glib::ParamSpecFloat::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(min as f32)
        .maximum(180.0)
        .default_value(default as f32)
        .mutable_playing()
        .build()
}

impl ObjectImpl for GazeDwell {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("headpose-model")
                    .nick("Head-pose models")
                    .blurb(
                        "Comma-separated FSA-Net ONNX models whose outputs are averaged (paths or relative to the \
                            model folders); empty: head pose from the 5 landmarks alone",
                    )
                    .default_value(Some(DEFAULT_HEADPOSE_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("onnxruntime")
                    .nick("ONNX Runtime library")
                    .blurb("Path of libonnxruntime.so; unset: searched as facedetect does")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime intra-op threads")
                    .minimum(1)
                    .maximum(64)
                    .default_value(1)
                    .mutable_ready()
                    .build(),
                degrees_param(
                    "looking-yaw",
                    "Looking yaw",
                    "Head yaw (degrees) of a viewer in front of the camera looking at the screen centre",
                    -180.0,
                    d.looking.centre_yaw as f64,
                ),
                degrees_param(
                    "looking-pitch",
                    "Looking pitch",
                    "Head pitch (degrees) of a viewer in front of the camera looking at the screen centre (camera above the screen: negative)",
                    -180.0,
                    d.looking.centre_pitch as f64,
                ),
                degrees_param(
                    "looking-tolerance",
                    "Looking tolerance",
                    "Angular radius (degrees) around the screen direction that counts as looking",
                    0.0,
                    d.looking.tolerance as f64,
                ),
                degrees_param(
                    "looking-hysteresis",
                    "Looking hysteresis",
                    "Extra radius (degrees) needed to stop looking, against flicker",
                    0.0,
                    d.looking.hysteresis as f64,
                ),
                degrees_param(
                    "camera-hfov",
                    "Camera horizontal field of view",
                    "Degrees; corrects the screen direction for viewers off the camera axis (0: off)",
                    0.0,
                    d.looking.camera_hfov as f64,
                ),
                seconds_param(
                    "grace",
                    "Grace period",
                    "Gaps in sight or looking up to this many seconds are bridged",
                    d.dwell.grace,
                ),
                seconds_param(
                    "min-dwell",
                    "Minimum dwell time",
                    "Presences shorter than this many seconds are not counted (no OTS)",
                    d.dwell.min_dwell,
                ),
                seconds_param(
                    "min-attention",
                    "Minimum attention time",
                    "Attention time (seconds) that makes a watcher",
                    d.dwell.min_attention,
                ),
                glib::ParamSpecUInt::builder("min-group-size")
                    .nick("Minimum group size")
                    .blurb("Report cells counting fewer people than this are suppressed (k-anonymity)")
                    .minimum(1)
                    .default_value(d.min_group_size)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("content-id")
                    .nick("Content id")
                    .blurb("What the screen shows now; changing it closes the current content's report")
                    .default_value(Some(DEFAULT_CONTENT_ID))
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "headpose-model" => s.headpose_model = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            "onnxruntime" => s.onnxruntime = value.get::<Option<String>>().unwrap().filter(|v| !v.is_empty()),
            "threads" => s.threads = value.get().unwrap(),
            "looking-yaw" => s.looking.centre_yaw = value.get().unwrap(),
            "looking-pitch" => s.looking.centre_pitch = value.get().unwrap(),
            "looking-tolerance" => s.looking.tolerance = value.get().unwrap(),
            "looking-hysteresis" => s.looking.hysteresis = value.get().unwrap(),
            "camera-hfov" => s.looking.camera_hfov = value.get().unwrap(),
            "grace" => s.dwell.grace = value.get().unwrap(),
            "min-dwell" => s.dwell.min_dwell = value.get().unwrap(),
            "min-attention" => s.dwell.min_attention = value.get().unwrap(),
            "min-group-size" => s.min_group_size = value.get().unwrap(),
            "content-id" => {
                let id = value.get::<Option<String>>().unwrap().unwrap_or_else(|| DEFAULT_CONTENT_ID.into());
                s.content_id = id.clone();
                drop(s);
                // Applied by the streaming thread at the next frame, in order with the video.
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.pending_content = Some(id);
                }
            }
            name => unimplemented!("property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "headpose-model" => s.headpose_model.to_value(),
            "onnxruntime" => s.onnxruntime.to_value(),
            "threads" => s.threads.to_value(),
            "looking-yaw" => s.looking.centre_yaw.to_value(),
            "looking-pitch" => s.looking.centre_pitch.to_value(),
            "looking-tolerance" => s.looking.tolerance.to_value(),
            "looking-hysteresis" => s.looking.hysteresis.to_value(),
            "camera-hfov" => s.looking.camera_hfov.to_value(),
            "grace" => s.dwell.grace.to_value(),
            "min-dwell" => s.dwell.min_dwell.to_value(),
            "min-attention" => s.dwell.min_attention.to_value(),
            "min-group-size" => s.min_group_size.to_value(),
            "content-id" => s.content_id.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for GazeDwell {}

impl ElementImpl for GazeDwell {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang looking, dwell and attention",
                "Filter/Analyzer/Video",
                "Head pose per face, looking at the screen, dwell and attention time per person, \
                 and k-anonymous audience reports per content item",
                "blickfang developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(video::filter_pad_templates);
        PAD_TEMPLATES.as_ref()
    }
}

/// Seconds of a clock time.
fn secs(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

/// UTC as RFC 3339, from the system clock (for live sources).
fn utc_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (days, rem) = ((now.as_secs() / 86400) as i64, now.as_secs() % 86400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

fn person_structure(e: &PersonEvent, utc: Option<&str>) -> gst::Structure {
    let mut s = gst::Structure::builder(PERSON_EVENT)
        .field("event", e.kind.name())
        .field("person", e.person)
        .field("running-time", e.time)
        .field("dwell-time", e.dwell_time)
        .field("attention-time", e.attention_time)
        .field("glances", e.glances)
        .build();
    if let Some(d) = &e.demographics {
        s.set("gender", d.gender.as_str());
        s.set("age-group", d.age_group.as_str());
    }
    if let Some(utc) = utc {
        s.set("utc", utc);
    }
    s
}

fn report_structure(r: &ContentReport) -> gst::Structure {
    let mut s = gst::Structure::builder(CONTENT_REPORT)
        .field("content-id", r.content_id.as_str())
        .field("start", r.start)
        .field("end", r.end)
        .field("min-group-size", r.min_group_size)
        .build();
    let mut suppressed: Vec<String> = Vec::new();
    let mut count = |s: &mut gst::Structure, name: &str, v: Option<u32>| match v {
        Some(v) => s.set(name, v),
        None => suppressed.push(name.to_string()),
    };
    count(&mut s, "ots", r.ots);
    count(&mut s, "watchers", r.watchers);
    for (name, v) in [
        ("conversion", r.conversion),
        ("attention-time-total", r.attention_time_total),
        ("attention-time-mean", r.attention_time_mean),
        ("dwell-time-total", r.dwell_time_total),
    ] {
        match v {
            Some(v) => s.set(name, v),
            None => suppressed.push(name.to_string()),
        }
    }
    // Histogram cells below k are -1 (suppressed); bins as in the core's report module.
    let hist = |h: &[Option<u32>]| gst::Array::new(h.iter().map(|c| c.map_or(-1, |v| v as i64)));
    s.set("dwell-histogram", hist(&r.dwell_histogram));
    s.set("attention-histogram", hist(&r.attention_histogram));
    s.set("dwell-bins", gst::Array::new(report::DWELL_BINS.iter().copied()));
    s.set("attention-bins", gst::Array::new(report::ATTENTION_BINS.iter().copied()));
    // One cell per gender and age group; a suppressed cell has no `ots`.
    let cells = r.demographics.iter().map(|(key, v)| {
        let (gender, age_group) = key.split_once('/').unwrap_or((key.as_str(), "unknown"));
        let mut cell = gst::Structure::builder("cell").field("gender", gender).field("age-group", age_group).build();
        if let Some(v) = v {
            cell.set("ots", *v);
        }
        cell
    });
    s.set("demographics", gst::Array::new(cells));
    s.set("suppressed", gst::Array::new(suppressed));
    s
}

impl GazeDwell {
    /// Posts on the bus and sends downstream (for metadata sinks) each structure.
    fn publish(&self, structures: Vec<gst::Structure>) {
        for s in structures {
            let _ = self.obj().post_message(gst::message::Element::builder(s.clone()).src(&*self.obj()).build());
            let _ = self.obj().src_pad().push_event(gst::event::CustomDownstream::new(s));
        }
    }

    fn is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    /// Closes the current content's report at `time` and opens `next` (if any).
    fn switch_content(
        state: &mut State,
        settings: &FrameSettings,
        time: f64,
        next: Option<String>,
    ) -> Option<gst::Structure> {
        let report = state.content.take().map(|(id, start)| {
            let presences = state.audience.take_period(start, time);
            report_structure(&report::content_report(
                &id,
                start,
                time,
                &presences,
                &settings.dwell,
                settings.min_group_size,
            ))
        });
        state.content = next.map(|id| (id, time));
        report
    }

    fn head_pose(
        fsanet: &mut Option<FsaNet>,
        frame: Option<&blickfang::frame::FrameView<'_>>,
        face: &meta::FaceRoi,
    ) -> Result<(HeadPose, &'static str), runtime::RuntimeError> {
        match (fsanet.as_mut(), frame) {
            (Some(model), Some(frame)) => {
                let b = blickfang::geometry::BBox::new(
                    face.bbox[0] as f32,
                    face.bbox[1] as f32,
                    face.bbox[2] as f32,
                    face.bbox[3] as f32,
                );
                Ok((model.estimate(frame, &b)?, "fsanet"))
            }
            _ => {
                let l = face.landmarks.map(|p| [p[0] as f32, p[1] as f32]);
                Ok((headpose::from_landmarks(&l), "landmarks"))
            }
        }
    }
}

impl BaseTransformImpl for GazeDwell {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let models: Vec<&str> = settings.headpose_model.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
        let fsanet = if models.is_empty() {
            gst::info!(CAT, imp = self, "no head-pose model: head pose from landmarks");
            None
        } else {
            let paths = models
                .iter()
                .map(|m| runtime::find_model(m))
                .collect::<Result<Vec<PathBuf>, _>>()
                .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["property `headpose-model`: {}", e]))?;
            let library = runtime::find_onnxruntime(settings.onnxruntime.as_deref().map(std::path::Path::new));
            Some(
                FsaNet::load(&paths, &library, settings.threads as usize)
                    .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ["{}", e]))?,
            )
        };
        *self.state.lock().unwrap() = Some(State {
            info: None,
            fsanet,
            audience: Audience::new(settings.dwell),
            looking: Vec::new(),
            content: None,
            pending_content: None,
            last_end: 0.0,
            live: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let settings = self.settings.lock().unwrap().per_frame();
        let mut out = Vec::new();
        match event.view() {
            gst::EventView::CustomDownstream(e) if e.structure().is_some_and(|s| s.name() == CONTENT_EVENT) => {
                let id = e.structure().and_then(|s| s.get::<String>("content-id").ok());
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    let t = state.last_end;
                    out.extend(Self::switch_content(state, &settings, t, id.clone()));
                }
                if let Some(id) = id {
                    self.settings.lock().unwrap().content_id = id;
                }
                self.publish(out);
                // Consumed here: the content change is ours to report.
                return true;
            }
            gst::EventView::Eos(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    let live = state.live.unwrap_or(false);
                    let utc = live.then(utc_now);
                    out.extend(state.audience.finish().iter().map(|e| person_structure(e, utc.as_deref())));
                    let t = state.last_end;
                    out.extend(Self::switch_content(state, &settings, t, None));
                }
                self.publish(out);
            }
            gst::EventView::FlushStop(_) => {
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    state.audience = Audience::new(settings.dwell);
                    state.looking.clear();
                    state.content = None;
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().per_frame();
        let live = {
            let known = self.state.lock().unwrap().as_ref().and_then(|s| s.live);
            known.unwrap_or_else(|| self.is_live())
        };
        let segment = self.obj().segment();
        let segment = segment.downcast_ref::<gst::ClockTime>();
        let pts = buf.pts();
        let time = match (segment, pts) {
            (Some(seg), Some(pts)) => seg.to_running_time(pts).map(secs),
            _ => None,
        };
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["gazedwell is not started"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        state.live = Some(live);
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps before the first buffer"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let Some(time) = time else {
            // Without a timestamp nothing can be timed; pass the frame on untouched.
            gst::warning!(CAT, imp = self, "buffer without timestamp: not analysed");
            return Ok(gst::FlowSuccess::Ok);
        };
        let duration = buf
            .duration()
            .map(secs)
            .or_else(|| (info.fps().numer() > 0).then(|| info.fps().denom() as f64 / info.fps().numer() as f64))
            .unwrap_or(0.0);
        let mut out = Vec::new();
        if state.content.is_none() {
            state.content = Some((self.settings.lock().unwrap().content_id.clone(), time));
            state.pending_content = None;
        }
        if let Some(next) = state.pending_content.take() {
            out.extend(Self::switch_content(state, &settings, time, Some(next)));
        }
        state.audience.set_config(settings.dwell);
        let faces = meta::faces(buf);
        let analysed = meta::is_analysed(buf);
        // Head pose per face: FSA-Net needs the pixels, read-only.
        let mut poses = Vec::with_capacity(faces.len());
        {
            let frame = if state.fsanet.is_some() && !faces.is_empty() {
                Some(video::map_readable(&*self.obj(), buf, &info)?)
            } else {
                None
            };
            let view = frame.as_ref().map(|f| video::view_of(&*self.obj(), f)).transpose()?;
            for face in &faces {
                let pose = Self::head_pose(&mut state.fsanet, view.as_ref(), face).map_err(|e| {
                    gst::element_imp_error!(self, gst::StreamError::Failed, ["head pose failed: {}", e]);
                    gst::FlowError::Error
                })?;
                poses.push(pose);
            }
        }
        let (w, h) = (info.width() as f32, info.height() as f32);
        let mut observations = Vec::with_capacity(faces.len());
        for (face, (pose, _)) in faces.iter().zip(&poses) {
            let id = face.id as u64;
            let at = ViewPosition {
                x: ((face.bbox[0] + face.bbox[2] / 2.0) as f32 / w) * 2.0 - 1.0,
                y: ((face.bbox[1] + face.bbox[3] / 2.0) as f32 / h) * 2.0 - 1.0,
                aspect: w / h,
            };
            let was = state.looking.iter().find(|l| l.0 == id).is_some_and(|l| l.1);
            let now = looking::is_looking(pose, &at, was, &settings.looking);
            match state.looking.iter_mut().find(|l| l.0 == id) {
                Some(l) => l.1 = now,
                None => state.looking.push((id, now)),
            }
            let demographics = face_demographics(buf, face.id);
            observations.push(Observation { id, looking: Some(now), demographics });
        }
        let events = if analysed || !faces.is_empty() {
            state.audience.update(time, duration, &observations)
        } else {
            Vec::new()
        };
        let present: Vec<u64> = state.audience.present().iter().map(|p| p.id).collect();
        state.looking.retain(|l| present.contains(&l.0));
        let utc = live.then(utc_now);
        out.extend(events.iter().map(|e| person_structure(e, utc.as_deref())));
        // Attach head pose and attention to each face ROI.
        let totals: Vec<(u64, f64, f64, u32)> =
            state.audience.present().iter().map(|p| (p.id, p.dwell_time(), p.attention_time(), p.glances())).collect();
        let looking_now: Vec<(u64, bool)> = state.looking.clone();
        state.last_end = time + duration;
        drop(guard);
        for mut roi in buf.iter_meta_mut::<gst_video::VideoRegionOfInterestMeta>() {
            if roi.roi_type() != meta::ROI_TYPE_FACE {
                continue;
            }
            let id = roi.id();
            let Some(i) = faces.iter().position(|f| f.id == id) else { continue };
            let (pose, source) = poses[i];
            roi.add_param(
                gst::Structure::builder(meta::HEAD_POSE)
                    .field("yaw", pose.yaw as f64)
                    .field("pitch", pose.pitch as f64)
                    .field("roll", pose.roll as f64)
                    .field("source", source)
                    .build(),
            );
            let (dwell, attention, glances) =
                totals.iter().find(|t| t.0 == id as u64).map_or((0.0, 0.0, 0), |t| (t.1, t.2, t.3));
            let looking = looking_now.iter().any(|l| l.0 == id as u64 && l.1);
            roi.add_param(
                gst::Structure::builder(meta::ATTENTION)
                    .field("looking", looking)
                    .field("dwell-time", dwell)
                    .field("attention-time", attention)
                    .field("glances", glances)
                    .build(),
            );
        }
        self.publish(out);
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The `demographics` param of a face ROI, when `demographics` ran and knows.
fn face_demographics(buf: &gst::BufferRef, id: i32) -> Option<Demographics> {
    buf.iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == meta::ROI_TYPE_FACE && m.id() == id)
        .find_map(|m| {
            let s = m.param(meta::DEMOGRAPHICS)?;
            let gender = s.get::<String>("gender").ok()?;
            let age_group = s.get::<String>("age-group").unwrap_or_else(|_| "unknown".into());
            (gender != "unknown").then_some(Demographics { gender, age_group })
        })
}
