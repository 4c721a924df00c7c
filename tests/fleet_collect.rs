//! The fleet end to end with the real servers (a mosquitto and a PostgreSQL
//! the tests start on 127.0.0.1, nothing mocked): the simulator's records
//! through the broker into the collector, the hourly rollup compared with the
//! simulator's truth cell by cell; bad input mid-stream; migrations and
//! retention; the collector SIGKILLed and restarted with its id; PostgreSQL
//! stopped and restarted mid-run; the broker restarted (SIGTERM: 0 lost;
//! SIGKILL with `autosave_interval 1`: the window measured); two collectors
//! on one shared subscription (split, one SIGKILLed and restarted, one retired).
//!
//! Collectors run in-process (a tokio task) or, where a test kills one, as
//! a child process: this test binary run again with `child_collector` and
//! the settings in `BLICKFANG_FLEET_CHILD` (a TOML text).

mod mosquitto;
mod postgres;
mod records_schema;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use blickfang_fleet::collector::{self, Settings};
use blickfang_fleet::db;
use blickfang_fleet::ingest::{self, Ingested, Key, Reason, Rules};
use blickfang_fleet::metrics::Metrics;
use blickfang_fleet::pgtls;
use blickfang_fleet::rollup::{Rollup, Thresholds};
use blickfang_fleet::simulate::{self, SimSettings, Simulation};
use mosquitto::Mosquitto;
use postgres::Postgres;

const CHILD_ENV: &str = "BLICKFANG_FLEET_CHILD";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn settings(broker: &Mosquitto, pg: &Postgres, client_id: &str) -> Settings {
    Settings {
        mqtt: format!("mqtt://127.0.0.1:{}", broker.port),
        database: pg.url(),
        client_id: client_id.into(),
        batch_size: 200,
        max_wait_ms: 50,
        progress_s: 1,
        ..Settings::default()
    }
}

fn small_fleet(screens: usize, seed: u64) -> (SimSettings, Simulation) {
    let s = SimSettings { screens, duration_s: 600, seed, duplicates_per_mille: 20, ..SimSettings::default() };
    let sim = simulate::simulate(&s);
    (s, sim)
}

