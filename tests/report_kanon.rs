//! k-anonymity of the report, as properties over random data (seeded): no
//! published count in (0, k) in any format, no suppressed cell determined by
//! the published cells and totals — every line of a table at once, the
//! histograms with the OTS they sum to and the attention histogram with the
//! watchers (the bins from min_attention up) —, totals consistent, published
//! numbers equal to the truth.

mod report;

use std::collections::{BTreeMap, HashMap};

use blickfang_report::publish::{PublishedRow, SUPPRESSED};
use blickfang_report::render::{self, Format};
use blickfang_report::{Catalogue, Dimension, Filter, Metric, PublishedTable, Query, Shown, build};
use report::{Rng, determined, random_cells};

/// Every people count of a row: OTS, watchers, histogram bins, demographics.
fn counts(r: &PublishedRow) -> Vec<Shown> {
    let mut v = vec![r.get(Metric::Ots), r.get(Metric::Watchers)];
    v.extend(&r.dwell_histogram);
    v.extend(&r.attention_histogram);
    v.extend(&r.demographics);
    v
}

fn all_rows(t: &PublishedTable) -> impl Iterator<Item = &PublishedRow> {
    t.rows.iter().chain([&t.total])
}

/// Hidden cells that the published values determine, as (row, what, value).
fn recoverable(t: &PublishedTable, k: u64, truth: &dyn Fn(usize, &str) -> u64) -> Vec<String> {
    // Variables: per row (the total last) "ots", "w", "nw" (not watching: derived,
    // hidden unless OTS and watchers are published), "d<b>", "a<b>", "g<j>".
    let rows: Vec<&PublishedRow> = all_rows(t).collect();
    let total = rows.len() - 1;
    let mut var: HashMap<(usize, String), usize> = HashMap::new();
    let mut names = Vec::new();
    let mut hidden = |i: usize, name: String, h: bool, var: &mut HashMap<(usize, String), usize>| {
        if h {
            let n = var.len();
            var.insert((i, name.clone()), n);
            names.push((i, name));
        }
    };
    let is_h = |v: Shown| v == Shown::Suppressed;
    let mut cols: Vec<String> = vec!["w".into(), "nw".into()];
    cols.extend((0..rows[0].dwell_histogram.len()).map(|b| format!("d{b}")));
    cols.extend((0..rows[0].attention_histogram.len()).map(|b| format!("a{b}")));
    cols.extend((0..rows[0].demographics.len()).map(|j| format!("g{j}")));
    let value = |r: &PublishedRow, c: &str| -> Shown {
        match c {
            "ots" => r.get(Metric::Ots),
            "w" => r.get(Metric::Watchers),
            "nw" => {
                if is_h(r.get(Metric::Ots)) || is_h(r.get(Metric::Watchers)) {
                    Shown::Suppressed
                } else {
                    Shown::Value(0.0)
                }
            }
            _ => {
                let j: usize = c[1..].parse().unwrap();
                match &c[..1] {
                    "d" => r.dwell_histogram[j],
                    "a" => r.attention_histogram[j],
                    _ => r.demographics[j],
                }
            }
        }
    };
    for (i, r) in rows.iter().enumerate() {
        hidden(i, "ots".into(), is_h(value(r, "ots")), &mut var);
        for c in &cols {
            hidden(i, c.clone(), is_h(value(r, c)), &mut var);
        }
    }
    let n = var.len();
    let mut eqs = Vec::new();
    let mut eq = |terms: Vec<((usize, String), f64)>| {
        let mut e = vec![0.0; n];
        let mut any = false;
        for (key, sign) in terms {
            if let Some(&x) = var.get(&key) {
                e[x] += sign;
                any = true;
            }
        }
        if any {
            eqs.push(e);
        }
    };
    // A watcher is an OTS with at least min_attention (1 s, the first attention bin's upper
    // bound): the not-watching are the first bin, so watchers and attention bins 1.. sum to the OTS.
    let groups: [&[&str]; 2] = [&["w", "nw"], &["w", "a0"]];
    for i in 0..rows.len() {
        // Each row: the audience, each histogram, the demographics sum to the OTS.
        let prefixes = ["d", "a", "g"];
        let mut lines: Vec<Vec<String>> = groups.iter().map(|g| g.iter().map(|s| s.to_string()).collect()).collect();
        for p in prefixes {
            let l: Vec<String> = cols.iter().filter(|c| c.starts_with(p)).cloned().collect();
            if !l.is_empty() {
                lines.push(l);
            }
        }
        for l in lines {
            let mut terms: Vec<_> = l.into_iter().map(|c| ((i, c), 1.0)).collect();
            terms.push(((i, "ots".to_string()), -1.0));
            eq(terms);
        }
    }
    for c in cols.iter().chain([&"ots".to_string()]) {
        let mut terms: Vec<_> = (0..total).map(|i| ((i, c.clone()), 1.0)).collect();
        terms.push(((total, c.clone()), -1.0));
        eq(terms);
    }
    let det = determined(n, &eqs);
    names
        .iter()
        .enumerate()
        .filter(|(x, _)| det[*x])
        .filter(|(_, (i, c))| {
            // The derived "not watching" may be determined if it is safe to publish.
            let v = truth(*i, c);
            c != "nw" || (v > 0 && v < k)
        })
        .map(|(_, (i, c))| format!("row {i} {c} = {}", truth(*i, c)))
        .collect()
}

