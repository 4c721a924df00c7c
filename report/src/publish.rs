//! The published report: a [`Table`] after k-anonymity, each value a number,
//! `suppressed`, or undefined (a mean over nobody), and the metric words
//! every format uses.

use std::collections::HashMap;

use blickfang::report::{ATTENTION_BINS, DWELL_BINS};

use crate::kanon::{Grid, protect_joint};
use crate::model::{Counts, Dimension, Table, secs};

/// The metrics of a row, in column order. Their names and definitions are
/// the ones every format (CSV header, JSON field, HTML table) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Plays,
    OnScreenTime,
    Ots,
    Watchers,
    Conversion,
    AttentionTimeTotal,
    AttentionTimeMean,
    DwellTimeMean,
    Attraction,
}

/// | metric | definition |
/// |---|---|
/// | `plays` | content periods that started in the period (proof of play: the edge's content reports) |
/// | `on_screen_time` | seconds the content was on screen (proof of play) |
/// | `ots` | opportunities to see: people in front of the screen at least `min_dwell` seconds while the content played (a person counts once per content item seen) |
/// | `watchers` | OTS who looked at the screen at least `min_attention` seconds while the content played |
/// | `conversion` | watchers / OTS |
/// | `attention_time_total` | seconds the OTS looked at the screen, summed |
/// | `attention_time_mean` | attention seconds per watcher: the watchers' attention time / watchers |
/// | `dwell_time_mean` | seconds in front of the screen per OTS: dwell time / OTS |
/// | `attraction` | attention time / dwell time of the OTS (the share of their time they looked) |
/// | `dwell_histogram` | OTS per dwell-time bin |
/// | `attention_histogram` | OTS per attention-time bin |
/// | `demographics` | OTS per gender × age group (`unknown` where not estimated) |
pub const DEFINITIONS: [(&str, &str); 12] = [
    ("plays", "content periods that started in the period (proof of play)"),
    ("on_screen_time", "seconds the content was on screen (proof of play)"),
    (
        "ots",
        "opportunities to see: people in front of the screen at least min_dwell seconds while the content played \
         (a person counts once per content item seen)",
    ),
    ("watchers", "OTS who looked at the screen at least min_attention seconds while the content played"),
    ("conversion", "watchers / OTS"),
    ("attention_time_total", "seconds the OTS looked at the screen, summed"),
    ("attention_time_mean", "attention seconds per watcher: the watchers' attention time / watchers"),
    ("dwell_time_mean", "seconds in front of the screen per OTS: dwell time / OTS"),
    ("attraction", "attention time / dwell time of the OTS: the share of their time they looked"),
    ("dwell_histogram", "OTS per dwell-time bin (seconds, lower bound inclusive)"),
    ("attention_histogram", "OTS per attention-time bin (seconds, lower bound inclusive)"),
    ("demographics", "OTS per gender and age group (unknown where not estimated)"),
];

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::Plays,
        Metric::OnScreenTime,
        Metric::Ots,
        Metric::Watchers,
        Metric::Conversion,
        Metric::AttentionTimeTotal,
        Metric::AttentionTimeMean,
        Metric::DwellTimeMean,
        Metric::Attraction,
    ];

    pub fn name(self) -> &'static str {
        DEFINITIONS[self as usize].0
    }

    pub fn definition(self) -> &'static str {
        DEFINITIONS[self as usize].1
    }

    /// Whether the value counts people (an integer subject to k).
    pub fn is_count(self) -> bool {
        matches!(self, Metric::Ots | Metric::Watchers)
    }
}

/// A published value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shown {
    Value(f64),
    /// Hidden for k-anonymity (a small count, or a complement that would reveal one).
    Suppressed,
    /// A mean or ratio over nobody.
    Undefined,
}

/// The marker of a suppressed value, in every format.
pub const SUPPRESSED: &str = "suppressed";

impl Shown {
    pub fn value(self) -> Option<f64> {
        match self {
            Shown::Value(v) => Some(v),
            _ => None,
        }
    }

    /// As text: the number (integers without a point), `suppressed`, or empty.
    pub fn text(self) -> String {
        match self {
            Shown::Value(v) => format_number(v),
            Shown::Suppressed => SUPPRESSED.to_string(),
            Shown::Undefined => String::new(),
        }
    }
}

