//! The records input: a `metajson` file (`blickfang/2` NDJSON, one screen or
//! many) made into [`ReportCell`]s — the same cells the fleet's hourly rollup
//! holds, by the same rules, in one function ([`cells_from_records`]).
//!
//! - a `left` person event's `contents` are its person-content shares: a
//!   share of at least `min_dwell` seconds is an OTS, one with at least
//!   `min_attention` seconds of attention a watcher;
//! - a `content-report` is a play (proof of play: `content_id`, `start`,
//!   `end`); its k-suppressed audience counts are **not** used (they cannot
//!   be summed), so a file without `left` events has no audience to report;
//! - a share or play counts in the UTC hour in which it started: the wall
//!   clock of running time `t` in a record is `utc - (running_time - t)`;
//!   a record without `utc` (a file source) is placed at
//!   [`RecordOptions::start`] + `t` (default 1970-01-01T00:00Z), and the
//!   report says so;
//! - a record seen twice (same screen, run, seq: QoS 1 redelivery) counts once.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use blickfang::dwell::DwellConfig;
use blickfang::records::SCHEMA;
use serde_json::Value;

use crate::model::{Counts, ReportCell};
use blickfang::time;

/// How records become cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordOptions {
    /// gazedwell's `min-dwell`: a shorter share is no OTS.
    pub min_dwell: f64,
    /// gazedwell's `min-attention`: the attention that makes a watcher.
    pub min_attention: f64,
    /// Unix seconds of running time 0 for records without `utc`.
    pub start: f64,
}

impl Default for RecordOptions {
    fn default() -> Self {
        let d = DwellConfig::default();
        Self { min_dwell: d.min_dwell, min_attention: d.min_attention, start: 0.0 }
    }
}

/// The cells of a records file and what went into them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordCells {
    /// Sorted by screen, content, hour.
    pub cells: Vec<ReportCell>,
    pub records: usize,
    /// Records seen before (same screen, run and seq), skipped.
    pub duplicates: usize,
    pub left_events: usize,
    pub content_reports: usize,
    /// `left` events and content reports without `utc`, placed from [`RecordOptions::start`].
    pub without_utc: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("line {line}: {source}")]
    Io { line: usize, source: std::io::Error },
    #[error("line {line}: not JSON: {source}")]
    Json { line: usize, source: serde_json::Error },
    #[error("line {line}: schema {found:?}, this version reads {SCHEMA}")]
    Version { line: usize, found: String },
    #[error("line {line}: {what}")]
    Field { line: usize, what: String },
    #[error(
        "the records hold {0} content reports but no `left` person events: the audience cannot be reported from \
         content reports (they are k-suppressed at the edge); write person events too (metajson mode=all)"
    )]
    NoPersonEvents(usize),
}

