//! The report's two inputs, through one aggregation core: the fleet's.
//!
//! - `--records FILE`: each line judged by the collector's own parser
//!   ([`blickfang_fleet::ingest::ingest_line`], file mode: no topic), a record
//!   seen twice (same screen, run, seq: QoS 1 redelivery) counted once, then
//!   rolled up by the collector's own arithmetic ([`blickfang_fleet::rollup`]);
//! - `--database URL`: the collector's hourly rollup, read for the period and
//!   filters ([`blickfang_fleet::db::read_rollup_where`]).
//!
//! Both give a [`Rollup`]; [`report_cells`] is the one adapter from its
//! cells (integer µs) to the report's [`ReportCell`]s (seconds). So a records
//! file and the database holding the same records make the same report.
//!
//! Rules (the rollup's): a person-content share counts in the UTC hour in
//! which it started, an OTS with at least `min_dwell`, a watcher with at
//! least `min_attention`; a content report is a play (proof of play) and its
//! k-suppressed edge counts are not used (they cannot be summed). A record
//! without `utc` (metajson on a file source) is placed at
//! [`RecordOptions::start_us`] + its running time, and the report says so.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;

use blickfang_fleet::ingest::{self, Ingested, Key, Reason, Rules};
use blickfang_fleet::rollup::{Cell, CellKey, Rollup, Thresholds, US_PER_HOUR};

use crate::model::{Catalogue, Counts, Dimension, Filter, ReportCell};

/// How records become rollup cells.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RecordOptions {
    /// gazedwell's `min-dwell` / `min-attention` (the collector's defaults).
    pub thresholds: Thresholds,
    /// µs since the epoch of running time 0, for records without `utc`.
    pub start_us: i64,
}

/// The rollup of a records file and what went into it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordRollup {
    pub rollup: Rollup,
    pub records: usize,
    /// Records seen before (same screen, run and seq), skipped.
    pub duplicates: usize,
    pub left_events: usize,
    pub content_reports: usize,
    /// Frame records and person events other than `left`: not audience data.
    pub skipped: usize,
    /// Records without `utc`, placed from [`RecordOptions::start_us`].
    pub without_utc: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("line {line}: {source}")]
    Io { line: usize, source: std::io::Error },
    #[error("line {line}: {reason}: {detail}")]
    Rejected { line: usize, reason: &'static str, detail: String },
    #[error("line {line}: schema {version} is newer than this blickfang reads ({})", blickfang::records::SCHEMA)]
    Newer { line: usize, version: String },
    #[error(
        "the records hold {0} content reports but no `left` person events: the audience cannot be reported from \
         content reports (they are k-suppressed at the edge); write person events too (metajson mode=all)"
    )]
    NoPersonEvents(usize),
}

/// The rollup of the records in `input` (NDJSON, one screen or many).
pub fn rollup_from_records(input: impl BufRead, opts: &RecordOptions) -> Result<RecordRollup, RecordError> {
    let rules = Rules::default();
    let mut out = RecordRollup::default();
    let mut seen: HashSet<Key> = HashSet::new();
    for (n, line) in input.lines().enumerate() {
        let line_no = n + 1;
        let line = line.map_err(|source| RecordError::Io { line: line_no, source })?;
        if line.trim().is_empty() {
            continue;
        }
        out.records += 1;
        let (judged, placed) = ingest::ingest_line(line.as_bytes(), &rules, Some(opts.start_us));
        match judged {
            Ingested::Left(l, _) => {
                if !seen.insert(l.key.clone()) {
                    out.duplicates += 1;
                    continue;
                }
                out.left_events += 1;
                out.without_utc += usize::from(placed);
                out.rollup.add_left(&l, &opts.thresholds);
            }
            Ingested::Period(p, _) => {
                if !seen.insert(p.key.clone()) {
                    out.duplicates += 1;
                    continue;
                }
                out.content_reports += 1;
                out.without_utc += usize::from(placed);
                out.rollup.add_period(&p);
            }
            Ingested::Ignored(_) | Ingested::Rejected { reason: Reason::Frame, .. } => out.skipped += 1,
            Ingested::Parked { version } => return Err(RecordError::Newer { line: line_no, version }),
            Ingested::Rejected { reason, detail } => {
                return Err(RecordError::Rejected { line: line_no, reason: reason.as_str(), detail });
            }
        }
    }
    if out.left_events == 0 && out.content_reports > 0 {
        return Err(RecordError::NoPersonEvents(out.content_reports));
    }
    Ok(out)
}

/// The one adapter: a rollup cell (integer µs, hours since the epoch) as the
/// report's cell (seconds, Unix seconds of the hour).
pub fn report_cell(key: &CellKey, c: &Cell) -> ReportCell {
    let s = |us: i64| us as f64 / 1e6;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let demographics = c
        .demographics
        .iter()
        .map(|(k, v)| {
            let (g, a) = k.split_once('/').unwrap_or((k.as_str(), "unknown"));
            ((g.to_string(), a.to_string()), n(*v))
        })
        .collect::<BTreeMap<_, _>>();
    ReportCell {
        screen: key.screen.clone(),
        content_id: key.content_id.clone(),
        hour: key.hour * (US_PER_HOUR / 1_000_000),
        counts: Counts {
            plays: n(c.plays),
            on_screen_time: s(c.on_screen_us),
            ots: n(c.ots),
            watchers: n(c.watchers),
            attention_time_total: s(c.attention_us),
            watcher_attention_time: s(c.watcher_attention_us),
            dwell_time_total: s(c.dwell_us),
            dwell_histogram: c.dwell_histogram.map(n),
            attention_histogram: c.attention_histogram.map(n),
            demographics,
        },
    }
}

