//! Age and gender accuracy of `blickfang analyze` (the same element code as a
//! live pipeline) on the shared dev splits, scored by
//! `blickfang evaluate-demographics`, against the reference: the HSE model
//! run from Python with its documented preprocessing on a square 1.3x crop of
//! the YuNet box (UTKFace gender 87.2 % / adults 96.9 %, age MAE 5.84 / 7.87;
//! FairFace gender 81.7 % / adults 86.3 %, age group 36.4 %, within one
//! 83.1 %).
//!
//! Scored as a product answers: a face with no usable view (turned away,
//! blurred) or no face found counts as wrong. `analyze` gives each photo
//! two crop sizes with their mirror images (`crop-scales` 0.95,1.05: a still
//! has no later frames of its track to average in). `--confidence-threshold 0.5`
//! names a gender for every view (as the reference does); the element's
//! default of 0.6 is scored from the same run and must buy accuracy for the
//! faces it leaves `unknown`.

mod common;

use std::process::Command;

use serde_json::Value;

fn analyze(folder: &str, extra: &[&str]) -> std::path::PathBuf {
    let images = common::data(folder);
    let out = std::env::temp_dir().join(format!(
        "blickfang-demographics-{}-{}.jsonl",
        std::process::id(),
        folder.replace('/', "_")
    ));
    let status = Command::new(common::blickfang_binary_path())
        .arg("analyze")
        .arg(&images)
        .arg("--output")
        .arg(&out)
        .args(["--confidence-threshold", "0.5"])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "blickfang analyze {folder} failed");
    out
}

fn evaluate(dataset: &str, predictions: &std::path::Path, threshold: Option<&str>) -> Value {
    let mut cmd = Command::new(common::blickfang_binary_path());
    cmd.args(["evaluate-demographics", "--dataset", dataset]).arg(predictions);
    if let Some(t) = threshold {
        cmd.args(["--confidence-threshold", t]);
    }
    cmd.env("BLICKFANG_SHARED_DIR", common::shared_dir());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "evaluate-demographics: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{dataset} (confidence threshold {}): {report:#}", threshold.unwrap_or("0.5"));
    report
}

fn at_least(report: &Value, key: &str, min: f64) {
    let v = report[key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
    assert!(v >= min, "{key} {v} < {min}");
}

/// The 95 % interval of `key` holds its value, and lies wholly on the good
/// side of the reference: the improvement is more than the luck of this sample.
fn interval_beats(report: &Value, key: &str, reference: f64, lower_is_better: bool) {
    let v = report[key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
    let ci = &report["ci95"][key];
    let (lo, hi) = (ci[0].as_f64().unwrap_or_else(|| panic!("ci95.{key} missing")), ci[1].as_f64().unwrap());
    assert!(lo <= v && v <= hi, "{key} {v} outside its interval {lo}..{hi}");
    assert!(hi - lo > 0.0, "{key}: an interval of no width from {} images", report["images"]);
    if lower_is_better {
        assert!(hi < reference, "{key}: interval {lo}..{hi} reaches the reference {reference}");
    } else {
        assert!(lo > reference, "{key}: interval {lo}..{hi} reaches the reference {reference}");
    }
}

fn at_most(report: &Value, key: &str, max: f64) {
    let v = report[key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
    assert!(v <= max, "{key} {v} > {max}");
}

#[test]
fn utkface_face_crops() {
    let preds = analyze("utkface_crop_subset/images", &["--face-crops"]);
    let r = evaluate("utkface", &preds, None);
    assert_eq!(r["images"], 932);
    assert_eq!(r["faces_found"], 932);
    at_least(&r, "age_coverage", 0.995);
    // Measured 0.8627 / 0.9767 (goal for adults 0.975), MAE 4.98 / 6.55 (goal
    // for adults 6.5) (reference 0.872 / 0.969, 5.84 / 7.87). One face is
    // 0.18 points of the adults.
    at_least(&r, "gender_accuracy", 0.855);
    at_least(&r, "gender_accuracy_adults", 0.972);
    at_most(&r, "age_mae", 5.1);
    at_most(&r, "age_mae_adults", 6.7);
    // Measured 6.10..7.01 y: the 6.5 y goal lies inside it, the reference's
    // 7.87 y does not.
    interval_beats(&r, "age_mae_adults", 7.87, true);
    interval_beats(&r, "age_mae", 5.84, true);
    // The race split is reported; adults of every group above 90 %
    // (measured: white 98.2, indian 96.4, black 95.8, asian 94.3, others 100).
    for race in ["white", "black", "asian", "indian", "others"] {
        let g = &r["by_race"][race];
        assert!(g["images"].as_u64().unwrap() > 30, "{race}: {g}");
        assert!(g["gender_accuracy_adults"].as_f64().unwrap() >= 0.9, "{race}: {g}");
        let ci = &g["gender_accuracy_ci95"];
        assert!(ci[0].as_f64().unwrap() < ci[1].as_f64().unwrap(), "{race}: {g}");
    }
    // The default threshold leaves doubtful faces unknown and is right more
    // often on the rest.
    let d = evaluate("utkface", &preds, Some("0.6"));
    at_least(&d, "gender_accuracy_decided", r["gender_accuracy_decided"].as_f64().unwrap() + 0.01);
    at_least(&d, "gender_decided", 0.85);
    std::fs::remove_file(&preds).ok();
}

#[test]
fn fairface_photos() {
    // Photos with a margin around the face: plain analyze, the central face scored.
    let preds = analyze("fairface_balanced540/images", &[]);
    let r = evaluate("fairface", &preds, None);
    assert_eq!(r["images"], 360);
    assert_eq!(r["faces_found"], 360);
    // 2 of the 360 faces are turned beyond max-yaw (75°) and stay unknown.
    at_least(&r, "age_coverage", 0.99);
    // Measured 0.875 (goal 0.85) / 0.940, groups 0.453 / 0.853 (reference
    // 0.817 / 0.863, 0.364 / 0.831).
    at_least(&r, "gender_accuracy", 0.86);
    at_least(&r, "gender_accuracy_adults", 0.92);
    at_least(&r, "gender_accuracy_decided", 0.87);
    at_least(&r, "age_group_accuracy", 0.43);
    at_least(&r, "age_group_within_one", 0.83);
    // Measured 0.839..0.908 and 0.403..0.503.
    interval_beats(&r, "gender_accuracy", 0.817, false);
    interval_beats(&r, "age_group_accuracy", 0.364, false);
    let d = evaluate("fairface", &preds, Some("0.6"));
    at_least(&d, "gender_accuracy_decided", r["gender_accuracy_decided"].as_f64().unwrap());
    std::fs::remove_file(&preds).ok();
}
