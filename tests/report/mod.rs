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
                cell.counts.on_screen_time = cell.counts.plays as f64 * 30.0;
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
