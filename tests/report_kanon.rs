//! k-anonymity of the report, as properties over random data (seeded): no
//! published count in (0, k) in any format, no suppressed cell determined by
//! the published cells and totals — every line of a table at once, the
//! histograms with the OTS they sum to and the attention histogram with the
//! watchers (the bins from min_attention up), and across the tables of one
//! report: the per-content bars (OTS, watchers) and the heatmap's attention
//! time as sums of the main table's rows —, totals consistent, published
//! numbers equal to the truth.

mod report;

use std::collections::{BTreeMap, HashMap};

use blickfang_report::publish::{PublishedRow, SUPPRESSED};
use blickfang_report::render::{self, Format};
use blickfang_report::{
    Catalogue, Dimension, Filter, Metric, PublishedTable, Query, Report, ReportCell, Shown, Table, build,
};
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

/// A chart's published values as sums of the main table's rows: its rows' values (the total
/// last), their truth and whether it tells of fewer than k people (a hidden value the others
/// determine but which tells of k or more is only a sum of published counts), the main table's
/// column they sum, and the groups of chart rows and main rows that sum the same input cells
/// (the finest sums the two tables share).
struct Chart {
    name: &'static str,
    column: &'static str,
    values: Vec<Shown>,
    truth: Vec<u64>,
    small: Vec<bool>,
    groups: Vec<(Vec<usize>, Vec<usize>)>,
}

/// Hidden cells that the published values determine, as (row, what, value).
fn recoverable(t: &PublishedTable, k: u64, truth: &dyn Fn(usize, &str) -> u64) -> Vec<String> {
    recoverable_with(t, &[], k, truth)
}

/// [`recoverable`] over the main table `t` and the `charts` made of its rows, all lines at once.
fn recoverable_with(t: &PublishedTable, charts: &[Chart], k: u64, truth: &dyn Fn(usize, &str) -> u64) -> Vec<String> {
    // Variables: per row (the total last) "ots", "w", "nw" (not watching: derived,
    // hidden unless OTS and watchers are published), "d<b>", "a<b>", "g<j>", "time" (the
    // attention time total, hidden with the OTS; in no line but its column's); per chart row
    // (its total last) the chart's name.
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
        hidden(i, "time".into(), is_h(r.get(Metric::AttentionTimeTotal)), &mut var);
        for c in &cols {
            hidden(i, c.clone(), is_h(value(r, c)), &mut var);
        }
    }
    for chart in charts {
        for (i, v) in chart.values.iter().enumerate() {
            hidden(i, chart.name.into(), is_h(*v), &mut var);
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
    for c in cols.iter().chain([&"ots".to_string(), &"time".to_string()]) {
        let mut terms: Vec<_> = (0..total).map(|i| ((i, c.clone()), 1.0)).collect();
        terms.push(((total, c.clone()), -1.0));
        eq(terms);
    }
    for chart in charts {
        // The chart's rows sum to its total, the main table's total; each group of its rows
        // sums to the group's main rows.
        let (name, last) = (chart.name.to_string(), chart.values.len() - 1);
        let mut terms: Vec<_> = (0..last).map(|i| ((i, name.clone()), 1.0)).collect();
        terms.push(((last, name.clone()), -1.0));
        eq(terms);
        eq(vec![((last, name.clone()), 1.0), ((total, chart.column.to_string()), -1.0)]);
        for (chart_rows, main_rows) in &chart.groups {
            let mut terms: Vec<_> = chart_rows.iter().map(|&i| ((i, name.clone()), 1.0)).collect();
            terms.extend(main_rows.iter().map(|&i| ((i, chart.column.to_string()), -1.0)));
            eq(terms);
        }
    }
    let det = determined(n, &eqs);
    names
        .iter()
        .enumerate()
        .filter(|(x, _)| det[*x])
        .filter(|(_, (i, c))| {
            // The derived "not watching" may be determined if it is safe to publish.
            match charts.iter().find(|ch| ch.name == c.as_str()) {
                Some(ch) => ch.small[*i],
                None => {
                    c != "nw" || {
                        let v = truth(*i, c);
                        v > 0 && v < k
                    }
                }
            }
        })
        .map(|(_, (i, c))| match charts.iter().find(|ch| ch.name == c.as_str()) {
            Some(ch) => format!("{c} row {i} = {}", ch.truth[*i]),
            None => format!("row {i} {c} = {}", truth(*i, c)),
        })
        .collect()
}

/// The truth of a table's people counts and attention time, row `i` (the total last).
fn truth_of(t: &Table) -> impl Fn(usize, &str) -> u64 + '_ {
    move |i: usize, c: &str| -> u64 {
        let counts = if i < t.rows.len() { &t.rows[i].counts } else { &t.total };
        match c {
            "ots" => counts.ots,
            "w" => counts.watchers,
            "nw" => counts.ots - counts.watchers,
            "time" => counts.attention_us as u64,
            _ => {
                let j: usize = c[1..].parse().unwrap();
                match &c[..1] {
                    "d" => counts.dwell_histogram[j],
                    "a" => counts.attention_histogram[j],
                    _ => counts.demographics.get(&t.demographics[j]).copied().unwrap_or(0),
                }
            }
        }
    }
}