#[test]
fn random_reports_publish_no_small_count_and_no_recoverable_cell() {
    let mut rng = Rng(0x5eed_b11c_fa46);
    for case in 0..120 {
        let (screens, max_people) = (1 + rng.below(4) as usize, 1 + rng.below(9));
        let cells = random_cells(&mut rng, screens, max_people);
        let k = [2, 3, 5, 5, 10][case % 5];
        let by = [vec![Dimension::Content], vec![Dimension::Store, Dimension::Day], vec![Dimension::Screen]][case % 3]
            .clone();
        let query = Query { by: by.clone(), filter: Filter::default(), min_group_size: k };
        let report = build(&cells, &query, &Catalogue::default(), Default::default());
        for t in [&report.main, &report.by_content, &report.by_weekday_hour] {
            // Truth, aggregated independently of the report's code.
            let truth_table = blickfang_report::aggregate(&cells, &t.by, &Filter::default(), &Catalogue::default());
            let truth = |i: usize, c: &str| -> u64 {
                let counts = if i < truth_table.rows.len() { &truth_table.rows[i].counts } else { &truth_table.total };
                match c {
                    "ots" => counts.ots,
                    "w" => counts.watchers,
                    "nw" => counts.ots - counts.watchers,
                    _ => {
                        let j: usize = c[1..].parse().unwrap();
                        match &c[..1] {
                            "d" => counts.dwell_histogram[j],
                            "a" => counts.attention_histogram[j],
                            _ => counts.demographics.get(&truth_table.demographics[j]).copied().unwrap_or(0),
                        }
                    }
                }
            };
            for r in all_rows(t) {
                for v in counts(r) {
                    if let Shown::Value(x) = v {
                        assert!(x == 0.0 || x >= k as f64, "case {case}: published count {x} < k = {k}");
                    }
                }
                // Means and ratios only over at least k people.
                for m in [Metric::Conversion, Metric::AttentionTimeMean, Metric::DwellTimeMean, Metric::Attraction] {
                    if r.get(m).value().is_some() {
                        let people =
                            if m == Metric::AttentionTimeMean { r.get(Metric::Watchers) } else { r.get(Metric::Ots) };
                        assert!(people.value().is_some_and(|p| p >= k as f64), "case {case}: {m:?} over {people:?}");
                    }
                }
            }
            let leaks = recoverable(t, k, &truth);
            assert!(leaks.is_empty(), "case {case} k={k} by {:?}: determined: {leaks:?}", t.by);
            // Published values equal the truth; published rows add up to published totals.
            for (i, r) in all_rows(t).enumerate() {
                assert_eq!(r.get(Metric::Ots).value().map(|v| v as u64).unwrap_or(truth(i, "ots")), truth(i, "ots"));
                assert_eq!(r.get(Metric::Watchers).value().map(|v| v as u64).unwrap_or(truth(i, "w")), truth(i, "w"));
                for (b, v) in r.attention_histogram.iter().enumerate() {
                    assert_eq!(
                        v.value().map(|v| v as u64).unwrap_or(truth(i, &format!("a{b}"))),
                        truth(i, &format!("a{b}"))
                    );
                }
            }
            if let Some(Shown::Value(total)) = Some(t.total.get(Metric::Ots))
                && t.rows.iter().all(|r| r.get(Metric::Ots).value().is_some())
            {
                let sum: f64 = t.rows.iter().filter_map(|r| r.get(Metric::Ots).value()).sum();
                assert_eq!(sum, total);
            }
        }
        // The formats carry the same values: CSV cells and JSON values of the main table.
        let json: serde_json::Value = serde_json::from_str(&render::render(&report, Format::Json)).unwrap();
        let csv = render::render(&report, Format::Csv);
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let body: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(body.len(), report.main.rows.len() + 1, "rows and the total");
        let key_cols = by.len();
        for (row, line) in json["rows"].as_array().unwrap().iter().chain([&json["total"]]).zip(&body) {
            let flat = flatten(row);
            assert_eq!(flat.len(), header.len() - key_cols);
            for ((name, v), cell) in header[key_cols..].iter().zip(&flat).zip(&line[key_cols..]) {
                let expect = match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(*cell, expect, "column {name}");
                let is_count = ["ots", "watchers"].contains(name)
                    || name.contains("histogram_")
                    || name.starts_with("demographics_");
                if is_count && let Ok(x) = cell.parse::<f64>() {
                    assert!(x == 0.0 || x >= k as f64, "CSV {name} = {x}");
                }
                assert!(cell.parse::<f64>().is_ok() || cell.is_empty() || *cell == SUPPRESSED, "{name}: {cell:?}");
            }
        }
    }
}

