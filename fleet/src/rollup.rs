//! The hourly rollup cell (screen × content × hour) and its arithmetic: the
//! one definition both the collector (from the rows it actually inserted)
//! and the simulator's truth use.
//!
//! Rules (the same as gazedwell's content report, per person-content share
//! instead of per period):
//! - a share (a person's time inside one period of a content item) counts in
//!   the UTC hour in which it **started**; a play (content period) counts in
//!   the hour in which it started, with its whole on-screen time;
//! - a share is an OTS (opportunity to see) when its dwell time is at least
//!   `min_dwell` (default 1 s, gazedwell's `min-dwell`); only OTS shares add
//!   dwell, attention, histograms and demographics;
//! - an OTS share makes a watcher when its attention time is at least
//!   `min_attention` (default 1 s, gazedwell's `min-attention`);
//! - histogram bins are `blickfang::report::DWELL_BINS` / `ATTENTION_BINS`
//!   (upper bounds, exclusive; the last bin is open);
//! - demographics count OTS per gender × age group, `unknown` where not estimated.
//!
//! All times are integer microseconds, so sums are exact in any order.

use std::collections::BTreeMap;

use blickfang::report::{ATTENTION_BINS, DWELL_BINS};
use serde::{Deserialize, Serialize};

use crate::ingest::{ContentPeriod, PersonLeft, micros};

/// Histogram cells: one per bound plus the open bin.
pub const BINS: usize = 6;
const _: () = assert!(DWELL_BINS.len() + 1 == BINS && ATTENTION_BINS.len() + 1 == BINS);

pub const US_PER_HOUR: i64 = 3_600_000_000;

/// The thresholds of an OTS and a watcher.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub min_dwell_us: i64,
    pub min_attention_us: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { min_dwell_us: 1_000_000, min_attention_us: 1_000_000 }
    }
}

/// screen × content × hour (hour: hours since the epoch, UTC).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    pub screen: String,
    pub content_id: String,
    pub hour: i64,
}

/// One rollup cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub plays: i64,
    pub on_screen_us: i64,
    pub ots: i64,
    pub watchers: i64,
    pub dwell_us: i64,
    /// Attention of every OTS.
    pub attention_us: i64,
    /// Attention of the watchers only (for the mean per watcher).
    pub watcher_attention_us: i64,
    pub dwell_histogram: [i64; BINS],
    pub attention_histogram: [i64; BINS],
    /// OTS per "gender/age_group".
    pub demographics: BTreeMap<String, i64>,
}

impl Cell {
    pub fn add(&mut self, other: &Cell) {
        self.plays += other.plays;
        self.on_screen_us += other.on_screen_us;
        self.ots += other.ots;
        self.watchers += other.watchers;
        self.dwell_us += other.dwell_us;
        self.attention_us += other.attention_us;
        self.watcher_attention_us += other.watcher_attention_us;
        for i in 0..BINS {
            self.dwell_histogram[i] += other.dwell_histogram[i];
            self.attention_histogram[i] += other.attention_histogram[i];
        }
        for (k, v) in &other.demographics {
            *self.demographics.entry(k.clone()).or_default() += v;
        }
    }
}

fn bin(value_us: i64, bounds: &[f64]) -> usize {
    bounds.iter().position(|&b| value_us < micros(b)).unwrap_or(bounds.len())
}

/// The hour (since the epoch) of a wall-clock time in µs.
pub fn hour_of(us: i64) -> i64 {
    us.div_euclid(US_PER_HOUR)
}

/// A set of cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub cells: BTreeMap<CellKey, Cell>,
}

impl Rollup {
    fn cell(&mut self, screen: &str, content_id: &str, at_us: i64) -> &mut Cell {
        let key = CellKey { screen: screen.to_string(), content_id: content_id.to_string(), hour: hour_of(at_us) };
        self.cells.entry(key).or_default()
    }

