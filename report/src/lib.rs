//! blickfang's audience report: what a media owner reads.
//!
//! Input: [`ReportCell`]s, the additive counts of one screen × content item ×
//! hour — from the fleet's hourly rollup or from a records file, both as
//! the fleet's [`Rollup`](blickfang_fleet::rollup::Rollup) made into cells by
//! one adapter ([`input::report_cells`]). [`model::aggregate`] sums them by the
//! report's dimensions, [`publish::publish`] applies k-anonymity at the
//! output ([`kanon`]: small counts, means and ratios suppressed, with
//! complementary suppression), and [`render`] writes CSV, JSON
//! (`schema/blickfang-report.schema.json`, [`SCHEMA`]) or one self-contained
//! HTML file. The metric words are defined once: [`publish::DEFINITIONS`].
//!
//! No GStreamer here: the plugin does not depend on this crate.

pub mod catalogue;
pub mod cli;
pub mod input;
pub mod kanon;
pub mod model;
pub mod publish;
pub mod render;

pub use model::{Catalogue, Dimension, Filter, ReportCell, Table, aggregate};
pub use publish::{Metric, PublishedTable, Shown};

/// The version of the JSON report, in its `schema` field and the schema's `$id`.
pub const SCHEMA: &str = "blickfang-report/1";
/// The k of k-anonymity unless told otherwise.
pub const DEFAULT_MIN_GROUP_SIZE: u64 = 5;

/// What a report covers and how it groups.
#[derive(Debug, Clone)]
pub struct Query {
    pub by: Vec<Dimension>,
    pub filter: Filter,
    /// The k of k-anonymity.
    pub min_group_size: u64,
}

impl Default for Query {
    fn default() -> Self {
        Self { by: vec![Dimension::Content], filter: Filter::default(), min_group_size: DEFAULT_MIN_GROUP_SIZE }
    }
}

/// What the report's header says beyond the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub title: String,
    /// Where the numbers come from (`records: demo.ndjson`, `database: ...` without secrets).
    pub source: String,
    /// How times were placed: the records' `utc`, or a fallback (said plainly).
    pub time_note: String,
    /// gazedwell's thresholds the OTS and watchers were counted with.
    pub min_dwell: f64,
    pub min_attention: f64,
}

impl Default for Header {
    fn default() -> Self {
        let d = blickfang::dwell::DwellConfig::default();
        Self {
            title: "Audience report".into(),
            source: String::new(),
            time_note: "times are UTC".into(),
            min_dwell: d.min_dwell,
            min_attention: d.min_attention,
        }
    }
}

/// A report, ready to render: the main table and the tables behind the
/// charts, suppressed together.
#[derive(Debug, Clone)]
pub struct Report {
    pub header: Header,
    pub query: Query,
    /// The period: `from` inclusive, `to` exclusive (Unix seconds); from the
    /// query, else the first and last hour of the data.
    pub period: Option<(i64, i64)>,
    pub screens: Vec<String>,
    /// Grouped by the query's dimensions.
    pub main: PublishedTable,
    /// Grouped by content (the audience bars).
    pub by_content: PublishedTable,
    /// Grouped by weekday and hour (the heatmap; without gender × age group).
    pub by_weekday_hour: PublishedTable,
}

/// Aggregates `cells` for `query` and applies k-anonymity: the whole report
/// from a slice of cells (what the < 2 s benchmark times, with rendering).
pub fn build(cells: &[ReportCell], query: &Query, catalogue: &Catalogue, header: Header) -> Report {
    let (content, heatmap) = ([Dimension::Content], [Dimension::Weekday, Dimension::Hour]);
    // The main table's rows split by the charts' keys: which of its rows each bar and each
    // heatmap cell sums (with what they share), so the charts are protected with it.
    let with = |extra: &[Dimension]| -> Vec<Dimension> {
        let mut by = query.by.clone();
        by.extend(extra.iter().filter(|d| !query.by.contains(d)));
        by
    };
    let (main_content, main_heatmap) = (with(&content), with(&heatmap));
    let tables: [&[Dimension]; 5] = [&query.by, &content, &heatmap, &main_content, &main_heatmap];
    let mut tables = model::aggregate_many(cells, &tables, &query.filter, catalogue).into_iter();
    let (main, by_content, mut heat) = (tables.next().unwrap(), tables.next().unwrap(), tables.next().unwrap());
    let (main_content, main_heatmap) = (tables.next().unwrap(), tables.next().unwrap());
    let overlaps = [
        publish::Overlap::new((1, &by_content), (0, &main), &main_content, true),
        publish::Overlap::new((2, &heat), (0, &main), &main_heatmap, false),
    ];
    // The heatmap shows attention only: it publishes no gender × age group (so the database
    // path reads those by day, not by hour, where the days allow).
    heat.demographics.clear();
    heat.rows.iter_mut().for_each(|r| r.counts.demographics.clear());
    heat.total.demographics.clear();
    let period = match (query.filter.from, query.filter.to, main.hours) {
        (Some(f), Some(t), _) => Some((f, t)),
        (f, t, Some((a, b))) => Some((f.unwrap_or(a), t.unwrap_or(b + 3600))),
        (Some(f), None, None) => Some((f, f)),
        (None, Some(t), None) => Some((t, t)),
        (None, None, None) => None,
    };
    let screens = main.screens.iter().cloned().collect();
    let watcher_bin = publish::watcher_bin(header.min_attention);
    let mut published =
        publish::publish_overlapping(&[&main, &by_content, &heat], &overlaps, query.min_group_size, watcher_bin)
            .into_iter();
    let (main, by_content, by_weekday_hour) =
        (published.next().unwrap(), published.next().unwrap(), published.next().unwrap());
    Report { header, query: query.clone(), period, screens, main, by_content, by_weekday_hour }
}