/// Distinct records the database should end with (left events and content reports).
fn expected_rows(sim: &Simulation) -> i64 {
    sim.messages
        .iter()
        .filter(|(_, p)| p.contains("\"event\":\"left\"") || p.contains("\"type\":\"content-report\""))
        .map(|(_, p)| p.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len() as i64
}

fn publish(broker: &Mosquitto, id: &str, messages: &[(String, String)]) {
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    runtime().block_on(simulate::publish(&url, id, messages)).expect("published");
}

/// A client as the collector connects (TLS where the server has it: `pg.url()` says verify-full with its CA).
async fn pg_client(pg: &Postgres) -> tokio_postgres::Client {
    pgtls::Database::new(&pg.url(), None).unwrap().connect().await.unwrap()
}

/// Rows in person_events + content_periods (0 while the tables do not exist yet).
fn stored_rows(rt: &tokio::runtime::Runtime, pg: &Postgres) -> i64 {
    rt.block_on(async {
        let Ok(client) = pgtls::Database::new(&pg.url(), None).unwrap().connect().await else { return 0 };
        client
            .query_one("SELECT (SELECT count(*) FROM person_events) + (SELECT count(*) FROM content_periods)", &[])
            .await
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0)
    })
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The database's rollup equals the truth, every cell (the differing cells named).
fn assert_rollup_is_truth(rt: &tokio::runtime::Runtime, pg: &Postgres, truth: &Rollup) {
    let got = rt.block_on(async { db::read_rollup(&pg_client(pg).await).await.unwrap() });
    let mut diffs = Vec::new();
    for (k, c) in &truth.cells {
        match got.cells.get(k) {
            Some(g) if g == c => {}
            other => diffs.push(format!("{k:?}: truth {c:?}, database {other:?}")),
        }
    }
    for k in got.cells.keys().filter(|k| !truth.cells.contains_key(*k)) {
        diffs.push(format!("{k:?}: not in the truth"));
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cells differ:\n{}",
        diffs.len(),
        truth.cells.len(),
        diffs[..diffs.len().min(5)].join("\n")
    );
    assert!(truth.cells.len() > 20, "a meaningful fleet: {} cells", truth.cells.len());
    let daily = rt.block_on(async { db::read_daily(&pg_client(pg).await).await.unwrap() });
    assert_eq!(daily, db::daily(truth), "the daily rollup is the truth by day");
}

/// An in-process collector.
struct Running {
    metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_collector(rt: &tokio::runtime::Runtime, s: Settings) -> Running {
    let metrics = Arc::new(Metrics::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(collector::run(s, metrics.clone(), async move {
        let _ = stopped.await;
    }));
    // Subscribed once the first progress line could be printed: wait for the connection instead.
    std::thread::sleep(Duration::from_millis(700));
    Running { metrics, stop: Some(stop), task }
}

impl Running {
    fn handled(&self) -> u64 {
        let m = &self.metrics;
        m.stored.load(Relaxed)
            + m.duplicates.load(Relaxed)
            + m.ignored.load(Relaxed)
            + m.parked.load(Relaxed)
            + m.rejected_total()
    }

    fn stop(mut self, rt: &tokio::runtime::Runtime) {
        let _ = self.stop.take().unwrap().send(());
        rt.block_on(self.task).unwrap().unwrap();
    }
}

#[test]
fn simulated_fleet_rollup_equals_truth() {
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(50, 7);
    let c = start_collector(&rt, settings(&broker, &pg, "exact-1"));
    let started = Instant::now();
    publish(&broker, "sim-exact", &sim.messages);
    let n = sim.messages.len() as u64;
    wait_for("every message handled", Duration::from_secs(60), || c.handled() >= n);
    eprintln!("{} messages ({} records) through broker and collector in {:?}", n, sim.records, started.elapsed());
    assert_eq!(c.metrics.rejected_total(), 0);
    assert!(c.metrics.duplicates.load(Relaxed) > 0, "the simulator published some records twice");
    assert_eq!(stored_rows(&rt, &pg), expected_rows(&sim));
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    // The Prometheus endpoint says the same.
    let text = c.metrics.prometheus();
    assert!(text.contains(&format!("blickfang_collect_stored_total {}", c.metrics.stored.load(Relaxed))), "{text}");
    c.stop(&rt);
}

#[test]
fn stores_over_tls_verify_full_and_refuses_a_wrong_ca() {
    let pg = Postgres::start_tls(); // refuses connections without TLS
    let tls = pg.tls.clone().unwrap();
    // The broker also listens with TLS, on the same test CA's certificate for 127.0.0.1: the
    // collector reads over mqtts:// (the simulator publishes on the plain listener).
    let mqtts_port = mosquitto::free_port();
    let broker = Mosquitto::start_with(&format!(
        "listener {mqtts_port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
        d = tls.display()
    ));
    let rt = runtime();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full", pg.port);
    // A CA that did not sign the server's certificate: a clear error naming the database and the CA, at once.
    let wrong = Settings {
        database: url.clone(),
        database_ca: Some(tls.join("wrong-ca.pem")),
        ..settings(&broker, &pg, "tls-wrong")
    };
    let started = Instant::now();
    let err = rt.block_on(collector::run(wrong, Arc::new(Metrics::default()), std::future::pending())).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains(&format!("127.0.0.1:{}/postgres", pg.port)), "names the database: {text}");
    assert!(text.contains("wrong-ca.pem") && text.contains("not trusted"), "names the CA: {text}");
    assert!(started.elapsed() < Duration::from_secs(20), "no retrying a certificate that will not change");
    // The right CA (the setting, not the URL): every record stored over verify-full TLS.
    let (_, sim) = small_fleet(10, 23);
    let s = Settings {
        mqtt: format!("mqtts://127.0.0.1:{mqtts_port}"),
        mqtt_ca: Some(tls.join("ca.pem")),
        database: url,
        database_ca: Some(tls.join("ca.pem")),
        ..settings(&broker, &pg, "tls-1")
    };
    let c = start_collector(&rt, s);
    publish(&broker, "sim-tls", &sim.messages);
    let n = sim.messages.len() as u64;
    wait_for("every message handled", Duration::from_secs(60), || c.handled() >= n);
    assert_eq!(stored_rows(&rt, &pg), expected_rows(&sim));
    let got = rt.block_on(async { db::read_rollup(&pg_client(&pg).await).await.unwrap() });
    assert_eq!(got, sim.truth, "the rollup over TLS is the truth");
    c.stop(&rt);
    // A broker CA file that holds no certificate is refused at start, naming the file.
    let not_pem = tls.join("server.csr");
    let bad = Settings {
        mqtt: format!("mqtts://127.0.0.1:{mqtts_port}"),
        mqtt_ca: Some(not_pem.clone()),
        ..settings(&broker, &pg, "tls-bad-ca")
    };
    let err = rt.block_on(collector::run(bad, Arc::new(Metrics::default()), std::future::pending())).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("mqtt-ca") && text.contains("server.csr"), "names the CA file: {text}");
}

#[test]
fn parked_records_are_replayed_after_an_upgrade_once() {
    // What an older collector parked during a rolling upgrade (records of a schema newer than
    // its own): here a whole small fleet's records of today's schema (duplicates included), one
    // of a schema newer still, and one of today's schema with a wrong type.
    let pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(8, 31);
    let good = sim.messages.iter().find(|(_, p)| p.contains("\"event\":\"left\"")).unwrap().clone();
    let newer = good.1.replace("blickfang/2", "blickfang/9");
    let wrong = good.1.replace("\"seq\":", "\"seq\":\"x\",\"was\":");
    let replay = || {
        let s = Settings {
            database: pg.url(),
            replay_parked: true,
            batch_size: 100, // several transactions
            ..Settings::default()
        };
        rt.block_on(collector::run(s, Arc::new(Metrics::default()), std::future::pending())).unwrap();
    };
    let parked_count = || -> i64 {
        rt.block_on(async { pg_client(&pg).await.query_one("SELECT count(*) FROM parked", &[]).await.unwrap().get(0) })
    };
    replay(); // creates the tables (nothing parked yet)
    rt.block_on(async {
        let client = pg_client(&pg).await;
        let rows: Vec<(&str, &str, &str)> = sim
            .messages
            .iter()
            .map(|(t, p)| ("blickfang/2", t.as_str(), p.as_str()))
            .chain([("blickfang/9", good.0.as_str(), newer.as_str()), ("blickfang/2", good.0.as_str(), wrong.as_str())])
            .collect();
        for (version, topic, payload) in rows {
            client
                .execute(
                    "INSERT INTO parked (version, topic, payload) VALUES ($1, $2, $3)",
                    &[&version, &topic, &payload.as_bytes()],
                )
                .await
                .unwrap();
        }
    });
    replay();
    assert_eq!(stored_rows(&rt, &pg), expected_rows(&sim), "every readable parked record stored once");
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    assert_eq!(parked_count(), 1, "only the record of a schema this version does not read stays parked");
    let rejected: Vec<String> = rt.block_on(async {
        let rows = pg_client(&pg).await.query("SELECT reason FROM rejected", &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    });
    assert_eq!(rejected, ["wrong-type"], "a parked record that is not valid data is rejected, not stored");
    // Replayed again (an operator runs it twice): nothing changes.
    replay();
    assert_eq!(stored_rows(&rt, &pg), expected_rows(&sim));
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    assert_eq!(parked_count(), 1);
}

#[test]
fn simulator_records_are_valid_records() {
    let (_, sim) = small_fleet(20, 5);
    let mut text = Vec::new();
    sim.write_records(&mut text).unwrap();
    let records = records_schema::RecordSchema::load().check_lines(&String::from_utf8(text).unwrap());
    assert_eq!(records.len(), sim.messages.len());
    assert!(records.iter().any(|r| r["event"] == "left" && r["contents"].as_array().is_some_and(|c| c.len() > 1)));
}

#[test]
fn bad_input_is_counted_not_stored_and_the_stream_goes_on() {
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(8, 11);
    let mut s = settings(&broker, &pg, "bad-1");
    s.max_record_bytes = 64 * 1024;
    s.metrics = Some("127.0.0.1:0".parse().unwrap());
    let c = start_collector(&rt, s);
    let good_left = sim.messages.iter().find(|(_, p)| p.contains("\"event\":\"left\"")).unwrap().clone();
    let topic = good_left.0.clone();
    let frame_topic = topic.replace("person-event", "frame");
    let frame = good_left.1.replace("\"type\":\"person-event\"", "\"type\":\"frame\"");
    let bad: Vec<(String, String, Option<Reason>)> = vec![
        (topic.clone(), "{\"schema\":\"blickfang/2\",".into(), Some(Reason::Malformed)),
        (topic.clone(), good_left.1.replace("blickfang/2", "blickfang/1"), Some(Reason::Schema)),
        (topic.clone(), good_left.1.replace("\"seq\":", "\"seq\":\"x\",\"was\":"), Some(Reason::WrongType)),
        (topic.clone(), format!("{}{}", good_left.1, " ".repeat(70 * 1024)), Some(Reason::Oversize)),
        ("blickfang/store-999_screen-9/person-event".into(), good_left.1.clone(), Some(Reason::TopicMismatch)),
        (frame_topic, frame, Some(Reason::Frame)),
        // A newer schema is parked, not rejected.
        (
            topic.clone(),
            good_left.1.replace("blickfang/2", "blickfang/3").replace("\"seq\":", "\"seq\":1000000,\"x\":"),
            None,
        ),
    ];
    let half = sim.messages.len() / 2;
    let mut messages: Vec<(String, String)> = sim.messages[..half].to_vec();
    for (t, p, _) in &bad {
        messages.push((t.clone(), p.clone()));
        messages.push(sim.messages[half].clone()); // good records around each bad one
    }
    messages.extend_from_slice(&sim.messages[half..]);
    publish(&broker, "sim-bad", &messages);
    let n = messages.len() as u64;
    wait_for("every message handled", Duration::from_secs(60), || c.handled() >= n);
    for (_, _, reason) in &bad {
        if let Some(r) = reason {
            assert_eq!(c.metrics.rejected(*r), 1, "{r:?}: {}", c.metrics.prometheus());
        }
    }
    assert_eq!(c.metrics.parked.load(Relaxed), 1);
    assert!(!c.task.is_finished(), "the service is still running");
    assert_eq!(stored_rows(&rt, &pg), expected_rows(&sim));
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    let (rejected, parked) = rt.block_on(async {
        let client = pg_client(&pg).await;
        let rows = client.query("SELECT reason, topic, length(head) FROM rejected ORDER BY id", &[]).await.unwrap();
        let parked: i64 = client.query_one("SELECT count(*) FROM parked", &[]).await.unwrap().get(0);
        (rows, parked)
    });
    let reasons: Vec<String> = rejected.iter().map(|r| r.get(0)).collect();
    assert_eq!(reasons, ["malformed", "schema", "wrong-type", "oversize", "topic-mismatch"], "frames are only counted");
    assert!(rejected.iter().all(|r| r.get::<_, i32>(2) <= db::REJECTED_HEAD_BYTES as i32), "first bytes only");
    assert_eq!(parked, 1);
    // Still running: one more good record goes in.
    let more = small_fleet(1, 99).1;
    publish(&broker, "sim-more", &more.messages[..5]);
    wait_for("after the bad input", Duration::from_secs(20), || c.handled() >= n + 5);
    c.stop(&rt);
}

#[test]
fn migrations_from_empty_and_from_the_previous_version_and_retention() {
    let pg = Postgres::start();
    let rt = runtime();
    rt.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        assert_eq!(db::migrate(&mut client, Some(1)).await.unwrap(), 1);
        client
            .execute(
                "INSERT INTO person_events (screen, run, seq, at, dwell_us, attention_us, glances)
                 VALUES ('s', 'r', 0, now() - interval '40 days', 1, 0, 0), ('s', 'r', 1, now(), 1, 0, 0)",
                &[],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO person_shares (screen, run, seq, idx, content_id, start_at, end_at, dwell_us, attention_us)
                 VALUES ('s', 'r', 0, 0, 'a', now() - interval '40 days', now() - interval '40 days', 1, 0)",
                &[],
            )
            .await
            .unwrap();
        client
            .execute("INSERT INTO rollup_hourly (screen, content_id, hour, ots) VALUES ('s', 'a', now(), 3)", &[])
            .await
            .unwrap();
        // Gender × age group in two hours of one UTC day and one hour of the next.
        client
            .execute(
                "INSERT INTO rollup_hourly_demographics (screen, content_id, hour, gender, age_group, ots) VALUES
                 ('s', 'a', '2026-11-02T08:00:00Z', 'female', '20-29', 2),
                 ('s', 'a', '2026-11-02T23:00:00Z', 'female', '20-29', 3),
                 ('s', 'a', '2026-11-03T00:00:00Z', 'female', '20-29', 4)",
                &[],
            )
            .await
            .unwrap();
        // From the previous version to the latest, data kept; again: nothing to do.
        assert_eq!(db::migrate(&mut client, None).await.unwrap(), db::MIGRATIONS.len() as i32);
        assert_eq!(db::migrate(&mut client, None).await.unwrap(), db::MIGRATIONS.len() as i32);
        let versions: Vec<i32> = client
            .query("SELECT version FROM schema_version ORDER BY 1", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
        let options: Vec<String> = client
            .query(
                "SELECT relname || ':' || array_to_string(reloptions, ',') FROM pg_class
                 WHERE relname IN ('rollup_hourly', 'rollup_daily', 'rollup_hourly_demographics',
                                   'rollup_daily_demographics', 'screens') ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            options,
            [
                "rollup_daily:fillfactor=50",
                "rollup_daily_demographics:fillfactor=50",
                "rollup_hourly:fillfactor=50",
                "rollup_hourly_demographics:fillfactor=50",
                "screens:fillfactor=50"
            ],
            "version 5: room for HOT updates"
        );
        let daily: i64 = client.query_one("SELECT sum(ots)::int8 FROM rollup_daily", &[]).await.unwrap().get(0);
        assert_eq!(daily, 3, "the daily rollup filled from the hourly one");
        let by_day: Vec<(String, i64)> = client
            .query(
                "SELECT to_char(day AT TIME ZONE 'UTC', 'YYYY-MM-DD'), ots FROM rollup_daily_demographics
                 WHERE gender = 'female' AND age_group = '20-29' ORDER BY day",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(
            by_day,
            [("2026-11-02".to_string(), 5), ("2026-11-03".to_string(), 4)],
            "version 6: gender × age group by UTC day, filled from the hourly counts"
        );
        assert_eq!(db::apply_retention(&client, 30).await.unwrap(), 1, "the 40-day-old event");
        let left: i64 = client.query_one("SELECT count(*) FROM person_events", &[]).await.unwrap().get(0);
        let rollup: i64 = client.query_one("SELECT sum(ots)::int8 FROM rollup_hourly", &[]).await.unwrap().get(0);
        assert_eq!((left, rollup), (1, 3), "raw events deleted, the rollup kept");
        let shares: i64 = client.query_one("SELECT count(*) FROM person_shares", &[]).await.unwrap().get(0);
        assert_eq!(shares, 0, "the old event's shares deleted with it");
    });
    // From empty, straight to the latest.
    let pg2 = Postgres::start();
    rt.block_on(async {
        let (mut client, conn) = tokio_postgres::connect(&pg2.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        assert_eq!(db::migrate(&mut client, None).await.unwrap(), db::MIGRATIONS.len() as i32);
    });
}

#[test]
fn postgres_stopped_and_restarted_mid_run() {
    let broker = Mosquitto::start();
    let mut pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(30, 23);
    let c = start_collector(&rt, settings(&broker, &pg, "pgrestart-1"));
    let half = sim.messages.len() / 2;
    publish(&broker, "sim-pg-1", &sim.messages[..half]);
    wait_for("some rows", Duration::from_secs(30), || stored_rows(&rt, &pg) > 0);
    pg.stop();
    publish(&broker, "sim-pg-2", &sim.messages[half..]);
    std::thread::sleep(Duration::from_millis(1500));
    let before = c.metrics.db_errors.load(Relaxed);
    assert!(before > 0, "the collector noticed the database was gone");
    pg.restart();
    let n = sim.messages.len() as u64;
    wait_for("every message handled", Duration::from_secs(60), || {
        c.handled() >= n && stored_rows(&rt, &pg) == expected_rows(&sim)
    });
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    c.stop(&rt);
}

/// A collector child process (see the module doc); killed by its test.
#[test]
fn child_collector() {
    let Ok(toml) = std::env::var(CHILD_ENV) else { return };
    let s: Settings = toml::from_str(&toml).unwrap();
    let rt = runtime();
    rt.block_on(collector::run(s, Arc::new(Metrics::default()), std::future::pending())).unwrap();
}

fn spawn_child(s: &Settings) -> std::process::Child {
    let toml = format!(
        "mqtt = {:?}\ndatabase = {:?}\nclient_id = {:?}\nbatch_size = {}\nmax_wait_ms = {}\nprogress_s = 1\nretire = {}\n",
        s.mqtt, s.database, s.client_id, s.batch_size, s.max_wait_ms, s.retire
    );
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_collector", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, toml)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn collector_killed_and_restarted_with_its_id_loses_nothing_and_counts_nothing_twice() {
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(40, 31);
    let mut s = settings(&broker, &pg, "slot-1");
    s.batch_size = 50;
    let mut child = spawn_child(&s);
    std::thread::sleep(Duration::from_millis(1500)); // connected and subscribed
    publish(&broker, "sim-kill", &sim.messages);
    let expected = expected_rows(&sim);
    wait_for("the collector mid-run", Duration::from_secs(30), || stored_rows(&rt, &pg) > 0);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = stored_rows(&rt, &pg);
    eprintln!("killed with {at_kill} of {expected} rows stored");
    assert!(at_kill < expected, "killed mid-run");
    let mut child = spawn_child(&s);
    wait_for("every record stored", Duration::from_secs(60), || stored_rows(&rt, &pg) == expected);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stored_rows(&rt, &pg), expected);
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The keys (screen, run, seq) of `messages`' data records, once each.
fn keys_of(messages: &[(String, String)]) -> HashSet<Key> {
    messages
        .iter()
        .filter_map(|(t, p)| match ingest::ingest(t, p.as_bytes(), &Rules::default()) {
            Ingested::Left(l, _) => Some(l.key),
            Ingested::Period(p, _) => Some(p.key),
            _ => None,
        })
        .collect()
}

/// The keys stored in person_events and content_periods.
fn stored_keys(rt: &tokio::runtime::Runtime, pg: &Postgres) -> HashSet<Key> {
    rt.block_on(async {
        let rows = pg_client(pg)
            .await
            .query(
                "SELECT screen, run, seq FROM person_events UNION ALL SELECT screen, run, seq FROM content_periods",
                &[],
            )
            .await
            .unwrap();
        rows.iter().map(|r| Key { screen: r.get(0), run: r.get(1), seq: r.get(2) }).collect()
    })
}

/// The truth of the records in `keep` only (each once): what the rollup must hold when some were lost.
fn truth_of(sim: &Simulation, keep: &HashSet<Key>) -> Rollup {
    let mut r = Rollup::default();
    let mut seen = HashSet::new();
    for (t, p) in &sim.messages {
        match ingest::ingest(t, p.as_bytes(), &Rules::default()) {
            Ingested::Left(l, _) if keep.contains(&l.key) && seen.insert(l.key.clone()) => {
                r.add_left(&l, &Thresholds::default())
            }
            Ingested::Period(p, _) if keep.contains(&p.key) && seen.insert(p.key.clone()) => r.add_period(&p),
            _ => {}
        }
    }
    r
}

/// Waits until the stored row count stops changing for `quiet` (a fault may have lost some).
fn wait_quiet(rt: &tokio::runtime::Runtime, pg: &Postgres, expected: i64, quiet: Duration, timeout: Duration) -> i64 {
    let deadline = Instant::now() + timeout;
    let (mut last, mut since) = (-1, Instant::now());
    loop {
        let n = stored_rows(rt, pg);
        if n == expected {
            return n;
        }
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > quiet || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn broker_restarted_gracefully_loses_nothing_and_counts_nothing_twice() {
    let mut broker = Mosquitto::start();
    let mut pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(30, 41);
    let third = sim.messages.len() / 3;
    let s = settings(&broker, &pg, "brestart-1");
    let c = start_collector(&rt, s.clone());
    publish(&broker, "sim-b-1", &sim.messages[..third]);
    wait_for("the first third stored", Duration::from_secs(30), || {
        stored_rows(&rt, &pg) == keys_of(&sim.messages[..third]).len() as i64
    });
    // 1. Queued for an offline collector across a restart: the session and its queue are saved on SIGTERM.
    c.stop(&rt);
    publish(&broker, "sim-b-2", &sim.messages[third..2 * third]);
    broker.stop();
    broker.restart();
    let c = start_collector(&rt, s);
    wait_for("the queued second third stored", Duration::from_secs(30), || {
        stored_rows(&rt, &pg) == keys_of(&sim.messages[..2 * third]).len() as i64
    });
    // 2. Delivered to the collector but not committed (the database is down) across a restart.
    pg.stop();
    let before = c.metrics.received.load(Relaxed);
    publish(&broker, "sim-b-3", &sim.messages[2 * third..]);
    wait_for("deliveries held uncommitted", Duration::from_secs(10), || c.metrics.received.load(Relaxed) > before);
    std::thread::sleep(Duration::from_millis(300));
    broker.stop();
    broker.restart();
    pg.restart();
    let expected = expected_rows(&sim);
    wait_for("every record stored", Duration::from_secs(60), || stored_rows(&rt, &pg) == expected);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stored_rows(&rt, &pg), expected);
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    eprintln!(
        "graceful broker restarts: {} received, {} stored, {} duplicates (redeliveries, not counted)",
        c.metrics.received.load(Relaxed),
        c.metrics.stored.load(Relaxed),
        c.metrics.duplicates.load(Relaxed)
    );
    c.stop(&rt);
}

/// The broker SIGKILLed with `autosave_interval 1`: what it acknowledged (PUBACK) in the
/// last second before the kill and had not saved yet is lost; what it acknowledged longer
/// ago than one autosave interval is not; and nothing is ever counted twice.
#[test]
fn broker_sigkilled_loses_at_most_its_autosave_window_and_counts_nothing_twice() {
    let mut broker = Mosquitto::start_with("autosave_interval 1");
    let pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(30, 43);
    let s = settings(&broker, &pg, "bkill-1");
    // The collector's session and subscription exist (saved), then it goes away: the broker queues.
    start_collector(&rt, s.clone()).stop(&rt);
    let cut = sim.messages.len() * 3 / 4;
    publish(&broker, "sim-k-1", &sim.messages[..cut]);
    std::thread::sleep(Duration::from_millis(2500)); // two autosave intervals: saved
    let started = Instant::now();
    publish(&broker, "sim-k-2", &sim.messages[cut..]);
    let acked_in = started.elapsed();
    broker.kill();
    broker.restart();
    let c = start_collector(&rt, s);
    let old = keys_of(&sim.messages[..cut]);
    let recent: HashSet<Key> = keys_of(&sim.messages[cut..]).difference(&old).cloned().collect();
    let expected = expected_rows(&sim);
    wait_quiet(&rt, &pg, expected, Duration::from_secs(3), Duration::from_secs(60));
    let stored = stored_keys(&rt, &pg);
    let lost_old = old.difference(&stored).count();
    let lost_recent = recent.difference(&stored).count();
    eprintln!(
        "broker SIGKILL (autosave_interval 1): {} records acknowledged > 2 s before the kill, {lost_old} lost; \
         {} acknowledged in the last {acked_in:?} before the kill, {lost_recent} lost",
        old.len(),
        recent.len()
    );
    assert_eq!(lost_old, 0, "acknowledged longer ago than the autosave interval: saved, not lost");
    assert!(stored.iter().all(|k| old.contains(k) || recent.contains(k)));
    // Nothing counted twice: the rollup is exactly the truth of the records that were stored.
    assert_eq!(stored_rows(&rt, &pg), stored.len() as i64);
    let got = rt.block_on(async { db::read_rollup(&pg_client(&pg).await).await.unwrap() });
    assert_eq!(got, truth_of(&sim, &stored), "the rollup is the stored records', each once");
    c.stop(&rt);
}

#[test]
fn two_collectors_split_the_load_one_killed_and_restarted_one_retired_nothing_lost() {
    let broker = Mosquitto::start();
    let pg = Postgres::start();
    let rt = runtime();
    let (_, sim) = small_fleet(40, 47);
    let q = sim.messages.len() / 4;
    let chunks = [&sim.messages[..q], &sim.messages[q..2 * q], &sim.messages[2 * q..3 * q], &sim.messages[3 * q..]];
    let upto = |i: usize| keys_of(&sim.messages[..(i + 1) * q]).len() as i64;
    let a = start_collector(&rt, settings(&broker, &pg, "pair-a"));
    let mut sb = settings(&broker, &pg, "pair-b");
    sb.batch_size = 50;
    let mut b = spawn_child(&sb);
    std::thread::sleep(Duration::from_millis(1500)); // connected and subscribed

    // 1. The load split.
    publish(&broker, "sim-p-1", chunks[0]);
    wait_for("the first quarter stored", Duration::from_secs(30), || stored_rows(&rt, &pg) == upto(0));
    let by_a = a.metrics.stored.load(Relaxed) as i64;
    eprintln!("split: collector a stored {by_a}, collector b {}", upto(0) - by_a);
    assert!(by_a > 0 && by_a < upto(0), "both collectors stored records");

    // 2. b SIGKILLed: the broker keeps handing b's share to b's offline session (mosquitto issue 2662),
    //    so it waits there until b is back with its id.
    b.kill().unwrap();
    b.wait().unwrap();
    publish(&broker, "sim-p-2", chunks[1]);
    let while_down = wait_quiet(&rt, &pg, upto(1), Duration::from_secs(2), Duration::from_secs(30));
    eprintln!("while b is down: {while_down} of {} stored (the rest queued for b)", upto(1));
    assert!(while_down < upto(1), "mosquitto queues b's share for b while b is offline");
    let mut b = spawn_child(&sb);
    wait_for("b's queue drained after its restart", Duration::from_secs(30), || stored_rows(&rt, &pg) == upto(1));

    // 3. b retired: killed again (a queue for it builds up), then run with --retire: it drains, ends its session.
    b.kill().unwrap();
    b.wait().unwrap();
    publish(&broker, "sim-p-3", chunks[2]);
    wait_quiet(&rt, &pg, upto(2), Duration::from_secs(2), Duration::from_secs(30));
    sb.retire = true;
    let mut b = spawn_child(&sb);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = b.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the retiring collector exits once drained");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "retired: {status}");
    assert_eq!(stored_rows(&rt, &pg), upto(2), "what was queued for b was drained before it left");

    // 4. Without b's slot, a takes everything.
    publish(&broker, "sim-p-4", chunks[3]);
    let expected = expected_rows(&sim);
    wait_for("every record stored by a", Duration::from_secs(30), || stored_rows(&rt, &pg) == expected);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stored_rows(&rt, &pg), expected);
    assert_rollup_is_truth(&rt, &pg, &sim.truth);
    a.stop(&rt);
}
