//! One self-contained HTML file: inline CSS and hand-written inline SVG, no
//! script, no font, no image and no link to anywhere — opening it makes no
//! network request. Printable (A4 landscape) and readable on a laptop.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::publish::{PublishedRow, attention_bin_names, format_number};
use blickfang::time;

use crate::{Metric, PublishedTable, Report, Shown};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const CSS: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1d2330;line-height:1.4}
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #d8dde6}
header p{margin:.15rem 0}.privacy{background:#eef4ee;border-left:4px solid #4a8a4a;padding:.5rem .8rem;margin:.6rem 0}
.summary{font-size:1.1rem;background:#f3f5f9;padding:.6rem .8rem;border-radius:4px}
.grid{display:flex;flex-wrap:wrap;gap:1.5rem}.grid>section{flex:1 1 30rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}th,td{padding:.2rem .45rem;border-bottom:1px solid #e3e7ee;
text-align:right;white-space:nowrap}th{background:#f3f5f9;position:sticky;top:0;white-space:normal;vertical-align:bottom}td.key,th.key{text-align:left}
td.suppressed{color:#8a5a00;font-style:italic}tr.total td{font-weight:600;border-top:2px solid #1d2330}
.legend{font-size:.85rem;color:#4a5163}svg{max-width:100%;height:auto}svg text{font-family:inherit}
.tablewrap{overflow-x:auto}dl{font-size:.85rem;display:grid;grid-template-columns:max-content 1fr;gap:.1rem .8rem}
dt{font-weight:600}dd{margin:0}
@media print{body{margin:0;max-width:none;font-size:9pt}h2{break-after:avoid}section{break-inside:avoid}
th{position:static}.tablewrap{overflow:visible}@page{size:A4 landscape;margin:12mm}}
"#;

/// Colours of stacked segments (age groups), colour-blind friendly (Okabe-Ito).
const PALETTE: [&str; 9] =
    ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999"];

/// The hatch pattern suppressed cells are drawn with.
const HATCH: &str = r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6efe2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c9a25a" stroke-width="2"/></pattern></defs>"##;

fn value_text(m: Metric, v: Shown) -> String {
    match (m, v) {
        (Metric::Conversion | Metric::Attraction, Shown::Value(x)) => {
            format!("{}%", format_number((x * 1000.0).round() / 10.0))
        }
        _ => v.text(),
    }
}

fn num(v: Shown) -> String {
    v.text()
}

pub fn html(report: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024 + report.main.rows.len() * 600);
    let k = report.main.min_group_size;
    let title = esc(&report.header.title);
    let period = report
        .period
        .map(|(f, t)| format!("{} to {} (end exclusive)", time::minute(f), time::minute(t)))
        .unwrap_or_else(|| "no data".into());
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>{title}</title><style>{CSS}</style></head><body>\n<header><h1>{title}</h1>"
    );
    let screens = &report.screens;
    let shown: Vec<String> = screens.iter().take(8).map(|s| esc(s)).collect();
    let more = if screens.len() > 8 { format!(", … ({} screens)", screens.len()) } else { String::new() };
    let by: Vec<&str> = report.main.by.iter().map(|d| d.name()).collect();
    let _ = writeln!(
        o,
        "<p><b>Period:</b> {period}; {}</p><p><b>Screens:</b> {}{more}</p>\
         <p><b>Grouped by:</b> {}; <b>source:</b> {}</p>\
         <p><b>k-anonymity:</b> k = {k}: a value describing fewer than {k} people is <i>suppressed</i>, and so is any \
         value from which one could be worked out from the totals or the charts; 0 means nobody. OTS: at least {} s in \
         front of the screen; watcher: at least {} s looking.</p>\
         <p class=\"privacy\">These numbers are counts and times of anonymous people. They hold no identities, no \
         images and no faces: nobody is recognised or followed from one visit to the next, and a person who comes back \
         counts again. They are not a census of who passed by — only of who the camera saw.</p></header>",
        esc(&report.header.time_note),
        if shown.is_empty() { "none".into() } else { shown.join(", ") },
        by.join(" × "),
        esc(&report.header.source),
        format_number(report.header.min_dwell),
        format_number(report.header.min_attention),
    );
    summary(&mut o, &report.main.total);
    o.push_str("<div class=\"grid\">");
    audience_bars(&mut o, &report.by_content);
    attention_distribution(&mut o, &report.main.total);
    o.push_str("</div><div class=\"grid\">");
    heatmap(&mut o, &report.by_weekday_hour);
    demographics(&mut o, &report.main);
    o.push_str("</div>");
    table(&mut o, &report.main);
    definitions(&mut o);
    o.push_str("</body></html>\n");
    o
}

fn summary(o: &mut String, t: &PublishedRow) {
    let on_screen = t.get(Metric::OnScreenTime).value().unwrap_or(0.0);
    let _ = writeln!(
        o,
        "<p class=\"summary\" id=\"summary\"><b>{}</b> plays, <b>{}</b> h on screen; <b>{}</b> OTS, <b>{}</b> watchers \
         (conversion <b>{}</b>); attention time <b>{}</b> s in total, <b>{}</b> s per watcher; dwell time <b>{}</b> s per \
         OTS; attraction <b>{}</b>.</p>",
        num(t.get(Metric::Plays)),
        format_number((on_screen / 360.0).round() / 10.0),
        num(t.get(Metric::Ots)),
        num(t.get(Metric::Watchers)),
        or_dash(value_text(Metric::Conversion, t.get(Metric::Conversion))),
        or_dash(num(t.get(Metric::AttentionTimeTotal))),
        or_dash(num(t.get(Metric::AttentionTimeMean))),
        or_dash(num(t.get(Metric::DwellTimeMean))),
        or_dash(value_text(Metric::Attraction, t.get(Metric::Attraction))),
    );
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "–".into() } else { s }
}

/// Horizontal bars: OTS and watchers per content item.
fn audience_bars(o: &mut String, t: &PublishedTable) {
    o.push_str("<section><h2>Audience per content</h2>");
    let rows: Vec<&PublishedRow> = t.rows.iter().take(40).collect();
    let max = rows.iter().filter_map(|r| r.get(Metric::Ots).value()).fold(1.0, f64::max);
    let (label_w, bar_w, row_h) = (150.0, 300.0, 26.0);
    let h = row_h * rows.len() as f64 + 30.0;
    let _ = write!(
        o,
        "<svg role=\"img\" aria-label=\"OTS and watchers per content\" viewBox=\"0 0 {} {h}\" width=\"{}\">{HATCH}",
        label_w + bar_w + 110.0,
        label_w + bar_w + 110.0
    );
    for (n, r) in rows.iter().enumerate() {
        let y = 8.0 + n as f64 * row_h;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            esc(&r.key[0])
        );
        for (i, (m, color)) in [(Metric::Ots, "#9db8d9"), (Metric::Watchers, "#0072B2")].iter().enumerate() {
            let yy = y + i as f64 * 10.0;
            match r.get(*m) {
                Shown::Value(v) => {
                    let w = bar_w * v / max;
                    let _ = write!(
                        o,
                        "<rect x=\"{label_w}\" y=\"{yy}\" width=\"{w:.1}\" height=\"9\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{}</text>",
                        label_w + w + 4.0,
                        yy + 8.0,
                        format_number(v)
                    );
                }
                _ => {
                    let _ = write!(
                        o,
                        "<rect x=\"{label_w}\" y=\"{yy}\" width=\"30\" height=\"9\" fill=\"url(#hatch)\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#8a5a00\">suppressed</text>",
                        label_w + 34.0,
                        yy + 8.0
                    );
                }
            }
        }
    }
    let ly = h - 10.0;
    let _ = write!(
        o,
        "<rect x=\"{label_w}\" y=\"{}\" width=\"10\" height=\"9\" fill=\"#9db8d9\"/><text x=\"{}\" y=\"{ly}\" font-size=\"11\">OTS</text><rect x=\"{}\" y=\"{}\" width=\"10\" height=\"9\" fill=\"#0072B2\"/><text x=\"{}\" y=\"{ly}\" font-size=\"11\">watchers</text><rect x=\"{}\" y=\"{}\" width=\"10\" height=\"9\" fill=\"url(#hatch)\"/><text x=\"{}\" y=\"{ly}\" font-size=\"11\">suppressed</text></svg>",
        ly - 8.0,
        label_w + 14.0,
        label_w + 60.0,
        ly - 8.0,
        label_w + 74.0,
        label_w + 140.0,
        ly - 8.0,
        label_w + 154.0
    );
    if t.rows.len() > rows.len() {
        let _ = write!(
            o,
            "<p class=\"legend\">The first {} of {} content items; all are in the table.</p>",
            rows.len(),
            t.rows.len()
        );
    }
    o.push_str("</section>\n");
}

/// Vertical bars: OTS per attention-time bin (the total).
fn attention_distribution(o: &mut String, total: &PublishedRow) {
    o.push_str("<section><h2>Attention time distribution</h2>");
    let names = attention_bin_names();
    let max = total.attention_histogram.iter().filter_map(|v| v.value()).fold(1.0, f64::max);
    let (bw, gap, ph) = (52.0, 10.0, 160.0);
    let w = names.len() as f64 * (bw + gap) + 20.0;
    let _ = write!(
        o,
        "<svg role=\"img\" aria-label=\"OTS per attention time bin\" viewBox=\"0 0 {w} {}\" width=\"{w}\">{HATCH}",
        ph + 50.0
    );
    for (i, (name, v)) in names.iter().zip(&total.attention_histogram).enumerate() {
        let x = 10.0 + i as f64 * (bw + gap);
        match v {
            Shown::Value(n) => {
                let h = ph * n / max;
                let _ = write!(
                    o,
                    "<rect x=\"{x}\" y=\"{:.1}\" width=\"{bw}\" height=\"{h:.1}\" fill=\"#0072B2\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                    15.0 + ph - h,
                    x + bw / 2.0,
                    12.0 + ph - h,
                    format_number(*n)
                );
            }
            _ => {
                let _ = write!(
                    o,
                    "<rect x=\"{x}\" y=\"{}\" width=\"{bw}\" height=\"20\" fill=\"url(#hatch)\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#8a5a00\">suppressed</text>",
                    ph - 5.0,
                    x + bw / 2.0,
                    ph - 8.0
                );
            }
        }
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            x + bw / 2.0,
            ph + 32.0,
            esc(name)
        );
    }
    let _ = writeln!(
        o,
        "<line x1=\"5\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#1d2330\"/></svg><p class=\"legend\">OTS per attention time (seconds looking at the screen while the content played).</p></section>",
        ph + 15.0,
        w - 5.0,
        ph + 15.0
    );
}

