use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::dwell::{Audience, ClosedPeriod, DwellConfig, Observation, PersonEvent};
use blickfang::geometry::BBox;
use blickfang::headpose::{self, FsaNet, HeadPose, Plan, PoseInterval, pair};
use blickfang::looking::{self, LookingConfig, ViewPosition};
use blickfang::report::{self, ContentReport};
use blickfang::runtime;
use blickfang::tracker::TrackId;

use crate::meta::{self, CONTENT_EVENT, CONTENT_REPORT, CONTENT_SHARE, PERSON_EVENT, secs};
use crate::video;

use super::live::{Answer, DueFaces, Job, PoseWorker};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "blickfang-gazedwell",
        gst::DebugColorFlags::empty(),
        Some("blickfang looking, dwell and attention"),
    )
});

/// Both FSA-Net models in one graph with a dynamic batch axis, outputs
/// averaged: one run per frame for all faces. `blickfang models install` (and
/// so `make build`) makes it from the two upstream files
/// ([`pair::UPSTREAM_MODELS`]), which are the default's fallback where it has
/// not been made (models copied by hand): the same angles, one run per model
/// and face.
const DEFAULT_HEADPOSE_MODEL: &str = pair::PAIR_MODEL;
const DEFAULT_CONTENT_ID: &str = "unknown";
/// The element message with the run's head-pose counters, posted at EOS.
pub const STATS: &str = "blickfang-gazedwell-stats";

#[derive(Debug, Clone)]
struct Settings {
    headpose_model: String,
    headpose_interval: u32,
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
            headpose_interval: 1,
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
    /// Presence, looking (with its hysteresis state) and content periods.
    audience: Audience,
    /// A content change asked for from outside the streaming thread.
    pending_content: Option<String>,
    /// End of the last frame, running time in seconds.
    last_end: f64,
    live: Option<bool>,
    /// Frames seen since start or the last flush, and the last frame that had
    /// a timestamp (its index and running time): the fallback clock's anchor.
    frames: u64,
    anchor: Option<(u64, f64)>,
    /// Whether the fallback clock has been announced (once per start).
    fallback_warned: bool,
    /// Frames timed by the fallback clock since start (the `frames-untimed` loss counter).
    fallback_frames: u64,
    /// Frames facedetect did not analyse, which say nothing about presence
    /// (the `frames-unanalysed` loss counter).
    unanalysed_frames: u64,
    /// Per face of the frame: whether its pose is read (scratch, kept to avoid a per-frame allocation).
    read: Vec<bool>,
    /// Which faces FSA-Net estimates now (scratch, as `read`).
    plan: PosePlan,
    /// Scratch, as `read`: the frame's face boxes, and the tracks of the faces not read.
    face_boxes: Vec<BBox>,
    hidden: Vec<TrackId>,
    /// Which tracks' poses are due (`headpose-interval`), the others' last poses.
    schedule: PoseInterval,
    stats: Stats,
    /// Live sources only: FSA-Net on a worker (`fsanet` moved there), and its
    /// finished estimates (scratch).
    worker: Option<PoseWorker>,
    answers: Vec<Answer>,
}

/// The run's head-pose counters (the `blickfang-gazedwell-stats` message).
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    frames: u64,
    /// Faces whose pose was estimated (by FSA-Net or from landmarks), and FSA-Net's runs.
    faces_estimated: u64,
    model_runs: u64,
}

/// A face's head pose on this frame: estimated `frames_ago` frames ago (0: now) by `source`.
#[derive(Debug, Clone, Copy)]
struct FacePose {
    pose: HeadPose,
    source: &'static str,
    frames_ago: u64,
}

/// The faces of a frame FSA-Net estimates now: those read whose track is due
/// (`headpose-interval`), per face and as their tracks and boxes. Both the file
/// and the live path fill it; the live one sends `due` to the worker.
#[derive(Default)]
struct PosePlan {
    estimate: Vec<bool>,
    due: DueFaces,
}

