//! `blickfang report`: arguments and body (the `blickfang` binary only hands
//! them over). One path for both inputs: records or database (summed there
//! to the report's grain, [`crate::input::cells_from_database`]) → the fleet's
//! [`Rollup`](blickfang_fleet::rollup::Rollup) → [`crate::input::report_cells`]
//! → [`crate::build`] → [`crate::render::render`].

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use blickfang::time;
use blickfang_fleet::notice::{self, Notice};

use crate::input::{self, RecordOptions};
use crate::render::{Format, render};
use crate::{Catalogue, Dimension, Filter, Header, Query};

/// `blickfang report`: the audience report (HTML, CSV or JSON), k-anonymous.
#[derive(clap::Args, Debug, Default)]
pub struct ReportArgs {
    /// The collector's database, postgres://user:pass@host:port/db (or BLICKFANG_DATABASE).
    #[arg(long, conflicts_with = "records")]
    pub database: Option<String>,
    /// Records files (NDJSON as metajson writes them, one screen or many) instead of a database.
    #[arg(long, num_args = 1..)]
    pub records: Vec<PathBuf>,
    /// First day (YYYY-MM-DD, UTC) or time (RFC 3339), inclusive.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day or time, exclusive.
    #[arg(long)]
    pub to: Option<String>,
    /// Screen ids or prefixes ending in `*`, comma-separated (`store-12/*`).
    #[arg(long)]
    pub screens: Option<String>,
    /// Content ids, comma-separated.
    #[arg(long)]
    pub content: Option<String>,
    /// Rows grouped by: content, screen, store, hour, day, weekday, brand, campaign (comma-separated).
    #[arg(long, default_value = "content")]
    pub by: String,
    /// k: every count of fewer people, and every mean or ratio over fewer, is suppressed (default 5).
    /// Where --config's `[notice]` gives `min_group_size`, this may only repeat it.
    #[arg(long)]
    pub min_group_size: Option<u64>,
    /// A TOML file whose `[notice]` section (the one the privacy notice states; e.g. the
    /// collector's config or the edge's) gives k as `min_group_size`; other keys are not read.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// html, csv or json.
    #[arg(long, default_value = "html")]
    pub format: String,
    /// Where the report goes ("-": standard output).
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
    /// Screens (store, name, time_zone) and content (name, campaign, brand), TOML or CSV.
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// The report's title.
    #[arg(long, default_value = "Audience report")]
    pub title: String,
    /// Records without `utc` (a file source) are placed at this time + their running time (RFC 3339).
    #[arg(long)]
    pub start: Option<String>,
}

/// `2026-11-01` or an RFC 3339 time as Unix seconds.
pub fn parse_when(s: &str) -> anyhow::Result<i64> {
    let b = s.as_bytes();
    if s.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
        if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10))
            && (1..=12).contains(&m)
            && (1..=31).contains(&d)
        {
            return Ok(time::days_from_civil(i64::from(y), m, d) * 86_400);
        }
    }
    time::parse(s).map(|t| t.floor() as i64).with_context(|| format!("{s:?}: neither YYYY-MM-DD nor RFC 3339 UTC"))
}

fn list(s: &Option<String>) -> Vec<String> {
    s.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// k: `[notice] min_group_size` of `config` when it has one (the k the privacy notice states;
/// `--min-group-size` may repeat it, not contradict it), else the flag, else the default.
fn k(config: Option<&Path>, flag: Option<u64>) -> anyhow::Result<u64> {
    if flag == Some(0) {
        bail!("--min-group-size 0: k is at least 1");
    }
    let notice = config.map(Notice::load).transpose().map_err(anyhow::Error::msg)?.flatten();
    let file = match (config, notice.as_ref().and_then(|n| n.min_group_size)) {
        (Some(path), Some(k)) => Some((u64::from(k), path)),
        _ => None,
    };
    let k = notice::settle("min_group_size", "--min-group-size", file, flag).map_err(anyhow::Error::msg)?;
    Ok(k.unwrap_or(crate::DEFAULT_MIN_GROUP_SIZE))
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let format =
        Format::parse(&args.format).with_context(|| format!("--format {:?}: html, csv or json", args.format))?;
    let by = Dimension::parse_list(&args.by).map_err(anyhow::Error::msg)?;
    let min_group_size = k(args.config.as_deref(), args.min_group_size)?;
    let filter = Filter {
        from: args.from.as_deref().map(parse_when).transpose()?,
        to: args.to.as_deref().map(parse_when).transpose()?,
        screens: list(&args.screens),
        contents: list(&args.content),
    };
    if let (Some(f), Some(t)) = (filter.from, filter.to)
        && t <= f
    {
        bail!("--to must be after --from (--from inclusive, --to exclusive)");
    }
    let catalogue = match &args.catalogue {
        Some(p) => crate::catalogue::load(p)?,
        None => Catalogue::default(),
    };
    let mut header = Header { title: args.title.clone(), ..Header::default() };
    let has_offsets = catalogue.screens.values().any(|s| !s.is_utc());
    let local = if has_offsets { "hours, days and weekdays local to each screen (catalogue)" } else { "times are UTC" };
    header.time_note = local.to_string();
    let database = args.database.clone().or_else(|| std::env::var("BLICKFANG_DATABASE").ok());
    let (rollup, screens) = if !args.records.is_empty() {
        let start_us = match &args.start {
            Some(s) => time::parse_us(s).with_context(|| format!("--start {s:?}: RFC 3339 UTC"))?,
            None => 0,
        };
        let opts = RecordOptions { start_us, ..Default::default() };
        // One reader over all files: a record repeated across files still counts once.
        let mut text = Vec::new();
        for p in &args.records {
            let mut f = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            if !f.ends_with(b"\n") {
                f.push(b'\n');
            }
            text.extend(f);
        }
        let r = input::rollup_from_records(text.as_slice(), &opts).with_context(|| {
            format!("records {}", args.records.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
        })?;
        header.source = format!(
            "records: {}",
            args.records
                .iter()
                .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                .collect::<Vec<_>>()
                .join(", ")
        );
        eprintln!(
            "report: {} records: {} person events, {} content reports, {} duplicates skipped, {} not audience data",
            r.records, r.left_events, r.content_reports, r.duplicates, r.skipped
        );
        if r.without_utc > 0 {
            header.time_note = format!(
                "{}; {} records without a wall clock placed at {} + running time",
                header.time_note,
                r.without_utc,
                time::utc_rfc3339(i128::from(start_us) * 1000)
            );
        }
        (r.rollup, None)
    } else if let Some(url) = &database {
        let daily = input::daily_suffices(&by, &filter, &catalogue, format == Format::Html);
        let table = if daily { "daily rollup" } else { "hourly rollup" };
        header.source = format!("database: {} ({table})", input::redact_url(url));
        let read = input::cells_from_database(url, &by, &filter, &catalogue, daily)?;
        (read.rollup, Some(read.screens))
    } else {
        bail!("give --records FILE... or --database URL (or BLICKFANG_DATABASE)");
    };
    let cells = input::report_cells(&rollup);
    let query = Query { by, filter, min_group_size };
    let mut report = crate::build(&cells, &query, &catalogue, header);
    if let Some(screens) = screens {
        // The database's cells are summed across screens: their list comes with them.
        report.screens = screens.into_iter().collect();
    }
    let text = render(&report, format);
    if args.output.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(&args.output, text).with_context(|| format!("cannot write {}", args.output.display()))?;
        eprintln!("report: {} written", args.output.display());
    }
    Ok(())
}