/// 7 × 24 cells: attention time total per weekday and hour.
fn heatmap(o: &mut String, t: &PublishedTable) {
    o.push_str("<section><h2>Attention by weekday and hour</h2>");
    let mut cells: BTreeMap<(usize, usize), Shown> = BTreeMap::new();
    for r in &t.rows {
        let day = time::WEEKDAYS.iter().position(|w| *w == r.key[0]).unwrap_or(0);
        let hour: usize = r.key[1].parse().unwrap_or(0);
        cells.insert((day, hour), r.get(Metric::AttentionTimeTotal));
    }
    let max = cells.values().filter_map(|v| v.value()).fold(1e-9, f64::max);
    let (cw, ch, lx, ty) = (22.0, 20.0, 40.0, 18.0);
    let (w, h) = (lx + 24.0 * cw + 10.0, ty + 7.0 * ch + 40.0);
    let _ = write!(
        o,
        "<svg role=\"img\" aria-label=\"attention time per weekday and hour\" viewBox=\"0 0 {w} {h}\" width=\"{w}\">{HATCH}"
    );
    for hour in (0..24).step_by(3) {
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"12\" font-size=\"10\" text-anchor=\"middle\">{hour:02}</text>",
            lx + hour as f64 * cw + cw / 2.0
        );
    }
    for (d, name) in time::WEEKDAYS.iter().enumerate() {
        let y = ty + d as f64 * ch;
        let _ =
            write!(o, "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{name}</text>", lx - 5.0, y + 14.0);
        for hour in 0..24 {
            let x = lx + hour as f64 * cw;
            let (fill, title) = match cells.get(&(d, hour)) {
                None => ("#ffffff".to_string(), "no data".to_string()),
                Some(Shown::Value(v)) => {
                    let a = (v / max).clamp(0.0, 1.0);
                    // White to the blue of the bars.
                    let mix = |hi: f64| (255.0 - a * (255.0 - hi)).round() as u8;
                    (
                        format!("#{:02x}{:02x}{:02x}", mix(0.0), mix(114.0), mix(178.0)),
                        format!("{} s", format_number(*v)),
                    )
                }
                Some(_) => ("url(#hatch)".to_string(), "suppressed".to_string()),
            };
            let _ = write!(
                o,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"#e3e7ee\"><title>{name} {hour:02}:00 {title}</title></rect>",
                cw - 1.0,
                ch - 1.0
            );
        }
    }
    let _ = writeln!(
        o,
        "<text x=\"{lx}\" y=\"{}\" font-size=\"11\">darker: more attention time (max {} s); hatched: suppressed; white: no data</text></svg><p class=\"legend\">Attention time in total per weekday and hour of the day (local time of each store).</p></section>",
        ty + 7.0 * ch + 22.0,
        format_number(max.round())
    );
}

