//! Scores `blickfang analyze` output against the labels of the shared
//! UTKFace and FairFace subsets.
//!
//! Per image the face nearest the image centre is the labelled one (both
//! sets centre their face). A missing face, or a gender of `unknown`, counts
//! as wrong: accuracies are over all images. Ages are scored where one was
//! given, and `age_coverage` says how often that was. Adults: UTKFace age
//! >= 18; FairFace groups from 20-29 up (10-19 straddles 18).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::groups::AgeGroups;
use crate::eval::bootstrap_ci95;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    UtkFace,
    FairFace,
}

impl Dataset {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "utkface" | "utk" => Ok(Dataset::UtkFace),
            "fairface" => Ok(Dataset::FairFace),
            other => Err(format!("unknown dataset {other:?} (utkface or fairface)")),
        }
    }

    /// Folder under `<shared>/data`.
    pub fn folder(&self) -> &'static str {
        match self {
            Dataset::UtkFace => "utkface_crop_subset",
            Dataset::FairFace => "fairface_balanced540",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Dataset::UtkFace => "utkface",
            Dataset::FairFace => "fairface",
        }
    }
}

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub file: String,
    /// UTKFace: years.
    pub age: Option<u32>,
    /// FairFace: the group's name.
    pub age_group: Option<String>,
    pub male: bool,
    /// UTKFace: white, black, asian, indian, others.
    pub race: Option<String>,
}

/// `labels.csv` of either set (header `file,age,gender,race` or `file,age_group,gender`).
pub fn parse_labels(dataset: Dataset, csv: &str) -> Result<Vec<Label>, String> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or("empty labels file")?.split(',').map(str::trim).collect();
    let col =
        |name: &str| header.iter().position(|h| *h == name).ok_or_else(|| format!("labels.csv has no column {name:?}"));
    let file = col("file")?;
    let gender = col("gender")?;
    let (age, group, race) = match dataset {
        Dataset::UtkFace => (Some(col("age")?), None, Some(col("race")?)),
        Dataset::FairFace => (None, Some(col("age_group")?), None),
    };
    let groups = AgeGroups::default();
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |c: usize| f.get(c).copied().ok_or_else(|| format!("labels line {}: too few fields", i + 2));
            let male = match get(gender)?.to_ascii_lowercase().as_str() {
                "male" => true,
                "female" => false,
                g => return Err(format!("labels line {}: gender {g:?}", i + 2)),
            };
            let age = age
                .map(|c| get(c)?.parse::<u32>().map_err(|e| format!("labels line {}: age: {e}", i + 2)))
                .transpose()?;
            let age_group = group.map(|c| get(c).map(str::to_string)).transpose()?;
            if let Some(g) = &age_group {
                groups.index_of_name(g).ok_or_else(|| format!("labels line {}: age group {g:?}", i + 2))?;
            }
            let race = race.map(|c| get(c).map(str::to_string)).transpose()?;
            Ok(Label { file: get(file)?.to_string(), age, age_group, male, race })
        })
        .collect()
}

/// The labelled face's prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// "female", "male" or "unknown".
    pub gender: String,
    pub gender_confidence: f64,
    pub age: Option<f64>,
}

/// Turns genders named with less than `threshold` confidence into
/// `unknown`: another operating point of the same run.
pub fn apply_confidence_threshold(predictions: &mut HashMap<String, Option<Prediction>>, threshold: f64) {
    for p in predictions.values_mut().flatten() {
        if p.gender_confidence < threshold {
            p.gender = "unknown".into();
        }
    }
}

/// `analyze` JSON lines → image path → the prediction for its central face
/// (`None`: no face found).
pub fn parse_predictions(jsonl: &str) -> Result<HashMap<String, Option<Prediction>>, String> {
    let mut out = HashMap::new();
    for r in crate::records::frame_records(jsonl).map_err(|e| format!("predictions {e}"))? {
        let (w, h) = (r.width as f64, r.height as f64);
        let centre_distance = |f: &&crate::records::FaceRecord| {
            let b = f.bbox;
            (b[0] + b[2] / 2.0 - w / 2.0).hypot(b[1] + b[3] / 2.0 - h / 2.0)
        };
        let best = r.faces.iter().min_by(|a, b| centre_distance(a).total_cmp(&centre_distance(b)));
        let pred = best.map(|f| match &f.demographics {
            Some(d) => Prediction { gender: d.gender.clone(), gender_confidence: d.gender_confidence, age: d.age },
            None => Prediction { gender: "unknown".into(), gender_confidence: 0.0, age: None },
        });
        let path = r.source.unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        out.insert(name, pred);
    }
    Ok(out)
}

