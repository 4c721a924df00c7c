use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::demographics::{
    self as core, AgeGroups, Estimator, EstimatorConfig, FaceEstimate, FaceInput, FusionConfig, ViewUse,
};
use blickfang::geometry::BBox;
use blickfang::runtime;

use crate::meta;
use crate::video;

use super::live::{Job, LiveClassifier, WorkerStats};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "blickfang-demographics",
        gst::DebugColorFlags::empty(),
        Some("blickfang age and gender per tracked face"),
    )
});

const DEFAULT_THREADS: u32 = 1;
const DEFAULT_RECLASSIFY_INTERVAL: u32 = 10;
const DEFAULT_FREEZE_AFTER: u32 = 5;
const DEFAULT_CONFIDENCE_THRESHOLD: f32 = 0.6;
const DEFAULT_FLIP: bool = true;
/// One crop per view: a track gets further views from later frames.
const DEFAULT_CROP_SCALES: &str = "1";
const DEFAULT_CALIBRATE: bool = true;
/// The element message with the run's counters, posted at EOS.
pub const STATS: &str = "blickfang-demographics-stats";

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    onnxruntime: Option<String>,
    threads: u32,
    reclassify_interval: u32,
    freeze_after: u32,
    max_views: u32,
    confidence_threshold: f32,
    min_face_size: u32,
    min_confidence: f32,
    max_yaw: f32,
    min_sharpness: f32,
    flip: bool,
    crop_scales: String,
    calibrate: bool,
    age_groups: String,
    /// Bumped by every property change, so the streaming thread re-applies
    /// the settings only after one.
    revision: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: core::DEFAULT_MODEL.into(),
            onnxruntime: None,
            threads: DEFAULT_THREADS,
            reclassify_interval: DEFAULT_RECLASSIFY_INTERVAL,
            freeze_after: DEFAULT_FREEZE_AFTER,
            max_views: core::DEFAULT_MAX_VIEWS,
            confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
            min_face_size: core::DEFAULT_MIN_FACE_SIZE,
            min_confidence: core::DEFAULT_MIN_CONFIDENCE,
            max_yaw: core::DEFAULT_MAX_YAW,
            min_sharpness: core::DEFAULT_MIN_SHARPNESS,
            flip: DEFAULT_FLIP,
            crop_scales: DEFAULT_CROP_SCALES.into(),
            calibrate: DEFAULT_CALIBRATE,
            age_groups: core::FAIRFACE_AGE_GROUPS.into(),
            revision: 0,
        }
    }
}

impl Settings {
    fn config(&self, age_groups: AgeGroups, crop_scales: Vec<f32>) -> EstimatorConfig {
        EstimatorConfig {
            model: self.model.clone(),
            threads: self.threads as usize,
            fusion: FusionConfig {
                reclassify_interval: self.reclassify_interval,
                freeze_after: self.freeze_after,
                max_views: self.max_views,
                confidence_threshold: self.confidence_threshold,
                ..FusionConfig::default()
            },
            min_face_size: self.min_face_size,
            min_confidence: self.min_confidence,
            max_yaw: self.max_yaw,
            min_sharpness: self.min_sharpness,
            flip: self.flip,
            crop_scales,
            calibrate: self.calibrate,
            age_groups,
        }
    }
}

struct State {
    /// Here for a non-live source (classified on the streaming thread);
    /// moved to the worker once the source turns out to be live.
    engine: Option<Estimator>,
    worker: Option<LiveClassifier>,
    /// Whether upstream is live (asked on the first buffer).
    live: Option<bool>,
    info: Option<gst_video::VideoInfo>,
    /// The settings revision the engine was last tuned to.
    revision: u64,
}

