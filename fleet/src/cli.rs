//! The `blickfang collect` and `blickfang simulate` subcommands' arguments
//! and bodies: the `blickfang` binary only hands them over.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::collector::{self, Settings};
use crate::metrics::Metrics;
use crate::notice;
use crate::simulate::{self, SimSettings};

/// `blickfang collect`: every screen's records from the broker into PostgreSQL.
#[derive(clap::Args, Debug, Default)]
pub struct CollectArgs {
    /// A TOML file with the settings (the names below with `_`: mqtt, database, group, client_id,
    /// topic, batch_size, max_wait_ms, mqtt_ca, database_ca, metrics, session_expiry_s, max_record_bytes, min_dwell_s,
    /// min_attention_s, rejected_keep, retain_days, progress_s), and the `[notice]` section the
    /// privacy notice states (its retain_days is the retention). Secrets belong here or in the
    /// environment (BLICKFANG_MQTT, BLICKFANG_DATABASE), not on the command line.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The broker, mqtt[s]://user:pass@host:port (or BLICKFANG_MQTT).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// The CA (PEM) that signed the broker's TLS certificate, for mqtts:// (or BLICKFANG_MQTT_CA;
    /// default: the system's roots).
    #[arg(long)]
    pub mqtt_ca: Option<PathBuf>,
    /// The database, postgres://user:pass@host:port/db (or BLICKFANG_DATABASE).
    #[arg(long)]
    pub database: Option<String>,
    /// The CA (PEM) that signed the database's TLS certificate, for sslmode=verify-ca/verify-full
    /// in the connection string (or BLICKFANG_DATABASE_CA; default: the system's roots).
    #[arg(long)]
    pub database_ca: Option<PathBuf>,
    /// The shared subscription group ($share/<group>/...): collectors of one group split the load.
    #[arg(long)]
    pub group: Option<String>,
    /// This collector slot's fixed client id: the broker keeps its session and queue by it.
    #[arg(long)]
    pub client_id: Option<String>,
    /// The edges' topic template (blickfang-mqttsink's `topic`).
    #[arg(long)]
    pub topic: Option<String>,
    /// Records per transaction.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The longest a record waits for its batch to commit, milliseconds.
    #[arg(long)]
    pub max_wait_ms: Option<u64>,
    /// Serve Prometheus text on this address (e.g. 127.0.0.1:9464).
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
    /// Delete raw events older than this many days (hourly); the rollup is kept. Where the config
    /// file's `[notice]` gives `retain_days` (what the privacy notice states), this may only repeat it.
    #[arg(long)]
    pub retain_days: Option<u32>,
    /// Retire this slot: unsubscribe, drain what the broker queued for it, end its session, exit.
    #[arg(long)]
    pub retire: bool,
    /// Replay the `parked` table (records of a newer schema, kept during a rolling upgrade) into
    /// the tables with this version's rules, then exit (no MQTT connection).
    #[arg(long)]
    pub replay_parked: bool,
}

/// `blickfang simulate`: a fleet of virtual screens, to a broker or a records file, and its truth.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Virtual screens.
    #[arg(long, default_value_t = 50)]
    pub screens: usize,
    /// Simulated time (e.g. 90s, 10m, 1h, 7d), faster than real time.
    #[arg(long, default_value = "10m")]
    pub duration: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Records published twice (as QoS 1 allows), per thousand.
    #[arg(long, default_value_t = 10)]
    pub duplicates_per_mille: u64,
    /// Publish to this broker, mqtt://user:pass@host:port (or BLICKFANG_MQTT).
    #[arg(long)]
    pub mqtt: Option<String>,
    /// Write the records (NDJSON, as metajson writes them) to this file.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// Write the exact truth (screen × content × hour) as JSON to this file.
    #[arg(long)]
    pub truth: Option<PathBuf>,
}

/// `90s`, `10m`, `1h`, `7d` (or plain seconds) in seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("duration {s:?}"))?;
    Ok(n * match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("duration {s:?}: use s, m, h or d"),
    })
}