/// Accuracy of a subset.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GroupScore {
    pub images: usize,
    pub gender_accuracy: f64,
    /// 95 % bootstrap interval of `gender_accuracy`: a small group's
    /// difference is only a difference when the intervals part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender_accuracy_ci95: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender_accuracy_adults: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_mae_adults: Option<f64>,
}

/// Everything the evaluator prints.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub dataset: String,
    pub images: usize,
    pub adults: usize,
    /// Images with a face found.
    pub faces_found: usize,
    /// Over all images; `unknown` and missing faces count as wrong.
    pub gender_accuracy: f64,
    pub gender_accuracy_adults: f64,
    /// Share of images with a female/male answer, and the accuracy of those.
    pub gender_decided: f64,
    pub gender_accuracy_decided: f64,
    /// Share of images with an age.
    pub age_coverage: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_mae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_mae_adults: Option<f64>,
    /// FairFace groups: exact and within one group.
    pub age_group_accuracy: f64,
    pub age_group_within_one: f64,
    /// 95 % bootstrap intervals of the scores above (same key): how far
    /// each could move on another sample of the same size and kind.
    pub ci95: BTreeMap<String, [f64; 2]>,
    /// Gender accuracy of women and of men.
    pub by_gender: BTreeMap<String, GroupScore>,
    /// UTKFace: per race label.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_race: BTreeMap<String, GroupScore>,
    /// FairFace: per age group.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_age_group: BTreeMap<String, GroupScore>,
}

fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

fn hits(items: &[&Scored<'_>], hit: impl Fn(&Scored<'_>) -> bool) -> Vec<f64> {
    items.iter().map(|s| if hit(s) { 1.0 } else { 0.0 }).collect()
}

fn ci95(values: &[f64]) -> Option<[f64; 2]> {
    bootstrap_ci95(values).map(|ci| ci.map(round4))
}

struct Scored<'a> {
    label: &'a Label,
    adult: bool,
    gender_ok: bool,
    decided: bool,
    age_error: Option<f64>,
    group_error: Option<usize>,
}

