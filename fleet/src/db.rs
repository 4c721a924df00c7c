//! PostgreSQL: migrations (`fleet/migrations/*.sql`, a `schema_version`
//! table) and the batch write — one transaction per batch: raw rows inserted
//! with `ON CONFLICT (screen, run, seq) DO NOTHING RETURNING`, the rollup
//! deltas computed in Rust from the rows actually inserted (a duplicate never
//! counts twice), upserted adding the deltas, keys sorted (concurrent
//! collectors lock rows in one order), retried on deadlock (40P01) and
//! serialization failure (40001).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient};

use crate::ingest::{ContentPeriod, Ingested, Key, PersonLeft, Reason, ScreenSeen};
use crate::rollup::{CellKey, Rollup, Thresholds, US_PER_HOUR};

/// The migrations, in order: (version, SQL).
pub const MIGRATIONS: [(i32, &str); 6] = [
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_parked_retention.sql")),
    (3, include_str!("../migrations/0003_rollup_daily.sql")),
    (4, include_str!("../migrations/0004_shares_without_fk.sql")),
    (5, include_str!("../migrations/0005_rollup_fillfactor.sql")),
    (6, include_str!("../migrations/0006_rollup_daily_demographics.sql")),
];

/// Bytes of a rejected message kept in `rejected.head`.
pub const REJECTED_HEAD_BYTES: usize = 256;

/// Applies the migrations above the database's version, up to `target`
/// (all: `None`), in one transaction under an advisory lock (collectors
/// starting together migrate once). Returns the version reached.
pub async fn migrate(client: &mut Client, target: Option<i32>) -> Result<i32, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7262737);
         CREATE TABLE IF NOT EXISTS schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[]).await?.get(0);
    let mut reached = current;
    for (version, sql) in MIGRATIONS {
        if version > current && target.is_none_or(|t| version <= t) {
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&version]).await?;
            reached = version;
        }
    }
    tx.commit().await?;
    Ok(reached)
}

/// A message and its judgement.
#[derive(Debug, Clone)]
pub struct Judged {
    pub topic: String,
    pub payload: Vec<u8>,
    pub ingested: Ingested,
}

/// What one committed batch did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Person events and content periods inserted.
    pub stored: u64,
    /// Already stored (redelivered or published twice).
    pub duplicates: u64,
    pub ignored: u64,
    pub parked: u64,
    pub rejected: BTreeMap<Reason, u64>,
    /// The newest wall clock among the records (for the lag).
    pub newest_us: Option<i64>,
}

fn ts(us: i64) -> SystemTime {
    if us >= 0 {
        UNIX_EPOCH + Duration::from_micros(us as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(us.unsigned_abs())
    }
}

fn us_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// Whether an error is worth retrying the whole batch for: a deadlock or a
/// serialization failure (the transaction was rolled back).
pub fn is_retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// An error as the log should say it: tokio-postgres prints a server error as
/// "db error" alone; the server's code and message say what went wrong.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{e}: {} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

/// Writes a batch in one transaction and commits it; retries on deadlock.
pub async fn write_batch(
    client: &mut Client,
    batch: &[Judged],
    t: &Thresholds,
    rejected_keep: i64,
) -> Result<Outcome, tokio_postgres::Error> {
    let mut attempt = 0;
    loop {
        let tx = client.transaction().await?;
        match write_in(&tx, batch, t, rejected_keep).await {
            Ok(outcome) => match tx.commit().await {
                Ok(()) => return Ok(outcome),
                Err(e) if is_retryable(&e) && attempt < 10 => {}
                Err(e) => return Err(e),
            },
            Err(e) if is_retryable(&e) && attempt < 10 => {
                let _ = tx.rollback().await;
            }
            Err(e) => return Err(e),
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(10 << attempt.min(6))).await;
    }
}

/// What a replay of `parked` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    /// Parked records this version reads, written (as stored, duplicates, ignored or rejected:
    /// see `outcome`) and removed from `parked`.
    pub replayed: u64,
    /// Records of a schema this version does not read either: left in `parked`.
    pub still_parked: u64,
    pub outcome: Outcome,
}

