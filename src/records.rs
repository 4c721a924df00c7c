//! Metadata records: the JSON lines `metajson` writes and `blickfang-mqttsink`
//! publishes, as described by `schema/blickfang-records.schema.json`.
//!
//! Every record is one JSON object with an envelope — `schema`
//! ([`SCHEMA`]), `type` (`frame`, `person-event`, `content-report`),
//! `screen` (which screen), `run` (one run of the writing element, from its
//! start to its stop), `seq` (0, 1, 2, ... within the run, so (screen, run,
//! seq) names a record uniquely), optionally `source` (which camera or
//! file), `pts` and `running_time` (seconds, when known), `utc` (RFC 3339)
//! and `dropped` — followed by the type's own fields. Field names follow the
//! GStreamer vocabulary with `-` turned into `_` (`dwell-time` → `dwell_time`).
//!
//! Version rule (also in `schema/README.md`): a new optional field or record
//! type is a minor change and keeps [`SCHEMA`]; renaming, removing or
//! changing the meaning of a field is a major change and bumps it.
//!
//! Nothing here can carry pixels: values pass [`scrub`], which refuses strings
//! longer than [`MAX_STRING_LEN`], arrays with more than [`MAX_ARRAY_LEN`]
//! scalars and nesting deeper than [`MAX_DEPTH`].

use serde_json::{Map, Value};

use crate::tracker::TrackId;

/// The version of the record format, in every record's `schema` field and in
/// the JSON Schema's `$id`.
pub const SCHEMA: &str = "blickfang/2";
/// Longest string a record may hold (a base64 crop would be far longer).
pub const MAX_STRING_LEN: usize = 256;
/// Most scalars an array may hold, counted through nested arrays (landmarks
/// are 10; an embedding or a thumbnail is hundreds).
pub const MAX_ARRAY_LEN: usize = 32;
/// Deepest nesting of objects and arrays inside a face parameter or event.
pub const MAX_DEPTH: usize = 4;

/// What a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// One analysed video frame and the faces on it.
    Frame,
    /// Something that happened to one person (a track): from `gazedwell`.
    PersonEvent,
    /// A summary about the content shown on the screen: from `gazedwell`.
    ContentReport,
}

impl RecordType {
    pub const ALL: [RecordType; 3] = [RecordType::Frame, RecordType::PersonEvent, RecordType::ContentReport];

    /// The `type` field, also `{type}` in MQTT topics.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Frame => "frame",
            RecordType::PersonEvent => "person-event",
            RecordType::ContentReport => "content-report",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Which records an element writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Frames,
    PersonEvents,
    ContentReports,
    #[default]
    All,
}

impl Mode {
    pub fn accepts(self, kind: RecordType) -> bool {
        match self {
            Mode::All => true,
            Mode::Frames => kind == RecordType::Frame,
            Mode::PersonEvents => kind == RecordType::PersonEvent,
            Mode::ContentReports => kind == RecordType::ContentReport,
        }
    }
}

/// When a record happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timing {
    /// Presentation timestamp, seconds.
    pub pts: Option<f64>,
    /// Running time (the pipeline's clock position of the frame), seconds.
    pub running_time: Option<f64>,
    /// Wall clock, RFC 3339 UTC (see [`crate::time::utc_rfc3339`]).
    pub utc: Option<String>,
}

/// One face of a frame record.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    pub id: TrackId,
    /// x, y, width, height in frame pixels.
    pub bbox: [f64; 4],
    /// The detector's confidence (the `detection` param's `confidence`).
    pub confidence: f64,
    pub landmarks: [[f64; 2]; 5],
    pub predicted: bool,
    /// Further parameters (`demographics`, `head_pose`, `attention`, ...),
    /// already snake_cased and scrubbed.
    pub params: Map<String, Value>,
}

/// The frame a frame record describes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameInfo {
    pub width: u32,
    pub height: u32,
    /// The analysis marker's fields, when the frame was analysed.
    pub analysis: Option<Map<String, Value>>,
}

/// Builds the records of one run: the envelope and the run's sequence numbers.
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    seq: u64,
    screen: String,
    run: String,
    source: Option<String>,
}

impl RecordBuilder {
    /// A run on `screen` whose records are numbered from 0; `run` must not
    /// repeat on that screen (a random UUID does it).
    pub fn new(screen: impl Into<String>, run: impl Into<String>, source: Option<String>) -> Self {
        Self { seq: 0, screen: screen.into(), run: run.into(), source }
    }

