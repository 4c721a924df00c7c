//! One MQTT message (topic + payload) into a typed record, or a rejection
//! with a reason. What the fleet stores: `left` person events (with their
//! per-content shares) and content reports (the proof of play). Other person
//! events are acknowledged and counted, not stored; `frame` records are
//! refused (too fine-grained for a fleet). Times become wall clock, integer
//! microseconds since the Unix epoch: `wall(t) = utc - (running_time - t)`.

use serde_json::{Map, Value};

use blickfang::records::{MAX_STRING_LEN, SCHEMA};

/// The record schema's own limits (run ids, ids in events).
const MAX_RUN_LEN: usize = 64;
const MAX_SHORT_LEN: usize = 64;
const MAX_SHARES: usize = 1024;

/// (screen, run, seq): names a record uniquely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub screen: String,
    pub run: String,
    pub seq: i64,
}

/// A person's time with one content item (one period of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub content_id: String,
    /// Wall clock of the share's start, µs since the epoch: the hour it counts in.
    pub start_us: i64,
    pub end_us: i64,
    pub dwell_us: i64,
    pub attention_us: i64,
}

/// A `left` person event: a person's whole visit.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonLeft {
    pub key: Key,
    /// Wall clock of the event (when the person was last seen), µs.
    pub at_us: i64,
    pub dwell_us: i64,
    pub attention_us: i64,
    pub glances: i32,
    pub gender: Option<String>,
    pub age_group: Option<String>,
    pub ending: Option<String>,
    pub contents: Vec<Share>,
}

/// A content report: one content period (proof of play) and the edge's
/// k-suppressed report fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPeriod {
    pub key: Key,
    pub content_id: String,
    pub start_us: i64,
    pub end_us: i64,
    pub ending: Option<String>,
    pub min_group_size: Option<i64>,
    /// The edge's counts (absent when it suppressed them).
    pub ots: Option<i64>,
    pub watchers: Option<i64>,
    /// The rest of the edge's report (histograms, demographics, suppressed), as JSON.
    pub report: String,
}

/// What the record says about its screen (every accepted record).
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenSeen {
    pub screen: String,
    pub at_us: i64,
    /// The edge's loss counter, on the first record after a loss.
    pub dropped: Option<i64>,
}

/// Why a message is not data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Not UTF-8 JSON, or not an object.
    Malformed,
    /// A schema version this collector does not read (older or garbage);
    /// newer versions are parked instead.
    Schema,
    /// A field missing or of the wrong type or range.
    WrongType,
    /// Larger than the collector's record limit.
    Oversize,
    /// The topic's screen or type disagrees with the record.
    TopicMismatch,
    /// A `frame` record: refused by the fleet.
    Frame,
}

impl Reason {
    pub const ALL: [Reason; 6] =
        [Reason::Malformed, Reason::Schema, Reason::WrongType, Reason::Oversize, Reason::TopicMismatch, Reason::Frame];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Schema => "schema",
            Reason::WrongType => "wrong-type",
            Reason::Oversize => "oversize",
            Reason::TopicMismatch => "topic-mismatch",
            Reason::Frame => "frame",
        }
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// One message, judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Ingested {
    Left(PersonLeft, ScreenSeen),
    Period(ContentPeriod, ScreenSeen),
    /// A person event other than `left`: acknowledged, not stored.
    Ignored(ScreenSeen),
    /// A newer schema version: kept whole in `parked`, replayable after an upgrade.
    Parked {
        version: String,
    },
    Rejected {
        reason: Reason,
        detail: String,
    },
}

/// How messages are judged.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The topic template the edges publish to (`blickfang-mqttsink`'s `topic`).
    pub topic_template: String,
    /// Payloads over this many bytes are refused (below the MQTT packet limit).
    pub max_record_bytes: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Self { topic_template: DEFAULT_TOPIC.into(), max_record_bytes: DEFAULT_MAX_RECORD_BYTES }
    }
}

/// `blickfang-mqttsink`'s default topic.
pub const DEFAULT_TOPIC: &str = "blickfang/{screen}/{type}";
/// The largest valid record is a `left` event with many shares (the schema allows 1024 of
/// about 300 bytes each): 512 KiB leaves room; the MQTT packet limit is set above it.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 512 * 1024;

