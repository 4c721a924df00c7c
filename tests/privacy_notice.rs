//! `blickfang privacy-notice`: the notice follows the configuration that runs.
//! Two edge configurations that differ only in `demographics` give notices
//! that differ exactly in the age group and gender sentence, in English and
//! German, as text and HTML; the `[notice]` keys and k appear as configured;
//! a missing `[notice]` key is an error naming it.

mod common;

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
         min_group_size = 7\n\
         demographics = {demographics}\n\
         [mqtt]\nhost = \"broker.example\"\nport = 8883\ntls = true\nca_file = \"/etc/blickfang/ca.pem\"\n\
         [[input]]\nname = \"door\"\ndevice = \"/dev/video0\"\n\
         [notice]\n\
         controller = \"Bäckerei Beispiel GmbH, Hauptstraße 1, 10115 Berlin\"\n\
         contact = \"datenschutz@example.de\"\n\
         legal_basis = \"Art. 6(1)(f) GDPR: legitimate interest in measuring the reach of our window display\"\n\
         retain_days = 90\n\
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
