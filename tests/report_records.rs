//! The records input of the report: a metajson file (written by the
//! product's record writer) → the fleet's ingest and rollup → cells →
//! report; every format checked (JSON against
//! schema/blickfang-report.schema.json, CSV against JSON), the figures
//! against the generator's truth, and a two-person file fully suppressed.

mod records_schema;
mod report;

use std::path::PathBuf;

use blickfang_report::input::{RecordOptions, cells_from_records, report_cells, rollup_from_records};
use blickfang_report::render::{Format, render};
use blickfang_report::{Catalogue, Dimension, Header, Query, build};
use serde_json::Value;

fn schema() -> (boon::Schemas, boon::SchemaIndex) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/blickfang-report.schema.json");
    let loc = path.canonicalize().unwrap().to_str().unwrap().to_string();
    let mut schemas = boon::Schemas::new();
    let idx = boon::Compiler::new().compile(&loc, &mut schemas).unwrap_or_else(|e| panic!("schema: {e:#}"));
    (schemas, idx)
}

#[test]
fn a_records_file_makes_a_valid_report_equal_to_the_truth() {
    let (text, truth) = report::demo_records(4, 11);
    // The demo records are valid records.
    records_schema::RecordSchema::load().check_lines(&text);
    let read = rollup_from_records(text.as_bytes(), &RecordOptions::default()).unwrap();
    assert_eq!((read.duplicates, read.without_utc), (0, 0));
    let cells = report_cells(&read.rollup);
    let query = Query { by: vec![Dimension::Content], ..Default::default() };
    let report = build(&cells, &query, &Catalogue::default(), Header::default());
    let json: Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    let (schemas, idx) = schema();
    if let Err(e) = schemas.validate(&json, idx) {
        panic!("report does not match its schema: {e:#}");
    }
    assert_eq!(json["schema"], blickfang_report::SCHEMA);
    assert_eq!(json["period"]["from"], "2026-11-02T08:00Z");
    assert_eq!(json["screens"].as_array().unwrap().len(), 4);
    for row in json["rows"].as_array().unwrap() {
        let content = row["key"]["content"].as_str().unwrap();
        let (ots, watchers) = truth[content];
        assert_eq!(row["ots"], ots, "{content}");
        assert_eq!(row["watchers"], watchers, "{content}");
        assert_eq!(row["plays"], 4 * 7 * 12 * 3, "{content}: 4 screens x 7 days x 12 hours x 3 periods");
    }
    let total_ots: u64 = truth.values().map(|t| t.0).sum();
    assert_eq!(json["total"]["ots"], total_ots);
    // A duplicated record (QoS 1 redelivery) counts once.
    let doubled = format!("{text}{text}");
    let again = cells_from_records(doubled.as_bytes(), &RecordOptions::default()).unwrap();
    assert_eq!(again, cells);
    // By store and weekday, with a small k: valid too.
    let query = Query { by: vec![Dimension::Store, Dimension::Weekday], min_group_size: 3, ..Default::default() };
    let json: Value =
        serde_json::from_str(&render(&build(&cells, &query, &Catalogue::default(), Header::default()), Format::Json))
            .unwrap();
    assert!(schemas.validate(&json, idx).is_ok());
    assert_eq!(json["rows"][0]["key"], serde_json::json!({"store": "store-1", "weekday": "Mon"}));
}

#[test]
fn two_people_are_suppressed_everywhere() {
    let (text, _) = report::demo_records(1, 3);
    // Keep the proof of play and the first two people only.
    let mut people = 0;
    let small: String = text
        .lines()
        .filter(|l| {
            !l.contains("\"person-event\"") || {
                people += 1;
                people <= 2
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let cells = cells_from_records(small.as_bytes(), &RecordOptions::default()).unwrap();
    let report = build(&cells, &Query::default(), &Catalogue::default(), Header::default());
    let json: Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    let (schemas, idx) = schema();
    assert!(schemas.validate(&json, idx).is_ok());
    assert_eq!(json["total"]["ots"], "suppressed");
    let csv = render(&report, Format::Csv);
    for line in csv.lines().skip(1) {
        for (name, cell) in csv.lines().next().unwrap().split(',').zip(line.split(',')) {
            if name == "ots" || name == "watchers" {
                assert!(cell == "0" || cell == "suppressed", "{name} = {cell}");
            }
        }
    }
    let html = render(&report, Format::Html);
    assert!(html.contains("suppressed"));
}
