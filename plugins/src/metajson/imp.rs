use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use serde_json::{Map, Value};

use blickfang::records::{self, Face, FrameInfo, RecordBuilder, RecordType, Timing};

use super::{Mode, NDJSON_CAPS, Utc};
use crate::meta::{self, CONTENT_REPORT, PERSON_EVENT, secs};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "blickfang-metajson",
        gst::DebugColorFlags::empty(),
        Some("blickfang metadata to JSON lines"),
    )
});

const DEFAULT_SKIP_EMPTY: bool = false;

#[derive(Debug, Clone, Default)]
struct Settings {
    mode: Mode,
    skip_empty: bool,
    /// `None`: blickfang-mqttsink's default, the host name as a topic level.
    screen_id: Option<String>,
    source_id: Option<String>,
    utc: Utc,
}

impl Settings {
    fn screen(&self) -> String {
        self.screen_id.clone().unwrap_or_else(crate::mqttsink::default_screen_id)
    }
}

/// Per stream; reset when the element goes back to READY.
struct State {
    width: u32,
    height: u32,
    segment: gst::FormattedSegment<gst::ClockTime>,
    /// Whether the source is live, asked upstream on the first buffer.
    live: Option<bool>,
    /// Timing of the last frame, for the event records that follow it.
    last: Timing,
    last_pts: Option<gst::ClockTime>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            width: 0,
            height: 0,
            segment: gst::FormattedSegment::new(),
            live: None,
            last: Timing::default(),
            last_pts: None,
        }
    }
}

pub struct MetaJson {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// The records of this run: made at READY→PAUSED with a new run id, so
    /// (screen, run, seq) never repeats, also when a pipeline restarts.
    builder: Mutex<Option<RecordBuilder>>,
}

#[glib::object_subclass]
impl ObjectSubclass for MetaJson {
    const NAME: &'static str = "BlickfangMetaJson";
    type Type = super::MetaJson;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|pad, parent, buffer| {
                MetaJson::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |this| this.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                MetaJson::catch_panic_pad_function(parent, || false, |this| this.sink_event(pad, event))
            })
            .query_function(|pad, parent, query| {
                MetaJson::catch_panic_pad_function(parent, || false, |this| this.sink_query(pad, query))
            })
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
        Self { sinkpad, srcpad, settings: Mutex::default(), state: Mutex::default(), builder: Mutex::default() }
    }
}