/// Numbers as every format writes them: rounded values print as typed.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// Seconds are published to 0.1 s, ratios to 0.001.
fn seconds(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn ratio(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One published row (or the total).
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRow {
    /// One value per [`PublishedTable::by`]; empty for the total.
    pub key: Vec<String>,
    /// One value per [`Metric::ALL`].
    pub metrics: Vec<Shown>,
    pub dwell_histogram: Vec<Shown>,
    pub attention_histogram: Vec<Shown>,
    /// One value per [`PublishedTable::demographics`].
    pub demographics: Vec<Shown>,
}

impl PublishedRow {
    pub fn get(&self, m: Metric) -> Shown {
        self.metrics[m as usize]
    }
}

/// A table as published: every value passed k-anonymity.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedTable {
    pub by: Vec<Dimension>,
    pub min_group_size: u64,
    pub demographics: Vec<(String, String)>,
    pub rows: Vec<PublishedRow>,
    pub total: PublishedRow,
}

/// Histogram bin names: `0-2s`, `2-5s`, ..., `60s+`.
pub fn bin_names(bounds: &[f64]) -> Vec<String> {
    let mut lo = 0.0;
    let mut out = Vec::new();
    for &b in bounds {
        out.push(format!("{}-{}s", format_number(lo), format_number(b)));
        lo = b;
    }
    out.push(format!("{}s+", format_number(lo)));
    out
}

pub fn dwell_bin_names() -> Vec<String> {
    bin_names(&DWELL_BINS)
}

pub fn attention_bin_names() -> Vec<String> {
    bin_names(&ATTENTION_BINS)
}

/// The suppression state of one table, per grid (audience, dwell,
/// attention, demographics), so several tables of one report can share
/// their totals' masks.
struct Masks {
    grids: Vec<Grid>,
}

/// The grids of a table: audience (watchers, not watching), dwell bins,
/// attention bins, demographics — all with the rows' OTS as margin column.
fn grids(table: &Table) -> Vec<Grid> {
    let rows = &table.rows;
    let audience: Vec<Vec<u64>> =
        rows.iter().map(|r| vec![r.counts.watchers, r.counts.ots - r.counts.watchers]).collect();
    let dwell: Vec<Vec<u64>> = rows.iter().map(|r| r.counts.dwell_histogram.to_vec()).collect();
    let attention: Vec<Vec<u64>> = rows.iter().map(|r| r.counts.attention_histogram.to_vec()).collect();
    let demo: Vec<Vec<u64>> = rows
        .iter()
        .map(|r| table.demographics.iter().map(|k| r.counts.demographics.get(k).copied().unwrap_or(0)).collect())
        .collect();
    vec![
        Grid::new(&audience, 2),
        Grid::new(&dwell, dwell.first().map_or(crate::model::DWELL_BIN_COUNT, Vec::len)),
        Grid::new(&attention, crate::model::ATTENTION_BIN_COUNT),
        Grid::new(&demo, table.demographics.len()),
    ]
}

/// The first attention bin whose people are all watchers when `min_attention` is a bin bound
/// (0 s: every bin): the watchers are then the sum of the bins from there up.
pub fn watcher_bin(min_attention: f64) -> Option<usize> {
    if min_attention <= 0.0 {
        return Some(0);
    }
    ATTENTION_BINS.iter().position(|&b| b == min_attention).map(|p| p + 1)
}

/// Two tables of one report that sum the same people by different keys, so
/// that one's published counts are sums of the other's (the per-content bars
/// and a main table by content × day: each bar is its content's rows; the
/// heatmap's attention and a main table by day, by the days' weekday).
#[derive(Debug, Clone)]
pub struct Overlap {
    /// The tables, as indices into the report's list.
    pub a: usize,
    pub b: usize,
    /// (row of `a`, row of `b`, the counts of their common input cells).
    pub shared: Vec<(usize, usize, Common)>,
    /// Whether `a` publishes its audience (OTS and watchers: the bars); else
    /// only what is hidden with its OTS (the heatmap's attention time).
    pub audience: bool,
}

/// The counts a linked grid reads of two rows' common input cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Common {
    pub ots: u64,
    pub watchers: u64,
    pub attention_histogram: [u64; crate::model::ATTENTION_BIN_COUNT],
}

impl Common {
    fn of(c: &Counts) -> Self {
        Self { ots: c.ots, watchers: c.watchers, attention_histogram: c.attention_histogram }
    }

