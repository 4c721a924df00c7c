//! `metajson` (also `blickfang-metajson`): turns the analysis carried on video
//! buffers into JSON records, one per line (`application/x-ndjson`), for any
//! sink: `filesink`, `fdsink`, `appsink`, `tcpserversink`, `blickfang-mqttsink`.
//!
//! Records (see `blickfang::records` and `schema/blickfang-records.schema.json`):
//! - `frame`: per video buffer, from its face ROI metas (`detection` and every
//!   further structure param: `demographics`, `head-pose`, `attention`, ...)
//!   and the analysis marker;
//! - `person-event` / `content-report`: from custom downstream events whose
//!   structure is named `meta::PERSON_EVENT` / `meta::CONTENT_REPORT` (sent by `gazedwell`).
//!
//! The video memory is never mapped: only metas, caps and timestamps are read.
//!
//! ```text
//! gst-launch-1.0 filesrc location=clip.mp4 ! decodebin ! videoconvert ! \
//!     blickfang-facedetect ! blickfang-metajson mode=frames ! filesink location=records.ndjson
//! ```

use gst::glib;
use gst::prelude::*;
use serde_json::{Map, Value};

mod imp;

/// Caps of the output.
pub const NDJSON_CAPS: &str = "application/x-ndjson";

/// Which records `metajson` writes.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangMetaJsonMode")]
pub enum Mode {
    #[enum_value(name = "One record per video frame", nick = "frames")]
    Frames = 0,
    #[enum_value(name = "Person events only", nick = "person-events")]
    PersonEvents = 1,
    #[enum_value(name = "Content reports only", nick = "content-reports")]
    ContentReports = 2,
    #[default]
    #[enum_value(name = "Frames, person events and content reports", nick = "all")]
    All = 3,
}

impl From<Mode> for blickfang::records::Mode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Frames => Self::Frames,
            Mode::PersonEvents => Self::PersonEvents,
            Mode::ContentReports => Self::ContentReports,
            Mode::All => Self::All,
        }
    }
}

/// When records carry the wall clock (`utc`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangMetaJsonUtc")]
pub enum Utc {
    #[default]
    #[enum_value(name = "For live sources (cameras)", nick = "live")]
    Live = 0,
    #[enum_value(name = "Always", nick = "always")]
    Always = 1,
    #[enum_value(name = "Never", nick = "never")]
    Never = 2,
}

glib::wrapper! {
    pub struct MetaJson(ObjectSubclass<imp::MetaJson>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    crate::register_element(plugin, "metajson", MetaJson::static_type())
}

/// A GStreamer structure as a JSON object: field names snake_cased; numbers,
/// strings, booleans, enums (by nick), arrays/lists and nested structures of
/// those. Anything else (buffers, bytes, samples, objects) is left out, and so
/// is anything that could hold pixels (`blickfang::records::scrub`).
pub fn structure_json(s: &gst::StructureRef) -> Map<String, Value> {
    s.iter()
        .filter_map(|(name, value)| {
            let v = value_json(value)?;
            Some((blickfang::records::snake_case(name), blickfang::records::scrub(v)?))
        })
        .collect()
}

fn value_json(v: &glib::Value) -> Option<Value> {
    let t = v.type_();
    let json = match t {
        glib::Type::BOOL => v.get::<bool>().ok()?.into(),
        glib::Type::I8 => v.get::<i8>().ok()?.into(),
        glib::Type::U8 => v.get::<u8>().ok()?.into(),
        glib::Type::I32 => v.get::<i32>().ok()?.into(),
        glib::Type::U32 => v.get::<u32>().ok()?.into(),
        glib::Type::I64 => v.get::<i64>().ok()?.into(),
        glib::Type::U64 => v.get::<u64>().ok()?.into(),
        glib::Type::F32 => finite(v.get::<f32>().ok()? as f64),
        glib::Type::F64 => finite(v.get::<f64>().ok()?),
        glib::Type::STRING => v.get::<Option<String>>().ok()?.map_or(Value::Null, Value::String),
        _ if t == gst::Array::static_type() => {
            v.get::<gst::Array>().ok()?.iter().map(|x| value_json(x)).collect::<Option<Vec<_>>>()?.into()
        }
        _ if t == gst::List::static_type() => {
            v.get::<gst::List>().ok()?.iter().map(|x| value_json(x)).collect::<Option<Vec<_>>>()?.into()
        }
        _ if t == gst::Structure::static_type() => {
            Value::Object(structure_json(v.get::<gst::Structure>().ok()?.as_ref()))
        }
        _ if t.is_a(glib::Type::ENUM) => glib::EnumValue::from_value(v)?.1.nick().into(),
        _ => return None,
    };
    Some(json)
}

/// JSON has no NaN or infinity.
fn finite(x: f64) -> Value {
    if x.is_finite() { x.into() } else { Value::Null }
}