    pub fn run(&self) -> &str {
        &self.run
    }

    /// The `seq` the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    fn envelope(&mut self, kind: RecordType, timing: &Timing) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("schema".into(), SCHEMA.into());
        m.insert("type".into(), kind.as_str().into());
        m.insert("screen".into(), self.screen.clone().into());
        m.insert("run".into(), self.run.clone().into());
        m.insert("seq".into(), self.seq.into());
        self.seq += 1;
        if let Some(s) = &self.source {
            m.insert("source".into(), s.clone().into());
        }
        if let Some(v) = timing.pts {
            m.insert("pts".into(), round(v, 1e9).into());
        }
        if let Some(v) = timing.running_time {
            m.insert("running_time".into(), round(v, 1e9).into());
        }
        if let Some(v) = &timing.utc {
            m.insert("utc".into(), v.clone().into());
        }
        m
    }

    /// A `frame` record.
    pub fn frame(&mut self, timing: &Timing, frame: FrameInfo, faces: Vec<Face>) -> Value {
        let mut m = self.envelope(RecordType::Frame, timing);
        m.insert("width".into(), frame.width.into());
        m.insert("height".into(), frame.height.into());
        if let Some(a) = frame.analysis {
            m.insert("analysis".into(), Value::Object(a));
        }
        m.insert("faces".into(), faces.into_iter().map(face_json).collect());
        Value::Object(m)
    }

    /// A `person-event` or `content-report` record: the envelope, then
    /// `fields` (snake_cased, scrubbed). The event's own `running_time`,
    /// `pts` (seconds) and `utc` (string), when it has them, are its timing;
    /// otherwise `timing` (the frame before it) is. Other envelope names in
    /// `fields` are ignored.
    pub fn event(&mut self, kind: RecordType, timing: &Timing, fields: &Map<String, Value>) -> Value {
        let own = |name: &str| fields.get(name).and_then(Value::as_f64).filter(|v| *v >= 0.0);
        let timing = Timing {
            pts: own("pts").or(timing.pts),
            running_time: own("running_time").or(timing.running_time),
            utc: fields.get("utc").and_then(Value::as_str).map(String::from).or_else(|| timing.utc.clone()),
        };
        let mut m = self.envelope(kind, &timing);
        for (k, v) in fields {
            if !m.contains_key(k) && !ENVELOPE.contains(&k.as_str()) {
                m.insert(k.clone(), v.clone());
            }
        }
        Value::Object(m)
    }
}

/// Fields only the envelope sets.
const ENVELOPE: [&str; 10] =
    ["schema", "type", "screen", "run", "seq", "source", "pts", "running_time", "utc", "dropped"];

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

fn face_json(f: Face) -> Value {
    let r2 = |v: f64| round(v, 100.0);
    let mut m = Map::new();
    m.insert("id".into(), f.id.into());
    m.insert("box".into(), f.bbox.map(r2).iter().copied().collect());
    m.insert("confidence".into(), round(f.confidence, 1e4).into());
    m.insert("landmarks".into(), f.landmarks.iter().map(|p| p.map(r2).iter().copied().collect::<Value>()).collect());
    m.insert("predicted".into(), f.predicted.into());
    for (k, v) in f.params {
        if !m.contains_key(&k) {
            m.insert(k, v);
        }
    }
    Value::Object(m)
}

/// GStreamer's `kebab-case` field and structure names as JSON's `snake_case`
/// (`dwell-time` → `dwell_time`). Names that are not identifiers are data
/// (`female:25-34`, a key of a demographics map) and stay as they are.
pub fn snake_case(name: &str) -> String {
    let identifier = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if identifier { name.replace('-', "_") } else { name.to_string() }
}

/// `value` if it cannot carry pixels, crops or embeddings (see the module
/// doc); objects lose the members that could, arrays and strings that could
/// are refused whole.
pub fn scrub(value: Value) -> Option<Value> {
    scrub_at(value, 0)
}