impl PosePlan {
    fn fill(&mut self, faces: &[meta::FaceRoi], read: &[bool], schedule: &PoseInterval) {
        self.estimate.clear();
        self.estimate.extend(faces.iter().zip(read).map(|(f, &r)| r && schedule.plan(f.id) == Plan::Estimate));
        self.due.ids.clear();
        self.due.boxes.clear();
        for (f, _) in faces.iter().zip(&self.estimate).filter(|(_, e)| **e) {
            self.due.ids.push(f.id);
            self.due.boxes.push(face_box(f));
        }
    }
}

impl State {
    /// The run's loss counters so far (`frames-untimed`, `frames-unanalysed`),
    /// for the content reports; made into a structure only when a report is.
    fn losses(&self) -> [u64; 2] {
        [self.fallback_frames, self.unanalysed_frames]
    }
}

/// Which fallback clock times a frame without a timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fallback {
    /// Frame count x the caps' frame duration, after the last known time.
    FrameCount,
    /// The pipeline clock's running time when the frame arrived.
    Arrival,
}

/// The running time (seconds) of frame `n` without a timestamp, counted on
/// from the last frame that had one (`anchor`: its index and time; none:
/// frame 0 at 0 s) by `frame_duration` seconds a frame.
pub(crate) fn frame_count_time(n: u64, anchor: Option<(u64, f64)>, frame_duration: f64) -> f64 {
    let (k, t) = anchor.unwrap_or((0, 0.0));
    t + n.saturating_sub(k) as f64 * frame_duration
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
                            model folders); the default holds both FSA-Net models, batched (without it, the two \
                            upstream files); empty: head pose from the 5 landmarks alone",
                    )
                    .default_value(Some(DEFAULT_HEADPOSE_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("headpose-interval")
                    .nick("Head-pose interval")
                    .blurb(
                        "Estimate each face's FSA-Net head pose at most every this many frames and carry its last \
                            pose in between (a new face at once; spread over the frames): about 1/N of head pose's \
                            CPU, looking decided up to N-1 frames late (accuracy in docs/gazedwell.md); 1: every \
                            face on every frame. Landmark head pose is always per frame",
                    )
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.headpose_interval)
                    .mutable_ready()
                    .build(),
                crate::property::onnxruntime(),
                crate::property::threads(1),
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

    fn set_property(&self, id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let old = self.property(id, pspec);
        self.apply_property(value, pspec);
        crate::property::log_change(*CAT, &*self.obj(), pspec.name(), &old, &self.property(id, pspec));
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "headpose-model" => s.headpose_model.to_value(),
            "headpose-interval" => s.headpose_interval.to_value(),
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

impl GazeDwell {
    /// Stores a property's new value (logged by `set_property`).
    fn apply_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "headpose-model" => s.headpose_model = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            "headpose-interval" => s.headpose_interval = value.get().unwrap(),
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

/// The person event as a structure: the core's event in GStreamer's names.
fn person_structure(e: &PersonEvent, utc: Option<String>) -> gst::Structure {
    let mut s = gst::Structure::builder(PERSON_EVENT)
        .field("event", e.kind.name())
        .field("id", e.id)
        .field("running-time", e.time)
        .field("dwell-time", e.dwell_time)
        .field("attention-time", e.attention_time)
        .field("glances", e.glances)
        .build();
    if let Some(p) = &e.profile {
        s.set("gender", p.gender.as_str());
        s.set("age-group", p.age_group.as_str());
    }
    if e.kind == blickfang::dwell::EventKind::Left {
        let shares = e.contents.iter().map(|c| {
            gst::Structure::builder(CONTENT_SHARE)
                .field("content-id", c.content_id.as_str())
                .field("start", c.start)
                .field("end", c.end)
                .field("dwell-time", c.dwell_time)
                .field("attention-time", c.attention_time)
                .build()
        });
        s.set("contents", gst::Array::new(shares));
        s.set("ending", e.ending.name());
    }
    if let Some(utc) = utc {
        s.set("utc", utc);
    }
    s
}

fn report_structure(r: &ContentReport, utc: Option<String>) -> gst::Structure {
    let mut s = gst::Structure::builder(CONTENT_REPORT)
        .field("content-id", r.content_id.as_str())
        .field("start", r.start)
        .field("end", r.end)
        .field("running-time", r.end)
        .field("ending", r.ending.name())
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
    if let Some(utc) = utc {
        s.set("utc", utc);
    }
    s
}

/// Where a face is in the frame, for the off-axis correction of "looking".
fn view_position(face: &meta::FaceRoi, width: f32, height: f32) -> ViewPosition {
    ViewPosition {
        x: ((face.bbox[0] + face.bbox[2] / 2.0) as f32 / width) * 2.0 - 1.0,
        y: ((face.bbox[1] + face.bbox[3] / 2.0) as f32 / height) * 2.0 - 1.0,
        aspect: width / height,
    }
}

impl GazeDwell {
    /// The run's head-pose counters, on the bus (at EOS): how many faces' poses were
    /// estimated in how many FSA-Net runs (`headpose-interval`'s saving).
    fn post_stats(&self, state: &State) {
        let on_worker = state.worker.as_ref().map(PoseWorker::stats).unwrap_or_default();
        let s = gst::Structure::builder(STATS)
            .field("frames", state.stats.frames)
            .field("faces-estimated", state.stats.faces_estimated + on_worker.faces_estimated)
            .field("model-runs", state.stats.model_runs + on_worker.model_runs)
            .field("headpose-interval", state.schedule.interval())
            .field("live", state.worker.is_some())
            .field("frames-dropped", on_worker.frames_dropped)
            .build();
        gst::debug!(CAT, imp = self, "{s}");
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    /// The running time (seconds) on the pipeline clock now, if there is one.
    fn arrival_time(&self) -> Option<f64> {
        let obj = self.obj();
        let now = obj.clock()?.time();
        let base = obj.base_time()?;
        Some(secs(now.saturating_sub(base)))
    }

    /// Posts on the bus and sends downstream (for metadata sinks) each structure.
    fn publish(&self, structures: Vec<gst::Structure>) {
        for s in structures {
            gst::debug!(CAT, imp = self, "{s}");
            let _ = self.obj().post_message(gst::message::Element::builder(s.clone()).src(&*self.obj()).build());
            let _ = self.obj().src_pad().push_event(gst::event::CustomDownstream::new(s));
        }
    }

    fn is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    /// The wall clock of a running time (seconds), for live sources only.
    fn utc(&self, live: bool, running_time: f64) -> Option<String> {
        live.then(|| {
            let at = gst::ClockTime::from_nseconds((running_time.max(0.0) * 1e9).round() as u64);
            meta::wall_clock_utc(self.obj().upcast_ref(), Some(at))
        })
    }

    /// The structures of person events and of a closed content period, in that order.
    fn structures(
        &self,
        live: bool,
        settings: &FrameSettings,
        events: &[PersonEvent],
        period: Option<ClosedPeriod>,
        losses: [u64; 2],
    ) -> Vec<gst::Structure> {
        let mut out: Vec<gst::Structure> = events.iter().map(|e| person_structure(e, self.utc(live, e.time))).collect();
        if let Some(period) = period {
            gst::debug!(
                CAT,
                imp = self,
                "content {} ended ({}) after {:.2} s with {} people",
                period.content_id,
                period.ending.name(),
                period.end - period.start,
                period.presences.len()
            );
            let r = report::content_report(&period, &settings.dwell, settings.min_group_size);
            let mut report = report_structure(&r, self.utc(live, r.end));
            let [untimed, unanalysed] = losses;
            report.set(
                "losses",
                gst::Structure::builder("losses")
                    .field("frames-untimed", untimed)
                    .field("frames-unanalysed", unanalysed)
                    .build(),
            );
            out.push(report);
        }
        out
    }

    /// Opens the content on screen on the first frame (after start or a
    /// flush) and applies a content change asked for by the property.
    fn update_content(&self, state: &mut State, time: f64) -> Option<ClosedPeriod> {
        if state.audience.content().is_none() {
            let id = self.settings.lock().unwrap().content_id.clone();
            gst::debug!(CAT, imp = self, "content {id} on screen from {time:.3} s");
            state.pending_content = None;
            return state.audience.switch_content(time, Some(&id));
        }
        let next = state.pending_content.take()?;
        gst::debug!(CAT, imp = self, "content {next} on screen from {time:.3} s");
        state.audience.switch_content(time, Some(&next))
    }

    /// Head pose per face whose pose is read (`state.read`): FSA-Net on the
    /// pixels (read-only) for the faces due (`headpose-interval`; the others carry
    /// their track's last pose), else from the landmarks; none for the others.
    fn head_poses(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        info: &gst_video::VideoInfo,
        faces: &[meta::FaceRoi],
    ) -> Result<Vec<Option<FacePose>>, gst::FlowError> {
        if state.worker.is_some() {
            return self.head_poses_on_worker(state, buf, info, faces);
        }
        let State { read, plan, schedule, stats, fsanet, .. } = state;
        let Some(model) = fsanet.as_mut().filter(|_| read.iter().any(|&r| r)) else {
            // Landmark poses cost next to nothing: every face read, every frame.
            stats.faces_estimated += read.iter().filter(|&&r| r).count() as u64;
            return Ok(faces
                .iter()
                .zip(read.iter())
                .map(|(f, &r)| r.then(|| FacePose { pose: Self::landmark_pose(f), source: "landmarks", frames_ago: 0 }))
                .collect());
        };
        plan.fill(faces, read, schedule);
        let boxes = &plan.due.boxes;
        stats.faces_estimated += boxes.len() as u64;
        stats.model_runs += model.runs_for(boxes.len());
        let estimated: &[HeadPose] = if boxes.is_empty() {
            &[]
        } else {
            let frame = video::map_readable(&*self.obj(), buf, info)?;
            let view = video::view_of(&*self.obj(), &frame)?;
            // All faces due on this frame in one model run.
            model.estimate_all(&view, boxes).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Failed, ["head pose failed: {}", e]);
                gst::FlowError::Error
            })?
        };
        let mut estimated = estimated.iter();
        let mut out = Vec::with_capacity(faces.len());
        for ((f, &r), &e) in faces.iter().zip(read.iter()).zip(plan.estimate.iter()) {
            let pose = match (r, e) {
                (_, true) => estimated.next().map(|&pose| {
                    schedule.estimated(f.id, pose);
                    FacePose { pose, source: "fsanet", frames_ago: 0 }
                }),
                (true, false) => match schedule.plan(f.id) {
                    Plan::Carry { pose, frames_ago } => Some(FacePose { pose, source: "fsanet", frames_ago }),
                    Plan::Estimate => None,
                },
                (false, false) => None,
            };
            out.push(pose);
        }
        Ok(out)
    }

    /// A live source: FSA-Net moves to a worker thread (landmark poses stay here:
    /// they cost next to nothing).
    fn start_worker(&self, state: &mut State) -> Result<(), gst::FlowError> {
        let Some(model) = state.fsanet.take() else { return Ok(()) };
        let worker = PoseWorker::start(model).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["cannot start the head-pose worker: {}", e]);
            gst::FlowError::Error
        })?;
        gst::info!(CAT, imp = self, "live source: head pose on a worker thread");
        state.worker = Some(worker);
        Ok(())
    }

    /// As [`Self::head_poses`] with FSA-Net on the live worker: this frame's due
    /// faces go to the worker, and every face read gets its track's latest
    /// estimate (none yet for a track the worker has not answered for).
    fn head_poses_on_worker(
        &self,
        state: &mut State,
        buf: &gst::BufferRef,
        info: &gst_video::VideoInfo,
        faces: &[meta::FaceRoi],
    ) -> Result<Vec<Option<FacePose>>, gst::FlowError> {
        let State { read, plan, schedule, worker, answers, .. } = state;
        let Some(worker) = worker.as_ref() else { return Ok(vec![None; faces.len()]) };
        if let Some(e) = worker.take_error() {
            gst::element_imp_error!(self, gst::StreamError::Failed, ["head pose failed: {}", e]);
            return Err(gst::FlowError::Error);
        }
        worker.take_answers(answers);
        for (id, pose, frame) in answers.drain(..) {
            schedule.estimated_on(id, pose, frame);
        }
        plan.fill(faces, read, schedule);
        if !plan.due.boxes.is_empty() {
            // The face lists go with the job; a finished job's come back to fill next.
            let due = std::mem::replace(&mut plan.due, worker.spare());
            worker.submit(Job { frame: buf.copy(), info: info.clone(), frame_number: schedule.frame(), due });
        }
        Ok(faces
            .iter()
            .zip(read.iter())
            .map(|(f, &r)| {
                let (pose, frames_ago) = schedule.last(f.id).filter(|_| r)?;
                Some(FacePose { pose, source: "fsanet", frames_ago })
            })
            .collect())
    }

    /// Which faces' poses are read into `state.read`: none of a predicted position (a hidden
    /// face, or one carried between model runs: no view of the face, maybe of an occluder), nor
    /// of someone already present whose face overlaps a nearer one (at a crossing): both
    /// are present without being measured, and keep their looking state. A face first seen
    /// behind another is read, so that nobody goes uncounted for standing close.
    fn faces_to_read(state: &mut State, faces: &[meta::FaceRoi]) {
        state.face_boxes.clear();
        state.face_boxes.extend(faces.iter().map(face_box));
        looking::behind_a_nearer_face(&state.face_boxes, &mut state.read);
        let present = state.audience.present();
        for (read, f) in state.read.iter_mut().zip(faces) {
            let behind = *read && present.iter().any(|p| p.id == f.id);
            *read = !f.predicted && !behind;
        }
    }

    fn landmark_pose(face: &meta::FaceRoi) -> HeadPose {
        headpose::from_landmarks(&face.landmarks.map(|p| [p[0] as f32, p[1] as f32]))
    }

    /// Adds the `head-pose` and `attention` params to each face ROI; with `carried`
    /// (`headpose-interval` > 1) the head pose says how many frames ago it was estimated.
    fn write_rois(
        buf: &mut gst::BufferRef,
        faces: &[meta::FaceRoi],
        poses: &[Option<FacePose>],
        audience: &Audience,
        carried: bool,
    ) {
        for mut roi in buf.iter_meta_mut::<gst_video::VideoRegionOfInterestMeta>() {
            if roi.roi_type() != meta::ROI_TYPE_FACE {
                continue;
            }
            let id = meta::track_id(roi.id());
            let Some(i) = faces.iter().position(|f| f.id == id) else { continue };
            if let Some(FacePose { pose, source, frames_ago }) = poses[i] {
                let mut s = gst::Structure::builder(meta::HEAD_POSE)
                    .field("yaw", pose.yaw as f64)
                    .field("pitch", pose.pitch as f64)
                    .field("roll", pose.roll as f64)
                    .field("source", source)
                    .build();
                if carried {
                    s.set("frames-since-estimate", frames_ago);
                }
                roi.add_param(s);
            }
            let person = audience.person(id);
            roi.add_param(
                gst::Structure::builder(meta::ATTENTION)
                    .field("looking", person.is_some_and(|p| p.is_looking()))
                    .field("dwell-time", person.map_or(0.0, |p| p.dwell_time()))
                    .field("attention-time", person.map_or(0.0, |p| p.attention_time()))
                    .field("glances", person.map_or(0, |p| p.glances()))
                    .build(),
            );
        }
    }
}

