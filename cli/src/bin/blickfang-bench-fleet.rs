//! `make bench-fleet`: the fleet end on this machine, broker and database
//! included (a mosquitto and a PostgreSQL started here on 127.0.0.1, as the
//! tests start them).
//!
//! 1. Records per second committed by one and by two collectors: a simulated
//!    fleet (`BLICKFANG_BENCH_SCREENS`, default 1,000 screens × 1 h) published
//!    with QoS 1 while the collectors are away (their sessions queue it), then
//!    the collectors started and timed until every message is committed and
//!    acknowledged; the hourly rollup is then compared with the simulator's
//!    truth. `BLICKFANG_BENCH_BATCH` sets the collectors' batch size,
//!    `BLICKFANG_BENCH_COLLECTORS` the runs (default `1,2`). The CPU time of
//!    collectors, PostgreSQL and mosquitto per stored record is printed too:
//!    on a shared machine it is steadier than the wall-clock rate.
//! 2. The report query — content × day over 30 days for the whole fleet —
//!    after a bulk load of the rollup (`INSERT … SELECT`, not through MQTT:
//!    that would take hours), on the hourly rollup and on the daily one.

#[path = "../../../tests/mosquitto/mod.rs"]
mod mosquitto;
#[path = "../../../tests/postgres/mod.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blickfang_fleet::collector::{self, Settings};
use blickfang_fleet::db;
use blickfang_fleet::metrics::Metrics;
use blickfang_fleet::simulate::{self, SimSettings, Simulation};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn handled(m: &Metrics) -> u64 {
    m.stored.load(Relaxed)
        + m.duplicates.load(Relaxed)
        + m.ignored.load(Relaxed)
        + m.parked.load(Relaxed)
        + m.rejected_total()
}

/// CPU time (s) of a process, with its reaped children (`/proc/PID/stat`: utime, stime, cutime, cstime).
fn cpu_s(pid: &str, clk_tck: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // After the command name (in parentheses, may hold spaces): fields 3.. of proc(5).
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    (11..15).map(|i| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)).sum::<f64>() / clk_tck
}

/// The parent pid of a process.
fn ppid(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1).map(str::to_string)
}

/// CPU seconds so far of the collectors (this process), PostgreSQL (the postmaster, its live
/// backends and those it reaped) and mosquitto: the cost of a record on a shared machine, where
/// wall-clock rates depend on what else runs.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    collector: f64,
    postgres: f64,
    mosquitto: f64,
}

impl Cpu {
    fn now(pg: &postgres::Postgres, broker: &mosquitto::Mosquitto) -> Cpu {
        // Linux's USER_HZ: 100 on every architecture it runs on.
        let tck = 100.0;
        let pid_file = std::fs::read_to_string(pg.dir.join("data/postmaster.pid")).unwrap_or_default();
        let postmaster = pid_file.lines().next().unwrap_or("").trim().to_string();
        let mut postgres = cpu_s(&postmaster, tck);
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if pid.bytes().all(|b| b.is_ascii_digit()) && ppid(&pid).as_deref() == Some(postmaster.as_str()) {
                    postgres += cpu_s(&pid, tck);
                }
            }
        }
        let mosquitto = broker.pid().map_or(0.0, |p| cpu_s(&p.to_string(), tck));
        Cpu { collector: cpu_s("self", tck), postgres, mosquitto }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            collector: self.collector - before.collector,
            postgres: self.postgres - before.postgres,
            mosquitto: self.mosquitto - before.mosquitto,
        }
    }

    fn total(self) -> f64 {
        self.collector + self.postgres + self.mosquitto
    }
}

