//! `make bench-report`: the report for 1,000 screens × 30 days by content ×
//! day, timed. Goal: < 2 s.
//!
//! 1. In memory: build (aggregate + k-anonymity) and render HTML, CSV and
//!    JSON from cells of the hourly rollup's shape (screen × content × hour,
//!    12 open hours a day, 4 content items); then the finest grouping,
//!    screen × day (30,000 rows), timed without a goal.
//! 2. From PostgreSQL, as `blickfang report --database` runs it: a simulated
//!    fleet (`blickfang_fleet::bulk`, `BLICKFANG_BENCH_SCREENS` × `BLICKFANG_BENCH_DAYS`,
//!    default 1,000 × 30) bulk-loaded into a PostgreSQL started here, then
//!    read + build + render timed separately: CSV/JSON read the daily rollup
//!    (whole UTC days, no hour), HTML the hourly one (its hour × weekday
//!    heatmap), each summed by PostgreSQL to the report's grain
//!    ([`input::cells_from_database`]). The JSON's totals are checked against
//!    the simulated truth; with `BLICKFANG_BENCH_CELL_BY_CELL=1` each format is
//!    also made from the rollup read cell by cell, and must be the same text.
//!    `BLICKFANG_BENCH_DATABASE=URL` reuses a database loaded before.

#[path = "../../../tests/postgres/mod.rs"]
mod postgres;

use std::time::Instant;

use blickfang_fleet::bulk::{self, FleetSettings};
use blickfang_report::input;

use blickfang_report::render::{Format, render};
use blickfang_report::{Catalogue, Dimension, Filter, Header, Query, ReportCell, build};

const SCREENS: usize = 1000;
const DAYS: i64 = 30;
const CONTENTS: [&str; 4] = ["spring-sale", "coffee-promo", "new-phone", "store-info"];

fn cells() -> Vec<ReportCell> {
    let start = blickfang::time::days_from_civil(2026, 11, 1) * 86_400;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut out = Vec::with_capacity(SCREENS * DAYS as usize * 12 * CONTENTS.len());
    for s in 0..SCREENS {
        let screen = format!("store-{:03}/screen-{}", s / 4 + 1, s % 4 + 1);
        for day in 0..DAYS {
            for hour in 8..20 {
                for content in CONTENTS {
                    let mut c = ReportCell {
                        screen: screen.clone(),
                        content_id: content.into(),
                        hour: start + day * 86_400 + hour * 3600,
                        ..Default::default()
                    };
                    c.counts.plays = 3;
                    c.counts.on_screen_us = 900_000_000;
                    for _ in 0..next() % 6 {
                        let r = next();
                        let dwell = 1.0 + (r % 600) as f64 / 10.0;
                        let attention = dwell * ((r >> 10) % 100) as f64 / 100.0;
                        let g = ["female", "male", "unknown"][(r >> 20) as usize % 3];
                        let a = ["20-29", "30-39", "40-49", "unknown"][(r >> 24) as usize % 4];
                        c.counts.add_person(dwell, attention, attention >= 1.0, g, a);
                    }
                    out.push(c);
                }
            }
        }
    }
    out
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Part 2: the database read, build and render of `blickfang report --database`, timed separately.
fn from_database() -> anyhow::Result<()> {
    let settings = FleetSettings {
        screens: env_or("BLICKFANG_BENCH_SCREENS", SCREENS as u64) as usize,
        days: env_or("BLICKFANG_BENCH_DAYS", DAYS as u64) as i64,
        ..FleetSettings::default()
    };
    let t = Instant::now();
    let truth = bulk::fleet_rollup(&settings);
    let simulated = t.elapsed();
    // BLICKFANG_BENCH_DATABASE: a database this benchmark loaded before (the same settings), reused as it is.
    let reused = std::env::var("BLICKFANG_BENCH_DATABASE").ok();
    let pg = reused.is_none().then(postgres::Postgres::start);
    let url = reused.clone().unwrap_or_else(|| pg.as_ref().map(|p| p.url()).unwrap_or_default());
    if reused.is_none() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let t = Instant::now();
        rt.block_on(async {
            let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            blickfang_fleet::db::migrate(&mut client, None).await?;
            bulk::load(&client, &truth).await?;
            client.batch_execute("VACUUM ANALYZE").await?;
            anyhow::Ok(())
        })?;
        eprintln!(
            "bench-report: {} screens × {} days simulated ({} hourly cells) in {:.1?}, bulk-loaded in {:.1?}",
            settings.screens,
            settings.days,
            truth.cells.len(),
            simulated,
            t.elapsed()
        );
    }
    let from = settings.start_us / 1_000_000;
    let filter = Filter { from: Some(from), to: Some(from + settings.days * 86_400), ..Default::default() };
    let query = Query { by: vec![Dimension::Content, Dimension::Day], filter: filter.clone(), ..Default::default() };
    let catalogue = Catalogue::default();
    for format in [Format::Json, Format::Csv, Format::Html] {
        let daily = input::daily_suffices(&query.by, &filter, &catalogue, format == Format::Html);
        let mut best: Option<(f64, f64, f64, usize)> = None;
        let mut text = String::new();
        for _ in 0..3 {
            let t = Instant::now();
            let read = input::cells_from_database(&url, &query.by, &filter, &catalogue, daily)?;
            let cells = input::report_cells(&read.rollup);
            let took = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut report = build(&cells, &query, &catalogue, Header::default());
            report.screens = read.screens.into_iter().collect();
            let built = t.elapsed().as_secs_f64();
            let t = Instant::now();
            text = render(&report, format);
            let rendered = t.elapsed().as_secs_f64();
            if format == Format::Json {
                check_total(&text, &truth)?;
            }
            if best.is_none_or(|b| took + built + rendered < b.0 + b.1 + b.2) {
                best = Some((took, built, rendered, cells.len()));
            }
        }
        let (read, built, rendered, cells) = best.unwrap_or_default();
        println!(
            "bench-report: database, content × day, {format:?} from the {} rollup summed by PostgreSQL ({cells} cells): \
             read {read:.3} s, build {built:.3} s, render {rendered:.3} s; total {:.3} s (goal < 2 s; best of 3)",
            if daily { "daily" } else { "hourly" },
            read + built + rendered
        );
        if std::env::var_os("BLICKFANG_BENCH_CELL_BY_CELL").is_some() {
            // The same report from every rollup cell read one by one (how it was read before): the same text.
            let t = Instant::now();
            let rollup = input::rollup_from_database(&url, &filter, daily)?;
            let read = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let report = build(&input::report_cells(&rollup), &query, &catalogue, Header::default());
            let built = t.elapsed().as_secs_f64();
            anyhow::ensure!(render(&report, format) == text, "{format:?}: the summed cells make another report");
            println!(
                "bench-report: database, content × day, {format:?} cell by cell ({} cells): read {read:.3} s, \
                 build {built:.3} s: the same {format:?}",
                rollup.cells.len()
            );
        }
    }
    Ok(())
}