/// The cells of the records in `input` (NDJSON).
pub fn cells_from_records(input: impl BufRead, opts: &RecordOptions) -> Result<RecordCells, RecordError> {
    let mut out = RecordCells::default();
    let mut seen: HashSet<(String, String, u64)> = HashSet::new();
    let mut cells: HashMap<(String, String, i64), Counts> = HashMap::new();
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let line = line.map_err(|source| RecordError::Io { line: line_no, source })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|source| RecordError::Json { line: line_no, source })?;
        let field = |what: &str| RecordError::Field { line: line_no, what: what.to_string() };
        let found = v.get("schema").and_then(Value::as_str).unwrap_or_default();
        if found != SCHEMA {
            return Err(RecordError::Version { line: line_no, found: found.to_string() });
        }
        out.records += 1;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
        let is_left = kind == "person-event" && v.get("event").and_then(Value::as_str) == Some("left");
        if !is_left && kind != "content-report" {
            continue;
        }
        let screen = v.get("screen").and_then(Value::as_str).ok_or_else(|| field("no `screen`"))?;
        let run = v.get("run").and_then(Value::as_str).ok_or_else(|| field("no `run`"))?;
        let seq = v.get("seq").and_then(Value::as_u64).ok_or_else(|| field("no `seq`"))?;
        if !seen.insert((screen.to_string(), run.to_string(), seq)) {
            out.duplicates += 1;
            continue;
        }
        // The wall clock (Unix seconds) of running time t in this record.
        let running_time = v.get("running_time").and_then(Value::as_f64);
        let utc = match v.get("utc").and_then(Value::as_str) {
            Some(s) => Some(time::parse(s).ok_or_else(|| field(&format!("`utc` {s:?} is not RFC 3339")))?),
            None => None,
        };
        if utc.is_none() {
            out.without_utc += 1;
        }
        let wall = |t: f64| match utc {
            Some(u) => u - (running_time.unwrap_or(t) - t),
            None => opts.start + t,
        };
        let hour = |t: f64| (wall(t) / 3600.0).floor() as i64 * 3600;
        let num = |o: &Value, name: &str| {
            o.get(name).and_then(Value::as_f64).ok_or_else(|| field(&format!("no number `{name}`")))
        };
        if is_left {
            out.left_events += 1;
            let gender = v.get("gender").and_then(Value::as_str).unwrap_or("unknown");
            let age_group = v.get("age_group").and_then(Value::as_str).unwrap_or("unknown");
            let contents = v.get("contents").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for share in contents {
                let content =
                    share.get("content_id").and_then(Value::as_str).ok_or_else(|| field("no `content_id`"))?;
                let (start, dwell, attention) =
                    (num(share, "start")?, num(share, "dwell_time")?, num(share, "attention_time")?);
                if dwell < opts.min_dwell {
                    continue;
                }
                let counts = cells.entry((screen.to_string(), content.to_string(), hour(start))).or_default();
                counts.add_person(dwell, attention, attention >= opts.min_attention, gender, age_group);
            }
        } else {
            out.content_reports += 1;
            let content = v.get("content_id").and_then(Value::as_str).ok_or_else(|| field("no `content_id`"))?;
            let (start, end) = (num(&v, "start")?, num(&v, "end")?);
            let counts = cells.entry((screen.to_string(), content.to_string(), hour(start))).or_default();
            counts.plays += 1;
            counts.on_screen_time += (end - start).max(0.0);
        }
    }
    if out.left_events == 0 && out.content_reports > 0 {
        return Err(RecordError::NoPersonEvents(out.content_reports));
    }
    let mut list: Vec<ReportCell> = cells
        .into_iter()
        .map(|((screen, content_id, hour), counts)| ReportCell { screen, content_id, hour, counts })
        .collect();
    list.sort_by(|a, b| (&a.screen, &a.content_id, a.hour).cmp(&(&b.screen, &b.content_id, b.hour)));
    out.cells = list;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn left(seq: u64, utc: Option<&str>, rt: f64, contents: Value) -> String {
        let mut v = json!({"schema": SCHEMA, "type": "person-event", "screen": "s1", "run": "r", "seq": seq,
            "running_time": rt, "event": "left", "id": 1, "dwell_time": 9.0, "attention_time": 3.0, "glances": 1,
            "gender": "female", "age_group": "20-29", "contents": contents, "ending": "normal"});
        if let Some(u) = utc {
            v["utc"] = u.into();
        }
        v.to_string()
    }

    #[test]
    fn shares_count_in_the_hour_they_started() {
        let contents = json!([
            {"content_id": "a", "start": 100.0, "end": 104.0, "dwell_time": 4.0, "attention_time": 2.0},
            {"content_id": "b", "start": 104.0, "end": 104.5, "dwell_time": 0.5, "attention_time": 0.5},
            {"content_id": "b", "start": 104.5, "end": 109.0, "dwell_time": 4.5, "attention_time": 0.5}
        ]);
        // Left at running time 110 = 2026-11-02T10:00:08Z: share a started at 09:59:58, the second b at 10:00:02.5.
        let line = left(0, Some("2026-11-02T10:00:08.000Z"), 110.0, contents);
        let report = json!({"schema": SCHEMA, "type": "content-report", "screen": "s1", "run": "r", "seq": 1,
            "utc": "2026-11-02T10:00:05.000Z", "running_time": 110.0, "content_id": "a", "start": 100.0, "end": 104.0,
            "min_group_size": 5, "ending": "normal"});
        let text = format!("{line}\n{report}\n{line}\n");
        let r = cells_from_records(text.as_bytes(), &RecordOptions::default()).unwrap();
        assert_eq!((r.records, r.duplicates, r.left_events, r.content_reports), (3, 1, 1, 1));
        let day = time::days_from_civil(2026, 11, 2) * 86_400;
        let a = &r.cells[0];
        assert_eq!((a.content_id.as_str(), a.hour), ("a", day + 9 * 3600));
        assert_eq!((a.counts.ots, a.counts.watchers, a.counts.plays), (1, 1, 1));
        let b = &r.cells[1];
        assert_eq!((b.content_id.as_str(), b.hour), ("b", day + 10 * 3600));
        assert_eq!((b.counts.ots, b.counts.watchers), (1, 0), "the 0.5 s share is no OTS, 0.5 s looking no watcher");
        assert_eq!(b.counts.demographics.get(&("female".into(), "20-29".into())), Some(&1));
    }

    #[test]
    fn without_utc_the_start_option_places_records() {
        let contents = json!([{"content_id": "a", "start": 7300.0, "end": 7310.0, "dwell_time": 10.0,
            "attention_time": 0.0}]);
        let opts = RecordOptions { start: 3600.0, ..Default::default() };
        let r = cells_from_records(left(0, None, 7310.0, contents).as_bytes(), &opts).unwrap();
        assert_eq!((r.without_utc, r.cells[0].hour), (1, 3 * 3600));
    }

    #[test]
    fn bad_input_is_named() {
        let old = r#"{"schema":"blickfang/1","type":"frame"}"#;
        assert!(matches!(
            cells_from_records(old.as_bytes(), &RecordOptions::default()),
            Err(RecordError::Version { line: 1, .. })
        ));
        let only_reports = json!({"schema": SCHEMA, "type": "content-report", "screen": "s", "run": "r", "seq": 0,
            "content_id": "a", "start": 0.0, "end": 1.0, "min_group_size": 5, "ending": "eos"});
        assert!(matches!(
            cells_from_records(only_reports.to_string().as_bytes(), &RecordOptions::default()),
            Err(RecordError::NoPersonEvents(1))
        ));
    }
}