impl BaseTransformImpl for GazeDwell {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let mut models: Vec<&str> =
            settings.headpose_model.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
        if settings.headpose_model == DEFAULT_HEADPOSE_MODEL && runtime::find_model(DEFAULT_HEADPOSE_MODEL).is_err() {
            gst::warning!(
                CAT,
                imp = self,
                "{DEFAULT_HEADPOSE_MODEL} not found (`blickfang models install` makes it): the two upstream \
                 FSA-Net files, the same angles at one run per model and face"
            );
            models = pair::UPSTREAM_MODELS.to_vec();
        }
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
            let model = FsaNet::load(&paths, &library, settings.threads as usize).map_err(|e| match e {
                // The file is there but is not a head-pose model: the property is wrong.
                runtime::RuntimeError::WrongModel { .. } | runtime::RuntimeError::ModelLoad { .. } => {
                    gst::error_msg!(gst::LibraryError::Settings, ["property `headpose-model`: {}", e])
                }
                _ => gst::error_msg!(gst::LibraryError::Init, ["{}", e]),
            })?;
            gst::info!(
                CAT,
                imp = self,
                "head pose from FSA-Net {paths:?} ({} threads, {})",
                settings.threads,
                if model.batched() { "one run per frame" } else { "one run per model and face" }
            );
            Some(model)
        };
        gst::info!(
            CAT,
            imp = self,
            "started: {:?}, {:?}, k = {}, headpose-interval {}",
            settings.looking,
            settings.dwell,
            settings.min_group_size,
            settings.headpose_interval
        );
        *self.state.lock().unwrap() = Some(State {
            info: None,
            fsanet,
            audience: Audience::new(settings.dwell),
            pending_content: None,
            last_end: 0.0,
            live: None,
            frames: 0,
            anchor: None,
            fallback_warned: false,
            fallback_frames: 0,
            unanalysed_frames: 0,
            read: Vec::new(),
            plan: PosePlan::default(),
            face_boxes: Vec::new(),
            hidden: Vec::new(),
            schedule: PoseInterval::new(settings.headpose_interval),
            stats: Stats::default(),
            worker: None,
            answers: Vec::new(),
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().take()
            && state.fallback_frames > 0
        {
            gst::info!(CAT, imp = self, "{} frames were timed by the fallback clock", state.fallback_frames);
        }
        gst::info!(CAT, imp = self, "stopped");
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        gst::debug!(CAT, imp = self, "caps {incaps}");
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let settings = self.settings.lock().unwrap().per_frame();
        match event.view() {
            gst::EventView::CustomDownstream(e) if e.structure().is_some_and(|s| s.name() == CONTENT_EVENT) => {
                let id = e.structure().and_then(|s| s.get::<String>("content-id").ok());
                let mut out = Vec::new();
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    let (t, live) = (state.last_end, state.live.unwrap_or(false));
                    gst::debug!(CAT, imp = self, "content {id:?} on screen from {t:.3} s (event)");
                    let closed = state.audience.switch_content(t, id.as_deref());
                    out = self.structures(live, &settings, &[], closed, state.losses());
                }
                if let Some(id) = id {
                    self.settings.lock().unwrap().content_id = id;
                }
                self.publish(out);
                // Consumed here: the content change is ours to report.
                return true;
            }
            gst::EventView::Eos(_) => {
                let mut out = Vec::new();
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    let (events, closed) = state.audience.finish(state.last_end);
                    out = self.structures(state.live.unwrap_or(false), &settings, &events, closed, state.losses());
                    self.post_stats(state);
                }
                self.publish(out);
            }
            gst::EventView::FlushStop(_) => {
                // The timeline restarts: whoever was there leaves and the content
                // period closes now, said as ended by a flush, rather than lost.
                let mut out = Vec::new();
                if let Some(state) = self.state.lock().unwrap().as_mut() {
                    let (events, closed) = state.audience.flush(state.last_end);
                    out = self.structures(state.live.unwrap_or(false), &settings, &events, closed, state.losses());
                    state.audience = Audience::new(settings.dwell);
                    state.schedule.clear();
                    (state.frames, state.anchor) = (0, None);
                }
                gst::debug!(CAT, imp = self, "flushed: {} records of the audience before it", out.len());
                // After the flush-stop has passed: while flushing, downstream refuses events.
                let ret = self.parent_sink_event(event);
                self.publish(out);
                return ret;
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
        let time =
            segment.downcast_ref::<gst::ClockTime>().zip(buf.pts()).and_then(|(seg, pts)| seg.to_running_time(pts));
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
        if live && state.worker.is_none() {
            self.start_worker(state)?;
        }
        let fps = info.fps();
        let frame_duration = (fps.numer() > 0).then(|| fps.denom() as f64 / fps.numer() as f64);
        let duration = buf.duration().map(secs).or(frame_duration).unwrap_or(0.0);
        let n = state.frames;
        state.frames += 1;
        let time = match time.map(secs) {
            Some(t) => {
                state.anchor = Some((n, t));
                t
            }
            None => {
                // Never a silent skip: time the frame by the documented fallback clock, said once.
                let (t, how) = match frame_duration {
                    Some(d) => (frame_count_time(n, state.anchor, d), Fallback::FrameCount),
                    None => (self.arrival_time().unwrap_or(state.last_end), Fallback::Arrival),
                };
                state.fallback_frames += 1;
                if !state.fallback_warned {
                    state.fallback_warned = true;
                    let clock = match how {
                        Fallback::FrameCount => {
                            format!("frame count x the caps' framerate {}/{}", fps.numer(), fps.denom())
                        }
                        Fallback::Arrival => {
                            "their arrival time on the pipeline clock (the caps give no framerate)".into()
                        }
                    };
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Format,
                        ("frames without timestamps: timed by {} from frame {}", clock, n)
                    );
                }
                t
            }
        };
        let closed = self.update_content(state, time);
        state.audience.set_config(settings.dwell);
        let faces = meta::faces(buf);
        Self::faces_to_read(state, &faces);
        // A track not on an analysed frame has ended: its pose is forgotten (no re-recognition).
        let analysed = meta::is_analysed(buf) || !faces.is_empty();
        state.schedule.next_frame(|id| !analysed || faces.iter().any(|f| f.id == id));
        state.stats.frames += 1;
        let poses = self.head_poses(state, buf, &info, &faces)?;
        let (w, h) = (info.width() as f32, info.height() as f32);
        let profiles = meta::face_demographics(buf);
        // Seen faces are observed; predicted ones only say their track (the person) is still here.
        let observations: Vec<Observation> = faces
            .iter()
            .zip(&poses)
            .enumerate()
            .filter_map(|(i, (face, pose))| pose.map(|p| (i, face, p.pose)))
            .map(|(i, face, pose)| {
                // Hysteresis: the looking state before this frame decides the threshold.
                let was = state.audience.is_looking(face.id);
                let looking = looking::is_looking(&pose, &view_position(face, w, h), was, &settings.looking);
                let profile = profiles.get(i).and_then(|d| d.as_ref()).and_then(|d| d.profile());
                Observation { id: face.id, looking: Some(looking), profile }
            })
            .collect();
        // Frames facedetect did not analyse (and that carry no faces) say nothing about presence.
        let events = if analysed {
            let State { hidden, read, audience, .. } = state;
            hidden.clear();
            hidden.extend(faces.iter().zip(read.iter()).filter(|(_, r)| !**r).map(|(f, _)| f.id));
            audience.update_with_hidden(time, duration, &observations, hidden)
        } else {
            state.unanalysed_frames += 1;
            Vec::new()
        };
        gst::log!(CAT, imp = self, "{time:.3} s: {} faces, {} present", faces.len(), state.audience.present().len());
        let out = self.structures(live, &settings, &events, closed, state.losses());
        state.last_end = time + duration;
        let carried = state.schedule.interval() > 1 || state.worker.is_some();
        Self::write_rois(buf, &faces, &poses, &state.audience, carried);
        drop(guard);
        self.publish(out);
        Ok(gst::FlowSuccess::Ok)
    }
}

fn face_box(f: &meta::FaceRoi) -> BBox {
    BBox::new(f.bbox[0] as f32, f.bbox[1] as f32, f.bbox[2] as f32, f.bbox[3] as f32)
}

#[cfg(test)]
mod tests {
    use super::frame_count_time;

    #[test]
    fn the_fallback_clock_counts_frames_on_from_the_last_known_time() {
        // No timestamp ever: frame n at n frame durations.
        assert_eq!(frame_count_time(5, None, 0.1), 0.5);
        // Frame 0 had 2.0 s: frame 3 is three frames later.
        assert!((frame_count_time(3, Some((0, 2.0)), 0.1) - 2.3).abs() < 1e-9);
        assert!((frame_count_time(12, Some((10, 7.0)), 0.04) - 7.08).abs() < 1e-9);
    }
}