/// The JSON's total OTS and watchers equal the truth's (k = 5: the fleet's totals are never small).
fn check_total(json: &str, truth: &blickfang_fleet::rollup::Rollup) -> anyhow::Result<()> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    let mut want = (0i64, 0i64);
    truth.cells.values().for_each(|c| want = (want.0 + c.ots, want.1 + c.watchers));
    let got = (v["total"]["ots"].as_i64(), v["total"]["watchers"].as_i64());
    anyhow::ensure!(got == (Some(want.0), Some(want.1)), "report total {got:?} != truth {want:?}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let t = Instant::now();
    let cells = cells();
    eprintln!(
        "bench-report: {} cells (1,000 screens × 30 days × 12 h × 4 content) made in {:.2?}",
        cells.len(),
        t.elapsed()
    );
    let query = Query { by: vec![Dimension::Content, Dimension::Day], ..Default::default() };
    let started = Instant::now();
    let report = build(&cells, &query, &Catalogue::default(), Header::default());
    let built = started.elapsed();
    let mut sizes = Vec::new();
    let mut times = Vec::new();
    for f in [Format::Html, Format::Csv, Format::Json] {
        let t = Instant::now();
        let text = render(&report, f);
        times.push(t.elapsed());
        sizes.push(text.len());
    }
    let total = started.elapsed();
    println!(
        "bench-report: {} rows by content × day: build {:.3} s, HTML {:.3} s ({} KiB), CSV {:.3} s, JSON {:.3} s; \
         total {:.3} s (goal < 2 s)",
        report.main.rows.len(),
        built.as_secs_f64(),
        times[0].as_secs_f64(),
        sizes[0] / 1024,
        times[1].as_secs_f64(),
        times[2].as_secs_f64(),
        total.as_secs_f64()
    );
    finest_grouping(&cells);
    from_database()
}

/// The finest grouping at fleet scale, a row per screen and day (30,000 rows): every chart's
/// protection is linked to that table (report/src/kanon.rs). Timed, no goal.
fn finest_grouping(cells: &[ReportCell]) {
    let query = Query { by: vec![Dimension::Screen, Dimension::Day], ..Default::default() };
    let started = Instant::now();
    let report = build(cells, &query, &Catalogue::default(), Header::default());
    let built = started.elapsed();
    let t = Instant::now();
    let json = render(&report, Format::Json);
    println!(
        "bench-report: {} rows by screen × day: build {:.3} s, JSON {:.3} s ({} KiB)",
        report.main.rows.len(),
        built.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        json.len() / 1024
    );
}