/// Replays `parked` after an upgrade: each parked record is judged again with today's
/// rules; those this version reads are written exactly as if they had just arrived (the same
/// idempotent keys and rollup arithmetic, so a replay twice counts nothing twice) and removed
/// from `parked` in the same transaction, `page` rows per transaction; the rest stay parked.
/// Safe beside running collectors (their batches take their locks in the same order; rows
/// another replay holds are skipped). A deadlock returns its error: running it again resumes.
pub async fn replay_parked(
    client: &mut Client,
    rules: &crate::ingest::Rules,
    t: &Thresholds,
    rejected_keep: i64,
    page: i64,
) -> Result<Replayed, tokio_postgres::Error> {
    let mut done = Replayed::default();
    let mut after = 0i64;
    loop {
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT id, topic, payload FROM parked WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&after, &page],
            )
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(done);
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let (id, topic, payload): (i64, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
            after = id;
            let ingested = crate::ingest::ingest(&topic, &payload, rules);
            if matches!(ingested, Ingested::Parked { .. }) {
                done.still_parked += 1;
                continue;
            }
            ids.push(id);
            batch.push(Judged { topic, payload, ingested });
        }
        let outcome = write_in(&tx, &batch, t, rejected_keep).await?;
        tx.execute("DELETE FROM parked WHERE id = ANY($1)", &[&ids]).await?;
        tx.commit().await?;
        done.replayed += ids.len() as u64;
        let o = &mut done.outcome;
        o.stored += outcome.stored;
        o.duplicates += outcome.duplicates;
        o.ignored += outcome.ignored;
        for (reason, n) in outcome.rejected {
            *o.rejected.entry(reason).or_default() += n;
        }
        o.newest_us = o.newest_us.max(outcome.newest_us);
    }
}

/// A screen in one batch: first and last seen (µs), the latest `dropped` (at, count).
type ScreenSpan = (i64, i64, Option<(i64, i64)>);

/// Profiling: with BLICKFANG_COLLECT_TIMING set, each batch's phase times on stderr
/// (`start`: the time since the previous batch's end).
fn lap(name: &str) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    if std::env::var_os("BLICKFANG_COLLECT_TIMING").is_some() {
        let now = std::time::Instant::now();
        let mut last = LAST.lock().unwrap();
        if let Some(t) = *last {
            eprintln!("timing {name} {:.1} ms", (now - t).as_secs_f64() * 1000.0);
        }
        *last = Some(now);
    }
}