/// A JSON row's values in the CSV's column order.
fn flatten(row: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = Metric::ALL.iter().map(|m| row[m.name()].clone()).collect();
    for name in ["dwell_histogram", "attention_histogram", "demographics"] {
        out.extend(row[name].as_array().unwrap().iter().cloned());
    }
    out
}

#[test]
fn one_small_row_among_big_ones_is_not_recoverable_from_the_total() {
    use blickfang_report::ReportCell;
    let mut cells = Vec::new();
    for (content, people) in [("a", 2u64), ("b", 40), ("c", 50), ("d", 60)] {
        let mut c = ReportCell { screen: "s".into(), content_id: content.into(), hour: 0, ..Default::default() };
        for p in 0..people {
            c.counts.add_person(3.0 + p as f64, 2.0, true, "female", "20-29");
        }
        cells.push(c);
    }
    let report = build(&cells, &Query::default(), &Catalogue::default(), Default::default());
    let ots: BTreeMap<&str, Shown> = report.main.rows.iter().map(|r| (r.key[0].as_str(), r.get(Metric::Ots))).collect();
    assert_eq!(ots["a"], Shown::Suppressed);
    let hidden = ots.values().filter(|v| **v == Shown::Suppressed).count()
        + usize::from(report.main.total.get(Metric::Ots) == Shown::Suppressed);
    assert!(hidden >= 2, "a complement hides a second OTS cell or the total: {ots:?}");
    assert_eq!(ots["b"], Shown::Suppressed, "the smallest other row is the complement: {ots:?}");
    assert_eq!(report.main.total.get(Metric::Ots), Shown::Value(152.0), "the total stays");
}

#[test]
fn the_checker_finds_a_lone_hidden_cell() {
    // The independent check is not vacuous: hiding one cell alone is caught.
    let mut rng = Rng(7);
    let mut cells = random_cells(&mut rng, 2, 0);
    for c in cells.iter_mut() {
        for p in 0..30 {
            c.counts.add_person(1.0 + p as f64 * 2.5, p as f64, p >= 1, "female", "20-29");
        }
    }
    let mut report =
        build(&cells, &Query { min_group_size: 1, ..Default::default() }, &Catalogue::default(), Default::default());
    let t = &mut report.main;
    let j = t.rows[0].dwell_histogram.iter().position(|v| v.value().is_some_and(|x| x > 0.0)).unwrap();
    t.rows[0].dwell_histogram[j] = Shown::Suppressed;
    let leaks = recoverable(t, 1, &|_, _| 0);
    assert_eq!(leaks.len(), 1, "{leaks:?}");
}

#[test]
fn the_checker_finds_watchers_behind_the_attention_bins() {
    // Watchers hidden in two rows and the total: every audience line keeps two hidden cells, but
    // row 0's attention bins from 1 s up are published, and its watchers are their sum.
    let mut rng = Rng(7);
    let mut cells = random_cells(&mut rng, 2, 0);
    for c in cells.iter_mut() {
        for p in 0..30 {
            c.counts.add_person(1.0 + p as f64 * 2.5, p as f64, p >= 1, "female", "20-29");
        }
    }
    let query = Query { by: vec![Dimension::Screen], min_group_size: 1, ..Default::default() };
    let mut report = build(&cells, &query, &Catalogue::default(), Default::default());
    let t = &mut report.main;
    assert_eq!(t.rows.len(), 2);
    for r in t.rows.iter_mut().chain([&mut t.total]) {
        r.metrics[Metric::Watchers as usize] = Shown::Suppressed;
    }
    let leaks = recoverable(t, 1, &|_, _| 0);
    assert!(leaks.iter().any(|l| l.starts_with("row 0 w ")), "{leaks:?}");
}
