//! JSON (`blickfang-report/1`, `schema/blickfang-report.schema.json`): the
//! header, the metric definitions, the bins, and the main table; each value
//! a number, the string `suppressed`, or null (a mean over nobody).

use serde_json::{Map, Value, json};

use crate::publish::{DEFINITIONS, PublishedRow, attention_bin_names, dwell_bin_names};
use blickfang::time;

use crate::{PublishedTable, Report, Shown};

fn shown(v: Shown) -> Value {
    match v {
        Shown::Value(x) if x.fract() == 0.0 && x.abs() < 9e15 => Value::from(x as i64),
        Shown::Value(x) => Value::from(x),
        Shown::Suppressed => Value::from(crate::publish::SUPPRESSED),
        Shown::Undefined => Value::Null,
    }
}

fn row(table: &PublishedTable, r: &PublishedRow, total: bool) -> Value {
    let mut m = Map::new();
    if !total {
        m.insert("key".into(), table.by.iter().zip(&r.key).map(|(d, k)| (d.name().to_string(), json!(k))).collect());
    }
    for (metric, v) in crate::Metric::ALL.iter().zip(&r.metrics) {
        m.insert(metric.name().into(), shown(*v));
    }
    m.insert("dwell_histogram".into(), r.dwell_histogram.iter().map(|v| shown(*v)).collect());
    m.insert("attention_histogram".into(), r.attention_histogram.iter().map(|v| shown(*v)).collect());
    m.insert("demographics".into(), r.demographics.iter().map(|v| shown(*v)).collect());
    Value::Object(m)
}

/// The JSON of a report's main table (the charts' tables are views of the
/// same cells; BI tools aggregate what they need from this one).
pub fn json(report: &Report) -> Value {
    let t = &report.main;
    json!({
        "schema": crate::SCHEMA,
        "title": report.header.title,
        "source": report.header.source,
        "period": report.period.map(|(f, to)| json!({"from": time::minute(f), "to": time::minute(to)})),
        "time_note": report.header.time_note,
        "screens": report.screens,
        "min_group_size": t.min_group_size,
        "min_dwell": report.header.min_dwell,
        "min_attention": report.header.min_attention,
        "by": t.by.iter().map(|d| d.name()).collect::<Vec<_>>(),
        "metrics": DEFINITIONS.iter().map(|(n, d)| (n.to_string(), json!(d))).collect::<Map<_, _>>(),
        "dwell_bins": dwell_bin_names(),
        "attention_bins": attention_bin_names(),
        "demographics": t.demographics.iter().map(|(g, a)| json!({"gender": g, "age_group": a})).collect::<Vec<_>>(),
        "rows": t.rows.iter().map(|r| row(t, r, false)).collect::<Vec<_>>(),
        "total": row(t, &t.total, true),
    })
}