async fn pg_connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Publishes `sim` to a fresh broker while `n` collectors are away, then times their drain.
fn collect_run(rt: &tokio::runtime::Runtime, sim: &Simulation, n: usize) -> Result<()> {
    // The broker's own outgoing in-flight cap lifted: the collectors' Receive Maximum governs.
    let broker = mosquitto::Mosquitto::start_with("max_inflight_messages 0");
    let pg = postgres::Postgres::start();
    let settings = |i: usize| Settings {
        mqtt: format!("mqtt://127.0.0.1:{}", broker.port),
        database: pg.url(),
        client_id: format!("bench-collect-{i}"),
        batch_size: env_or("BLICKFANG_BENCH_BATCH", Settings::default().batch_size as u64) as usize,
        progress_s: 3600,
        ..Settings::default()
    };
    let start = |i: usize| {
        let metrics = Arc::new(Metrics::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(collector::run(settings(i), metrics.clone(), async move {
            let _ = stopped.await;
        }));
        (metrics, stop, task)
    };
    // Sessions and subscriptions first, then away: the broker queues for them.
    let first: Vec<_> = (0..n).map(start).collect();
    std::thread::sleep(Duration::from_millis(1500));
    for (_, stop, task) in first {
        let _ = stop.send(());
        rt.block_on(task)??;
    }
    let t = Instant::now();
    rt.block_on(simulate::publish(&format!("mqtt://127.0.0.1:{}", broker.port), "bench-simulate", &sim.messages))?;
    let published = t.elapsed().as_secs_f64();
    let total = sim.messages.len() as u64;
    let cpu_before = Cpu::now(&pg, &broker);
    let t = Instant::now();
    let running: Vec<_> = (0..n).map(start).collect();
    loop {
        let done: u64 = running.iter().map(|r| handled(&r.0)).sum();
        if done >= total {
            break;
        }
        if t.elapsed() > Duration::from_secs(900) {
            bail!("{done} of {total} messages committed after 15 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Includes the collectors' own start (connect, migrate, subscribe): a few ms.
    let secs = t.elapsed().as_secs_f64();
    let cpu = Cpu::now(&pg, &broker).since(cpu_before);
    let stored: u64 = running.iter().map(|r| r.0.stored.load(Relaxed)).sum();
    let per: Vec<String> = running.iter().map(|r| r.0.stored.load(Relaxed).to_string()).collect();
    let batches: u64 = running.iter().map(|r| r.0.batches.load(Relaxed)).sum();
    let batch_us: u64 = running.iter().map(|r| r.0.batch_us_total.load(Relaxed)).sum();
    for (_, stop, task) in running {
        let _ = stop.send(());
        rt.block_on(task)??;
    }
    let got =
        rt.block_on(async { db::read_rollup(&pg_connect(&pg.url()).await?).await.map_err(anyhow::Error::from) })?;
    let exact = got == sim.truth;
    println!(
        "{n} collector(s): {total} messages ({stored} stored: left events and content periods; per collector {}) committed and acknowledged \
         in {secs:.1} s = {:.0} messages/s, {:.0} stored records/s; {batches} batches, mean {:.1} ms each; \
         (published into the broker at {:.0} messages/s); rollup = truth: {exact}",
        per.join(" + "),
        total as f64 / secs,
        stored as f64 / secs,
        batch_us as f64 / batches.max(1) as f64 / 1000.0,
        total as f64 / published,
    );
    let us = |s: f64| s * 1e6 / stored.max(1) as f64;
    println!(
        "  CPU while draining: collector(s) {:.1} s, PostgreSQL {:.1} s, mosquitto {:.1} s = {:.1} s on {} cores; \
         per stored record: {:.0} + {:.0} + {:.0} = {:.0} µs CPU ({:.0} µs per message)",
        cpu.collector,
        cpu.postgres,
        cpu.mosquitto,
        cpu.total(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        us(cpu.collector),
        us(cpu.postgres),
        us(cpu.mosquitto),
        us(cpu.total()),
        cpu.total() * 1e6 / total.max(1) as f64,
    );
    if !exact {
        bail!("the hourly rollup differs from the simulator's truth");
    }
    Ok(())
}

const SUMS: &str = "sum(plays), sum(on_screen_us), sum(ots), sum(watchers), sum(dwell_us), sum(attention_us)";

/// Bulk-loads `screens` × `days` × 24 h × 5 contents into rollup_hourly (and by day into rollup_daily) and
/// times the content × day report on each.
fn rollup_query(rt: &tokio::runtime::Runtime, screens: i64, days: i64) -> Result<()> {
    let pg = postgres::Postgres::start();
    rt.block_on(async {
        let mut client = pg_connect(&pg.url()).await?;
        db::migrate(&mut client, None).await?;
        let t = Instant::now();
        // Each screen plays 5 of 40 content items every hour; the figures vary by screen, hour and item.
        let rows = client
            .execute(
                "INSERT INTO rollup_hourly (screen, content_id, hour, plays, on_screen_us, ots, watchers, dwell_us,
                     attention_us, watcher_attention_us, dwell_h0, dwell_h1, attention_h0, attention_h1)
                 SELECT 'store-' || lpad((s / 4 + 1)::text, 3, '0') || '/screen-' || (s % 4 + 1),
                        'ad-' || lpad(((s * 7 + c * 3) % 40)::text, 2, '0'),
                        timestamptz '2026-10-01 00:00:00+00' + h * interval '1 hour',
                        20 + (s + h + c) % 7, 600000000, (s * h + c) % 23, (s + h * c) % 11,
                        ((s * h + c) % 23) * 4000000, ((s + h * c) % 11) * 2500000, ((s + h * c) % 11) * 2000000,
                        (s * h + c) % 23 / 2, (s * h + c) % 23 - (s * h + c) % 23 / 2,
                        (s + h * c) % 11 / 2, (s + h * c) % 11 - (s + h * c) % 11 / 2
                 FROM generate_series(0, $1::int8 - 1) s, generate_series(0, $2::int8 * 24 - 1) h,
                      generate_series(0, 4) c",
                &[&screens, &days],
            )
            .await?;
        let hourly_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        // What the collector keeps in the same transaction as the hourly rows, bulk-built here.
        let daily = client
            .execute(
                &format!(
                    "INSERT INTO rollup_daily (screen, content_id, day, plays, on_screen_us, ots, watchers, dwell_us,
                         attention_us)
                     SELECT screen, content_id, date_trunc('day', hour, 'UTC'), {SUMS}
                     FROM rollup_hourly GROUP BY 1, 2, 3"
                ),
                &[],
            )
            .await?;
        let daily_s = t.elapsed().as_secs_f64();
        client.batch_execute("VACUUM ANALYZE rollup_hourly").await?;
        client.batch_execute("VACUUM ANALYZE rollup_daily").await?;
        println!(
            "bulk load: {rows} hourly rows ({screens} screens × {days} days × 24 h × 5 contents) in {hourly_s:.1} s, \
             {daily} daily rows built from them in {daily_s:.1} s"
        );
        let from = std::time::UNIX_EPOCH + Duration::from_secs(1_790_812_800); // 2026-10-01T00:00:00Z
        let to = from + Duration::from_secs(days as u64 * 86_400);
        for (name, sql) in [
            (
                "rollup_hourly",
                format!(
                    "SELECT content_id, date_trunc('day', hour, 'UTC') AS day, {SUMS} FROM rollup_hourly
                     WHERE hour >= $1 AND hour < $2 GROUP BY 1, 2 ORDER BY 1, 2"
                ),
            ),
            (
                "rollup_daily",
                format!(
                    "SELECT content_id, day, {SUMS} FROM rollup_daily
                     WHERE day >= $1 AND day < $2 GROUP BY 1, 2 ORDER BY 1, 2"
                ),
            ),
        ] {
            let mut times = Vec::new();
            let mut n = 0;
            for _ in 0..3 {
                let t = Instant::now();
                n = client.query(&sql, &[&from, &to]).await.with_context(|| name.to_string())?.len();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            println!(
                "report content × day, {screens} screens × {days} days, on {name}: {n} rows in {:.0} ms \
                 (first of 3: {:.0} ms)",
                times.iter().cloned().fold(f64::INFINITY, f64::min),
                times[0]
            );
        }
        Ok::<_, anyhow::Error>(())
    })
}

fn main() -> Result<()> {
    let screens = env_or("BLICKFANG_BENCH_SCREENS", 1000);
    let duration_s = env_or("BLICKFANG_BENCH_SECONDS", 3600);
    let days = env_or("BLICKFANG_BENCH_DAYS", 30);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let t = Instant::now();
    let sim = simulate::simulate(&SimSettings { screens: screens as usize, duration_s, ..SimSettings::default() });
    println!(
        "simulated {screens} screens × {duration_s} s: {} messages ({} distinct records, the rest QoS 1 \
         duplicates), {} screen × content × hour cells, in {:.1} s",
        sim.messages.len(),
        sim.records,
        sim.truth.cells.len(),
        t.elapsed().as_secs_f64()
    );
    // BLICKFANG_BENCH_COLLECTORS: which runs (default "1,2").
    let runs = std::env::var("BLICKFANG_BENCH_COLLECTORS").unwrap_or_else(|_| "1,2".into());
    for n in runs.split(',').filter_map(|n| n.trim().parse::<usize>().ok()) {
        collect_run(&rt, &sim, n)?;
    }
    rollup_query(&rt, screens as i64, days as i64)
}