async fn write_in<'a>(
    tx: &impl GenericClient,
    batch: &'a [Judged],
    t: &Thresholds,
    rejected_keep: i64,
) -> Result<Outcome, tokio_postgres::Error> {
    lap("start");
    let mut out = Outcome::default();
    let mut lefts: BTreeMap<&Key, &PersonLeft> = BTreeMap::new();
    let mut periods: BTreeMap<&Key, &ContentPeriod> = BTreeMap::new();
    let mut screens: BTreeMap<&str, ScreenSpan> = BTreeMap::new();
    let mut rejected = Vec::new();
    let mut parked = Vec::new();
    let mut see = |s: &'a ScreenSeen| {
        let e = screens.entry(s.screen.as_str()).or_insert((s.at_us, s.at_us, None));
        e.0 = e.0.min(s.at_us);
        e.1 = e.1.max(s.at_us);
        if let Some(d) = s.dropped
            && e.2.is_none_or(|(at, _)| s.at_us >= at)
        {
            e.2 = Some((s.at_us, d));
        }
    };
    for j in batch {
        match &j.ingested {
            Ingested::Left(l, s) => {
                see(s);
                if lefts.insert(&l.key, l).is_some() {
                    out.duplicates += 1;
                }
            }
            Ingested::Period(p, s) => {
                see(s);
                if periods.insert(&p.key, p).is_some() {
                    out.duplicates += 1;
                }
            }
            Ingested::Ignored(s) => {
                see(s);
                out.ignored += 1;
            }
            Ingested::Parked { version } => {
                parked.push((version.clone(), j.topic.clone(), j.payload.clone()));
                out.parked += 1;
            }
            Ingested::Rejected { reason, .. } => {
                *out.rejected.entry(*reason).or_default() += 1;
                // Frames are refused by design, not a fault worth a row each.
                if *reason != Reason::Frame {
                    let head = &j.payload[..j.payload.len().min(REJECTED_HEAD_BYTES)];
                    rejected.push((reason.as_str().to_string(), j.topic.clone(), head.to_vec()));
                }
            }
        }
    }
    // Two round trips, not one per statement: the statements of a phase are
    // sent together (tokio-postgres pipelines concurrent queries on one
    // connection; the server runs them in the order sent, so every collector
    // takes its locks in one order). Phase 1 inserts the records and returns
    // the keys actually inserted; phase 2 writes what follows from those
    // (shares, rollup deltas: a duplicate never counts twice) and the screens.
    let l: Vec<&PersonLeft> = lefts.values().copied().collect();
    let p: Vec<&ContentPeriod> = periods.values().copied().collect();
    // BTreeMap: sorted by screen, so concurrent batches lock rows in one order.
    let s: Vec<(&str, ScreenSpan)> = screens.into_iter().collect();
    let (event_rows, period_rows, rejected_done, parked_done) = tokio::join!(
        insert_events(tx, &l),
        insert_periods(tx, &p),
        insert_rejected(tx, &rejected, rejected_keep),
        insert_parked(tx, &parked),
    );
    // In the order sent: the first error is the cause (the later ones only say the transaction aborted).
    let (event_rows, period_rows) = (event_rows?, period_rows?);
    rejected_done?;
    parked_done?;
    lap("phase 1");

    let mut delta = Rollup::default();
    let inserted = returned_keys(&event_rows);
    out.duplicates += (l.len() - inserted.len()) as u64;
    let new: Vec<&PersonLeft> = l.into_iter().filter(|x| inserted.contains(&x.key)).collect();
    out.stored += new.len() as u64;
    for x in &new {
        delta.add_left(x, t);
        out.newest_us = out.newest_us.max(Some(x.at_us));
    }
    let inserted = returned_keys(&period_rows);
    out.duplicates += (p.len() - inserted.len()) as u64;
    for x in p.into_iter().filter(|x| inserted.contains(&x.key)) {
        out.stored += 1;
        delta.add_period(x);
        out.newest_us = out.newest_us.max(Some(x.end_us));
    }
    let shares: Vec<(&PersonLeft, i32, &crate::ingest::Share)> =
        new.iter().flat_map(|x| x.contents.iter().enumerate().map(move |(i, s)| (*x, i as i32, s))).collect();
    // The rows every batch shares (screens, rollup cells) are locked last, just before the
    // commit: another collector's phase 1 runs meanwhile instead of waiting for these locks.
    let (shares_done, screens_done, rollup_done) =
        tokio::join!(insert_shares(tx, &shares), upsert_screens(tx, &s), upsert_rollup(tx, &delta));
    shares_done?;
    screens_done?;
    rollup_done?;
    lap("phase 2");
    Ok(out)
}

async fn insert_events(
    tx: &impl GenericClient,
    l: &[&PersonLeft],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    if l.is_empty() {
        return Ok(Vec::new());
    }
    tx.query(
        "INSERT INTO person_events (screen, run, seq, at, dwell_us, attention_us, glances, gender, age_group, ending)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::timestamptz[], $5::int8[], $6::int8[],
                              $7::int4[], $8::text[], $9::text[], $10::text[])
         ON CONFLICT (screen, run, seq) DO NOTHING
         RETURNING screen, run, seq",
        &[
            &l.iter().map(|x| x.key.screen.as_str()).collect::<Vec<_>>(),
            &l.iter().map(|x| x.key.run.as_str()).collect::<Vec<_>>(),
            &l.iter().map(|x| x.key.seq).collect::<Vec<_>>(),
            &l.iter().map(|x| ts(x.at_us)).collect::<Vec<_>>(),
            &l.iter().map(|x| x.dwell_us).collect::<Vec<_>>(),
            &l.iter().map(|x| x.attention_us).collect::<Vec<_>>(),
            &l.iter().map(|x| x.glances).collect::<Vec<_>>(),
            &l.iter().map(|x| x.gender.as_deref()).collect::<Vec<_>>(),
            &l.iter().map(|x| x.age_group.as_deref()).collect::<Vec<_>>(),
            &l.iter().map(|x| x.ending.as_deref()).collect::<Vec<_>>(),
        ],
    )
    .await
}