pub fn collect(args: CollectArgs) -> anyhow::Result<()> {
    let mut s = Settings::load(args.config.as_deref())?;
    if let Some(v) = args.mqtt {
        s.mqtt = v;
    }
    if let Some(v) = args.database {
        s.database = v;
    }
    if let Some(v) = args.mqtt_ca {
        s.mqtt_ca = Some(v);
    }
    if let Some(v) = args.database_ca {
        s.database_ca = Some(v);
    }
    if let Some(v) = args.group {
        s.group = v;
    }
    if let Some(v) = args.client_id {
        s.client_id = v;
    }
    if let Some(v) = args.topic {
        s.topic = v;
    }
    if let Some(v) = args.batch_size {
        s.batch_size = v;
    }
    if let Some(v) = args.max_wait_ms {
        s.max_wait_ms = v;
    }
    if args.metrics.is_some() {
        s.metrics = args.metrics;
    }
    s.retain_days = retention(&s, args.config.as_deref(), args.retain_days)?;
    s.retire |= args.retire;
    s.replay_parked |= args.replay_parked;
    s.check()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            eprintln!("collect: stopping (committing and acknowledging what is held; the session stays)");
        };
        collector::run(s, Arc::new(Metrics::default()), shutdown).await
    })
}

/// The retention: `[notice] retain_days` of the config file when it has one (the days the
/// privacy notice states); the top-level `retain_days` and `--retain-days` may repeat it, not
/// contradict it. Without `[notice]`: the flag, else the top-level key.
fn retention(s: &Settings, config: Option<&Path>, flag: Option<u32>) -> anyhow::Result<Option<u32>> {
    let Some(n) = &s.notice else { return Ok(flag.or(s.retain_days)) };
    n.check().map_err(anyhow::Error::msg)?;
    let path = config.unwrap_or(Path::new("the config file"));
    let file = n.retain_days.map(|d| (d, path));
    let days = notice::settle("retain_days", "retain_days (top level)", file, s.retain_days)
        .and_then(|d| notice::settle("retain_days", "--retain-days", d.map(|d| (d, path)), flag))
        .map_err(anyhow::Error::msg)?;
    Ok(days)
}

pub fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let s = SimSettings {
        screens: args.screens,
        duration_s: parse_duration(&args.duration)?,
        seed: args.seed,
        duplicates_per_mille: args.duplicates_per_mille,
        ..SimSettings::default()
    };
    let mqtt = args.mqtt.or_else(|| std::env::var("BLICKFANG_MQTT").ok());
    if mqtt.is_none() && args.records.is_none() && args.truth.is_none() {
        bail!("nothing to do: give --mqtt, --records and/or --truth");
    }
    let started = std::time::Instant::now();
    let sim = simulate::simulate(&s);
    eprintln!(
        "simulate: {} screens × {} s: {} records, {} messages, {} cells in {:.1?}",
        s.screens,
        s.duration_s,
        sim.records,
        sim.messages.len(),
        sim.truth.cells.len(),
        started.elapsed()
    );
    if let Some(path) = &args.records {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        sim.write_records(&mut out)?;
        std::io::Write::flush(&mut out)?;
    }
    if let Some(path) = &args.truth {
        std::fs::write(path, serde_json::to_string_pretty(&sim.truth_json(&s))?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(url) = mqtt {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let started = std::time::Instant::now();
        rt.block_on(simulate::publish(&url, &format!("blickfang-simulate-{}", std::process::id()), &sim.messages))?;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "simulate: published {} messages in {secs:.1} s ({:.0}/s)",
            sim.messages.len(),
            sim.messages.len() as f64 / secs
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("10m").unwrap(), 600);
        assert_eq!(super::parse_duration("1h").unwrap(), 3600);
        assert_eq!(super::parse_duration("45").unwrap(), 45);
        assert!(super::parse_duration("1w").is_err());
    }
}