/// Stacked bars: OTS per gender, stacked by age group (the total).
fn demographics(o: &mut String, t: &PublishedTable) {
    o.push_str("<section><h2>Demographics</h2>");
    let total = &t.total;
    let mut genders: Vec<&str> = t.demographics.iter().map(|(g, _)| g.as_str()).collect();
    genders.dedup();
    let mut ages: Vec<&str> = t.demographics.iter().map(|(_, a)| a.as_str()).collect();
    ages.sort();
    ages.dedup();
    let color = |a: &str| PALETTE[ages.iter().position(|x| *x == a).unwrap_or(0) % PALETTE.len()];
    let sum_of = |g: &str| -> f64 {
        t.demographics
            .iter()
            .zip(&total.demographics)
            .filter(|((gg, _), _)| gg == g)
            .filter_map(|(_, v)| v.value())
            .sum()
    };
    let max = genders.iter().map(|g| sum_of(g)).fold(1.0, f64::max);
    let (lx, bw, rh) = (80.0, 360.0, 30.0);
    let h = rh * genders.len() as f64 + 30.0 + 18.0 * ages.len().div_ceil(4) as f64;
    let w = lx + bw + 170.0;
    let _ = write!(
        o,
        "<svg role=\"img\" aria-label=\"OTS per gender and age group\" viewBox=\"0 0 {w} {h}\" width=\"{w}\">{HATCH}"
    );
    for (n, g) in genders.iter().enumerate() {
        let y = 6.0 + n as f64 * rh;
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>",
            lx - 6.0,
            y + 15.0,
            esc(g)
        );
        let mut x = lx;
        let mut hidden = Vec::new();
        for ((gg, a), v) in t.demographics.iter().zip(&total.demographics) {
            if gg != g {
                continue;
            }
            match v {
                Shown::Value(c) if *c > 0.0 => {
                    let wd = bw * c / max;
                    let _ = write!(
                        o,
                        "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{wd:.1}\" height=\"20\" fill=\"{}\"><title>{} {}: {}</title></rect>",
                        color(a),
                        esc(g),
                        esc(a),
                        format_number(*c)
                    );
                    x += wd;
                }
                Shown::Value(_) => {}
                _ => hidden.push(esc(a)),
            }
        }
        let mut label = format_number(sum_of(g));
        if !hidden.is_empty() {
            let _ = write!(o, "<rect x=\"{x:.1}\" y=\"{y}\" width=\"14\" height=\"20\" fill=\"url(#hatch)\"/>");
            x += 14.0;
            label = format!("{label} + suppressed: {}", hidden.join(", "));
        }
        let _ = write!(o, "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{label}</text>", x + 4.0, y + 14.0);
    }
    for (n, a) in ages.iter().enumerate() {
        let (x, y) = (lx + (n % 4) as f64 * 90.0, 10.0 + rh * genders.len() as f64 + 18.0 * (n / 4) as f64);
        let _ = write!(
            o,
            "<rect x=\"{x}\" y=\"{y}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            color(a),
            x + 14.0,
            y + 9.0,
            esc(a)
        );
    }
    o.push_str("</svg><p class=\"legend\">OTS per gender, stacked by age group; hatched: suppressed cells (their size is not shown).</p></section>\n");
}