/// The MQTT subscription filter of a topic template: `{screen}` and `{type}` as `+`.
pub fn topic_filter(template: &str) -> String {
    template.replace("{screen}", "+").replace("{type}", "+")
}

fn reject(reason: Reason, detail: impl Into<String>) -> Ingested {
    Ingested::Rejected { reason, detail: detail.into() }
}

/// Judges one message.
pub fn ingest(topic: &str, payload: &[u8], rules: &Rules) -> Ingested {
    judge(Some(topic), payload, rules, None).0
}

/// File mode (`blickfang report --records`): one line of a records file,
/// judged as [`ingest`] judges a message but without the topic check (a file
/// has no topic). A record without `utc` (metajson writes none for a file
/// source) is placed at `start_us` + its running time when `start_us` is
/// given; the second value says it was.
pub fn ingest_line(line: &[u8], rules: &Rules, start_us: Option<i64>) -> (Ingested, bool) {
    judge(None, line, rules, start_us)
}

fn judge(topic: Option<&str>, payload: &[u8], rules: &Rules, start_us: Option<i64>) -> (Ingested, bool) {
    let placed = std::cell::Cell::new(false);
    let i = judge_in(topic, payload, rules, start_us, &placed);
    (i, placed.get())
}

fn judge_in(
    topic: Option<&str>,
    payload: &[u8],
    rules: &Rules,
    start_us: Option<i64>,
    placed: &std::cell::Cell<bool>,
) -> Ingested {
    if payload.len() > rules.max_record_bytes {
        return reject(Reason::Oversize, format!("{} bytes, the limit is {}", payload.len(), rules.max_record_bytes));
    }
    // PostgreSQL text cannot hold NUL: refused here, not by the transaction.
    if payload.windows(6).any(|w| w == b"\\u0000") {
        return reject(Reason::WrongType, "a string holds NUL (\\u0000)");
    }
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return reject(Reason::Malformed, e.to_string()),
    };
    let Value::Object(m) = value else { return reject(Reason::Malformed, "not a JSON object") };
    match m.get("schema").and_then(Value::as_str) {
        Some(SCHEMA) => {}
        Some(v) if is_newer(v) => return Ingested::Parked { version: v.to_string() },
        Some(v) => return reject(Reason::Schema, format!("schema {v:?}, this collector reads {SCHEMA}")),
        None => return reject(Reason::Schema, "no schema field"),
    }
    match parse(topic, &m, rules, start_us, placed) {
        Ok(i) => i,
        Err((reason, detail)) => reject(reason, detail),
    }
}

/// `blickfang/N` with N above ours.
fn is_newer(version: &str) -> bool {
    let ours: u32 = SCHEMA.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    version.strip_prefix("blickfang/").and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n > ours)
}

type Failure = (Reason, String);

fn wrong(detail: impl Into<String>) -> Failure {
    (Reason::WrongType, detail.into())
}

fn string<'a>(m: &'a Map<String, Value>, name: &str, max: usize) -> Result<&'a str, Failure> {
    let s = m.get(name).and_then(Value::as_str).ok_or_else(|| wrong(format!("{name}: not a string")))?;
    if s.is_empty() || s.chars().count() > max {
        return Err(wrong(format!("{name}: empty or longer than {max} characters")));
    }
    Ok(s)
}

fn opt_string(m: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= MAX_SHORT_LEN => Ok(Some(s.clone())),
        Some(_) => Err(wrong(format!("{name}: not a short string"))),
    }
}

fn seconds(m: &Map<String, Value>, name: &str) -> Result<f64, Failure> {
    let v = m.get(name).and_then(Value::as_f64).ok_or_else(|| wrong(format!("{name}: not a number")))?;
    if !v.is_finite() || !(0.0..1e9).contains(&v) {
        return Err(wrong(format!("{name}: {v} out of range")));
    }
    Ok(v)
}

fn count(m: &Map<String, Value>, name: &str) -> Result<Option<i64>, Failure> {
    match m.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| i64::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| wrong(format!("{name}: not a count"))),
    }
}

