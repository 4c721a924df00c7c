//! `blickfang privacy-notice`: the notice follows the configuration that runs.
//! Two edge configurations that differ only in `demographics` give notices
//! that differ exactly in the age group and gender sentence, in English and
//! German, as text and HTML; the `[notice]` keys and k appear as configured;
//! a missing `[notice]` key is an error naming it. One `[notice]` section
//! drives the notice (k, retention), the collector's retention job and the
//! report's suppression; a flag that disagrees with it is refused.

mod common;
mod mosquitto;
mod postgres;
mod report;

use std::path::{Path, PathBuf};
use std::process::Output;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn config(demographics: bool) -> String {
    format!(
        "screen = \"lobby-1\"\n\
         demographics = {demographics}\n\
         [mqtt]\nhost = \"broker.example\"\nport = 8883\ntls = true\nca_file = \"/etc/blickfang/ca.pem\"\n\
         [[input]]\nname = \"door\"\ndevice = \"/dev/video0\"\n\
         [notice]\n\
         controller = \"Bäckerei Beispiel GmbH, Hauptstraße 1, 10115 Berlin\"\n\
         contact = \"datenschutz@example.de\"\n\
         legal_basis = \"Art. 6(1)(f) GDPR: legitimate interest in measuring the reach of our window display\"\n\
         retain_days = 90\n\
         min_group_size = 7\n\
         authority = \"Berliner Beauftragte für Datenschutz und Informationsfreiheit\"\n"
    )
}

fn notice(dir: &Path, config: &str, format: &str, lang: &str) -> Output {
    let path = dir.join(format!("edge-{}.toml", config.len()));
    std::fs::write(&path, config).unwrap();
    std::process::Command::new(common::blickfang_binary_path())
        .args(["privacy-notice", "--config"])
        .arg(&path)
        .args(["--format", format, "--lang", lang])
        .output()
        .expect("blickfang runs")
}

