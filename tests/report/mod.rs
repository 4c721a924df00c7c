//! Helpers of the report tests: a seeded PRNG, random report cells, and an
//! independent check (Gaussian elimination) of which hidden cells a table's
//! published values determine.
#![allow(dead_code)]

use blickfang_report::ReportCell;

/// SplitMix64: small, seeded, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// [0, 1)
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub const GENDERS: [&str; 3] = ["female", "male", "unknown"];
pub const AGES: [&str; 4] = ["10-19", "20-29", "30-39", "unknown"];

/// Random cells: `screens` × up to 6 contents × up to 30 hours, 0..max_people
/// OTS per cell (many small cells, so suppression has work to do).
pub fn random_cells(rng: &mut Rng, screens: usize, max_people: u64) -> Vec<ReportCell> {
    let contents = 1 + rng.below(6);
    let hours = 1 + rng.below(30) as i64;
    let base = 1_793_577_600; // 2026-11-02T00:00Z, a Monday
    let mut cells = Vec::new();
    for s in 0..screens {
        for c in 0..contents {
            for h in 0..hours {
                if rng.below(3) == 0 {
                    continue;
                }
                let mut cell = ReportCell {
                    screen: format!("store-{}/screen-{s}", s % 3),
                    content_id: format!("ad-{c}"),
                    hour: base + h * 3600 * (1 + rng.below(7) as i64),
                    ..Default::default()
                };
                cell.counts.plays = rng.below(4);
                cell.counts.on_screen_us = cell.counts.plays as i64 * 30_000_000;
                for _ in 0..rng.below(max_people + 1) {
                    let dwell = 1.0 + rng.unit() * 70.0;
                    let attention = dwell * rng.unit() * rng.unit();
                    let g = GENDERS[rng.below(3) as usize];
                    let a = AGES[rng.below(4) as usize];
                    cell.counts.add_person(dwell, attention, attention >= 1.0, g, a);
                }
                cells.push(cell);
            }
        }
    }
    cells
}

/// Which unknowns (by index) a linear system determines: `equations` are
/// rows over `n` unknowns (the right-hand sides do not matter).
pub fn determined(n: usize, equations: &[Vec<f64>]) -> Vec<bool> {
    // Reduced row echelon form.
    let mut m: Vec<Vec<f64>> = equations.to_vec();
    let mut pivots = Vec::new();
    let mut r = 0;
    for c in 0..n {
        let Some(p) = (r..m.len()).find(|&i| m[i][c].abs() > 1e-9) else { continue };
        m.swap(r, p);
        let pv = m[r][c];
        for x in m[r].iter_mut() {
            *x /= pv;
        }
        for i in 0..m.len() {
            if i != r && m[i][c].abs() > 1e-9 {
                let f = m[i][c];
                let row_r = m[r].clone();
                for (x, y) in m[i].iter_mut().zip(row_r) {
                    *x -= f * y;
                }
            }
        }
        pivots.push(c);
        r += 1;
        if r == m.len() {
            break;
        }
    }
    // Unknown c is determined iff e_c lies in the row space: its pivot row has no other non-zero.
    let mut out = vec![false; n];
    for (row, &c) in pivots.iter().enumerate() {
        if (0..n).all(|j| j == c || m[row][j].abs() < 1e-9) {
            out[c] = true;
        }
    }
    out
}

