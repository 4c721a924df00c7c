//! `blickfang report` end to end, as a user runs it: the simulator's records
//! file (`blickfang simulate --records --truth`) → `blickfang report
//! --records ... --format json` equals the truth aggregated the same way (by
//! content; by screen × day); and the same records through PostgreSQL (the
//! collector's batch write into a real server) → `blickfang report
//! --database` make the identical JSON, CSV too.

mod common;
mod postgres;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use blickfang_fleet::db::{self, Judged};
use blickfang_fleet::ingest::{self, Rules};
use blickfang_fleet::rollup::{Rollup, Thresholds};
use serde_json::Value;

fn blickfang(args: &[&str]) -> String {
    let out = Command::new(common::blickfang_binary_path()).args(args).output().expect("blickfang runs");
    assert!(out.status.success(), "blickfang {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn simulate(dir: &Path) -> (String, Rollup) {
    let (records, truth) = (dir.join("fleet.ndjson"), dir.join("truth.json"));
    blickfang(&[
        "simulate",
        "--screens",
        "20",
        "--duration",
        "1d",
        "--seed",
        "7",
        "--records",
        records.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    (records.to_str().unwrap().to_string(), Rollup::from_json(&truth).unwrap())
}

/// The truth summed by `key` (integer µs: exact), as the report's rows.
fn truth_by(
    truth: &Rollup,
    key: impl Fn(&blickfang_fleet::rollup::CellKey) -> Vec<String>,
) -> BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell> {
    let mut out: BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell> = BTreeMap::new();
    for (k, c) in &truth.cells {
        out.entry(key(k)).or_default().add(c);
    }
    out
}

/// Every published number of `row` equals the truth cell's, to the published precision.
fn assert_row(what: &str, row: &Value, t: &blickfang_fleet::rollup::Cell, demographics: &[Value]) {
    let secs = |us: i64| us as f64 / 1e6;
    let near = |name: &str, want: f64, unit: f64| {
        let got = row[name].as_f64().unwrap_or_else(|| panic!("{what} {name}: {}", row[name]));
        assert!((got - want).abs() <= unit / 2.0 + 1e-9, "{what} {name}: {got}, truth {want}");
    };
    assert_eq!(row["plays"], t.plays, "{what} plays");
    assert_eq!(row["ots"], t.ots, "{what} ots");
    assert_eq!(row["watchers"], t.watchers, "{what} watchers");
    near("on_screen_time", secs(t.on_screen_us), 0.1);
    near("attention_time_total", secs(t.attention_us), 0.1);
    if t.ots > 0 {
        near("conversion", t.watchers as f64 / t.ots as f64, 0.001);
        near("dwell_time_mean", secs(t.dwell_us) / t.ots as f64, 0.1);
        near("attraction", t.attention_us as f64 / t.dwell_us as f64, 0.001);
    }
    if t.watchers > 0 {
        near("attention_time_mean", secs(t.watcher_attention_us) / t.watchers as f64, 0.1);
    }
    assert_eq!(row["dwell_histogram"], serde_json::json!(t.dwell_histogram), "{what} dwell_histogram");
    assert_eq!(row["attention_histogram"], serde_json::json!(t.attention_histogram), "{what} attention_histogram");
    for (i, d) in demographics.iter().enumerate() {
        let key = format!("{}/{}", d["gender"].as_str().unwrap(), d["age_group"].as_str().unwrap());
        assert_eq!(row["demographics"][i], t.demographics.get(&key).copied().unwrap_or(0), "{what} {key}");
    }
}

fn check_against_truth(json: &Value, truth: &BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell>, dims: &[&str]) {
    let rows = json["rows"].as_array().unwrap();
    let demographics = json["demographics"].as_array().unwrap();
    let nonempty = truth.iter().filter(|(_, c)| **c != Default::default()).count();
    assert_eq!(rows.len(), nonempty, "one row per group");
    for row in rows {
        let key: Vec<String> = dims.iter().map(|d| row["key"][d].as_str().unwrap().to_string()).collect();
        assert_row(&format!("{key:?}"), row, &truth[&key], demographics);
    }
    let mut total = blickfang_fleet::rollup::Cell::default();
    truth.values().for_each(|c| total.add(c));
    assert_row("total", &json["total"], &total, demographics);
}

#[test]
fn the_report_of_a_simulated_fleet_equals_the_truth() {
    let dir = std::env::temp_dir().join(format!("blickfang-report-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (records, truth) = simulate(&dir);
    let report = |by: &str| -> Value {
        serde_json::from_str(&blickfang(&[
            "report",
            "--records",
            &records,
            "--by",
            by,
            "--min-group-size",
            "1",
            "--format",
            "json",
        ]))
        .unwrap()
    };
    let by_content = truth_by(&truth, |k| vec![k.content_id.clone()]);
    assert!(by_content.len() >= 3, "a few content items");
    check_against_truth(&report("content"), &by_content, &["content"]);
    let day = |k: &blickfang_fleet::rollup::CellKey| blickfang::time::date((k.hour * 3600).div_euclid(86_400));
    let by_screen_day = truth_by(&truth, |k| vec![k.screen.clone(), day(k)]);
    assert!(by_screen_day.keys().map(|k| &k[1]).collect::<std::collections::BTreeSet<_>>().len() >= 2, "two days");
    check_against_truth(&report("screen,day"), &by_screen_day, &["screen", "day"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_records_from_the_database_and_from_the_file_make_the_same_report() {
    let dir = std::env::temp_dir().join(format!("blickfang-report-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (records, truth) = simulate(&dir);
    // Into a real PostgreSQL by the collector's own batch write (what `blickfang collect` commits).
    let pg = postgres::Postgres::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        db::migrate(&mut client, None).await.unwrap();
        let rules = Rules::default();
        let text = std::fs::read_to_string(&records).unwrap();
        let judged: Vec<Judged> = text
            .lines()
            .map(|l| {
                let screen = serde_json::from_str::<Value>(l).unwrap()["screen"].as_str().unwrap().to_string();
                let topic = blickfang::spool::topic(ingest::DEFAULT_TOPIC, &screen, &blickfang::records::line_type(l));
                Judged { ingested: ingest::ingest(&topic, l.as_bytes(), &rules), topic, payload: l.as_bytes().to_vec() }
            })
            .collect();
        for batch in judged.chunks(500) {
            db::write_batch(&mut client, batch, &Thresholds::default(), 1000).await.unwrap();
        }
        assert_eq!(db::read_rollup(&client).await.unwrap(), truth, "the database holds the truth");
    });
    let (from, to) = ("2026-11-02", "2026-11-03T02:00:00Z");
    for (by, format) in [("content", "json"), ("store,hour", "json"), ("screen,day", "csv")] {
        let common =
            ["--by", by, "--format", format, "--from", from, "--to", to, "--screens", "store-001/*,store-002*"];
        let file = blickfang(&[&["report", "--records", &records][..], &common].concat());
        let database = blickfang(&[&["report", "--database", &pg.url()][..], &common].concat());
        let strip = |s: &str| s.lines().filter(|l| !l.contains("\"source\"")).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&file), strip(&database), "--by {by} --format {format}");
        assert!(file.len() > 500, "{file}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