impl ObjectImpl for MetaJson {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("mode", Mode::All)
                    .nick("Mode")
                    .blurb(
                        "Which records to write: frames (one per video frame), person-events, content-reports, or all",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("skip-empty")
                    .nick("Skip empty frames")
                    .blurb("Write no frame record for a frame without faces")
                    .default_value(DEFAULT_SKIP_EMPTY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("screen-id")
                    .nick("Screen id")
                    .blurb(
                        "Identifies the screen in every record (`screen`); unset: the host name, as \
                            blickfang-mqttsink's topic",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("source-id")
                    .nick("Source id")
                    .blurb("Identifies the video source (camera, file) in every record (`source`); unset: no `source`")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("utc", Utc::Live)
                    .nick("UTC")
                    .blurb(
                        "When records carry the wall-clock time of their frame (`utc`, RFC 3339): \
                            live (live sources only), always, never",
                    )
                    .mutable_ready()
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
            "mode" => s.mode.to_value(),
            "skip-empty" => s.skip_empty.to_value(),
            "screen-id" => s.screen_id.to_value(),
            "source-id" => s.source_id.to_value(),
            "utc" => s.utc.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl MetaJson {
    /// Stores a property's new value (logged by `set_property`).
    fn apply_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "mode" => s.mode = value.get().unwrap(),
            "skip-empty" => s.skip_empty = value.get().unwrap(),
            "screen-id" => s.screen_id = value.get::<Option<String>>().unwrap().filter(|v| !v.is_empty()),
            "source-id" => s.source_id = value.get::<Option<String>>().unwrap().filter(|v| !v.is_empty()),
            "utc" => s.utc = value.get().unwrap(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for MetaJson {}

impl ElementImpl for MetaJson {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang metadata to JSON",
                "Formatter/Metadata",
                "Turns the face metadata on video buffers and blickfang's person events and content reports \
                 into JSON records, one per line; pixels never enter it",
                "blickfang developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let src = gst::Caps::builder(NDJSON_CAPS).build();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &src).unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &crate::video::raw_caps(),
                )
                .unwrap(),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            let s = self.settings.lock().unwrap().clone();
            let builder = RecordBuilder::new(s.screen(), glib::uuid_string_random().as_str(), s.source_id.clone());
            gst::info!(
                CAT,
                imp = self,
                "run {} on screen {:?}, source {:?}: {:?}, skip-empty {}, utc {:?}",
                builder.run(),
                s.screen(),
                s.source_id,
                s.mode,
                s.skip_empty,
                s.utc
            );
            *self.builder.lock().unwrap() = Some(builder);
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *self.state.lock().unwrap() = State::default();
            *self.builder.lock().unwrap() = None;
            gst::info!(CAT, imp = self, "run ended");
        }
        Ok(ret)
    }
}

/// The faces on a buffer, with every ROI param besides `detection`.
fn faces(buffer: &gst::BufferRef) -> Vec<Face> {
    let params = buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == meta::ROI_TYPE_FACE)
        .map(|m| {
            m.params()
                .filter(|p| p.name().as_str() != meta::DETECTION)
                .map(|p| (records::snake_case(p.name()), Value::Object(super::structure_json(p))))
                .collect::<Map<String, Value>>()
        });
    meta::faces(buffer)
        .into_iter()
        .zip(params)
        .map(|(f, params)| Face {
            id: f.id,
            bbox: f.bbox,
            confidence: f.confidence,
            landmarks: f.landmarks,
            predicted: f.predicted,
            params,
        })
        .collect()
}

impl MetaJson {
    fn sink_chain(&self, _pad: &gst::Pad, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let pts = buffer.pts();
        let timing = self.frame_timing(pts, &settings);
        let (width, height) = {
            let mut state = self.state.lock().unwrap();
            state.last = timing.clone();
            state.last_pts = pts;
            (state.width, state.height)
        };
        let wanted = blickfang::records::Mode::from(settings.mode).accepts(RecordType::Frame);
        let faces = if wanted { faces(&buffer) } else { Vec::new() };
        if !wanted || (settings.skip_empty && faces.is_empty()) {
            // Nothing to write: a gap keeps downstream sinks prerolled and in time.
            if let Some(pts) = pts {
                self.ensure_stream();
                self.srcpad.push_event(gst::event::Gap::builder(pts).duration(buffer.duration()).build());
            }
            return Ok(gst::FlowSuccess::Ok);
        }
        let info = FrameInfo { width, height, analysis: meta::analysis(&buffer).map(|s| super::structure_json(&s)) };
        let n = faces.len();
        let Some(record) = self.builder.lock().unwrap().as_mut().map(|b| b.frame(&timing, info, faces)) else {
            return Err(gst::FlowError::Flushing);
        };
        gst::log!(CAT, imp = self, "frame record with {n} faces");
        self.push_record(&record, pts, buffer.duration())
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(c) => {
                let Ok(info) = gst_video::VideoInfo::from_caps(c.caps()) else {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["metajson: unusable video caps {}", c.caps()]
                    );
                    return false;
                };
                gst::debug!(CAT, imp = self, "caps {}", c.caps());
                {
                    let mut state = self.state.lock().unwrap();
                    state.width = info.width();
                    state.height = info.height();
                }
                self.srcpad.push_event(gst::event::Caps::new(&gst::Caps::builder(NDJSON_CAPS).build()))
            }
            EventView::Segment(s) => {
                if let Ok(seg) = s.segment().clone().downcast::<gst::ClockTime>() {
                    self.state.lock().unwrap().segment = seg;
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::StreamStart(_) => {
                self.state.lock().unwrap().live = None;
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            EventView::CustomDownstream(e) => {
                let kind = match e.structure().map(|s| s.name().as_str()) {
                    Some(PERSON_EVENT) => Some(RecordType::PersonEvent),
                    Some(CONTENT_REPORT) => Some(RecordType::ContentReport),
                    _ => None,
                };
                if let (Some(kind), Some(s)) = (kind, e.structure())
                    && let Err(err) = self.event_record(kind, s)
                {
                    gst::debug!(CAT, imp = self, "could not push a {} record: {err:?}", kind.as_str());
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            // We read metas only: any allocation upstream likes suits us, and
            // downstream (a byte sink) has nothing to say about video memory.
            gst::QueryViewMut::Allocation(_) => true,
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn event_record(&self, kind: RecordType, s: &gst::StructureRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        if !blickfang::records::Mode::from(settings.mode).accepts(kind) {
            return Ok(gst::FlowSuccess::Ok);
        }
        let fields = super::structure_json(s);
        let (last, pts) = {
            let state = self.state.lock().unwrap();
            (state.last.clone(), state.last_pts)
        };
        // An event is timed by its own running time (and its wall clock on the
        // same clock as a frame's), else by the frame before it.
        let timing = match fields.get("running_time").and_then(Value::as_f64).filter(|t| *t >= 0.0) {
            Some(t) => {
                let at = gst::ClockTime::from_nseconds((t * 1e9).round() as u64);
                Timing {
                    pts: None,
                    running_time: Some(t),
                    utc: self.wants_utc(&settings).then(|| meta::wall_clock_utc(self.obj().upcast_ref(), Some(at))),
                }
            }
            None => last,
        };
        let Some(record) = self.builder.lock().unwrap().as_mut().map(|b| b.event(kind, &timing, &fields)) else {
            return Err(gst::FlowError::Flushing);
        };
        gst::log!(CAT, imp = self, "{} record", kind.as_str());
        self.push_record(&record, pts, None)
    }

    fn wants_utc(&self, settings: &Settings) -> bool {
        match settings.utc {
            Utc::Never => false,
            Utc::Always => true,
            Utc::Live => self.is_live(),
        }
    }

    fn frame_timing(&self, pts: Option<gst::ClockTime>, settings: &Settings) -> Timing {
        let running_time = {
            let state = self.state.lock().unwrap();
            pts.and_then(|p| state.segment.to_running_time(p))
        };
        Timing {
            pts: pts.map(secs),
            running_time: running_time.map(secs),
            utc: self.wants_utc(settings).then(|| meta::wall_clock_utc(self.obj().upcast_ref(), running_time)),
        }
    }

    /// Whether upstream is live; asked once per stream.
    fn is_live(&self) -> bool {
        if let Some(live) = self.state.lock().unwrap().live {
            return live;
        }
        let mut q = gst::query::Latency::new();
        let live = self.sinkpad.peer_query(&mut q) && q.result().0;
        self.state.lock().unwrap().live = Some(live);
        live
    }

    /// Stream-start, caps and segment on the source pad before a record
    /// that comes before any video (an early event).
    fn ensure_stream(&self) {
        if self.srcpad.sticky_event::<gst::event::StreamStart>(0).is_none() {
            self.srcpad.push_event(gst::event::StreamStart::new("blickfang-metajson"));
        }
        if self.srcpad.current_caps().is_none() {
            self.srcpad.push_event(gst::event::Caps::new(&gst::Caps::builder(NDJSON_CAPS).build()));
        }
        if self.srcpad.sticky_event::<gst::event::Segment>(0).is_none() {
            self.srcpad.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
        }
    }

    fn push_record(
        &self,
        record: &Value,
        pts: Option<gst::ClockTime>,
        duration: Option<gst::ClockTime>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut line = record.to_string();
        line.push('\n');
        let mut buffer = gst::Buffer::from_mut_slice(line.into_bytes());
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(pts);
            b.set_duration(duration);
        }
        self.ensure_stream();
        self.srcpad.push(buffer)
    }
}