/// Records of a demo fleet, written by the product's record writer
/// (`RecordBuilder`): `screens` screens over a week (Monday 2026-11-02,
/// 08:00 to 20:00 UTC), a playlist of 5-minute content periods, people
/// arriving at random with `contents` shares. Returns the NDJSON and the
/// truth per content item: (OTS, watchers) with gazedwell's default thresholds.
pub fn demo_records(screens: usize, seed: u64) -> (String, std::collections::BTreeMap<String, (u64, u64)>) {
    use blickfang::records::{RecordBuilder, RecordType, Timing};
    use blickfang::time::utc_rfc3339;
    use serde_json::json;
    const PLAYLIST: [&str; 4] = ["spring-sale", "coffee-promo", "new-phone", "store-info"];
    const PERIOD: f64 = 300.0;
    let start = 1_793_577_600i64; // 2026-11-02T00:00Z, a Monday
    let mut rng = Rng(seed);
    let mut out = String::new();
    let mut truth = std::collections::BTreeMap::new();
    for s in 0..screens {
        let screen = format!("store-{}/screen-{}", s / 2 + 1, s % 2 + 1);
        let mut b = RecordBuilder::new(screen, format!("run-{s}"), None);
        let utc = |t: f64| utc_rfc3339(((start as f64 + t) * 1e9) as i128);
        let content_at = |t: f64| PLAYLIST[((t / PERIOD) as usize + s) % PLAYLIST.len()];
        for day in 0..7 {
            for hour in 8..20 {
                let h0 = (day * 86_400 + hour * 3600) as f64;
                // Proof of play: one content report per period.
                for p in 0..12 {
                    let (ps, pe) = (h0 + p as f64 * PERIOD, h0 + (p + 1) as f64 * PERIOD);
                    let fields = json!({"content_id": content_at(ps), "start": ps, "end": pe, "running_time": pe,
                        "utc": utc(pe), "min_group_size": 5, "ending": "normal"});
                    let r = b.event(RecordType::ContentReport, &Timing::default(), fields.as_object().unwrap());
                    out.push_str(&r.to_string());
                    out.push('\n');
                }
                let busy = if (12..14).contains(&hour) || day >= 5 { 30 } else { 12 };
                for _ in 0..rng.below(busy) {
                    let first = h0 + rng.unit() * 3500.0;
                    let dwell = 0.5 + rng.unit() * rng.unit() * 90.0;
                    let looking = rng.unit() * rng.unit();
                    let last = first + dwell;
                    let mut contents = Vec::new();
                    let mut t = first;
                    while t < last {
                        let end = (((t / PERIOD).floor() + 1.0) * PERIOD).min(last);
                        let d = end - t;
                        let a = (d * looking * 100.0).round() / 100.0;
                        let c = content_at(t);
                        contents.push(
                            json!({"content_id": c, "start": t, "end": end, "dwell_time": d, "attention_time": a}),
                        );
                        if d >= 1.0 {
                            let e: &mut (u64, u64) = truth.entry(c.to_string()).or_default();
                            e.0 += 1;
                            e.1 += u64::from(a >= 1.0);
                        }
                        t = end;
                    }
                    let gender = ["female", "male"][rng.below(2) as usize];
                    let age_group = ["10-19", "20-29", "30-39", "40-49", "50-59", "60-69"][rng.below(6) as usize];
                    let fields = json!({"event": "left", "id": 1 + rng.below(1000), "running_time": last, "utc": utc(last),
                        "dwell_time": dwell, "attention_time": dwell * looking, "glances": 1,
                        "gender": gender, "age_group": age_group,
                        "contents": contents, "ending": "normal"});
                    let r = b.event(RecordType::PersonEvent, &Timing::default(), fields.as_object().unwrap());
                    out.push_str(&r.to_string());
                    out.push('\n');
                }
            }
        }
    }
    (out, truth)
}

/// `blickfang simulate` of 20 screens (seed 7) over `duration` into `dir`: the records file's path
/// and the truth it wrote (`--truth`). `blickfang` is the binary (`common::blickfang_binary_path`).
pub fn simulate(
    blickfang: &std::path::Path,
    dir: &std::path::Path,
    duration: &str,
) -> (String, blickfang_fleet::rollup::Rollup) {
    let (records, truth) = (dir.join("fleet.ndjson"), dir.join("truth.json"));
    let (records, truth) = (records.to_str().unwrap(), truth.to_str().unwrap());
    let out = std::process::Command::new(blickfang)
        .args(["simulate", "--screens", "20", "--duration", duration, "--seed", "7"])
        .args(["--records", records, "--truth", truth])
        .output()
        .expect("blickfang runs");
    assert!(out.status.success(), "blickfang simulate: {}", String::from_utf8_lossy(&out.stderr));
    let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(truth).unwrap()).unwrap();
    (records.to_string(), blickfang_fleet::rollup::Rollup::from_json(&truth).unwrap())
}

/// The truth (rollup cells, integer µs: exact) summed by `key`, independently
/// of the report's aggregation: the rows a report grouped by `key` must show.
pub fn truth_by(
    truth: &blickfang_fleet::rollup::Rollup,
    key: impl Fn(&blickfang_fleet::rollup::CellKey) -> Vec<String>,
) -> std::collections::BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell> {
    let mut out: std::collections::BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell> = Default::default();
    for (k, c) in &truth.cells {
        out.entry(key(k)).or_default().add(c);
    }
    out
}

/// The UTC day (`YYYY-MM-DD`) of a rollup key.
pub fn day_of(k: &blickfang_fleet::rollup::CellKey) -> String {
    blickfang::time::date((k.hour * 3600).div_euclid(86_400))
}