#[derive(Default)]
pub struct Demographics {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for Demographics {
    const NAME: &'static str = "BlickfangDemographics";
    type Type = super::Demographics;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for Demographics {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb(&format!(
                        "Age/gender model: one file (HSE FaceRes, the default and most accurate), or \
                         \"gender-model,age-model\" (the small pair: \"{}\"); absolute, or relative to the \
                         model folders ($BLICKFANG_MODEL_DIR, $XDG_DATA_HOME/blickfang/models, ...)",
                        core::SMALL_MODELS
                    ))
                    .default_value(Some(core::DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                crate::property::onnxruntime(),
                crate::property::threads(DEFAULT_THREADS),
                glib::ParamSpecUInt::builder("reclassify-interval")
                    .nick("Reclassify interval")
                    .blurb(
                        "A track that is not frozen gets a new view classified at most every N frames; \
                            its views are fused into one estimate",
                    )
                    .minimum(1)
                    .default_value(DEFAULT_RECLASSIFY_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("freeze-after")
                    .nick("Freeze after")
                    .blurb(
                        "A track's estimate is frozen (no more model work) once it has this many views and a \
                            gender of at least confidence-threshold; 0 = never freeze",
                    )
                    .default_value(DEFAULT_FREEZE_AFTER)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-views")
                    .nick("Maximum views")
                    .blurb(
                        "A track's estimate is frozen after this many views even if its gender stays unknown \
                            (more views of a doubtful face do not make it confident); 0 = no limit",
                    )
                    .default_value(core::DEFAULT_MAX_VIEWS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("confidence-threshold")
                    .nick("Confidence threshold")
                    .blurb(
                        "Calibrated probability the likelier gender needs to be named; below it the gender \
                            is \"unknown\" (0.5 = always name one)",
                    )
                    .minimum(0.5)
                    .maximum(1.0)
                    .default_value(DEFAULT_CONFIDENCE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb(
                        "Faces whose box is smaller than this many frame pixels (shorter side) are not \
                            classified; their track stays unknown until a larger view arrives",
                    )
                    .default_value(core::DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-confidence")
                    .nick("Minimum detection confidence")
                    .blurb(
                        "Faces detected with less confidence than this are not classified (facedetect's own \
                            default threshold is 0.6)",
                    )
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(core::DEFAULT_MIN_CONFIDENCE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("max-yaw")
                    .nick("Maximum yaw")
                    .blurb(
                        "Faces turned further than this many degrees (estimated from the landmarks) are not \
                            classified",
                    )
                    .minimum(0.0)
                    .maximum(90.0)
                    .default_value(core::DEFAULT_MAX_YAW)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("min-sharpness")
                    .nick("Minimum sharpness")
                    .blurb(
                        "Faces blurrier than this are not classified: Laplacian variance over intensity \
                            variance of a 64x64 face chip (sharp face photos: 0.1 to 0.8; a blur of sigma 1.5 \
                            chip pixels gives about 0.015, sigma 2 about 0.007); 0 = no check",
                    )
                    .minimum(0.0)
                    .maximum(10.0)
                    .default_value(core::DEFAULT_MIN_SHARPNESS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("flip")
                    .nick("Flipped views")
                    .blurb(
                        "Classify each face crop and its mirror image in the same batch and average them \
                            (twice the model work per view)",
                    )
                    .default_value(DEFAULT_FLIP)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("crop-scales")
                    .nick("Crop scales")
                    .blurb(
                        "Crops per view as factors of the model's crop size, comma-separated (1 to 4, \
                            each 0.5-2), their outputs averaged; \"0.95,1.05\" (what blickfang analyze \
                            uses on still images) costs twice \"1\"",
                    )
                    .default_value(Some(DEFAULT_CROP_SCALES))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("calibrate")
                    .nick("Calibrate")
                    .blurb(
                        "Apply the calibration fitted on the dev data (older women, compressed ages); \
                            false reports the model's own numbers",
                    )
                    .default_value(DEFAULT_CALIBRATE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("age-groups")
                    .nick("Age groups")
                    .blurb("Contiguous age groups from 0, the last open-ended, as \"a-b,c-d,...,n+\"")
                    .default_value(Some(core::FAIRFACE_AGE_GROUPS))
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let old = s.value(pspec.name());
        s.revision += 1;
        match pspec.name() {
            "model" => s.model = value.get::<Option<String>>().unwrap().unwrap_or_else(|| core::DEFAULT_MODEL.into()),
            "onnxruntime" => s.onnxruntime = value.get::<Option<String>>().unwrap().filter(|v| !v.is_empty()),
            "threads" => s.threads = value.get().unwrap(),
            "reclassify-interval" => s.reclassify_interval = value.get().unwrap(),
            "freeze-after" => s.freeze_after = value.get().unwrap(),
            "max-views" => s.max_views = value.get().unwrap(),
            "confidence-threshold" => s.confidence_threshold = value.get().unwrap(),
            "min-face-size" => s.min_face_size = value.get().unwrap(),
            "min-confidence" => s.min_confidence = value.get().unwrap(),
            "max-yaw" => s.max_yaw = value.get().unwrap(),
            "min-sharpness" => s.min_sharpness = value.get().unwrap(),
            "flip" => s.flip = value.get().unwrap(),
            "crop-scales" => {
                s.crop_scales = value.get::<Option<String>>().unwrap().unwrap_or_else(|| DEFAULT_CROP_SCALES.into())
            }
            "calibrate" => s.calibrate = value.get().unwrap(),
            "age-groups" => {
                s.age_groups =
                    value.get::<Option<String>>().unwrap().unwrap_or_else(|| core::FAIRFACE_AGE_GROUPS.into())
            }
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
            "onnxruntime" => s.onnxruntime.to_value(),
            "threads" => s.threads.to_value(),
            "reclassify-interval" => s.reclassify_interval.to_value(),
            "freeze-after" => s.freeze_after.to_value(),
            "max-views" => s.max_views.to_value(),
            "confidence-threshold" => s.confidence_threshold.to_value(),
            "min-face-size" => s.min_face_size.to_value(),
            "min-confidence" => s.min_confidence.to_value(),
            "max-yaw" => s.max_yaw.to_value(),
            "min-sharpness" => s.min_sharpness.to_value(),
            "flip" => s.flip.to_value(),
            "crop-scales" => s.crop_scales.to_value(),
            "calibrate" => s.calibrate.to_value(),
            "age-groups" => s.age_groups.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for Demographics {}

impl ElementImpl for Demographics {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang demographics",
                "Filter/Analyzer/Video",
                "Estimates age and gender per tracked face (after facedetect), fused over the track's views, \
                 and adds them to the face's region-of-interest meta; the video passes through unchanged",
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

fn age_groups(spec: &str) -> Result<AgeGroups, String> {
    AgeGroups::parse(spec).map_err(|e| format!("property `age-groups`: {e}"))
}

/// The ROI param for one face.
fn structure(face: &FaceEstimate) -> gst::Structure {
    let e = &face.estimate;
    let mut b = gst::Structure::builder(meta::DEMOGRAPHICS);
    if let Some(age) = e.age {
        b = b.field("age", age as f64);
    }
    b.field("age-group", face.age_group.as_str())
        .field("gender", e.gender.as_str())
        .field("gender-confidence", e.gender_confidence as f64)
        .field("samples", e.samples)
        .field("frozen", e.frozen)
        .build()
}

impl Demographics {
    /// Debug lines for what was decided about one face: classified, frozen,
    /// or (once per change of reason) not classified and why.
    fn log_decision(&self, r: &FaceEstimate) {
        let e = &r.estimate;
        match r.view {
            ViewUse::Classified => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "track {} classified (yaw {:.0}°, sharpness {:.3}): {} {:.2}, age {:.1} ({}), {} views",
                    r.id,
                    r.quality.yaw.unwrap_or(f32::NAN),
                    r.quality.sharpness.unwrap_or(f32::NAN),
                    e.gender.as_str(),
                    e.gender_confidence,
                    e.age.unwrap_or(f32::NAN),
                    r.age_group,
                    e.samples
                );
                if r.froze() {
                    gst::debug!(CAT, imp = self, "track {} frozen after {} views: no more model work", r.id, e.samples);
                }
            }
            ViewUse::NotNeeded => {}
            why if r.view_changed => gst::debug!(
                CAT,
                imp = self,
                "track {} not classified: {} (yaw {:.0}°, sharpness {:.3})",
                r.id,
                why.as_str(),
                r.quality.yaw.unwrap_or(f32::NAN),
                r.quality.sharpness.unwrap_or(f32::NAN)
            ),
            _ => {}
        }
    }

    /// Adds each face's estimate to its ROI, in the order of `meta::faces`.
    fn annotate(buf: &mut gst::BufferRef, results: &[FaceEstimate]) {
        let mut results = results.iter();
        for mut roi in buf.iter_meta_mut::<gst_video::VideoRegionOfInterestMeta>() {
            if roi.roi_type() != meta::ROI_TYPE_FACE || meta::track_id(roi.id()) == 0 {
                continue;
            }
            let Some(face) = results.next() else { break };
            roi.add_param(structure(face));
        }
    }

    /// Applies the properties that may change while playing, once after
    /// each change (crop-scales, model and threads take effect in start()).
    fn retune(&self, state: &mut State) -> Result<(), String> {
        let settings = self.settings.lock().unwrap();
        if settings.revision == state.revision {
            return Ok(());
        }
        let groups = age_groups(&settings.age_groups)?;
        // crop-scales take effect in start() only: keep the running ones.
        let crop_scales = core::parse_crop_scales(&settings.crop_scales).unwrap_or_default();
        let crop_scales = match &state.engine {
            Some(engine) => engine.config().crop_scales.clone(),
            None => state.worker.as_ref().map_or(crop_scales, |w| w.crop_scales.clone()),
        };
        let tuning = settings.config(groups, crop_scales);
        match (&mut state.engine, &state.worker) {
            (Some(engine), _) => engine.set_tuning(&tuning),
            (None, Some(worker)) => worker.tune(tuning),
            (None, None) => {}
        }
        state.revision = settings.revision;
        Ok(())
    }

    /// The run's counters, on the bus (at EOS): what was classified, and on a
    /// live source how many frames and views the worker had to drop.
    fn post_stats(&self, state: &State) {
        let WorkerStats { engine: stats, frames_dropped, views_dropped } = match (&state.engine, &state.worker) {
            (Some(engine), _) => WorkerStats { engine: engine.stats(), ..Default::default() },
            (None, Some(worker)) => worker.stats(),
            (None, None) => return,
        };
        let s = gst::Structure::builder(STATS)
            .field("live", state.live.unwrap_or(false))
            .field("frames", stats.frames)
            .field("model-runs", stats.model_runs)
            .field("faces-classified", stats.faces_classified)
            .field("frames-dropped", frames_dropped)
            .field("views-dropped", views_dropped)
            .build();
        gst::debug!(CAT, imp = self, "{s}");
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    fn is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }
}

impl BaseTransformImpl for Demographics {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let groups =
            age_groups(&settings.age_groups).map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["{}", e]))?;
        let crop_scales = core::parse_crop_scales(&settings.crop_scales)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ["property `crop-scales`: {}", e]))?;
        let library = runtime::find_onnxruntime(settings.onnxruntime.as_deref().map(std::path::Path::new));
        let config = settings.config(groups, crop_scales);
        let engine = Estimator::load(config, &library).map_err(|e| {
            if matches!(
                e,
                runtime::RuntimeError::ModelNotFound { .. }
                    | runtime::RuntimeError::ModelMissing { .. }
                    | runtime::RuntimeError::ModelIsDirectory { .. }
            ) {
                gst::error_msg!(gst::ResourceError::NotFound, ["property `model`: {}", e])
            } else {
                gst::error_msg!(gst::LibraryError::Init, ["{}", e])
            }
        })?;
        let model = engine.model();
        let (g, a) = model.families();
        let (g_size, a_size) = model.input_sizes();
        gst::info!(
            CAT,
            imp = self,
            "Started: gender {} ({}x{} crops), age {} ({}x{} crops) from {:?}, ONNX Runtime {}, {} thread(s), \
             crop-scales {:?}, flip {}, calibrate {}",
            g.name(),
            g_size,
            g_size,
            a.name(),
            a_size,
            a_size,
            model.paths(),
            library.display(),
            settings.threads,
            engine.config().crop_scales,
            settings.flip,
            settings.calibrate
        );
        *self.state.lock().unwrap() =
            Some(State { engine: Some(engine), worker: None, live: None, info: None, revision: settings.revision });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(mut state) = self.state.lock().unwrap().take() {
            if let Some(worker) = state.worker.take() {
                state.engine = worker.stop();
            }
            let Some(engine) = state.engine else { return Ok(()) };
            let stats = engine.stats();
            gst::info!(
                CAT,
                imp = self,
                "Stopped after {} frames: {} model runs, {} faces classified",
                stats.frames,
                stats.model_runs,
                stats.faces_classified
            );
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        gst::debug!(CAT, imp = self, "Configured for caps {} to {}", incaps, outcaps);
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(event.view(), gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)) {
            // A new stream or a seek: track ids start over, so does the evidence.
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                if let Some(engine) = state.engine.as_mut() {
                    engine.reset();
                }
                if let Some(worker) = &state.worker {
                    worker.reset();
                }
                gst::debug!(CAT, imp = self, "{:?}: every track's estimate forgotten", event.type_());
            }
        }
        if matches!(event.view(), gst::EventView::Eos(_))
            && let Some(state) = self.state.lock().unwrap().as_ref()
        {
            self.post_stats(state);
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let live = match self.state.lock().unwrap().as_ref().map(|s| s.live) {
            Some(Some(live)) => live,
            // Asked without the state lock: the query travels upstream.
            _ => self.is_live(),
        };
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["demographics is not started"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        if state.live.is_none() {
            state.live = Some(live);
            if live && let Some(engine) = state.engine.take() {
                let worker = LiveClassifier::start(engine).map_err(|e| {
                    gst::element_imp_error!(self, gst::CoreError::Failed, ["cannot start the worker thread: {}", e]);
                    gst::FlowError::Error
                })?;
                state.worker = Some(worker);
                gst::info!(CAT, imp = self, "live source: classifying on a worker thread, the video never waits");
            }
        }
        self.retune(state).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ["{}", e]);
            gst::FlowError::Error
        })?;
        let Some(info) = state.info.clone() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps before the first buffer"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        // ROIs whose id is no track id (track 0: not from facedetect) get no
        // estimate; the annotation below skips the same ones.
        let faces: Vec<FaceInput> = meta::faces(buf)
            .iter()
            .filter_map(|f| {
                let id = f.id;
                if id == 0 {
                    gst::warning!(CAT, imp = self, "face ROI without a track id: not classified");
                    return None;
                }
                let landmarks = f.landmarks.map(|p| [p[0] as f32, p[1] as f32]);
                let has_landmarks = landmarks.iter().flatten().any(|v| *v != 0.0);
                Some(FaceInput {
                    id,
                    bbox: BBox::new(f.bbox[0] as f32, f.bbox[1] as f32, f.bbox[2] as f32, f.bbox[3] as f32),
                    landmarks: has_landmarks.then_some(landmarks),
                    confidence: f.confidence as f32,
                    fresh: !f.predicted,
                })
            })
            .collect();
        if let Some(worker) = &state.worker {
            if let Some(e) = worker.take_error() {
                gst::element_imp_error!(self, gst::StreamError::Failed, ["age/gender estimation failed: {}", e]);
                return Err(gst::FlowError::Error);
            }
            if faces.is_empty() {
                return Ok(gst::FlowSuccess::Ok);
            }
            // The latest estimates now; this frame's views come on a later frame.
            let results = worker.latest(&faces);
            worker.submit(Job { frame: buf.copy(), info, faces });
            drop(guard);
            Self::annotate(buf, &results);
            return Ok(gst::FlowSuccess::Ok);
        }
        let Some(engine) = state.engine.as_mut() else {
            return Err(gst::FlowError::Error);
        };
        let info = &info;
        if faces.is_empty() {
            engine.skip_frame();
            return Ok(gst::FlowSuccess::Ok);
        }
        let started_at = Instant::now();
        // Map read-only in a scope: the frame is neither written nor copied.
        let results = {
            let frame = video::map_readable(&*self.obj(), buf, info)?;
            let view = video::view_of(&*self.obj(), &frame)?;
            engine.process(&view, &faces).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Failed, ["age/gender estimation failed: {}", e]);
                gst::FlowError::Error
            })?
        };
        drop(guard);
        let classified = results.iter().filter(|r| r.view == ViewUse::Classified).count();
        gst::log!(
            CAT,
            imp = self,
            "pts {}: {} faces, {} classified (one batch), {:.1} ms",
            buf.pts().display(),
            results.len(),
            classified,
            started_at.elapsed().as_secs_f64() * 1e3
        );
        for r in &results {
            self.log_decision(r);
        }
        Self::annotate(buf, &results);
        Ok(gst::FlowSuccess::Ok)
    }
}