/// The shares of the events just inserted: no conflict is possible (their events were new), so
/// a binary COPY (rows packed into pages, far less per-row work than an INSERT).
async fn insert_shares(
    tx: &impl GenericClient,
    shares: &[(&PersonLeft, i32, &crate::ingest::Share)],
) -> Result<(), tokio_postgres::Error> {
    use tokio_postgres::types::Type;
    if shares.is_empty() {
        return Ok(());
    }
    let sink = tx
        .client()
        .copy_in(
            "COPY person_shares (screen, run, seq, idx, content_id, start_at, end_at, dwell_us, attention_us)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    let types = [
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::INT4,
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::INT8,
        Type::INT8,
    ];
    let mut writer = std::pin::pin!(tokio_postgres::binary_copy::BinaryCopyInWriter::new(sink, &types));
    for (l, idx, s) in shares {
        writer
            .as_mut()
            .write(&[
                &l.key.screen,
                &l.key.run,
                &l.key.seq,
                idx,
                &s.content_id,
                &ts(s.start_us),
                &ts(s.end_us),
                &s.dwell_us,
                &s.attention_us,
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

async fn insert_periods(
    tx: &impl GenericClient,
    p: &[&ContentPeriod],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    tx.query(
        "INSERT INTO content_periods (screen, run, seq, content_id, start_at, end_at, ending, min_group_size,
                                      ots, watchers, report)
         SELECT s, r, q, c, a, b, e, k, o, w, j::jsonb
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                     $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::text[]) AS t(s, r, q, c, a, b, e, k, o, w, j)
         ON CONFLICT (screen, run, seq) DO NOTHING
         RETURNING screen, run, seq",
        &[
            &p.iter().map(|x| x.key.screen.as_str()).collect::<Vec<_>>(),
            &p.iter().map(|x| x.key.run.as_str()).collect::<Vec<_>>(),
            &p.iter().map(|x| x.key.seq).collect::<Vec<_>>(),
            &p.iter().map(|x| x.content_id.as_str()).collect::<Vec<_>>(),
            &p.iter().map(|x| ts(x.start_us)).collect::<Vec<_>>(),
            &p.iter().map(|x| ts(x.end_us)).collect::<Vec<_>>(),
            &p.iter().map(|x| x.ending.as_deref()).collect::<Vec<_>>(),
            &p.iter().map(|x| x.min_group_size).collect::<Vec<_>>(),
            &p.iter().map(|x| x.ots).collect::<Vec<_>>(),
            &p.iter().map(|x| x.watchers).collect::<Vec<_>>(),
            &p.iter().map(|x| x.report.as_str()).collect::<Vec<_>>(),
        ],
    )
    .await
}

async fn upsert_screens(tx: &impl GenericClient, s: &[(&str, ScreenSpan)]) -> Result<(), tokio_postgres::Error> {
    if s.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO screens AS o (screen, first_seen, last_seen, last_dropped, last_dropped_at)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::int8[], $5::timestamptz[])
         ON CONFLICT (screen) DO UPDATE SET
             first_seen = least(o.first_seen, excluded.first_seen),
             last_seen = greatest(o.last_seen, excluded.last_seen),
             last_dropped = CASE WHEN excluded.last_dropped_at >= coalesce(o.last_dropped_at, excluded.last_dropped_at)
                                 THEN excluded.last_dropped ELSE o.last_dropped END,
             last_dropped_at = greatest(o.last_dropped_at, excluded.last_dropped_at)",
        &[
            &s.iter().map(|x| x.0).collect::<Vec<_>>(),
            &s.iter().map(|x| ts(x.1.0)).collect::<Vec<_>>(),
            &s.iter().map(|x| ts(x.1.1)).collect::<Vec<_>>(),
            &s.iter().map(|x| x.1.2.map(|d| d.1)).collect::<Vec<_>>(),
            &s.iter().map(|x| x.1.2.map(|d| ts(d.0))).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}

/// Rows of (a label, the topic, bytes) into `table`'s (`label`, topic, `bytes`) columns: the
/// messages kept whole (`parked`) or by their head (`rejected`).
async fn insert_messages(
    tx: &impl GenericClient,
    table: &str,
    label: &str,
    bytes: &str,
    rows: &[(String, String, Vec<u8>)],
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        &format!(
            "INSERT INTO {table} ({label}, topic, {bytes}) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])"
        ),
        &[
            &rows.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            &rows.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            &rows.iter().map(|x| x.2.as_slice()).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}

/// (reason, topic, head) rows; then only the newest `keep` are kept.
async fn insert_rejected(
    tx: &impl GenericClient,
    rejected: &[(String, String, Vec<u8>)],
    keep: i64,
) -> Result<(), tokio_postgres::Error> {
    if rejected.is_empty() {
        return Ok(());
    }
    insert_messages(tx, "rejected", "reason", "head", rejected).await?;
    tx.execute("DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - $1", &[&keep]).await?;
    Ok(())
}

/// (version, topic, payload) rows.
async fn insert_parked(
    tx: &impl GenericClient,
    parked: &[(String, String, Vec<u8>)],
) -> Result<(), tokio_postgres::Error> {
    if parked.is_empty() {
        return Ok(());
    }
    insert_messages(tx, "parked", "version", "payload", parked).await
}

fn returned_keys(rows: &[tokio_postgres::Row]) -> HashSet<Key> {
    rows.iter().map(|r| Key { screen: r.get(0), run: r.get(1), seq: r.get(2) }).collect()
}

async fn upsert_rollup(tx: &impl GenericClient, delta: &Rollup) -> Result<(), tokio_postgres::Error> {
    if delta.cells.is_empty() {
        return Ok(());
    }
    // The same deltas by UTC day (a daily key's `hour` is the day's first hour).
    let by_day = daily(delta);
    let (hourly_demo, daily_demo) = (demographic_rows(delta), demographic_rows(&by_day));
    let (hourly, daily, hourly_demographics, daily_demographics) = tokio::join!(
        upsert_cells(tx, "rollup_hourly", "hour", delta),
        upsert_cells(tx, "rollup_daily", "day", &by_day),
        upsert_demographics(tx, "rollup_hourly_demographics", "hour", &hourly_demo),
        upsert_demographics(tx, "rollup_daily_demographics", "day", &daily_demo),
    );
    hourly?;
    daily?;
    hourly_demographics?;
    daily_demographics
}

/// A rollup's gender × age-group counts as rows (cell, gender, age group, OTS), keys sorted.
pub fn demographic_rows(rollup: &Rollup) -> Vec<(&CellKey, &str, &str, i64)> {
    let mut demo = Vec::new();
    for (k, c) in &rollup.cells {
        for (g, n) in &c.demographics {
            let (gender, age) = g.split_once('/').unwrap_or((g.as_str(), "unknown"));
            demo.push((k, gender, age, *n));
        }
    }
    demo
}

/// Upserts gender × age-group deltas into `table` (hourly or daily), `time` its time column.
async fn upsert_demographics(
    tx: &impl GenericClient,
    table: &str,
    time: &str,
    demo: &[(&CellKey, &str, &str, i64)],
) -> Result<(), tokio_postgres::Error> {
    if demo.is_empty() {
        return Ok(());
    }
    tx.execute(
        &format!(
            "INSERT INTO {table} AS o (screen, content_id, {time}, gender, age_group, ots)
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::int8[])
             ON CONFLICT (screen, content_id, {time}, gender, age_group) DO UPDATE SET ots = o.ots + excluded.ots"
        ),
        &[
            &demo.iter().map(|x| x.0.screen.as_str()).collect::<Vec<_>>(),
            &demo.iter().map(|x| x.0.content_id.as_str()).collect::<Vec<_>>(),
            &demo.iter().map(|x| ts(x.0.hour * US_PER_HOUR)).collect::<Vec<_>>(),
            &demo.iter().map(|x| x.1).collect::<Vec<_>>(),
            &demo.iter().map(|x| x.2).collect::<Vec<_>>(),
            &demo.iter().map(|x| x.3).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}

/// The cells summed by UTC day, gender × age group included.
pub fn daily(hourly: &Rollup) -> Rollup {
    let mut daily = Rollup::default();
    for (k, c) in &hourly.cells {
        let key = CellKey { hour: k.hour - k.hour.rem_euclid(24), ..k.clone() };
        daily.cells.entry(key).or_default().add(c);
    }
    daily
}

/// Upserts `delta` into `table` (rollup_hourly or rollup_daily), adding to what is there;
/// `time` is the table's time column, the keys' hours its values.
async fn upsert_cells(
    tx: &impl GenericClient,
    table: &str,
    time: &str,
    delta: &Rollup,
) -> Result<(), tokio_postgres::Error> {
    // BTreeMap order: keys sorted.
    let keys: Vec<&CellKey> = delta.cells.keys().collect();
    let cells: Vec<&crate::rollup::Cell> = delta.cells.values().collect();
    let col = |f: &dyn Fn(&crate::rollup::Cell) -> i64| cells.iter().map(|c| f(c)).collect::<Vec<i64>>();
    let hist = |i: usize, dwell: bool| {
        cells.iter().map(|c| if dwell { c.dwell_histogram[i] } else { c.attention_histogram[i] }).collect::<Vec<i64>>()
    };
    let screens: Vec<&str> = keys.iter().map(|k| k.screen.as_str()).collect();
    let contents: Vec<&str> = keys.iter().map(|k| k.content_id.as_str()).collect();
    let hours: Vec<SystemTime> = keys.iter().map(|k| ts(k.hour * US_PER_HOUR)).collect();
    let (plays, on_screen, ots, watchers) =
        (col(&|c| c.plays), col(&|c| c.on_screen_us), col(&|c| c.ots), col(&|c| c.watchers));
    let (dwell, attention, watcher_attention) =
        (col(&|c| c.dwell_us), col(&|c| c.attention_us), col(&|c| c.watcher_attention_us));
    let (d0, d1, d2, d3, d4, d5) =
        (hist(0, true), hist(1, true), hist(2, true), hist(3, true), hist(4, true), hist(5, true));
    let (a0, a1, a2, a3, a4, a5) =
        (hist(0, false), hist(1, false), hist(2, false), hist(3, false), hist(4, false), hist(5, false));
    let sql = format!(
        "INSERT INTO {table} AS o (screen, content_id, {time}, plays, on_screen_us, ots, watchers, dwell_us,
             attention_us, watcher_attention_us, dwell_h0, dwell_h1, dwell_h2, dwell_h3, dwell_h4, dwell_h5,
             attention_h0, attention_h1, attention_h2, attention_h3, attention_h4, attention_h5)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
             $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[],
             $16::int8[], $17::int8[], $18::int8[], $19::int8[], $20::int8[], $21::int8[], $22::int8[])
         ON CONFLICT (screen, content_id, {time}) DO UPDATE SET
             plays = o.plays + excluded.plays, on_screen_us = o.on_screen_us + excluded.on_screen_us,
             ots = o.ots + excluded.ots, watchers = o.watchers + excluded.watchers,
             dwell_us = o.dwell_us + excluded.dwell_us, attention_us = o.attention_us + excluded.attention_us,
             watcher_attention_us = o.watcher_attention_us + excluded.watcher_attention_us,
             dwell_h0 = o.dwell_h0 + excluded.dwell_h0, dwell_h1 = o.dwell_h1 + excluded.dwell_h1,
             dwell_h2 = o.dwell_h2 + excluded.dwell_h2, dwell_h3 = o.dwell_h3 + excluded.dwell_h3,
             dwell_h4 = o.dwell_h4 + excluded.dwell_h4, dwell_h5 = o.dwell_h5 + excluded.dwell_h5,
             attention_h0 = o.attention_h0 + excluded.attention_h0, attention_h1 = o.attention_h1 + excluded.attention_h1,
             attention_h2 = o.attention_h2 + excluded.attention_h2, attention_h3 = o.attention_h3 + excluded.attention_h3,
             attention_h4 = o.attention_h4 + excluded.attention_h4, attention_h5 = o.attention_h5 + excluded.attention_h5"
    );
    tx.execute(
        &sql,
        &[
            &screens,
            &contents,
            &hours,
            &plays,
            &on_screen,
            &ots,
            &watchers,
            &dwell,
            &attention,
            &watcher_attention,
            &d0,
            &d1,
            &d2,
            &d3,
            &d4,
            &d5,
            &a0,
            &a1,
            &a2,
            &a3,
            &a4,
            &a5,
        ],
    )
    .await?;
    Ok(())
}

/// The whole hourly rollup, as the [`Rollup`] type (tests compare it with the truth).
pub async fn read_rollup(client: &impl GenericClient) -> Result<Rollup, tokio_postgres::Error> {
    read_rollup_where(client, &RollupFilter::default()).await
}

/// Which rollup cells a report reads (`blickfang report --database`); empty: all.
#[derive(Debug, Clone, Default)]
pub struct RollupFilter {
    /// Hours since the epoch (UTC): `from` inclusive, `to` exclusive.
    pub from_hour: Option<i64>,
    pub to_hour: Option<i64>,
    /// Screen ids, or prefixes ending in `*` (`store-12/*`).
    pub screens: Vec<String>,
    pub contents: Vec<String>,
}

/// A screen pattern as SQL `LIKE` (a trailing `*` is the only wildcard).
fn like_pattern(p: &str) -> String {
    let (body, any) = p.strip_suffix('*').map_or((p, false), |b| (b, true));
    let mut s = body.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    if any {
        s.push('%');
    }
    s
}

/// The hourly rollup cells `filter` selects, with their gender × age-group counts.
pub async fn read_rollup_where(
    client: &impl GenericClient,
    filter: &RollupFilter,
) -> Result<Rollup, tokio_postgres::Error> {
    let mut r = read_cells(client, "rollup_hourly", "hour", filter).await?;
    add_demographics(client, &mut r, filter, "rollup_hourly_demographics", "hour").await?;
    Ok(r)
}

/// The whole daily rollup (keys at the day's first hour), with its gender × age-group counts.
pub async fn read_daily(client: &impl GenericClient) -> Result<Rollup, tokio_postgres::Error> {
    read_rollup_daily_where(client, &RollupFilter::default()).await
}

/// The daily rollup cells `filter` selects (keys at the UTC day's first
/// hour), with their gender × age-group counts. `filter`'s hours should be UTC
/// midnights: a day counts whole when its first hour is in the range.
pub async fn read_rollup_daily_where(
    client: &impl GenericClient,
    filter: &RollupFilter,
) -> Result<Rollup, tokio_postgres::Error> {
    let mut r = read_cells(client, "rollup_daily", "day", filter).await?;
    add_demographics(client, &mut r, filter, "rollup_daily_demographics", "day").await?;
    Ok(r)
}

/// Adds to `rollup`'s cells the gender × age-group counts of `table` (hourly or daily, `time`
/// its time column) that `filter` selects.
async fn add_demographics(
    client: &impl GenericClient,
    rollup: &mut Rollup,
    filter: &RollupFilter,
    table: &str,
    time: &str,
) -> Result<(), tokio_postgres::Error> {
    let (params, condition) = filter_sql(filter, time);
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let sql = format!("SELECT screen, content_id, {time}, gender, age_group, ots FROM {table} {condition}");
    for row in client.query(&sql, &params).await? {
        let key = CellKey { screen: row.get(0), content_id: row.get(1), hour: us_of(row.get(2)) / US_PER_HOUR };
        let (g, a): (String, String) = (row.get(3), row.get(4));
        rollup.cells.entry(key).or_default().demographics.insert(format!("{g}/{a}"), row.get(5));
    }
    Ok(())
}

/// The parameters and `WHERE` clause of `filter` on a table keyed by the time column `time`.
fn filter_sql(filter: &RollupFilter, time: &str) -> (Vec<Box<dyn tokio_postgres::types::ToSql + Sync>>, String) {
    // No bound: hours far outside any record (1856 and year 13378), within timestamptz.
    let from = ts(filter.from_hour.unwrap_or(-1_000_000) * US_PER_HOUR);
    let to = ts(filter.to_hour.unwrap_or(100_000_000) * US_PER_HOUR);
    let screens: Vec<String> = filter.screens.iter().map(|p| like_pattern(p)).collect();
    let condition = format!(
        "WHERE {time} >= $1 AND {time} < $2 AND (cardinality($3::text[]) = 0 OR screen LIKE ANY($3))
         AND (cardinality($4::text[]) = 0 OR content_id = ANY($4))"
    );
    (vec![Box::new(from), Box::new(to), Box::new(screens), Box::new(filter.contents.clone())], condition)
}

async fn read_cells(
    client: &impl GenericClient,
    table: &str,
    time: &str,
    filter: &RollupFilter,
) -> Result<Rollup, tokio_postgres::Error> {
    let (params, condition) = filter_sql(filter, time);
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let mut r = Rollup::default();
    let rows = client
        .query(
            &format!(
                "SELECT screen, content_id, {time}, plays, on_screen_us, ots, watchers, dwell_us, attention_us,
                        watcher_attention_us, dwell_h0, dwell_h1, dwell_h2, dwell_h3, dwell_h4, dwell_h5,
                        attention_h0, attention_h1, attention_h2, attention_h3, attention_h4, attention_h5
                 FROM {table} {condition}"
            ),
            &params,
        )
        .await?;
    for row in rows {
        let key = CellKey { screen: row.get(0), content_id: row.get(1), hour: us_of(row.get(2)) / US_PER_HOUR };
        let c = r.cells.entry(key).or_default();
        (c.plays, c.on_screen_us, c.ots, c.watchers) = (row.get(3), row.get(4), row.get(5), row.get(6));
        (c.dwell_us, c.attention_us, c.watcher_attention_us) = (row.get(7), row.get(8), row.get(9));
        for i in 0..6 {
            c.dwell_histogram[i] = row.get(10 + i);
            c.attention_histogram[i] = row.get(16 + i);
        }
    }
    Ok(r)
}

/// The retention job: raw rows (person events with their shares, content
/// periods, rejected and parked messages) older than `days` days are deleted;
/// the rollup is kept. Returns the rows deleted.
pub async fn apply_retention(client: &impl GenericClient, days: u32) -> Result<u64, tokio_postgres::Error> {
    let cutoff = SystemTime::now() - Duration::from_secs(u64::from(days) * 86_400);
    // The shares go with their events (no foreign key cascades them since version 4).
    client
        .execute(
            "DELETE FROM person_shares s USING person_events e
             WHERE e.at < $1 AND (s.screen, s.run, s.seq) = (e.screen, e.run, e.seq)",
            &[&cutoff],
        )
        .await?;
    let mut n = client.execute("DELETE FROM person_events WHERE at < $1", &[&cutoff]).await?;
    n += client.execute("DELETE FROM content_periods WHERE end_at < $1", &[&cutoff]).await?;
    n += client.execute("DELETE FROM rejected WHERE received_at < $1", &[&cutoff]).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::Cell;

    #[test]
    fn daily_sums_the_hours_of_each_utc_day() {
        let key = |hour: i64| CellKey { screen: "s".into(), content_id: "a".into(), hour };
        let cell = |ots: i64| Cell { ots, demographics: [("female/25-34".to_string(), ots)].into(), ..Cell::default() };
        let day = 20_000 * 24; // an hour count at 00:00 UTC
        let mut hourly = Rollup::default();
        for (h, ots) in [(day, 1), (day + 23, 2), (day + 24, 4), (day - 1, 8)] {
            hourly.cells.insert(key(h), cell(ots));
        }
        let d = daily(&hourly);
        let got: Vec<(i64, i64)> = d.cells.iter().map(|(k, c)| (k.hour, c.ots)).collect();
        assert_eq!(got, [(day - 24, 8), (day, 3), (day + 24, 4)]);
        let demo: Vec<i64> = d.cells.values().map(|c| c.demographics["female/25-34"]).collect();
        assert_eq!(demo, [8, 3, 4], "gender × age group summed by day too");
    }

    #[test]
    fn screen_patterns_as_like() {
        assert_eq!(super::like_pattern("store-12/*"), "store-12/%");
        assert_eq!(super::like_pattern("a_b%c"), "a\\_b\\%c");
    }
}