/// Every cell of a rollup, sorted by screen, content, hour.
pub fn report_cells(rollup: &Rollup) -> Vec<ReportCell> {
    rollup.cells.iter().map(|(k, c)| report_cell(k, c)).collect()
}

/// The records file's report cells (rollup + adapter).
pub fn cells_from_records(input: impl BufRead, opts: &RecordOptions) -> Result<Vec<ReportCell>, RecordError> {
    Ok(report_cells(&rollup_from_records(input, opts)?.rollup))
}

/// The database rows a report's filter needs (the report filters again; this only avoids the scan).
pub fn rollup_filter(filter: &Filter) -> blickfang_fleet::db::RollupFilter {
    blickfang_fleet::db::RollupFilter {
        from_hour: filter.from.map(|f| f.div_euclid(3600)),
        to_hour: filter.to.map(|t| t.div_euclid(3600) + i64::from(t.rem_euclid(3600) != 0)),
        screens: filter.screens.clone(),
        contents: filter.contents.clone(),
    }
}

/// Whether a report can read the daily rollup (24 times fewer rows) instead
/// of the hourly one and come out the same: no hour in its groupings or its
/// charts (`charts`: the HTML's hour × weekday heatmap), a period of whole
/// UTC days, and every screen's days UTC days (the daily rollup's).
pub fn daily_suffices(by: &[Dimension], filter: &Filter, catalogue: &Catalogue, charts: bool) -> bool {
    let midnight = |t: Option<i64>| t.is_some_and(|t| t.rem_euclid(86_400) == 0);
    !charts
        && !by.contains(&Dimension::Hour)
        && midnight(filter.from)
        && midnight(filter.to)
        && catalogue.screens.values().all(|s| s.is_utc())
}

/// The rollup in the database at `url` (the collector's tables) for
/// `filter`: the daily one where `daily` (see [`daily_suffices`]), else the hourly one.
pub fn rollup_from_database(url: &str, filter: &Filter, daily: bool) -> anyhow::Result<Rollup> {
    use anyhow::Context;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to the database {}", redact_url(url)))?;
        let conn = tokio::spawn(conn);
        let r = if daily {
            blickfang_fleet::db::read_rollup_daily_where(&client, &rollup_filter(filter))
                .await
                .context("cannot read the daily rollup (rollup_daily): has `blickfang collect` created it?")?
        } else {
            blickfang_fleet::db::read_rollup_where(&client, &rollup_filter(filter))
                .await
                .context("cannot read the hourly rollup (rollup_hourly): has `blickfang collect` created it?")?
        };
        drop(client);
        let _ = conn.await;
        Ok(r)
    })
}

/// A database URL without its password, for messages and the report's header.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.split('?').next().unwrap_or(url).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blickfang::records::SCHEMA;
    use blickfang::time;
    use serde_json::{Value, json};

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
        let r = rollup_from_records(text.as_bytes(), &RecordOptions::default()).unwrap();
        assert_eq!((r.records, r.duplicates, r.left_events, r.content_reports), (3, 1, 1, 1));
        let cells = report_cells(&r.rollup);
        let day = time::days_from_civil(2026, 11, 2) * 86_400;
        let a = &cells[0];
        assert_eq!((a.content_id.as_str(), a.hour), ("a", day + 9 * 3600));
        assert_eq!((a.counts.ots, a.counts.watchers, a.counts.plays), (1, 1, 1));
        assert_eq!(
            (a.counts.on_screen_time, a.counts.dwell_time_total, a.counts.attention_time_total),
            (4.0, 4.0, 2.0)
        );
        let b = &cells[1];
        assert_eq!((b.content_id.as_str(), b.hour), ("b", day + 10 * 3600));
        assert_eq!((b.counts.ots, b.counts.watchers), (1, 0), "the 0.5 s share is no OTS, 0.5 s looking no watcher");
        assert_eq!(b.counts.demographics.get(&("female".into(), "20-29".into())), Some(&1));
    }

    #[test]
    fn without_utc_the_start_option_places_records() {
        let contents = json!([{"content_id": "a", "start": 7300.0, "end": 7310.0, "dwell_time": 10.0,
            "attention_time": 0.0}]);
        let opts = RecordOptions { start_us: 3_600_000_000, ..Default::default() };
        let r = rollup_from_records(left(0, None, 7310.0, contents).as_bytes(), &opts).unwrap();
        assert_eq!((r.without_utc, report_cells(&r.rollup)[0].hour), (1, 3 * 3600));
    }

    #[test]
    fn bad_input_is_named() {
        let old = r#"{"schema":"blickfang/1","type":"frame"}"#;
        let e = rollup_from_records(old.as_bytes(), &RecordOptions::default()).unwrap_err();
        assert!(matches!(e, RecordError::Rejected { line: 1, reason: "schema", .. }), "{e}");
        let only_reports = json!({"schema": SCHEMA, "type": "content-report", "screen": "s", "run": "r", "seq": 0,
            "content_id": "a", "start": 0.0, "end": 1.0, "min_group_size": 5, "ending": "eos"});
        assert!(matches!(
            rollup_from_records(only_reports.to_string().as_bytes(), &RecordOptions::default()),
            Err(RecordError::NoPersonEvents(1))
        ));
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u@h:5432/db");
    }
}
