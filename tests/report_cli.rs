//! `blickfang report` end to end, as a user runs it: the simulator's records
//! file (`blickfang simulate --records --truth`) → `blickfang report
//! --records ... --format json` equals the truth aggregated the same way (by
//! content; by screen × day); and the same records through PostgreSQL (the
//! collector's batch write into a real server) → `blickfang report
//! --database` make the identical JSON, CSV too.

mod common;
mod postgres;
mod report;

use std::process::Command;

use blickfang_fleet::db::{self, Judged};
use blickfang_fleet::ingest::{self, Rules};
use blickfang_fleet::rollup::Thresholds;
use report::{check_against_truth, truth_by};
use serde_json::Value;

fn blickfang(args: &[&str]) -> String {
    let out = Command::new(common::blickfang_binary_path()).args(args).output().expect("blickfang runs");
    assert!(out.status.success(), "blickfang {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_report_of_a_simulated_fleet_equals_the_truth() {
    let dir = std::env::temp_dir().join(format!("blickfang-report-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (records, truth) = report::simulate(&common::blickfang_binary_path(), &dir, "1d");
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
    check_against_truth(&report("content"), &by_content, &["content"], 1);
    let day = |k: &blickfang_fleet::rollup::CellKey| blickfang::time::date((k.hour * 3600).div_euclid(86_400));
    let by_screen_day = truth_by(&truth, |k| vec![k.screen.clone(), day(k)]);
    assert!(by_screen_day.keys().map(|k| &k[1]).collect::<std::collections::BTreeSet<_>>().len() >= 2, "two days");
    check_against_truth(&report("screen,day"), &by_screen_day, &["screen", "day"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_records_from_the_database_and_from_the_file_make_the_same_report() {
    let dir = std::env::temp_dir().join(format!("blickfang-report-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (records, truth) = report::simulate(&common::blickfang_binary_path(), &dir, "1d");
    // Into a real PostgreSQL by the collector's own batch write (what `blickfang collect` commits).
    let pg = postgres::shared();
    let url = postgres::migrated_database(&pg, "report_db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
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
    // The last two read the daily rollup (whole UTC days), the others the hourly one.
    for (by, format, to) in [
        ("content", "json", to),
        ("store,hour", "json", to),
        ("screen,day", "csv", to),
        ("content,day", "json", "2026-11-04"),
        ("store,weekday", "csv", "2026-11-04"),
    ] {
        let common =
            ["--by", by, "--format", format, "--from", from, "--to", to, "--screens", "store-001/*,store-002*"];
        let file = blickfang(&[&["report", "--records", &records][..], &common].concat());
        let database = blickfang(&[&["report", "--database", &url][..], &common].concat());
        let strip = |s: &str| s.lines().filter(|l| !l.contains("\"source\"")).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&file), strip(&database), "--by {by} --format {format}");
        assert!(file.len() > 500, "{file}");
    }
    // Local time: store-001 in Berlin, store-002 at +05:30, one screen named on UTC. The database sums the
    // cells per time zone; hours, days and weekdays must still fall where the file's cells put them.
    let screens: std::collections::BTreeSet<&str> = truth.cells.keys().map(|k| k.screen.as_str()).collect();
    let mut catalogue = String::new();
    for (i, s) in screens.iter().enumerate() {
        let zone = match s.split('/').next() {
            _ if i == 0 => "UTC",
            Some("store-001") => "Europe/Berlin",
            Some("store-002") => "+05:30",
            _ => continue,
        };
        catalogue.push_str(&format!("[screens.\"{s}\"]\ntime_zone = \"{zone}\"\n"));
    }
    assert!(catalogue.contains("Europe/Berlin") && catalogue.contains("+05:30"), "{catalogue}");
    let catalogue_path = dir.join("catalogue.toml");
    std::fs::write(&catalogue_path, catalogue).unwrap();
    for (by, format) in [("content,hour", "json"), ("content,day", "csv"), ("weekday", "json"), ("store,hour", "csv")] {
        let common = [
            "--by",
            by,
            "--format",
            format,
            "--from",
            from,
            "--to",
            "2026-11-04",
            "--catalogue",
            catalogue_path.to_str().unwrap(),
        ];
        let file = blickfang(&[&["report", "--records", &records][..], &common].concat());
        let database = blickfang(&[&["report", "--database", &url][..], &common].concat());
        let strip = |s: &str| s.lines().filter(|l| !l.contains("\"source\"")).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&file), strip(&database), "--by {by} --format {format} --catalogue");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Must show 1 at fleet scale: 1,000 screens × a simulated week (the fleet
/// simulated as typed plays and `left` events, summed by the rollup's own
/// arithmetic: `blickfang_fleet::bulk`), bulk-loaded into PostgreSQL (not
/// through the broker), then `blickfang report --database` in JSON and CSV
/// by content, by day and by store: every number equals the truth summed
/// here, independently, from the rollup cells (k = 1); at k = 5 (screen ×
/// day) every value shown still equals the truth and none counts fewer than 5.
#[test]
fn a_simulated_week_of_1000_screens_from_the_database_equals_the_truth() {
    use blickfang_fleet::bulk::{self, FleetSettings};
    use report::{check_against_truth, csv_rows, day_of};
    let started = std::time::Instant::now();
    let settings = FleetSettings::default();
    assert_eq!((settings.screens, settings.days), (1000, 7));
    let truth = bulk::fleet_rollup(&settings);
    let simulated = started.elapsed();
    let pg = postgres::shared();
    let url = postgres::migrated_database(&pg, "fleet_week");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        bulk::load(&client, &truth).await.unwrap();
    });
    let loaded = started.elapsed();
    let store = |k: &blickfang_fleet::rollup::CellKey| k.screen.split('/').next().unwrap().to_string();
    // A period of whole UTC days reads the daily rollup; one ending at 20:00 (the last hour with data) the hourly.
    let (whole_days, hours) = ("2026-11-09", "2026-11-08T20:00:00Z");
    let report_to = |to: &str, by: &str, format: &str, k: &str| {
        let t = std::time::Instant::now();
        let out = blickfang(&[
            "report",
            "--database",
            &url,
            "--from",
            "2026-11-02",
            "--to",
            to,
            "--by",
            by,
            "--format",
            format,
            "--min-group-size",
            k,
        ]);
        eprintln!("fleet week: report --by {by} --format {format} --to {to} -k {k} in {:.1?}", t.elapsed());
        out
    };
    let report = |by: &str, format: &str, k: &str| report_to(whole_days, by, format, k);
    type KeyFn = fn(&blickfang_fleet::rollup::CellKey) -> Vec<String>;
    let groupings: [(&str, KeyFn); 3] = [
        ("content", |k| vec![k.content_id.clone()]),
        ("day", |k| vec![day_of(k)]),
        ("store", |k| vec![k.screen.split('/').next().unwrap().to_string()]),
    ];
    // The JSON and the CSV of one grouping checked against the truth: the JSON, and how many values it hides
    // (the CSV hides exactly as many).
    type Want = std::collections::BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell>;
    let check_both = |by: &str, dims: &[&str], want: &Want, k: i64| -> (Value, usize) {
        let json: Value = serde_json::from_str(&report(by, "json", &k.to_string())).unwrap();
        let hidden = check_against_truth(&json, want, dims, k);
        let csv = csv_rows(&report(by, "csv", &k.to_string()), dims);
        assert_eq!(check_against_truth(&csv, want, dims, k), hidden, "--by {by}: CSV hides what JSON hides");
        (json, hidden)
    };
    for (by, key) in groupings {
        let want = truth_by(&truth, key);
        let (json, hidden) = check_both(by, &[by], &want, 1);
        assert_eq!(hidden, 0, "--by {by}: nothing hidden at k = 1");
        if by == "store" {
            let json: Value = serde_json::from_str(&report_to(hours, by, "json", "1")).unwrap();
            assert!(json["source"].as_str().unwrap().contains("hourly rollup"), "{}", json["source"]);
            assert_eq!(check_against_truth(&json, &want, &[by], 1), 0, "--by {by} json from the hourly rollup");
        } else {
            assert!(json["source"].as_str().unwrap().contains("daily rollup"), "{}", json["source"]);
        }
    }
    let days = truth_by(&truth, |k| vec![day_of(k)]);
    assert_eq!(days.len(), 7, "a week");
    assert!(truth_by(&truth, |k| vec![store(k)]).len() >= 240, "the stores of 1,000 screens");
    let want = truth_by(&truth, |k| vec![k.screen.clone(), day_of(k)]);
    let (_, hidden) = check_both("screen,day", &["screen", "day"], &want, 5);
    assert!(hidden > 100, "k = 5 hides the small gender × age-group counts: {hidden}");
    eprintln!(
        "fleet week: {} cells simulated in {:.1?}, loaded by {:.1?}, all reports checked by {:.1?}",
        truth.cells.len(),
        simulated,
        loaded,
        started.elapsed()
    );
}