/// Every published number of `row` (a JSON row, or a CSV line made one by
/// [`csv_rows`]) equals the truth cell's, to the published precision; with
/// `k` > 1 a value may be `suppressed`, and must be where it counts fewer
/// than `k` people (or is a mean or ratio over fewer than `k`). Returns how
/// many values were suppressed.
pub fn assert_row(
    what: &str,
    row: &serde_json::Value,
    t: &blickfang_fleet::rollup::Cell,
    demographics: &[serde_json::Value],
    k: i64,
) -> usize {
    use serde_json::Value;
    let secs = |us: i64| us as f64 / 1e6;
    let small = |n: i64| n > 0 && n < k;
    let mut suppressed = 0;
    let mut check = |name: &str, got: &Value, want: f64, unit: f64, must_hide: bool| {
        if got == blickfang_report::publish::SUPPRESSED {
            assert!(k > 1, "{what} {name}: suppressed at k = 1");
            suppressed += 1;
            return;
        }
        assert!(!must_hide, "{what} {name}: {got} published, but it describes fewer than {k} people");
        let got = got.as_f64().unwrap_or_else(|| panic!("{what} {name}: {got}"));
        assert!((got - want).abs() <= unit / 2.0 + 1e-9, "{what} {name}: {got}, truth {want}");
    };
    check("plays", &row["plays"], t.plays as f64, 0.0, false);
    check("ots", &row["ots"], t.ots as f64, 0.0, small(t.ots));
    check("watchers", &row["watchers"], t.watchers as f64, 0.0, small(t.watchers));
    check("on_screen_time", &row["on_screen_time"], secs(t.on_screen_us), 0.1, false);
    let few_ots = small(t.ots);
    check("attention_time_total", &row["attention_time_total"], secs(t.attention_us), 0.1, false);
    if t.ots > 0 {
        check("conversion", &row["conversion"], t.watchers as f64 / t.ots as f64, 0.001, few_ots);
        check("dwell_time_mean", &row["dwell_time_mean"], secs(t.dwell_us) / t.ots as f64, 0.1, few_ots);
        check("attraction", &row["attraction"], t.attention_us as f64 / t.dwell_us as f64, 0.001, few_ots);
    } else {
        assert!(row["conversion"].is_null() && row["dwell_time_mean"].is_null(), "{what}: a mean over nobody");
    }
    if t.watchers > 0 {
        let mean = secs(t.watcher_attention_us) / t.watchers as f64;
        check("attention_time_mean", &row["attention_time_mean"], mean, 0.1, small(t.watchers));
    }
    for i in 0..t.dwell_histogram.len() {
        let (d, a) = (t.dwell_histogram[i], t.attention_histogram[i]);
        check(&format!("dwell_histogram[{i}]"), &row["dwell_histogram"][i], d as f64, 0.0, small(d));
        check(&format!("attention_histogram[{i}]"), &row["attention_histogram"][i], a as f64, 0.0, small(a));
    }
    for (i, d) in demographics.iter().enumerate() {
        let key = format!("{}/{}", d["gender"].as_str().unwrap(), d["age_group"].as_str().unwrap());
        let n = t.demographics.get(&key).copied().unwrap_or(0);
        check(&key, &row["demographics"][i], n as f64, 0.0, small(n));
    }
    suppressed
}

/// Checks a report's rows and total (JSON shape) against `truth` grouped by
/// `dims`: one row per non-empty group, every number equal. Returns the
/// values suppressed.
pub fn check_against_truth(
    json: &serde_json::Value,
    truth: &std::collections::BTreeMap<Vec<String>, blickfang_fleet::rollup::Cell>,
    dims: &[&str],
    k: i64,
) -> usize {
    let rows = json["rows"].as_array().unwrap();
    let demographics = json["demographics"].as_array().unwrap();
    let nonempty = truth.iter().filter(|(_, c)| **c != Default::default()).count();
    assert_eq!(rows.len(), nonempty, "one row per group");
    let mut total = blickfang_fleet::rollup::Cell::default();
    truth.values().for_each(|c| total.add(c));
    let mut wanted: std::collections::BTreeSet<String> = total.demographics.keys().cloned().collect();
    for d in demographics {
        assert!(wanted.remove(&format!("{}/{}", d["gender"].as_str().unwrap(), d["age_group"].as_str().unwrap())));
    }
    assert!(wanted.is_empty(), "demographics columns missing: {wanted:?}");
    let mut suppressed = 0;
    for row in rows {
        let key: Vec<String> = dims.iter().map(|d| row["key"][d].as_str().unwrap().to_string()).collect();
        suppressed += assert_row(&format!("{key:?}"), row, &truth[&key], demographics, k);
    }
    suppressed + assert_row("total", &json["total"], &total, demographics, k)
}

/// A CSV report made the shape of the JSON's `rows`, `total` and
/// `demographics` (columns by name), so [`check_against_truth`] reads both.
pub fn csv_rows(csv: &str, dims: &[&str]) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header row").split(',').collect();
    let parse = |s: &str| match s {
        "" => Value::Null,
        blickfang_report::publish::SUPPRESSED => json!(blickfang_report::publish::SUPPRESSED),
        n => json!(n.parse::<f64>().unwrap_or_else(|_| panic!("CSV value {n:?}"))),
    };
    let demographics: Vec<Value> = header
        .iter()
        .filter_map(|c| c.strip_prefix("demographics_"))
        .map(|gd| {
            let (g, a) = gd.split_once('_').unwrap();
            json!({"gender": g, "age_group": a})
        })
        .collect();
    let mut rows = Vec::new();
    let mut total = Value::Null;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{line}");
        let mut row = json!({"key": {}, "dwell_histogram": [], "attention_histogram": [], "demographics": []});
        for (c, f) in header.iter().zip(&fields) {
            if dims.contains(c) {
                row["key"][*c] = json!(f);
            } else if let Some(list) = ["dwell_histogram", "attention_histogram", "demographics"]
                .into_iter()
                .find(|l| c.starts_with(&format!("{l}_")))
            {
                row[list].as_array_mut().unwrap().push(parse(f));
            } else {
                row[*c] = parse(f);
            }
        }
        if fields[..dims.len()].iter().all(|f| *f == "total") {
            total = row;
        } else {
            rows.push(row);
        }
    }
    json!({"rows": rows, "total": total, "demographics": demographics})
}