fn scrub_at(value: Value, depth: usize) -> Option<Value> {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => Some(value),
        Value::String(ref s) => (s.chars().count() <= MAX_STRING_LEN).then_some(value),
        Value::Array(_) => {
            (depth < MAX_DEPTH && array_scalars(&value) <= MAX_ARRAY_LEN && is_pixel_free_at(&value, depth))
                .then_some(value)
        }
        Value::Object(m) => {
            if depth >= MAX_DEPTH {
                return None;
            }
            Some(Value::Object(m.into_iter().filter_map(|(k, v)| Some((k, scrub_at(v, depth + 1)?))).collect()))
        }
    }
}

/// Scalars in an array, through nested arrays (not through objects).
fn array_scalars(value: &Value) -> usize {
    match value {
        Value::Array(a) => a
            .iter()
            .map(|v| {
                if v.is_array() {
                    array_scalars(v)
                } else if v.is_object() {
                    0
                } else {
                    1
                }
            })
            .sum(),
        _ => 1,
    }
}

/// Whether a whole record (or any value) is free of anything that could hold
/// pixels: no string over [`MAX_STRING_LEN`] characters, no array with more
/// than [`MAX_ARRAY_LEN`] scalars. Arrays of objects (`faces`) may be long;
/// each object is checked.
pub fn is_pixel_free(value: &Value) -> bool {
    is_pixel_free_at(value, 0)
}

fn is_pixel_free_at(value: &Value, depth: usize) -> bool {
    if depth > 2 * MAX_DEPTH + 2 {
        return false;
    }
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
        Value::String(s) => s.chars().count() <= MAX_STRING_LEN,
        Value::Array(a) => array_scalars(value) <= MAX_ARRAY_LEN && a.iter().all(|v| is_pixel_free_at(v, depth + 1)),
        Value::Object(m) => m.values().all(|v| is_pixel_free_at(v, depth + 1)),
    }
}

/// The record's `type`, `record` for lines without one (`blickfang analyze`).
pub fn type_of(record: &Value) -> &str {
    record.get("type").and_then(Value::as_str).unwrap_or("record")
}

/// The `type` of a record line, quickly for lines as [`RecordBuilder`] writes
/// them (the envelope comes first), else by parsing; `record` without one.
pub fn line_type(line: &str) -> String {
    let prefix = concat!(r#"{"schema":""#, "blickfang/2", r#"","type":""#);
    if let Some(rest) = line.strip_prefix(prefix)
        && let Some(end) = rest.find('"')
    {
        return rest[..end].to_string();
    }
    serde_json::from_str::<Value>(line).map(|v| type_of(&v).to_string()).unwrap_or_else(|_| "record".into())
}

/// `line` (a JSON object) with `"dropped": n` added (or added to), for the
/// first record after a loss. `None` if `line` is not a JSON object.
pub fn with_dropped(line: &str, dropped: u64) -> Option<String> {
    let mut v: Value = serde_json::from_str(line).ok()?;
    let m = v.as_object_mut()?;
    let before = m.get("dropped").and_then(Value::as_u64).unwrap_or(0);
    m.insert("dropped".into(), (before + dropped).into());
    Some(v.to_string())
}

/// A `frame` record as read back, as far as the evaluators need it (the
/// CLI's output is records; the evaluators read records, not a shape of their own).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct FrameRecord {
    /// The image's path relative to the analysed folder, or the input.
    #[serde(default)]
    pub source: Option<String>,
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceRecord>,
}

/// A face of a [`FrameRecord`].
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct FaceRecord {
    pub id: TrackId,
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
    pub confidence: f64,
    #[serde(default)]
    pub demographics: Option<DemographicsRecord>,
    #[serde(default)]
    pub head_pose: Option<HeadPoseRecord>,
}

/// The `demographics` object of a face.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct DemographicsRecord {
    #[serde(default)]
    pub age: Option<f64>,
    pub gender: String,
    #[serde(default)]
    pub gender_confidence: f64,
}

/// The `head_pose` object of a face, degrees.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
pub struct HeadPoseRecord {
    pub yaw: f64,
    pub pitch: f64,
    pub roll: f64,
}

/// A record line that is not what a reader expected.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}: not JSON: {source}")]
    Json { line: usize, source: serde_json::Error },
    #[error("line {line}: schema {found:?}, this version reads {SCHEMA}")]
    Version { line: usize, found: String },
    #[error("line {line}: not a frame record: {source}")]
    Frame { line: usize, source: serde_json::Error },
}