/// Seconds as integer microseconds: sums of these are exact in any order.
pub fn micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

fn parse(
    topic: Option<&str>,
    m: &Map<String, Value>,
    rules: &Rules,
    start_us: Option<i64>,
    placed: &std::cell::Cell<bool>,
) -> Result<Ingested, Failure> {
    let kind = string(m, "type", MAX_SHORT_LEN)?;
    let screen = string(m, "screen", MAX_STRING_LEN)?;
    let expected = blickfang::spool::topic(&rules.topic_template, screen, kind);
    if let Some(topic) = topic
        && topic != expected
    {
        return Err((Reason::TopicMismatch, format!("record of screen {screen:?} ({kind}) expects topic {expected}")));
    }
    let run = string(m, "run", MAX_RUN_LEN)?;
    let seq = count(m, "seq")?.ok_or_else(|| wrong("seq: missing"))?;
    let key = Key { screen: screen.to_string(), run: run.to_string(), seq };
    let dropped = count(m, "dropped")?;
    match kind {
        "frame" => return Err((Reason::Frame, "frame records are not collected".into())),
        "person-event" | "content-report" => {}
        other => return Err(wrong(format!("type {other:?} unknown"))),
    }
    // Only records placed in wall-clock time can be rolled up by hour.
    let (utc_us, running_time) = match (m.get("utc"), start_us) {
        // File mode, a record without wall clock: placed at start + running time.
        (None, Some(start)) => {
            placed.set(true);
            let rt = seconds(m, "running_time").unwrap_or(0.0);
            (start + micros(rt), rt)
        }
        (utc, _) => {
            let utc = utc.and_then(Value::as_str).ok_or_else(|| wrong("utc: missing (metajson utc=true)"))?;
            let utc_us = parse_utc(utc).ok_or_else(|| wrong(format!("utc: {utc:?} is not RFC 3339 UTC")))?;
            (utc_us, seconds(m, "running_time")?)
        }
    };
    let wall = |t: f64| utc_us - micros(running_time - t);
    let seen = ScreenSeen { screen: key.screen.clone(), at_us: utc_us, dropped };
    if kind == "person-event" {
        let event = string(m, "event", MAX_SHORT_LEN)?;
        if event != "left" {
            return Ok(Ingested::Ignored(seen));
        }
        let glances = count(m, "glances")?.unwrap_or(0);
        let contents = match m.get("contents") {
            None => Vec::new(),
            Some(Value::Array(a)) if a.len() <= MAX_SHARES => a
                .iter()
                .map(|s| {
                    let s = s.as_object().ok_or_else(|| wrong("contents: not objects"))?;
                    let (start, end) = (seconds(s, "start")?, seconds(s, "end")?);
                    Ok(Share {
                        content_id: string(s, "content_id", MAX_STRING_LEN)?.to_string(),
                        start_us: wall(start),
                        end_us: wall(end),
                        dwell_us: micros(seconds(s, "dwell_time")?),
                        attention_us: micros(seconds(s, "attention_time")?),
                    })
                })
                .collect::<Result<_, Failure>>()?,
            Some(_) => return Err(wrong("contents: not an array of at most 1024 shares")),
        };
        let left = PersonLeft {
            key,
            at_us: utc_us,
            dwell_us: micros(seconds(m, "dwell_time")?),
            attention_us: micros(seconds(m, "attention_time")?),
            glances: i32::try_from(glances).map_err(|_| wrong("glances: too large"))?,
            gender: opt_string(m, "gender")?,
            age_group: opt_string(m, "age_group")?,
            ending: opt_string(m, "ending")?,
            contents,
        };
        return Ok(Ingested::Left(left, seen));
    }
    let (start, end) = (seconds(m, "start")?, seconds(m, "end")?);
    if end < start {
        return Err(wrong("end before start"));
    }
    let mut report = Map::new();
    for name in ["dwell_histogram", "attention_histogram", "demographics", "suppressed", "conversion"] {
        if let Some(v) = m.get(name) {
            report.insert(name.into(), v.clone());
        }
    }
    let period = ContentPeriod {
        key,
        content_id: string(m, "content_id", MAX_STRING_LEN)?.to_string(),
        start_us: wall(start),
        end_us: wall(end),
        ending: opt_string(m, "ending")?,
        min_group_size: count(m, "min_group_size")?,
        ots: count(m, "ots")?,
        watchers: count(m, "watchers")?,
        report: Value::Object(report).to_string(),
    };
    Ok(Ingested::Period(period, seen))
}

