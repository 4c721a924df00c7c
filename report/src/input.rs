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

use std::collections::{BTreeMap, BTreeSet, HashSet};
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
            on_screen_us: c.on_screen_us,
            ots: n(c.ots),
            watchers: n(c.watchers),
            attention_us: c.attention_us,
            watcher_attention_us: c.watcher_attention_us,
            dwell_us: c.dwell_us,
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
/// `filter`: the daily one where `daily` (see [`daily_suffices`]), else the
/// hourly one, cell by cell (screen × content × hour or day).
pub fn rollup_from_database(url: &str, filter: &Filter, daily: bool) -> anyhow::Result<Rollup> {
    use anyhow::Context;
    with_client(url, async |client| {
        Ok(if daily {
            blickfang_fleet::db::read_rollup_daily_where(client, &rollup_filter(filter))
                .await
                .context("cannot read the daily rollup (rollup_daily): has `blickfang collect` created it?")?
        } else {
            blickfang_fleet::db::read_rollup_where(client, &rollup_filter(filter))
                .await
                .context("cannot read the hourly rollup (rollup_hourly): has `blickfang collect` created it?")?
        })
    })
}

fn with_client<T>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> anyhow::Result<T>) -> anyhow::Result<T> {
    use anyhow::Context;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .with_context(|| format!("cannot connect to the database {}", redact_url(url)))?;
        let conn = tokio::spawn(conn);
        let r = f(&client).await;
        drop(client);
        let _ = conn.await;
        r
    })
}

/// What `blickfang report --database` reads: the rollup summed by PostgreSQL
/// to the report's grain, and the screens it covers.
#[derive(Debug, Clone, Default)]
pub struct DatabaseRollup {
    /// One cell per content item × hour (or UTC day, see [`daily_suffices`])
    /// × screen where the report groups by screen or store, else × time zone
    /// of the catalogue (UTC for screens it does not name). Each cell's key
    /// names one of its screens (the first), whose catalogue entry gives the
    /// cell's time zone.
    pub rollup: Rollup,
    /// Every screen with a cell in the period and filters.
    pub screens: BTreeSet<String>,
}