fn text(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_notice_says_what_the_configuration_runs_in_both_languages() {
    let dir = TempDir(std::env::temp_dir().join(format!("blickfang-notice-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let (with, without) = (config(true), config(false));
    for (lang, marker, demographic, none, never, k, days, broker) in [
        (
            "en",
            "age group",
            "an estimated age group and gender",
            "Age and gender are not estimated.",
            "No image or video is stored or sent",
            "at least 7 people",
            "kept for 90 days",
            "broker.example:8883",
        ),
        (
            "de",
            "Altersgruppe",
            "eine geschätzte Altersgruppe und ein geschätztes Geschlecht",
            "Alter und Geschlecht werden nicht geschätzt.",
            "Kein Bild und kein Video wird gespeichert oder übertragen",
            "mindestens 7 Personen",
            "90 Tage aufbewahrt",
            "broker.example:8883",
        ),
    ] {
        let a = text(&notice(&dir.0, &with, "txt", lang));
        let b = text(&notice(&dir.0, &without, "txt", lang));
        println!("--- {lang}, with demographics ---\n{a}");
        assert!(a.contains(demographic) && !a.contains(none), "{a}");
        assert!(b.contains(none) && !b.contains(marker), "{b}");
        // With demographics, age and gender are named twice: what is measured and what the records hold.
        assert_eq!(a.lines().filter(|l| l.contains(marker)).count(), 2, "{a}");
        let (records, estimate) = if lang == "en" {
            ("Only measurements leave the device", ", the estimated age group and gender")
        } else {
            ("Nur Messwerte verlassen das Gerät", ", die geschätzte Altersgruppe und das geschätzte Geschlecht")
        };
        assert!(a.lines().any(|l| l.contains(records) && l.contains(estimate)), "{a}");
        // Otherwise the same text, line by line.
        let a_rest: Vec<String> =
            a.lines().filter(|l| !l.contains(demographic)).map(|l| l.replace(estimate, "")).collect();
        let b_rest: Vec<&str> = b.lines().filter(|l| !l.contains(none)).collect();
        assert_eq!(a_rest, b_rest);
        for t in [&a, &b] {
            for expected in [never, k, days, broker, "Bäckerei Beispiel GmbH", "datenschutz@example.de", "Art. 6(1)(f)"]
            {
                assert!(t.contains(expected), "{lang}: {expected:?} missing:\n{t}");
            }
            assert!(t.contains("Art. 77") && t.contains("Berliner Beauftragte"), "{t}");
        }
        let h = text(&notice(&dir.0, &with, "html", lang));
        assert!(h.starts_with("<!DOCTYPE html>") && h.contains(&format!("<html lang=\"{lang}\">")), "{h}");
        assert!(h.contains(&format!("<li>{demographic}")), "{h}");
        let h2 = text(&notice(&dir.0, &without, "html", lang));
        assert!(!h2.contains(demographic) && h2.contains(none), "{h2}");
    }
    // The English and German notices are different texts of the same facts.
    assert_ne!(text(&notice(&dir.0, &with, "txt", "en")), text(&notice(&dir.0, &with, "txt", "de")));
}

#[test]
fn a_missing_notice_key_is_named() {
    let dir = TempDir(std::env::temp_dir().join(format!("blickfang-notice-err-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let out = notice(&dir.0, &config(true).replace("retain_days = 90\n", ""), "txt", "en");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retain_days"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = notice(&dir.0, config(true).split("[notice]").next().unwrap(), "txt", "en");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[notice]"));
}

/// The `[notice]` section an operator writes once: the edge's file and the collector's carry it.
const SECTION: &str = "[notice]\n\
                       controller = \"Bäckerei Beispiel GmbH, Hauptstraße 1, 10115 Berlin\"\n\
                       contact = \"datenschutz@example.de\"\n\
                       legal_basis = \"Art. 6(1)(f) GDPR\"\n\
                       retain_days = 30\n\
                       min_group_size = 4\n";

fn blickfang(args: &[&str]) -> Output {
    std::process::Command::new(common::blickfang_binary_path()).args(args).output().expect("blickfang runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// k = 4 and 30 days: the notice states them, `collect --config` deletes the raw event of 31 days
/// ago and keeps the one of 29 days ago (its retention job, on start), `report --config` (the
/// collector's file) suppresses every count under 4; `--retain-days 7` and `--min-group-size 2`
/// against that file are refused, naming both values.
#[test]
fn one_notice_section_is_the_notice_the_retention_and_the_report() {
    use blickfang_fleet::db;
    let dir = TempDir(std::env::temp_dir().join(format!("blickfang-notice-fleet-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();

    let edge = format!("screen = \"lobby-1\"\n[[input]]\nname = \"door\"\ndevice = \"/dev/video0\"\n{SECTION}");
    let stated = text(&notice(&dir.0, &edge, "txt", "en"));
    assert!(stated.contains("at least 4 people") && stated.contains("(k = 4)"), "{stated}");
    assert!(stated.contains("kept for 30 days"), "{stated}");

    let pg = postgres::Postgres::start();
    let broker = mosquitto::Mosquitto::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (client, conn) = rt.block_on(tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)).unwrap();
    rt.spawn(conn);
    let mut client = client;
    rt.block_on(async {
        db::migrate(&mut client, None).await.unwrap();
        client
            .execute(
                "INSERT INTO person_events (screen, run, seq, at, dwell_us, attention_us, glances)
                 VALUES ('s', 'r', 0, now() - interval '31 days', 1, 0, 0),
                        ('s', 'r', 1, now() - interval '29 days', 1, 0, 0)",
                &[],
            )
            .await
            .unwrap();
    });
    let collect_toml = dir.0.join("collect.toml");
    std::fs::write(
        &collect_toml,
        format!(
            "mqtt = \"mqtt://127.0.0.1:{}\"\ndatabase = \"{}\"\nclient_id = \"notice-1\"\nprogress_s = 1\n{SECTION}",
            broker.port,
            pg.url()
        ),
    )
    .unwrap();
    let config = collect_toml.to_str().unwrap();

    let refused = blickfang(&["collect", "--config", config, "--retain-days", "7"]);
    assert!(!refused.status.success());
    let e = stderr(&refused);
    assert!(e.contains("--retain-days 7") && e.contains("retain_days = 30") && e.contains("collect.toml"), "{e}");

    let log = dir.0.join("collect.log");
    let mut collector = std::process::Command::new(common::blickfang_binary_path())
        .args(["collect", "--config", config, "--retain-days", "30"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let seqs = loop {
        let seqs: Vec<i64> = rt
            .block_on(client.query("SELECT seq FROM person_events ORDER BY seq", &[]))
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if seqs.len() < 2 || std::time::Instant::now() > deadline {
            break seqs;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    collector.kill().ok();
    collector.wait().ok();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(seqs, [1], "the 31-day-old event deleted, the 29-day-old kept:\n{log}");
    assert!(log.contains("retention (30 days)"), "{log}");

    let (records, truth) = report::simulate(&common::blickfang_binary_path(), &dir.0, "5m");
    let by_screen = report::truth_by(&truth, |k| vec![k.screen.clone()]);
    let report = |extra: &[&str]| {
        let args = [&["report", "--records", &records, "--by", "screen", "--format", "json"][..], extra];
        blickfang(&args.concat())
    };
    for extra in [&["--config", config][..], &["--config", config, "--min-group-size", "4"]] {
        let json: serde_json::Value = serde_json::from_str(&text(&report(extra))).unwrap();
        assert_eq!(json["min_group_size"], 4, "{extra:?}");
        let suppressed = report::check_against_truth(&json, &by_screen, &["screen"], 4);
        assert!(suppressed > 0, "some counts under 4 suppressed ({extra:?})");
        // A screen of exactly 4 people is shown: k is the file's 4, not the default 5.
        assert!(json["rows"].as_array().unwrap().iter().any(|r| r["ots"] == 4), "{json}");
    }
    let refused = report(&["--config", config, "--min-group-size", "2"]);
    assert!(!refused.status.success());
    let e = stderr(&refused);
    assert!(e.contains("--min-group-size 2") && e.contains("min_group_size = 4") && e.contains("collect.toml"), "{e}");
}
