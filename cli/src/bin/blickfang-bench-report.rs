//! `make bench-report`: the report for 1,000 screens × 30 days by content ×
//! day — build (aggregate + k-anonymity) and render HTML, CSV and JSON —
//! timed. The cells are the hourly rollup's (screen × content × hour, 12
//! open hours a day, 4 content items), made in memory (the database read is
//! `make bench-fleet`'s rollup query). Goal: < 2 s.

use std::time::Instant;

use blickfang_report::render::{Format, render};
use blickfang_report::{Catalogue, Dimension, Header, Query, ReportCell, build};

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
                    c.counts.on_screen_time = 900.0;
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

fn main() {
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
}