/// The groups of `chart`'s rows and `main`'s rows that sum the same cells: the components of
/// "share an input cell", found from the cells summed by the dimensions of both.
fn groups(cells: &[ReportCell], chart: &PublishedTable, main: &PublishedTable) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut by = main.by.clone();
    by.extend(chart.by.iter().filter(|d| !main.by.contains(d)));
    let common = blickfang_report::aggregate(cells, &by, &Filter::default(), &Catalogue::default());
    let index = |t: &PublishedTable| -> HashMap<Vec<String>, usize> {
        t.rows.iter().enumerate().map(|(i, r)| (r.key.clone(), i)).collect()
    };
    let (ic, im) = (index(chart), index(main));
    let project = |key: &[String], dims: &[Dimension]| -> Vec<String> {
        dims.iter().map(|d| key[by.iter().position(|b| b == d).unwrap()].clone()).collect()
    };
    let nc = chart.rows.len();
    let mut parent: Vec<usize> = (0..nc + main.rows.len()).collect();
    fn find(p: &[usize], mut x: usize) -> usize {
        while p[x] != x {
            x = p[x];
        }
        x
    }
    for r in &common.rows {
        let a = find(&parent, ic[&project(&r.key, &chart.by)]);
        let b = find(&parent, nc + im[&project(&r.key, &main.by)]);
        parent[a] = b;
    }
    let mut out: BTreeMap<usize, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for x in 0..parent.len() {
        let root = find(&parent, x);
        let e = out.entry(root).or_default();
        if x < nc { e.0.push(x) } else { e.1.push(x - nc) }
    }
    out.into_values().collect()
}

/// Hidden values of the report's main table and of its charts (the bars' OTS and watchers,
/// the heatmap's attention time) that the published values of all three determine.
fn recoverable_in_report(report: &Report, cells: &[ReportCell], k: u64) -> Vec<String> {
    let aggregate =
        |by: &[Dimension]| blickfang_report::aggregate(cells, by, &Filter::default(), &Catalogue::default());
    let (main, bars, heat) =
        (aggregate(&report.main.by), aggregate(&[Dimension::Content]), aggregate(&report.by_weekday_hour.by));
    let column = |t: &PublishedTable, m: Metric| -> Vec<Shown> { all_rows(t).map(|r| r.get(m)).collect() };
    let truth = |t: &Table, f: &dyn Fn(&blickfang_report::model::Counts) -> u64| -> Vec<u64> {
        t.rows.iter().map(|r| f(&r.counts)).chain([f(&t.total)]).collect()
    };
    let small = |t: &Table, f: &dyn Fn(&blickfang_report::model::Counts) -> bool| -> Vec<bool> {
        t.rows.iter().map(|r| f(&r.counts)).chain([f(&t.total)]).collect()
    };
    let few = |n: u64| n > 0 && n < k;
    let bar_groups = groups(cells, &report.by_content, &report.main);
    let charts = [
        Chart {
            name: "bar_ots",
            column: "ots",
            values: column(&report.by_content, Metric::Ots),
            truth: truth(&bars, &|c| c.ots),
            small: small(&bars, &|c| few(c.ots)),
            groups: bar_groups.clone(),
        },
        Chart {
            name: "bar_w",
            column: "w",
            values: column(&report.by_content, Metric::Watchers),
            truth: truth(&bars, &|c| c.watchers),
            // The not watching are the bar's OTS minus its watchers.
            small: small(&bars, &|c| few(c.watchers) || few(c.ots - c.watchers)),
            groups: bar_groups,
        },
        Chart {
            name: "heat_time",
            column: "time",
            values: column(&report.by_weekday_hour, Metric::AttentionTimeTotal),
            truth: truth(&heat, &|c| c.attention_us as u64),
            small: small(&heat, &|c| few(c.ots)),
            groups: groups(cells, &report.by_weekday_hour, &report.main),
        },
    ];
    recoverable_with(&report.main, &charts, k, &truth_of(&main))
}

#[test]
fn random_reports_publish_no_small_count_and_no_recoverable_cell() {
    let by = [vec![Dimension::Content], vec![Dimension::Store, Dimension::Day], vec![Dimension::Screen]];
    check_random_reports(0x5eed_b11c_fa46, 9, &by);
}