    /// The count in column `j` of grid `g` of [`grids`] (the audience or the
    /// attention bins; the last column: the OTS).
    fn column(&self, g: usize, j: usize) -> u64 {
        match (g, j) {
            (0, 0) => self.watchers,
            (0, 1) => self.ots - self.watchers,
            (2, j) if j < self.attention_histogram.len() => self.attention_histogram[j],
            _ => self.ots,
        }
    }
}

impl Overlap {
    /// The overlap of the tables `a` and `b` (with their indices) from
    /// `common`: the same cells summed by every dimension of both.
    pub fn new(a: (usize, &Table), b: (usize, &Table), common: &Table, audience: bool) -> Self {
        let index = |t: &Table| -> HashMap<Vec<String>, usize> {
            t.rows.iter().enumerate().map(|(i, r)| (r.key.clone(), i)).collect()
        };
        let (rows_a, rows_b) = (index(a.1), index(b.1));
        let columns = |t: &Table| -> Vec<usize> {
            t.by.iter().map(|d| common.by.iter().position(|c| c == d).expect("common has every dimension")).collect()
        };
        let (cols_a, cols_b) = (columns(a.1), columns(b.1));
        let project =
            |key: &[String], cols: &[usize]| -> Vec<String> { cols.iter().map(|&i| key[i].clone()).collect() };
        let shared = common
            .rows
            .iter()
            .filter_map(|r| {
                let i = rows_a.get(&project(&r.key, &cols_a))?;
                let j = rows_b.get(&project(&r.key, &cols_b))?;
                Some((*i, *j, Common::of(&r.counts)))
            })
            .collect();
        Self { a: a.0, b: b.0, shared, audience }
    }
}

/// One column of two overlapping tables' grids (grid `g`, column `j`),
/// protected as a linked grid ([`Grid::linked`]): rows `a`'s, columns `b`'s.
struct Link {
    a: usize,
    b: usize,
    g: usize,
    j: usize,
    grid: Grid,
}

/// The linked grids of `overlaps`: the bars' audience as the grid that
/// determines it (the attention bins and the OTS, or the watchers and the not
/// watching without a `watcher_bin`), the heatmap's OTS (its attention time
/// is hidden with it and sums over the same people).
fn links(overlaps: &[Overlap], masks: &[Masks], watcher_bin: Option<usize>) -> Vec<Link> {
    let mut out = Vec::new();
    for o in overlaps {
        let g = if o.audience && watcher_bin.is_none() { 0 } else { 2 };
        let margin = masks[o.a].grids[g].cols();
        let columns: Vec<usize> = if o.audience { (0..=margin).collect() } else { vec![margin] };
        for j in columns {
            let shared: Vec<(usize, usize, u64)> =
                o.shared.iter().map(|(i, jj, c)| (*i, *jj, c.column(g, j))).collect();
            let grid = Grid::linked(masks[o.a].grids[g].rows(), masks[o.b].grids[g].rows(), &shared);
            out.push(Link { a: o.a, b: o.b, g, j, grid });
        }
    }
    out
}

/// Rule 4 across two tables: their masks into the linked grid, its bridges
/// closed, the margins it hid back into `a` (`b`, the main table, is settled:
/// the charts never change what CSV and JSON publish); true if `a` changed.
fn protect_link(l: &mut Link, masks: &mut [Masks]) -> bool {
    let (rows, cols) = (l.grid.rows(), l.grid.cols());
    let (ta, tb) = (masks[l.a].grids[l.g].rows(), masks[l.b].grids[l.g].rows());
    for i in 0..rows {
        if masks[l.a].grids[l.g].is_hidden(i, l.j) {
            l.grid.hide(i, cols);
        }
    }
    for i in 0..cols {
        if masks[l.b].grids[l.g].is_hidden(i, l.j) {
            l.grid.hide(rows, i);
        }
    }
    if masks[l.a].grids[l.g].is_hidden(ta, l.j) || masks[l.b].grids[l.g].is_hidden(tb, l.j) {
        l.grid.hide(rows, cols);
    }
    l.grid.protect_linked();
    let mut changed = false;
    for i in 0..rows {
        if l.grid.is_hidden(i, cols) {
            changed |= masks[l.a].grids[l.g].hide(i, l.j);
        }
    }
    changed
}

/// [`publish_with`] at gazedwell's default `min_attention`.
pub fn publish(tables: &[&Table], k: u64) -> Vec<PublishedTable> {
    publish_with(tables, k, watcher_bin(blickfang::dwell::DwellConfig::default().min_attention))
}