/// The `frame` records of an NDJSON text (other record types are skipped),
/// each checked for this [`SCHEMA`].
pub fn frame_records(text: &str) -> Result<Vec<FrameRecord>, ReadError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line = i + 1;
        let v: Value = serde_json::from_str(raw).map_err(|source| ReadError::Json { line, source })?;
        let found = v.get("schema").and_then(Value::as_str).unwrap_or_default();
        if found != SCHEMA {
            return Err(ReadError::Version { line, found: found.to_string() });
        }
        if type_of(&v) == RecordType::Frame.as_str() {
            out.push(serde_json::from_value(v).map_err(|source| ReadError::Frame { line, source })?);
        }
    }
    Ok(out)
}

/// Splits a byte stream into lines (records), across buffer boundaries.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// The complete, non-empty lines `bytes` finishes; the rest is kept.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            let line = String::from_utf8_lossy(&self.partial).trim().to_string();
            self.partial.clear();
            if !line.is_empty() {
                out.push(line);
            }
        }
        self.partial.extend_from_slice(rest);
        out
    }

    /// What is left without a final newline (at EOS).
    pub fn finish(&mut self) -> Option<String> {
        let line = String::from_utf8_lossy(&self.partial).trim().to_string();
        self.partial.clear();
        (!line.is_empty()).then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn face(id: TrackId) -> Face {
        Face {
            id,
            bbox: [10.123, 20.0, 30.0, 40.0],
            confidence: 0.912345,
            landmarks: [[1.0, 2.0]; 5],
            predicted: false,
            params: Map::new(),
        }
    }

    #[test]
    fn frame_record_has_envelope_and_faces() {
        let mut b = RecordBuilder::new("lobby", "run-1", Some("cam0".into()));
        let t = Timing { pts: Some(0.04), running_time: Some(0.04), utc: None };
        let mut f = face(3);
        f.params.insert("head_pose".into(), json!({"yaw": 1.5}));
        let info =
            FrameInfo { width: 640, height: 480, analysis: Some(json!({"frame": 1}).as_object().unwrap().clone()) };
        let r = b.frame(&t, info, vec![f]);
        assert_eq!(r["schema"], SCHEMA);
        assert_eq!(r["type"], "frame");
        assert_eq!(r["seq"], 0);
        assert_eq!(r["screen"], "lobby");
        assert_eq!(r["run"], "run-1");
        assert_eq!(r["source"], "cam0");
        assert_eq!(r["faces"][0]["box"][0], 10.12);
        assert_eq!(r["faces"][0]["confidence"], 0.9123);
        assert_eq!(r["faces"][0]["head_pose"]["yaw"], 1.5);
        assert_eq!(r["analysis"]["frame"], 1);
        assert!(r.get("utc").is_none());
        let r2 = b.frame(&t, FrameInfo::default(), vec![]);
        assert_eq!(r2["seq"], 1);
        assert_eq!(r2["faces"], json!([]));
    }

    #[test]
    fn event_fields_cannot_override_the_envelope() {
        let mut b = RecordBuilder::new("s", "r", None);
        let fields = json!({"seq": 99, "type": "x", "run": "other", "id": 4, "dwell_time": 2.5, "dropped": 3});
        let frame = Timing { pts: Some(1.0), running_time: Some(0.9), utc: Some("2024-01-01T00:00:00.000Z".into()) };
        let r = b.event(RecordType::PersonEvent, &frame, fields.as_object().unwrap());
        assert_eq!(r["seq"], 0);
        assert_eq!(r["run"], "r");
        assert!(r.get("source").is_none());
        assert_eq!(r["type"], "person-event");
        assert_eq!(r["dwell_time"], 2.5);
        assert!(r.get("dropped").is_none());
        assert_eq!(r["running_time"], 0.9, "the frame's timing when the event has none");
        // The event's own time wins.
        let fields = json!({"running_time": 0.75, "utc": "2024-01-01T00:00:01.000Z"});
        let r = b.event(RecordType::PersonEvent, &frame, fields.as_object().unwrap());
        assert_eq!(r["running_time"], 0.75);
        assert_eq!(r["pts"], 1.0);
        assert_eq!(r["utc"], "2024-01-01T00:00:01.000Z");
    }

    #[test]
    fn modes() {
        assert!(Mode::All.accepts(RecordType::ContentReport));
        assert!(Mode::Frames.accepts(RecordType::Frame));
        assert!(!Mode::Frames.accepts(RecordType::PersonEvent));
        assert!(Mode::PersonEvents.accepts(RecordType::PersonEvent));
        assert!(!Mode::ContentReports.accepts(RecordType::Frame));
        assert_eq!(RecordType::parse("content-report"), Some(RecordType::ContentReport));
    }

    #[test]
    fn scrub_refuses_pixel_sized_values() {
        assert_eq!(scrub(json!("short")), Some(json!("short")));
        assert_eq!(scrub(json!("x".repeat(257))), None);
        assert_eq!(scrub(json!(vec![0.5; 32])), Some(json!(vec![0.5; 32])));
        assert_eq!(scrub(json!(vec![0.5; 33])), None);
        // A 6x6 "thumbnail" hidden as nested arrays.
        assert_eq!(scrub(json!(vec![vec![1; 6]; 6])), None);
        // An object keeps its harmless members.
        let v = scrub(json!({"age": 31, "embedding": vec![0.1; 128]})).unwrap();
        assert_eq!(v, json!({"age": 31}));
        assert!(is_pixel_free(&json!({"faces": vec![json!({"landmarks": vec![[1, 2]; 5]}); 100]})));
        assert!(!is_pixel_free(&json!({"faces": [{"crop": "A".repeat(1000)}]})));
    }

    #[test]
    fn dropped_is_added_to_a_record() {
        let line = with_dropped(r#"{"schema":"blickfang/2","seq":5}"#, 7).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["dropped"], 7);
        assert_eq!(v["seq"], 5);
        assert!(line.starts_with(r#"{"schema""#), "order kept: {line}");
        assert_eq!(with_dropped("[1]", 1), None);
    }

    #[test]
    fn lines_across_buffers() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"{\"a\":1}\n{\"b\""), vec!["{\"a\":1}"]);
        assert_eq!(s.push(b":2}\n\n{\"c\":3}"), vec!["{\"b\":2}"]);
        assert_eq!(s.finish().as_deref(), Some("{\"c\":3}"));
        assert_eq!(s.finish(), None);
        assert_eq!(snake_case("dwell-time"), "dwell_time");
        assert_eq!(snake_case("female:25-34"), "female:25-34");
        assert_eq!(snake_case("25-34"), "25-34");
        assert_eq!(type_of(&json!({"path": "a.jpg"})), "record");
        let mut b = RecordBuilder::new("s", "r", None);
        let line = b.event(RecordType::ContentReport, &Timing::default(), &Map::new()).to_string();
        assert_eq!(line_type(&line), "content-report");
        assert_eq!(line_type(r#"{"seq":1,"type":"person-event"}"#), "person-event");
        assert_eq!(line_type(r#"{"path":"a.jpg"}"#), "record");
        assert_eq!(SCHEMA, "blickfang/2", "line_type's prefix");
    }

    #[test]
    fn frame_records_read_back_what_the_builder_writes() {
        let mut b = RecordBuilder::new("s", "r", Some("a/b.jpg".into()));
        let mut f = face(5);
        f.params.insert("demographics".into(), json!({"age": 31.5, "gender": "female", "gender_confidence": 0.9}));
        f.params.insert("head_pose".into(), json!({"yaw": 1.0, "pitch": 2.0, "roll": 3.0, "source": "fsanet"}));
        let info = FrameInfo { width: 64, height: 48, analysis: None };
        let frame = b.frame(&Timing::default(), info, vec![f]);
        let event = b.event(RecordType::PersonEvent, &Timing::default(), json!({"event": "left"}).as_object().unwrap());
        let text = format!("{frame}\n{event}\n");
        let records = frame_records(&text).unwrap();
        assert_eq!(records.len(), 1, "events are skipped");
        let r = &records[0];
        assert_eq!((r.source.as_deref(), r.width, r.faces.len()), (Some("a/b.jpg"), 64, 1));
        assert_eq!(r.faces[0].demographics.as_ref().map(|d| d.gender.as_str()), Some("female"));
        assert_eq!(r.faces[0].head_pose.map(|p| p.roll), Some(3.0));
        assert!((r.faces[0].confidence - 0.9123).abs() < 1e-9);
        let old = r#"{"schema":"blickfang/1","type":"frame"}"#;
        assert!(matches!(frame_records(old), Err(ReadError::Version { line: 1, .. })));
        assert!(matches!(frame_records("{"), Err(ReadError::Json { line: 1, .. })));
    }
}
