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