#[test]
fn random_reports_by_content_and_day_leak_nothing_through_the_charts() {
    // The bench's grouping: a bar is the sum of its content's rows, the heatmap's rows sum the
    // rows of their weekday.
    let by = [
        vec![Dimension::Content, Dimension::Day],
        vec![Dimension::Content, Dimension::Weekday],
        vec![Dimension::Day, Dimension::Content],
        vec![Dimension::Content, Dimension::Screen],
    ];
    check_random_reports(0x00ba_250f_c0de, 12, &by);
}

/// 120 random reports from `seed` (cells of 1 to 4 screens, `random_cells`' `max_people` from 1 to
/// `most_people`), k and the grouping in turn from 2, 3, 5, 5, 10 and `by`: each [`check_report`]ed.
fn check_random_reports(seed: u64, most_people: u64, by: &[Vec<Dimension>]) {
    let mut rng = Rng(seed);
    for case in 0..120 {
        let (screens, max_people) = (1 + rng.below(4) as usize, 1 + rng.below(most_people));
        let cells = random_cells(&mut rng, screens, max_people);
        let k = [2, 3, 5, 5, 10][case % 5];
        check_report(case, &cells, by[case % by.len()].clone(), k);
    }
}

/// Every property of one random report (see the file's head).
fn check_report(case: usize, cells: &[ReportCell], by: Vec<Dimension>, k: u64) {
    let query = Query { by: by.clone(), filter: Filter::default(), min_group_size: k };
    let report = build(cells, &query, &Catalogue::default(), Default::default());
    let leaks = recoverable_in_report(&report, cells, k);
    assert!(leaks.is_empty(), "case {case} k={k} by {by:?}, with the charts: determined: {leaks:?}");
    for t in [&report.main, &report.by_content, &report.by_weekday_hour] {
        // Truth, aggregated independently of the report's code.
        let truth_table = blickfang_report::aggregate(cells, &t.by, &Filter::default(), &Catalogue::default());
        let truth = truth_of(&truth_table);
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
            let is_count =
                ["ots", "watchers"].contains(name) || name.contains("histogram_") || name.starts_with("demographics_");
            if is_count && let Ok(x) = cell.parse::<f64>() {
                assert!(x == 0.0 || x >= k as f64, "CSV {name} = {x}");
            }
            assert!(cell.parse::<f64>().is_ok() || cell.is_empty() || *cell == SUPPRESSED, "{name}: {cell:?}");
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

/// The checker tests' cells: two screens' random cells (seed 7, empty) with 30 people each, of
/// dwell 1 s to 73.5 s and attention 0 s to 29 s (29 of them watchers).
fn thirty_people_a_cell() -> Vec<ReportCell> {
    let mut rng = Rng(7);
    let mut cells = random_cells(&mut rng, 2, 0);
    for c in cells.iter_mut() {
        for p in 0..30 {
            c.counts.add_person(1.0 + p as f64 * 2.5, p as f64, p >= 1, "female", "20-29");
        }
    }
    cells
}

#[test]
fn the_checker_finds_a_lone_hidden_cell() {
    // The independent check is not vacuous: hiding one cell alone is caught.
    let cells = thirty_people_a_cell();
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
    let cells = thirty_people_a_cell();
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

#[test]
fn a_bar_does_not_give_away_a_hidden_day_of_its_content() {
    // By content × day: a has 2 people on day 1 and 40 on day 2, b 50 and 3. The table hides
    // (a, day 1) and (b, day 2) (5 together); the bars a = 42 and b = 53 would give each back
    // as the bar minus the other day, and so would the heatmap (Monday 00:00 = 2 + 50).
    let day = 86_400;
    let mut cells = Vec::new();
    for (content, d, people) in [("a", 0, 2), ("a", 1, 40), ("b", 0, 50), ("b", 1, 3)] {
        let mut c = ReportCell {
            screen: "s".into(),
            content_id: content.into(),
            hour: 1_793_577_600 + d * day,
            ..Default::default()
        };
        for _ in 0..people {
            c.counts.add_person(3.0, 2.0, true, "female", "20-29");
        }
        cells.push(c);
    }
    let query = Query { by: vec![Dimension::Content, Dimension::Day], min_group_size: 5, ..Default::default() };
    let report = build(&cells, &query, &Catalogue::default(), Default::default());
    let ots = |t: &PublishedTable| -> Vec<Shown> { t.rows.iter().map(|r| r.get(Metric::Ots)).collect() };
    let (s, v) = (Shown::Suppressed, Shown::Value);
    assert_eq!(ots(&report.main), [s, v(40.0), v(50.0), s], "the table as without the charts");
    assert_eq!(ots(&report.by_content), [s, s], "both bars hidden");
    let heat = &report.by_weekday_hour;
    assert!(heat.rows.iter().all(|r| r.get(Metric::AttentionTimeTotal) == s), "both heatmap cells hidden");
    assert!(recoverable_in_report(&report, &cells, 5).is_empty());
}