/// The rows of the rollup that `filter` selects, summed in PostgreSQL by
/// what the report can tell apart (see [`DatabaseRollup::rollup`]): every
/// count is a sum of integers, so the report made from these cells is the
/// one made from the cells one by one, and k-anonymity sees the same people
/// in every group. Hours, days and weekdays stay local to each screen: cells
/// keep the UTC hour and their screens' time zone (jiff places them).
pub fn cells_from_database(
    url: &str,
    by: &[Dimension],
    filter: &Filter,
    catalogue: &Catalogue,
    daily: bool,
) -> anyhow::Result<DatabaseRollup> {
    use anyhow::Context;
    let (table, time) = if daily { ("rollup_daily", "day") } else { ("rollup_hourly", "hour") };
    // What separates cells besides content and time: the screen, else its time zone (ids by first appearance).
    let per_screen = by.iter().any(|&d| crate::model::depends_on_screen(d));
    let (mut zone_screens, mut zone_ids, mut zones) = (Vec::new(), Vec::new(), Vec::<String>::new());
    if !per_screen {
        let mut named: Vec<(&String, &crate::model::ScreenInfo)> =
            catalogue.screens.iter().filter(|(_, s)| !s.is_utc()).collect();
        named.sort_by_key(|(id, _)| *id);
        for (id, info) in named {
            let zone = match (info.time_zone.iana_name(), info.time_zone.to_fixed_offset()) {
                (Some(name), _) => name.to_string(),
                (None, Ok(o)) => format!("{o}"),
                (None, Err(_)) => format!("screen {id}"),
            };
            let n = zones.iter().position(|z| *z == zone).unwrap_or_else(|| {
                zones.push(zone);
                zones.len() - 1
            });
            zone_screens.push(id.clone());
            zone_ids.push(n as i32);
        }
    }
    let (group, join) = if per_screen {
        ("r.screen", "")
    } else if zones.is_empty() {
        ("''::text", "")
    } else {
        (
            "coalesce(z.zone, -1)::text",
            "LEFT JOIN unnest($3::text[], $4::int4[]) AS z(screen, zone) ON z.screen = r.screen",
        )
    };
    // Screen patterns: exact ids and prefixes (a trailing `*`), as Filter::accepts reads them.
    let (prefixes, exact): (Vec<String>, Vec<String>) = filter.screens.iter().cloned().partition(|p| p.ends_with('*'));
    let prefixes: Vec<String> = prefixes.iter().map(|p| p[..p.len() - 1].to_string()).collect();
    let condition = |t: &str| {
        let mut c = vec!["true".to_string()];
        // The report's own bounds (Filter::accepts on the cell's hour), not rounded to hours.
        if let Some(f) = filter.from {
            c.push(format!("r.{t} >= to_timestamp({f})"));
        }
        if let Some(to) = filter.to {
            c.push(format!("r.{t} < to_timestamp({to})"));
        }
        if !filter.screens.is_empty() {
            c.push(
                "(r.screen = ANY($1::text[]) OR EXISTS (SELECT 1 FROM unnest($2::text[]) p WHERE starts_with(r.screen, p)))"
                    .into(),
            );
        }
        if !filter.contents.is_empty() {
            c.push("r.content_id = ANY($5::text[])".into());
        }
        c.join(" AND ")
    };
    // The UTC day of an hour: date_bin is integer arithmetic (date_trunc in a zone is not).
    let bucket = if daily { "date_bin('1 day', r.hour, 'epoch')" } else { "r.hour" };
    // Every parameter is named in each statement (unused ones too, as `$n IS NOT NULL`), so their types are known.
    let params = "($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[]) IS NOT NULL";
    // Grouped by the raw time column (extract per group, not per row); no per-row min(screen): a cell's
    // screen is found from the screens' list.
    let cells_sql = format!(
        "SELECT {group}, r.content_id, r.{time},
                sum(plays)::int8, sum(on_screen_us)::int8, sum(ots)::int8, sum(watchers)::int8, sum(dwell_us)::int8,
                sum(attention_us)::int8, sum(watcher_attention_us)::int8,
                sum(dwell_h0)::int8, sum(dwell_h1)::int8, sum(dwell_h2)::int8, sum(dwell_h3)::int8,
                sum(dwell_h4)::int8, sum(dwell_h5)::int8, sum(attention_h0)::int8, sum(attention_h1)::int8,
                sum(attention_h2)::int8, sum(attention_h3)::int8, sum(attention_h4)::int8, sum(attention_h5)::int8
         FROM {table} r {join} WHERE {} AND {params} GROUP BY 1, 2, 3",
        condition(time)
    );
    // Gender × age group by UTC day wherever the report's days are UTC days (see `daily_suffices`; the
    // heatmap carries none): a tenth of the hourly rows. Else by hour, summed by day where the cells are.
    let daily_demographics = daily_suffices(by, filter, catalogue, false);
    let demographics_sql = if daily_demographics {
        format!(
            "SELECT {group}, r.content_id, r.day, r.gender, r.age_group, sum(r.ots)::int8
             FROM rollup_daily_demographics r {join} WHERE {} AND {params} GROUP BY 1, 2, 3, 4, 5",
            condition("day")
        )
    } else {
        format!(
            "SELECT {group}, r.content_id, {bucket}, r.gender, r.age_group, sum(r.ots)::int8
             FROM rollup_hourly_demographics r {join} WHERE {} AND {params} GROUP BY 1, 2, 3, 4, 5",
            condition("hour")
        )
    };
    let screens_sql = format!("SELECT DISTINCT r.screen FROM {table} r WHERE {} AND {params}", condition(time));
    let contents = filter.contents.clone();
    // A cell's group as the queries name it (see `group`).
    let group_of = |screen: &str| -> String {
        if per_screen {
            screen.to_string()
        } else if zones.is_empty() {
            String::new()
        } else {
            zone_screens.iter().position(|s| s == screen).map_or(-1, |i| zone_ids[i]).to_string()
        }
    };
    with_client(url, async |client| {
        let p: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&exact, &prefixes, &zone_screens, &zone_ids, &contents];
        let what = if daily { "the daily rollup (rollup_daily)" } else { "the hourly rollup (rollup_hourly)" };
        // The plans are cheap to run and dear to compile (JIT takes longer than the query); the demographics'
        // groups (content × hour × gender × age group) spill to disk in the default 4 MB.
        client.batch_execute("SET jit = off; SET work_mem = '64MB'").await?;
        let mut out = DatabaseRollup::default();
        for row in client
            .query(&screens_sql, &p)
            .await
            .with_context(|| format!("cannot read {what}: has `blickfang collect` created it?"))?
        {
            out.screens.insert(row.get(0));
        }
        // Each group's screen: its first (any screen of the group has the group's time zone and passes the filter).
        let mut first: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for s in &out.screens {
            first.entry(group_of(s)).or_insert_with(|| s.clone());
        }
        let hour = |t: std::time::SystemTime| {
            let us = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => d.as_micros() as i64,
                Err(e) => -(e.duration().as_micros() as i64),
            };
            us.div_euclid(US_PER_HOUR)
        };
        for row in client.query(&cells_sql, &p).await.with_context(|| format!("cannot read {what}"))? {
            let group: String = row.get(0);
            let Some(screen) = first.get(&group) else { continue };
            let key = CellKey { screen: screen.clone(), content_id: row.get(1), hour: hour(row.get(2)) };
            let c = Cell {
                plays: row.get(3),
                on_screen_us: row.get(4),
                ots: row.get(5),
                watchers: row.get(6),
                dwell_us: row.get(7),
                attention_us: row.get(8),
                watcher_attention_us: row.get(9),
                dwell_histogram: std::array::from_fn(|i| row.get(10 + i)),
                attention_histogram: std::array::from_fn(|i| row.get(16 + i)),
                demographics: BTreeMap::new(),
            };
            out.rollup.cells.insert(key, c);
        }
        // Daily counts beside hourly cells go to the day's first cell of their group and content (the report
        // sums them by day or coarser; every group with people has cells: the collector writes both in one
        // transaction).
        let mut first_hour: std::collections::HashMap<(&str, &str, i64), i64> = std::collections::HashMap::new();
        if daily_demographics && !daily {
            for k in out.rollup.cells.keys() {
                first_hour.entry((&k.screen, &k.content_id, k.hour.div_euclid(24))).or_insert(k.hour);
            }
        }
        let mut demographics: Vec<(CellKey, String, i64)> = Vec::new();
        for row in client.query(&demographics_sql, &p).await.with_context(|| {
            let table = if daily_demographics { "rollup_daily_demographics" } else { "rollup_hourly_demographics" };
            format!("cannot read the gender × age-group counts ({table}): has `blickfang collect` created it?")
        })? {
            let group: String = row.get(0);
            let Some(screen) = first.get(&group) else { continue };
            let content_id: String = row.get(1);
            let mut at = hour(row.get(2));
            if let Some(&h) = first_hour.get(&(screen.as_str(), content_id.as_str(), at.div_euclid(24))) {
                at = h;
            }
            let (g, a): (String, String) = (row.get(3), row.get(4));
            demographics.push((
                CellKey { screen: screen.clone(), content_id, hour: at },
                format!("{g}/{a}"),
                row.get(5),
            ));
        }
        drop(first_hour);
        for (key, demo, n) in demographics {
            out.rollup.cells.entry(key).or_default().demographics.insert(demo, n);
        }
        Ok(out)
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
            (a.counts.on_screen_us, a.counts.dwell_us, a.counts.attention_us),
            (4_000_000, 4_000_000, 2_000_000)
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