    /// A person's shares.
    pub fn add_left(&mut self, left: &PersonLeft, t: &Thresholds) {
        let demo = format!(
            "{}/{}",
            left.gender.as_deref().unwrap_or("unknown"),
            left.age_group.as_deref().unwrap_or("unknown")
        );
        for s in &left.contents {
            if s.dwell_us < t.min_dwell_us {
                continue;
            }
            let c = self.cell(&left.key.screen, &s.content_id, s.start_us);
            c.ots += 1;
            c.dwell_us += s.dwell_us;
            c.attention_us += s.attention_us;
            c.dwell_histogram[bin(s.dwell_us, &DWELL_BINS)] += 1;
            c.attention_histogram[bin(s.attention_us, &ATTENTION_BINS)] += 1;
            if s.attention_us >= t.min_attention_us {
                c.watchers += 1;
                c.watcher_attention_us += s.attention_us;
            }
            *c.demographics.entry(demo.clone()).or_default() += 1;
        }
    }

    /// A play (proof of play).
    pub fn add_period(&mut self, p: &ContentPeriod) {
        let c = self.cell(&p.key.screen, &p.content_id, p.start_us);
        c.plays += 1;
        c.on_screen_us += p.end_us - p.start_us;
    }

    pub fn merge(&mut self, other: &Rollup) {
        for (k, v) in &other.cells {
            self.cells.entry(k.clone()).or_default().add(v);
        }
    }

    /// Cells as JSON lines-friendly rows (the truth file's `cells`).
    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .cells
            .iter()
            .map(|(k, c)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.insert("screen".into(), k.screen.clone().into());
                    m.insert("content_id".into(), k.content_id.clone().into());
                    m.insert("hour".into(), k.hour.into());
                    m.insert(
                        "hour_utc".into(),
                        blickfang::time::utc_rfc3339(i128::from(k.hour) * i128::from(US_PER_HOUR) * 1000).into(),
                    );
                }
                v
            })
            .collect();
        serde_json::json!({ "cells": rows })
    }

    /// Reads what [`Rollup::to_json`] wrote.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let mut r = Rollup::default();
        for row in v.get("cells").and_then(|c| c.as_array()).ok_or("no cells")? {
            let key: CellKey = serde_json::from_value(row.clone()).map_err(|e| e.to_string())?;
            let cell: Cell = serde_json::from_value(row.clone()).map_err(|e| e.to_string())?;
            r.cells.insert(key, cell);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Key, Share};

    fn share(content: &str, start_us: i64, dwell_s: f64, attention_s: f64) -> Share {
        Share {
            content_id: content.into(),
            start_us,
            end_us: start_us + micros(dwell_s),
            dwell_us: micros(dwell_s),
            attention_us: micros(attention_s),
        }
    }

    #[test]
    fn shares_count_in_the_hour_they_started() {
        let h = 493_000 * US_PER_HOUR;
        let left = PersonLeft {
            key: Key { screen: "s".into(), run: "r".into(), seq: 1 },
            at_us: h + US_PER_HOUR + 5_000_000,
            dwell_us: 0,
            attention_us: 0,
            glances: 1,
            gender: Some("female".into()),
            age_group: None,
            ending: None,
            contents: vec![
                share("a", h + US_PER_HOUR - 3_000_000, 3.0, 1.5), // started before the hour turned
                share("b", h + US_PER_HOUR, 5.0, 0.5),
                share("a", h + US_PER_HOUR + 5_000_000, 0.5, 0.5), // under min_dwell: not an OTS
            ],
        };
        let mut r = Rollup::default();
        r.add_left(&left, &Thresholds::default());
        let a = &r.cells[&CellKey { screen: "s".into(), content_id: "a".into(), hour: hour_of(h) }];
        assert_eq!(
            (a.ots, a.watchers, a.dwell_us, a.attention_us, a.watcher_attention_us),
            (1, 1, 3_000_000, 1_500_000, 1_500_000)
        );
        assert_eq!(a.dwell_histogram, [0, 1, 0, 0, 0, 0]);
        assert_eq!(a.attention_histogram, [0, 1, 0, 0, 0, 0]);
        assert_eq!(a.demographics["female/unknown"], 1);
        let b = &r.cells[&CellKey { screen: "s".into(), content_id: "b".into(), hour: hour_of(h) + 1 }];
        assert_eq!((b.ots, b.watchers, b.dwell_histogram[2]), (1, 0, 1), "5 s is in the [5, 10) bin");
        assert_eq!(r.cells.len(), 2);
        // Merging is addition; JSON round-trips.
        let mut twice = r.clone();
        twice.merge(&r);
        assert_eq!(twice.cells.values().map(|c| c.ots).sum::<i64>(), 4);
        assert_eq!(Rollup::from_json(&r.to_json()).unwrap(), r);
    }
}