/// Suppresses the tables of one report together: each table's grids share
/// their OTS margin; the totals row (the same people in every table of the
/// report) is hidden in all tables where it is hidden in one.
///
/// `watcher_bin` (see [`watcher_bin`]): the watchers are the attention bins
/// from there up, so they are published exactly where the published bins
/// determine them (and then never in (0, k), rule 5 of [`crate::kanon`]): a
/// hidden bin is never their difference. Without it (a `min_attention`
/// between bin bounds) the watchers and the not watching are a grid of their
/// own, sharing the OTS margin.
pub fn publish_with(tables: &[&Table], k: u64, watcher_bin: Option<usize>) -> Vec<PublishedTable> {
    publish_overlapping(tables, &[], k, watcher_bin)
}

/// [`publish_with`], and where one table's published counts are sums of
/// another's ([`Overlap`]), the two are protected together as well: no hidden
/// count of either is worked out from the other (rule 4 of [`crate::kanon`]
/// on a linked grid per column they share).
pub fn publish_overlapping(
    tables: &[&Table],
    overlaps: &[Overlap],
    k: u64,
    watcher_bin: Option<usize>,
) -> Vec<PublishedTable> {
    let mut masks: Vec<Masks> = tables.iter().map(|t| Masks { grids: grids(t) }).collect();
    let mut linked = links(overlaps, &masks, watcher_bin);
    // With the watchers derived from the attention grid, the audience grid is not protected itself.
    let first = usize::from(watcher_bin.is_some());
    loop {
        for m in masks.iter_mut() {
            protect_joint(&mut m.grids[first..], k);
        }
        let mut changed = false;
        if let Some(h) = watcher_bin {
            for m in masks.iter_mut() {
                let a = &mut m.grids[2];
                for i in 0..=a.rows() {
                    changed |= a.protect_group(i, h..a.cols(), k, false);
                }
            }
            // The watchers total: determined (so published) in every table or in none.
            let determined: Vec<bool> = masks
                .iter()
                .map(|m| {
                    let a = &m.grids[2];
                    a.group_determined(a.rows(), h..a.cols())
                })
                .collect();
            if determined.contains(&false) {
                for (m, d) in masks.iter_mut().zip(determined) {
                    let a = &mut m.grids[2];
                    if d {
                        let r = a.rows();
                        changed |= a.protect_group(r, h..a.cols(), k, true);
                    }
                }
            }
        }
        for l in linked.iter_mut() {
            changed |= protect_link(l, &mut masks);
        }
        // Union of the totals rows, grid by grid (the same columns in every table, or none:
        // the heatmap has no gender × age group); column `cols` stands for each grid's margin.
        for g in first..4 {
            let Some(cols) = masks.iter().map(|m| m.grids[g].cols()).max() else { continue };
            let position = |grid: &Grid, j: usize| match j {
                j if j == cols => Some(grid.cols()),
                j if j < grid.cols() => Some(j),
                _ => None,
            };
            for j in 0..=cols {
                let hidden = masks.iter().any(|m| {
                    let grid = &m.grids[g];
                    position(grid, j).is_some_and(|jj| grid.is_hidden(grid.rows(), jj))
                });
                if hidden {
                    for m in masks.iter_mut() {
                        let grid = &mut m.grids[g];
                        if let Some(jj) = position(grid, j) {
                            let r = grid.rows();
                            changed |= grid.hide(r, jj);
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    if let Some(h) = watcher_bin {
        // The audience as the attention grid determines it: the OTS margin shared, the watchers
        // published where the bins from `h` up determine them, the not watching where the rest do.
        for m in masks.iter_mut() {
            let (audience, rest) = m.grids.split_at_mut(1);
            let (audience, a) = (&mut audience[0], &rest[1]);
            let (watchers, not_watching) = (a.groups_determined(h..a.cols()), a.groups_determined(0..h));
            for i in 0..=a.rows() {
                if a.is_hidden(i, a.cols()) {
                    audience.hide(i, 2);
                }
                if !watchers[i] {
                    audience.hide(i, 0);
                }
                if !not_watching[i] {
                    audience.hide(i, 1);
                }
            }
        }
    }
    tables.iter().zip(&masks).map(|(t, m)| published(t, &m.grids, k)).collect()
}

fn published(table: &Table, grids: &[Grid], k: u64) -> PublishedTable {
    let row = |i: usize, key: Vec<String>, c: &Counts| -> PublishedRow {
        let (audience, dwell, attention, demo) = (&grids[0], &grids[1], &grids[2], &grids[3]);
        let count =
            |g: &Grid, j: usize| if g.is_hidden(i, j) { Shown::Suppressed } else { Shown::Value(g.value(i, j) as f64) };
        let ots_hidden = audience.is_hidden(i, audience.cols());
        let watchers_hidden = audience.is_hidden(i, 0);
        let over = |hidden: bool, people: u64, f: &dyn Fn() -> f64| {
            if hidden || (people > 0 && people < k) {
                Shown::Suppressed
            } else if people == 0 {
                Shown::Undefined
            } else {
                Shown::Value(f())
            }
        };
        let over_seconds = |hidden: bool, v: f64| if hidden { Shown::Suppressed } else { Shown::Value(seconds(v)) };
        let metrics = vec![
            Shown::Value(c.plays as f64),
            Shown::Value(seconds(secs(c.on_screen_us))),
            count(audience, audience.cols()),
            count(audience, 0),
            over(ots_hidden || watchers_hidden, c.ots, &|| ratio(c.watchers as f64 / c.ots as f64)),
            over_seconds(ots_hidden, secs(c.attention_us)),
            over(watchers_hidden, c.watchers, &|| seconds(secs(c.watcher_attention_us) / c.watchers as f64)),
            over(ots_hidden, c.ots, &|| seconds(secs(c.dwell_us) / c.ots as f64)),
            over(ots_hidden || c.dwell_us <= 0, c.ots, &|| ratio(secs(c.attention_us) / secs(c.dwell_us))),
        ];
        PublishedRow {
            key,
            metrics,
            dwell_histogram: (0..dwell.cols()).map(|j| count(dwell, j)).collect(),
            attention_histogram: (0..attention.cols()).map(|j| count(attention, j)).collect(),
            demographics: (0..demo.cols()).map(|j| count(demo, j)).collect(),
        }
    };
    let rows = table.rows.iter().enumerate().map(|(i, r)| row(i, r.key.clone(), &r.counts)).collect();
    let total = row(table.rows.len(), Vec::new(), &table.total);
    PublishedTable { by: table.by.clone(), min_group_size: k, demographics: table.demographics.clone(), rows, total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Catalogue, Filter, ReportCell, aggregate};

    fn cell(content: &str, people: &[(f64, f64)]) -> ReportCell {
        let mut c = ReportCell { screen: "s".into(), content_id: content.into(), hour: 0, ..Default::default() };
        c.counts.plays = 1;
        c.counts.on_screen_us = 30_000_000;
        for &(d, a) in people {
            c.counts.add_person(d, a, a >= 1.0, "female", "20-29");
        }
        c
    }

    #[test]
    fn small_rows_are_suppressed_with_their_means() {
        let cells = vec![cell("a", &[(3.0, 2.0); 2]), cell("b", &[(3.0, 2.0); 10]), cell("c", &[(12.0, 3.0); 7])];
        let t = aggregate(&cells, &[Dimension::Content], &Filter::default(), &Catalogue::default());
        let p = &publish(&[&t], 5)[0];
        let a = &p.rows[0];
        assert_eq!(a.get(Metric::Ots), Shown::Suppressed);
        assert_eq!(a.get(Metric::AttentionTimeMean), Shown::Suppressed);
        assert_eq!(a.get(Metric::Plays), Shown::Value(1.0), "plays count no people");
        // Row a alone hidden in the OTS column would be total - b - c: one more is hidden.
        let hidden = p.rows.iter().chain([&p.total]).filter(|r| r.get(Metric::Ots) == Shown::Suppressed).count();
        assert!(hidden >= 2);
        assert_eq!(Metric::Conversion.name(), "conversion");
        assert_eq!(dwell_bin_names()[0], "0-2s");
        assert_eq!(dwell_bin_names().last().unwrap(), "60s+");
    }

    #[test]
    fn nobody_is_zero_and_means_over_nobody_are_undefined() {
        let t = aggregate(&[cell("a", &[])], &[Dimension::Content], &Filter::default(), &Catalogue::default());
        let p = &publish(&[&t], 5)[0];
        assert_eq!(p.rows[0].get(Metric::Ots), Shown::Value(0.0));
        assert_eq!(p.rows[0].get(Metric::Conversion), Shown::Undefined);
        assert_eq!(Shown::Undefined.text(), "");
        assert_eq!(Shown::Suppressed.text(), "suppressed");
        assert_eq!(Shown::Value(2.5).text(), "2.5");
        assert_eq!(Shown::Value(7.0).text(), "7");
    }
}