fn score_group(items: &[&Scored<'_>], with_adults: bool) -> GroupScore {
    let n = items.len();
    let ratio = |k: usize, n: usize| if n == 0 { 0.0 } else { round4(k as f64 / n as f64) };
    let adults: Vec<&&Scored> = items.iter().filter(|s| s.adult).collect();
    let maes: Vec<f64> = adults.iter().filter_map(|s| s.age_error).collect();
    GroupScore {
        images: n,
        gender_accuracy: ratio(items.iter().filter(|s| s.gender_ok).count(), n),
        gender_accuracy_ci95: ci95(&hits(items, |s| s.gender_ok)),
        gender_accuracy_adults: with_adults.then(|| ratio(adults.iter().filter(|s| s.gender_ok).count(), adults.len())),
        age_mae_adults: (with_adults && !maes.is_empty()).then(|| round4(maes.iter().sum::<f64>() / maes.len() as f64)),
    }
}

/// Scores predictions against labels; images without a prediction line count as missed.
pub fn evaluate(dataset: Dataset, labels: &[Label], predictions: &HashMap<String, Option<Prediction>>) -> Report {
    let groups = AgeGroups::default();
    let scored: Vec<Scored> = labels
        .iter()
        .map(|l| {
            let pred = predictions.get(&l.file).cloned().flatten();
            let gender = pred.as_ref().map_or("unknown", |p| p.gender.as_str());
            let decided = gender == "female" || gender == "male";
            let gender_ok = decided && (gender == "male") == l.male;
            let age = pred.as_ref().and_then(|p| p.age).filter(|a| a.is_finite());
            let truth_group = match (l.age, &l.age_group) {
                (Some(a), _) => Some(groups.index_of(a as f64)),
                (None, Some(g)) => groups.index_of_name(g),
                _ => None,
            };
            let adult = match (l.age, truth_group) {
                (Some(a), _) => a >= 18,
                (None, Some(g)) => g >= groups.index_of(20.0),
                _ => false,
            };
            Scored {
                label: l,
                adult,
                gender_ok,
                decided,
                age_error: age.zip(l.age).map(|(p, t)| (p - t as f64).abs()),
                group_error: age.zip(truth_group).map(|(p, t)| groups.index_of(p).abs_diff(t)),
            }
        })
        .collect();
    let n = scored.len();
    let ratio = |k: usize, n: usize| if n == 0 { 0.0 } else { round4(k as f64 / n as f64) };
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| round4(v.iter().sum::<f64>() / v.len() as f64));
    let adults: Vec<&Scored> = scored.iter().filter(|s| s.adult).collect();
    let decided = scored.iter().filter(|s| s.decided).count();
    let with_age = scored.iter().filter(|s| s.group_error.is_some()).count();
    let mut report = Report {
        dataset: dataset.name().into(),
        images: n,
        adults: adults.len(),
        faces_found: labels.iter().filter(|l| predictions.get(&l.file).is_some_and(|p| p.is_some())).count(),
        gender_accuracy: ratio(scored.iter().filter(|s| s.gender_ok).count(), n),
        gender_accuracy_adults: ratio(adults.iter().filter(|s| s.gender_ok).count(), adults.len()),
        gender_decided: ratio(decided, n),
        gender_accuracy_decided: ratio(scored.iter().filter(|s| s.gender_ok).count(), decided),
        age_coverage: ratio(with_age, n),
        age_mae: mean(scored.iter().filter_map(|s| s.age_error).collect()),
        age_mae_adults: mean(adults.iter().filter_map(|s| s.age_error).collect()),
        age_group_accuracy: ratio(scored.iter().filter(|s| s.group_error == Some(0)).count(), n),
        age_group_within_one: ratio(scored.iter().filter(|s| s.group_error.is_some_and(|e| e <= 1)).count(), n),
        ..Report::default()
    };
    let all: Vec<&Scored> = scored.iter().collect();
    let intervals = [
        ("gender_accuracy", ci95(&hits(&all, |s| s.gender_ok))),
        ("gender_accuracy_adults", ci95(&hits(&adults, |s| s.gender_ok))),
        ("age_mae", ci95(&scored.iter().filter_map(|s| s.age_error).collect::<Vec<_>>())),
        ("age_mae_adults", ci95(&adults.iter().filter_map(|s| s.age_error).collect::<Vec<_>>())),
        ("age_group_accuracy", ci95(&hits(&all, |s| s.group_error == Some(0)))),
        ("age_group_within_one", ci95(&hits(&all, |s| s.group_error.is_some_and(|e| e <= 1)))),
    ];
    report.ci95 = intervals.into_iter().filter_map(|(k, ci)| Some((k.to_string(), ci?))).collect();
    for (name, male) in [("female", false), ("male", true)] {
        let items: Vec<&Scored> = scored.iter().filter(|s| s.label.male == male).collect();
        report.by_gender.insert(name.into(), score_group(&items, true));
    }
    let mut races: Vec<&str> = scored.iter().filter_map(|s| s.label.race.as_deref()).collect();
    races.sort();
    races.dedup();
    for race in races {
        let items: Vec<&Scored> = scored.iter().filter(|s| s.label.race.as_deref() == Some(race)).collect();
        report.by_race.insert(race.into(), score_group(&items, true));
    }
    if dataset == Dataset::FairFace {
        for name in groups.names() {
            let items: Vec<&Scored> = scored.iter().filter(|s| s.label.age_group.as_deref() == Some(name)).collect();
            report.by_age_group.insert(name.clone(), score_group(&items, false));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTK: &str =
        "file,age,gender,race\na.jpg,30,female,white\nb.jpg,5,male,asian\nc.jpg,70,male,white\nd.jpg,40,female,black\n";

    /// A frame record for the image `path` whose faces have a `box`, `gender` and `age`.
    fn line(path: &str, faces: &str) -> String {
        let faces: Vec<serde_json::Value> = serde_json::from_str(&format!("[{faces}]")).unwrap();
        let faces: Vec<serde_json::Value> = faces
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                serde_json::json!({"id": i + 1, "box": f["box"], "confidence": 0.9,
                    "demographics": {"gender": f["gender"], "age": f["age"]}})
            })
            .collect();
        let record = serde_json::json!({"schema": crate::records::SCHEMA, "type": "frame", "source": path,
            "width": 200, "height": 200, "faces": faces});
        format!("{record}\n")
    }

    #[test]
    fn utkface_scores_count_unknown_and_missing_as_wrong() {
        let labels = parse_labels(Dataset::UtkFace, UTK).unwrap();
        assert_eq!(labels.len(), 4);
        let preds = [
            // The central face is the labelled one; the corner face is ignored.
            line(
                "x/a.jpg",
                "{\"box\": [0, 0, 20, 20], \"gender\": \"male\", \"age\": 90}, {\"box\": [50, 50, 100, 100], \"gender\": \"female\", \"age\": 34}",
            ),
            line("b.jpg", "{\"box\": [50, 50, 100, 100], \"gender\": \"unknown\", \"age\": 6}"),
            line("c.jpg", "{\"box\": [50, 50, 100, 100], \"gender\": \"male\", \"age\": 60}"),
            line("d.jpg", ""),
        ]
        .concat();
        let preds = parse_predictions(&preds).unwrap();
        let r = evaluate(Dataset::UtkFace, &labels, &preds);
        assert_eq!((r.images, r.adults, r.faces_found), (4, 3, 3));
        assert_eq!(r.gender_accuracy, 0.5);
        assert_eq!(r.gender_accuracy_adults, 0.6667);
        assert_eq!(r.gender_decided, 0.5);
        assert_eq!(r.gender_accuracy_decided, 1.0);
        assert_eq!(r.age_coverage, 0.75);
        assert_eq!(r.age_mae, Some(5.0)); // 4, 1, 10
        assert_eq!(r.age_mae_adults, Some(7.0));
        // Intervals from resampling the same errors (4, 1, 10 and 1, 10).
        let [lo, hi] = r.ci95["age_mae_adults"];
        assert!(lo <= 7.0 && hi >= 7.0 && lo >= 1.0 && hi <= 10.0, "{lo}..{hi}");
        let [lo, hi] = r.ci95["gender_accuracy"];
        assert!(lo <= 0.5 && hi >= 0.5 && lo >= 0.0 && hi <= 1.0, "{lo}..{hi}");
        assert_eq!(r.by_race["white"].gender_accuracy_ci95, Some([1.0, 1.0]));
        // Groups: 30-39 ok, 3-9 ok, 70+ vs 60-69 off by one.
        assert_eq!(r.age_group_accuracy, 0.5);
        assert_eq!(r.age_group_within_one, 0.75);
        assert_eq!(r.by_race["white"].images, 2);
        assert_eq!(r.by_race["white"].gender_accuracy, 1.0);
        assert_eq!(r.by_race["black"].gender_accuracy, 0.0);
        assert_eq!(r.by_gender["female"].gender_accuracy, 0.5);
        // Without confidences, a threshold makes every gender unknown.
        let mut preds = preds;
        apply_confidence_threshold(&mut preds, 0.6);
        assert_eq!(evaluate(Dataset::UtkFace, &labels, &preds).gender_decided, 0.0);
    }

    #[test]
    fn fairface_groups_and_adults() {
        let csv = "file,age_group,gender\na.jpg,20-29,male\nb.jpg,10-19,female\nc.jpg,70+,female\n";
        let labels = parse_labels(Dataset::FairFace, csv).unwrap();
        let preds = [
            line("a.jpg", "{\"box\": [50, 50, 100, 100], \"gender\": \"male\", \"age\": 31}"),
            line("b.jpg", "{\"box\": [50, 50, 100, 100], \"gender\": \"female\", \"age\": 15}"),
            line("c.jpg", "{\"box\": [50, 50, 100, 100], \"gender\": \"female\", \"age\": 55}"),
        ]
        .concat();
        let r = evaluate(Dataset::FairFace, &labels, &parse_predictions(&preds).unwrap());
        assert_eq!(r.adults, 2);
        assert_eq!(r.gender_accuracy, 1.0);
        assert_eq!(r.age_group_accuracy, 0.3333);
        assert_eq!(r.age_group_within_one, 0.6667);
        assert_eq!(r.age_mae, None);
        assert!(!r.ci95.contains_key("age_mae"), "no ages labelled, no interval");
        assert!(r.ci95.contains_key("age_group_accuracy"));
        assert_eq!(r.by_age_group["70+"].images, 1);
        assert!(r.by_race.is_empty());
    }

    #[test]
    fn bad_labels_are_errors() {
        assert!(parse_labels(Dataset::UtkFace, "file,age,gender,race\na.jpg,x,male,white\n").is_err());
        assert!(parse_labels(Dataset::FairFace, "file,age_group,gender\na.jpg,20-30,male\n").is_err());
        assert!(parse_labels(Dataset::FairFace, "file,gender\na.jpg,male\n").is_err());
        assert!(Dataset::parse("wider").is_err());
    }
}