fn table(o: &mut String, t: &PublishedTable) {
    o.push_str("<section><h2>The table</h2><div class=\"tablewrap\"><table id=\"report-table\"><thead><tr>");
    for d in &t.by {
        let _ = write!(o, "<th class=\"key\" data-column=\"{0}\">{0}</th>", d.name());
    }
    for m in Metric::ALL {
        let unit = match m {
            Metric::OnScreenTime | Metric::AttentionTimeTotal | Metric::AttentionTimeMean | Metric::DwellTimeMean => {
                " (s)"
            }
            _ => "",
        };
        let _ = write!(
            o,
            "<th data-column=\"{0}\" title=\"{1}\">{2}{unit}</th>",
            m.name(),
            esc(m.definition()),
            m.name().replace('_', " ")
        );
    }
    o.push_str("</tr></thead><tbody>\n");
    let row = |o: &mut String, key: &[String], r: &PublishedRow, class: &str| {
        let _ = write!(o, "<tr{class}>");
        for (d, k) in t.by.iter().zip(key) {
            let _ = write!(o, "<td class=\"key\" data-column=\"{}\">{}</td>", d.name(), esc(k));
        }
        for m in Metric::ALL {
            let v = r.get(m);
            let cls = if v == Shown::Suppressed { " class=\"suppressed\"" } else { "" };
            let _ = write!(o, "<td data-column=\"{}\"{cls}>{}</td>", m.name(), value_text(m, v));
        }
        o.push_str("</tr>\n");
    };
    for r in &t.rows {
        row(o, &r.key, r, "");
    }
    let total_key: Vec<String> = t.by.iter().map(|_| "total".to_string()).collect();
    row(o, &total_key, &t.total, " class=\"total\"");
    o.push_str(
        "</tbody></table></div><p class=\"legend\">Histograms and demographics per row are in the CSV and JSON \
                formats (same names, same suppression).</p></section>\n",
    );
}

fn definitions(o: &mut String) {
    o.push_str("<section><h2>What the words mean</h2><dl>");
    for (name, def) in crate::publish::DEFINITIONS {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", name.replace('_', " "), esc(def));
    }
    o.push_str("</dl></section>\n");
}
