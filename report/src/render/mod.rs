//! The three formats: CSV and JSON for BI tools, one HTML file for people.
//! Every format uses the metric names of [`crate::publish::DEFINITIONS`] and
//! the marker [`crate::publish::SUPPRESSED`].

mod csv;
mod html;
mod json;

pub use csv::csv;
pub use html::html;
pub use json::json;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Csv,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "html" => Some(Format::Html),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// `report` in `format`.
pub fn render(report: &crate::Report, format: Format) -> String {
    match format {
        Format::Html => html(report),
        Format::Csv => csv(&report.main),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&json(report)).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// The columns of a table beyond its keys, in every format's order:
/// metrics, `dwell_histogram_<bin>`, `attention_histogram_<bin>`,
/// `demographics_<gender>_<age group>`.
pub fn value_columns(table: &crate::PublishedTable) -> Vec<String> {
    let mut cols: Vec<String> = crate::Metric::ALL.iter().map(|m| m.name().to_string()).collect();
    cols.extend(crate::publish::dwell_bin_names().iter().map(|b| format!("dwell_histogram_{b}")));
    cols.extend(crate::publish::attention_bin_names().iter().map(|b| format!("attention_histogram_{b}")));
    cols.extend(table.demographics.iter().map(|(g, a)| format!("demographics_{g}_{a}")));
    cols
}

/// A row's values in [`value_columns`] order.
pub fn row_values(row: &crate::publish::PublishedRow) -> Vec<crate::Shown> {
    let mut v = row.metrics.clone();
    v.extend(&row.dwell_histogram);
    v.extend(&row.attention_histogram);
    v.extend(&row.demographics);
    v
}
