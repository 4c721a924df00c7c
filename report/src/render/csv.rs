//! CSV: one header row (the key dimensions, then [`super::value_columns`]),
//! one line per row, a last line `total` (its key columns say `total`);
//! suppressed values are the word `suppressed`, undefined ones empty.

use crate::PublishedTable;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn line(out: &mut String, fields: impl Iterator<Item = String>) {
    let fields: Vec<String> = fields.map(|f| field(&f)).collect();
    out.push_str(&fields.join(","));
    out.push('\n');
}

pub fn csv(table: &PublishedTable) -> String {
    let mut out = String::new();
    let keys = table.by.iter().map(|d| d.name().to_string());
    line(&mut out, keys.chain(super::value_columns(table)));
    for r in &table.rows {
        line(&mut out, r.key.iter().cloned().chain(super::row_values(r).into_iter().map(|v| v.text())));
    }
    let total = table.by.iter().map(|_| "total".to_string());
    line(&mut out, total.chain(super::row_values(&table.total).into_iter().map(|v| v.text())));
    out
}