/// A record's `utc` (`YYYY-MM-DDTHH:MM:SS[.fff...]Z`, seconds required) as µs since the epoch.
pub fn parse_utc(s: &str) -> Option<i64> {
    (s.len() >= 20).then(|| blickfang::time::parse_us(s)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use blickfang::records::{RecordBuilder, RecordType, Timing};
    use blickfang::time::utc_rfc3339;
    use serde_json::json;

    fn left_line(screen: &str) -> String {
        let mut b = RecordBuilder::new(screen, "run-1", None);
        let t = Timing { pts: None, running_time: Some(100.0), utc: Some("2026-11-02T08:01:40.000Z".into()) };
        let fields = json!({"event": "left", "id": 3, "dwell_time": 12.5, "attention_time": 4.0, "glances": 2,
            "gender": "female", "age_group": "25-34", "ending": "normal",
            "contents": [{"content_id": "ad-1", "start": 87.5, "end": 95.0, "dwell_time": 7.5, "attention_time": 4.0},
                         {"content_id": "ad-2", "start": 95.0, "end": 100.0, "dwell_time": 5.0, "attention_time": 0.0}]});
        b.event(RecordType::PersonEvent, &t, fields.as_object().unwrap()).to_string()
    }

    #[test]
    fn utc_round_trips() {
        for ns in [0i128, 1_709_251_199_999_000_000, 1_793_606_400_123_000_000] {
            assert_eq!(parse_utc(&utc_rfc3339(ns)), Some((ns / 1000) as i64));
        }
        assert_eq!(parse_utc("2026-11-02T08:00:00Z"), Some(1_793_606_400_000_000));
        assert_eq!(parse_utc("2026-11-02T08:00:00.5Z"), Some(1_793_606_400_500_000));
        for bad in
            ["", "2026-11-02 08:00:00Z", "2026-13-02T08:00:00Z", "2026-11-02T08:00:00+01:00", "2026-11-02T08:00:00."]
        {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_left_event_with_shares_in_wall_clock() {
        let rules = Rules::default();
        let line = left_line("store-1/screen-2");
        let topic = blickfang::spool::topic(DEFAULT_TOPIC, "store-1/screen-2", "person-event");
        assert_eq!(topic, "blickfang/store-1_screen-2/person-event");
        let Ingested::Left(l, seen) = ingest(&topic, line.as_bytes(), &rules) else { panic!("{line}") };
        let t0 = parse_utc("2026-11-02T08:01:40.000Z").unwrap();
        assert_eq!(l.key, Key { screen: "store-1/screen-2".into(), run: "run-1".into(), seq: 0 });
        assert_eq!((l.at_us, l.dwell_us, l.attention_us, l.glances), (t0, 12_500_000, 4_000_000, 2));
        assert_eq!(l.contents[0].start_us, t0 - 12_500_000, "wall(t) = utc - (running_time - t)");
        assert_eq!(l.contents[1].end_us, t0);
        assert_eq!(seen.screen, "store-1/screen-2");
    }

    #[test]
    fn rejections_by_reason() {
        let rules = Rules { max_record_bytes: 2000, ..Rules::default() };
        let topic = "blickfang/s/person-event";
        let line = left_line("s");
        let reason = |topic: &str, payload: &[u8]| match ingest(topic, payload, &rules) {
            Ingested::Rejected { reason, .. } => Some(reason),
            _ => None,
        };
        assert_eq!(reason(topic, line.as_bytes()), None);
        assert_eq!(reason(topic, b"{not json"), Some(Reason::Malformed));
        assert_eq!(reason(topic, b"[1,2]"), Some(Reason::Malformed));
        assert_eq!(reason(topic, &[0xff, 0xfe]), Some(Reason::Malformed));
        assert_eq!(reason("blickfang/other/person-event", line.as_bytes()), Some(Reason::TopicMismatch));
        assert_eq!(reason("blickfang/s/content-report", line.as_bytes()), Some(Reason::TopicMismatch));
        let old = line.replace("blickfang/2", "blickfang/1");
        assert_eq!(reason(topic, old.as_bytes()), Some(Reason::Schema));
        let newer = line.replace("blickfang/2", "blickfang/3");
        assert_eq!(ingest(topic, newer.as_bytes(), &rules), Ingested::Parked { version: "blickfang/3".into() });
        let typed = line.replace("\"dwell_time\":12.5", "\"dwell_time\":\"long\"");
        assert_eq!(reason(topic, typed.as_bytes()), Some(Reason::WrongType));
        let neg = line.replace("\"seq\":0", "\"seq\":-1");
        assert_eq!(reason(topic, neg.as_bytes()), Some(Reason::WrongType));
        let no_utc = line.replace("\"utc\":\"2026-11-02T08:01:40.000Z\",", "");
        assert_eq!(reason(topic, no_utc.as_bytes()), Some(Reason::WrongType));
        let big = format!("{}{}", line, " ".repeat(2000));
        assert_eq!(reason(topic, big.as_bytes()), Some(Reason::Oversize));
        let nul = line.replace("female", "fe\\u0000male");
        assert_eq!(reason(topic, nul.as_bytes()), Some(Reason::WrongType));
        let mut b = RecordBuilder::new("s", "r", None);
        let t = Timing { pts: None, running_time: Some(1.0), utc: Some("2026-11-02T08:00:00.000Z".into()) };
        let frame = b.frame(&t, Default::default(), vec![]).to_string();
        assert_eq!(reason("blickfang/s/frame", frame.as_bytes()), Some(Reason::Frame));
        let appeared = b
            .event(RecordType::PersonEvent, &t, json!({"event": "appeared", "id": 1}).as_object().unwrap())
            .to_string();
        assert!(matches!(ingest(topic, appeared.as_bytes(), &rules), Ingested::Ignored(_)));
    }

    #[test]
    fn file_mode_has_no_topic_and_places_records_without_utc() {
        let rules = Rules::default();
        let line = left_line("store-1/screen-2");
        let (Ingested::Left(l, _), false) = ingest_line(line.as_bytes(), &rules, None) else { panic!("{line}") };
        assert_eq!(l.contents[0].start_us, parse_utc("2026-11-02T08:01:40.000Z").unwrap() - 12_500_000);
        let no_utc = line.replace("\"utc\":\"2026-11-02T08:01:40.000Z\",", "");
        assert!(matches!(ingest_line(no_utc.as_bytes(), &rules, None).0, Ingested::Rejected { .. }));
        let (Ingested::Left(l, _), true) = ingest_line(no_utc.as_bytes(), &rules, Some(3_600_000_000)) else {
            panic!()
        };
        assert_eq!(l.contents[0].start_us, 3_600_000_000 + 87_500_000, "start + running time");
    }

    #[test]
    fn a_content_report_is_a_period() {
        let mut b = RecordBuilder::new("s", "r", None);
        let t = Timing { pts: None, running_time: Some(30.0), utc: Some("2026-11-02T08:00:30.000Z".into()) };
        let fields = json!({"content_id": "ad-9", "start": 10.0, "end": 30.0, "ending": "normal",
            "min_group_size": 5, "watchers": 0, "dwell_histogram": [0, -1], "suppressed": ["ots"]});
        let line = b.event(RecordType::ContentReport, &t, fields.as_object().unwrap()).to_string();
        let Ingested::Period(p, _) = ingest("blickfang/s/content-report", line.as_bytes(), &Rules::default()) else {
            panic!()
        };
        let t0 = parse_utc("2026-11-02T08:00:30.000Z").unwrap();
        assert_eq!((p.start_us, p.end_us, p.ots, p.watchers), (t0 - 20_000_000, t0, None, Some(0)));
        assert!(p.report.contains("suppressed"));
        assert_eq!(topic_filter(DEFAULT_TOPIC), "blickfang/+/+");
    }
}
