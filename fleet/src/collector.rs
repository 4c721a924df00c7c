//! `blickfang collect`: records from an MQTT 5 shared subscription into
//! PostgreSQL, acknowledged only after the transaction holding them
//! committed (at-least-once delivery, exactly once in the tables by the
//! (screen, run, seq) key).
//!
//! MQTT: a persistent session (clean start off, Session Expiry Interval > 0,
//! a fixed client id per collector), QoS 1, manual acks, Receive Maximum at
//! least the batch size (the broker otherwise caps what is in flight), and
//! an incoming packet limit above the largest valid record, with our own
//! `oversize` rule below it (a packet over the client's limit would drop the
//! connection and be redelivered forever).
//!
//! Acks are tied to the connection that delivered the message: after a
//! reconnect the broker redelivers what was not acknowledged (the same packet
//! ids), so acks of an older connection are not sent — the redelivery is
//! stored as a duplicate (not counted twice) and acknowledged then.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::{AsyncClient, Event, EventLoop, Incoming, MqttOptions};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::db::{self, Judged};
use crate::ingest::{self, Rules};
use crate::metrics::Metrics;
use crate::pgtls::Database;
use crate::rollup::Thresholds;

/// The collector's settings: a TOML file (same names), the environment
/// (`BLICKFANG_MQTT`, `BLICKFANG_DATABASE`: secrets need not be on the
/// command line) and flags, later ones winning.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `mqtt[s]://user:pass@host:port`.
    pub mqtt: String,
    /// The CA (PEM) for the broker's TLS certificate (`mqtts://`); default: the system's roots.
    pub mqtt_ca: Option<std::path::PathBuf>,
    /// `postgres://user:pass@host:port/db` (or key=value form).
    pub database: String,
    /// The CA (PEM) for the database's TLS certificate (`sslmode=verify-ca`/`verify-full`).
    pub database_ca: Option<std::path::PathBuf>,
    /// The shared subscription's group: collectors of one group split the load.
    pub group: String,
    /// Fixed per collector slot: the broker keeps its session (and its queue) by this id.
    pub client_id: String,
    /// The edges' topic template (`blickfang-mqttsink`'s `topic`).
    pub topic: String,
    pub batch_size: usize,
    /// The longest a record waits before its batch commits.
    pub max_wait_ms: u64,
    /// `127.0.0.1:PORT` for the Prometheus text endpoint.
    pub metrics: Option<SocketAddr>,
    /// How long the broker keeps the session (and queues records) while the collector is away.
    pub session_expiry_s: u32,
    pub max_record_bytes: usize,
    pub min_dwell_s: f64,
    pub min_attention_s: f64,
    /// Rows kept in `rejected`.
    pub rejected_keep: i64,
    /// Delete raw events older than this many days (hourly); the rollup is kept.
    pub retain_days: Option<u32>,
    pub progress_s: u64,
    /// Retire this slot: unsubscribe, drain what the broker queued for it,
    /// then end the session (expiry 0), and exit.
    pub retire: bool,
    /// Replay `parked` (records of a schema newer than this collector's, kept for after an
    /// upgrade) into the tables, then exit: no MQTT connection is made.
    pub replay_parked: bool,
    /// The `[notice]` section ([`crate::notice`]): its `retain_days` is the retention.
    pub notice: Option<crate::notice::Notice>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mqtt: "mqtt://127.0.0.1:1883".into(),
            mqtt_ca: None,
            database: String::new(),
            database_ca: None,
            group: "blickfang".into(),
            client_id: "blickfang-collect-1".into(),
            topic: ingest::DEFAULT_TOPIC.into(),
            batch_size: 10_000,
            max_wait_ms: 200,
            metrics: None,
            session_expiry_s: 7 * 86_400,
            max_record_bytes: ingest::DEFAULT_MAX_RECORD_BYTES,
            min_dwell_s: 1.0,
            min_attention_s: 1.0,
            rejected_keep: 10_000,
            retain_days: None,
            progress_s: 10,
            retire: false,
            replay_parked: false,
            notice: None,
        }
    }
}

impl Settings {
    /// Defaults, then `config` (TOML), then the environment.
    pub fn load(config: Option<&Path>) -> anyhow::Result<Self> {
        let mut s = match config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("{}", p.display()))?
            }
            None => Settings::default(),
        };
        if let Ok(v) = std::env::var("BLICKFANG_MQTT") {
            s.mqtt = v;
        }
        if let Ok(v) = std::env::var("BLICKFANG_DATABASE") {
            s.database = v;
        }
        if let Ok(v) = std::env::var("BLICKFANG_MQTT_CA") {
            s.mqtt_ca = Some(v.into());
        }
        if let Ok(v) = std::env::var("BLICKFANG_DATABASE_CA") {
            s.database_ca = Some(v.into());
        }
        Ok(s)
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if self.database.is_empty() {
            bail!("no database: --database, BLICKFANG_DATABASE or `database` in the config file");
        }
        if self.batch_size == 0 || self.batch_size > 65_535 {
            bail!("batch-size {} is not in 1..=65535 (MQTT's Receive Maximum)", self.batch_size);
        }
        if self.session_expiry_s == 0 {
            bail!("session-expiry-s 0 would lose what the broker queued while the collector is away");
        }
        blickfang::spool::check_topic_template(&self.topic).map_err(anyhow::Error::msg)?;
        if self.group.is_empty() || self.group.contains(['/', '+', '#']) {
            bail!("group {:?}: not a valid shared subscription name", self.group);
        }
        Ok(())
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            min_dwell_us: ingest::micros(self.min_dwell_s),
            min_attention_us: ingest::micros(self.min_attention_s),
        }
    }

    /// `$share/<group>/<filter>`.
    pub fn subscription(&self) -> String {
        format!("$share/{}/{}", self.group, ingest::topic_filter(&self.topic))
    }
}

/// An MQTT URL's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// `mqtt[s]://[user[:pass]@]host[:port]`.
pub fn parse_mqtt_url(url: &str) -> anyhow::Result<MqttUrl> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        bail!("MQTT URL {url:?}: expected mqtt://host:port or mqtts://host:port");
    };
    let rest = rest.trim_end_matches('/');
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let (user, password) = match auth {
        Some(a) => match a.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
            None => (Some(a.to_string()), None),
        },
        None => (None, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().with_context(|| format!("MQTT URL port {p:?}"))?),
        None => (hostport.to_string(), if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        bail!("MQTT URL {url:?}: no host");
    }
    Ok(MqttUrl { tls, host, port, user, password })
}

/// MQTT options for a persistent QoS 1 consumer with manual acks.
pub fn mqtt_options(s: &Settings, url: &MqttUrl) -> anyhow::Result<MqttOptions> {
    let mut o = MqttOptions::new(s.client_id.clone(), url.host.clone(), url.port);
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(s.session_expiry_s));
    o.set_receive_maximum(Some((s.batch_size * 2).clamp(20, 65_535) as u16));
    // Above our own oversize rule, so an oversize record is rejected by us, not by the connection.
    o.set_max_packet_size(Some((s.max_record_bytes * 2 + 64 * 1024) as u32));
    o.set_manual_acks(true);
    o.set_keep_alive(Duration::from_secs(15));
    o.set_request_channel_capacity(s.batch_size * 2 + 64);
    if let (Some(u), p) = (&url.user, &url.password) {
        o.set_credentials(u.clone(), p.clone().unwrap_or_default());
    }
    if url.tls {
        let _ = rustls::crypto::ring::default_provider().install_default();
        o.set_transport(match &s.mqtt_ca {
            Some(path) => rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Simple {
                ca: read_ca(path)?,
                alpn: None,
                client_auth: None,
            }),
            None => rumqttc::Transport::tls_with_default_config(),
        });
    } else if let Some(path) = &s.mqtt_ca {
        bail!("mqtt-ca {} is given but the broker URL is not mqtts://", path.display());
    }
    Ok(o)
}

/// The broker's CA file, checked to hold a PEM certificate (else the TLS handshake would fail
/// later with a less helpful message, and be retried forever).
fn read_ca(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path).with_context(|| format!("mqtt-ca {}", path.display()))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        bail!("mqtt-ca {} holds no PEM certificate", path.display());
    }
    Ok(pem)
}

/// A message from the event loop: the publish and the connection it came on.
struct Delivery {
    publish: Publish,
    connection: u64,
}

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Runs the collector until `shutdown` resolves (then it commits and
/// acknowledges what it holds and disconnects, keeping its session), or, with
/// `retire`, until the slot is drained.
pub async fn run(
    settings: Settings,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    settings.check()?;
    let url = parse_mqtt_url(&settings.mqtt)?;
    let thresholds = settings.thresholds();
    let rules = Rules { topic_template: settings.topic.clone(), max_record_bytes: settings.max_record_bytes };
    if let Some(addr) = settings.metrics {
        let bound = crate::metrics::serve(addr, metrics.clone()).with_context(|| format!("metrics on {addr}"))?;
        eprintln!("collect: metrics on http://{bound}/metrics");
    }
    let database = Database::new(&settings.database, settings.database_ca.as_deref())?;
    let mut pg = connect_db(&database, &metrics).await?;
    let version = db::migrate(&mut pg, None).await.context("migrating the database")?;
    eprintln!("collect: database at schema version {version}");
    if settings.replay_parked {
        let r = db::replay_parked(&mut pg, &rules, &thresholds, settings.rejected_keep, settings.batch_size as i64)
            .await
            .context("replaying parked records")?;
        let rejected: u64 = r.outcome.rejected.values().sum();
        eprintln!(
            "collect: replayed {} parked records (stored {}, duplicates {}, ignored {}, rejected {rejected}); \
             {} still parked (a schema this version does not read)",
            r.replayed, r.outcome.stored, r.outcome.duplicates, r.outcome.ignored, r.still_parked
        );
        return Ok(());
    }

    let (client, eventloop) = AsyncClient::new(mqtt_options(&settings, &url)?, settings.batch_size * 2 + 64);
    let connection = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<Delivery>();
    let subscription = settings.subscription();
    let poller =
        tokio::spawn(poll(eventloop, client.clone(), subscription.clone(), connection.clone(), tx, settings.retire));

    // The writer commits one batch while this loop judges the next (at most
    // one more queued): Receive Maximum is twice the batch size for that.
    let (jobs, queue) = mpsc::channel::<Job>(1);
    let writer = tokio::spawn(write(
        pg,
        database,
        settings.clone(),
        thresholds,
        metrics.clone(),
        client.clone(),
        connection.clone(),
        queue,
    ));
    let max_wait = Duration::from_millis(settings.max_wait_ms);
    let mut batch: Vec<(Delivery, Judged)> = Vec::with_capacity(settings.batch_size);
    let mut deadline = tokio::time::Instant::now() + max_wait;
    let mut progress = tokio::time::interval(Duration::from_secs(settings.progress_s.max(1)));
    let mut retention = tokio::time::interval(Duration::from_secs(3600));
    let (mut last_stored, mut last_at) = (0u64, Instant::now());
    let mut idle_since = Instant::now();
    tokio::pin!(shutdown);
    loop {
        let job = tokio::select! {
            d = rx.recv() => match d {
                Some(d) => {
                    metrics.received.fetch_add(1, Relaxed);
                    if batch.is_empty() {
                        deadline = tokio::time::Instant::now() + max_wait;
                    }
                    let judged = judge(&d.publish, &rules);
                    batch.push((d, judged));
                    idle_since = Instant::now();
                    (batch.len() >= settings.batch_size).then(|| Job::Batch(std::mem::take(&mut batch)))
                }
                None => break,
            },
            // While the writer still has a batch queued, this one could not commit sooner:
            // it keeps filling (fewer, larger batches: less rollup work per record).
            _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => {
                if jobs.capacity() > 0 {
                    Some(Job::Batch(std::mem::take(&mut batch)))
                } else {
                    deadline = tokio::time::Instant::now() + Duration::from_millis(5);
                    None
                }
            }
            _ = progress.tick() => {
                let stored = metrics.stored.load(Relaxed);
                let rate = (stored - last_stored) as f64 / last_at.elapsed().as_secs_f64().max(1e-3);
                (last_stored, last_at) = (stored, Instant::now());
                eprintln!("{}", metrics.progress(rate, now_us()));
                if settings.retire && batch.is_empty() && connection.load(SeqCst) > 0
                    && idle_since.elapsed() > Duration::from_secs(2) {
                    break;
                }
                None
            }
            _ = retention.tick(), if settings.retain_days.is_some() => settings.retain_days.map(Job::Retention),
            _ = &mut shutdown => break,
        };
        if let Some(job) = job
            && jobs.send(job).await.is_err()
        {
            break; // The writer ended: its error is returned below.
        }
    }
    if !batch.is_empty() {
        let _ = jobs.send(Job::Batch(batch)).await;
    }
    drop(jobs);
    // What was handed to the writer is committed and acknowledged before the disconnect.
    writer.await.context("the database writer")??;
    eprintln!("{}", metrics.progress(0.0, now_us()));
    if settings.retire {
        let _ = client.unsubscribe(subscription).await;
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(3), poller).await;
    if settings.retire {
        end_session(&settings, &url).await;
        eprintln!("collect: slot {} retired (session ended)", settings.client_id);
    }
    Ok(())
}

/// Reconnects with clean start and session expiry 0: the broker forgets the slot.
async fn end_session(settings: &Settings, url: &MqttUrl) {
    // The options were checked when the collector started.
    let Ok(mut o) = mqtt_options(settings, url) else { return };
    o.set_clean_start(true);
    o.set_session_expiry_interval(Some(0));
    let (client, mut eventloop) = AsyncClient::new(o, 8);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
                let _ = client.disconnect().await;
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) => break,
            Err(_) => {}
        }
    }
}

/// Drives the MQTT connection: (re)subscribes on every connection, passes
/// publishes on, reconnects with a backoff.
async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    subscription: String,
    connection: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Delivery>,
    retire: bool,
) {
    let mut backoff = blickfang::spool::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut current = 0;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                current = connection.fetch_add(1, SeqCst) + 1;
                backoff.reset();
                eprintln!("collect: connected (session present: {})", ack.session_present);
                let request = if retire {
                    client.unsubscribe(subscription.clone()).await
                } else {
                    client.subscribe(subscription.clone(), QoS::AtLeastOnce).await
                };
                if let Err(e) = request {
                    eprintln!("collect: subscribing to {subscription}: {e}");
                }
            }
            Ok(Event::Incoming(Incoming::Publish(publish))) => {
                if tx.send(Delivery { publish, connection: current }).is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                if tx.is_closed() {
                    return;
                }
                // The next connection redelivers what this one did not acknowledge.
                connection.fetch_add(1, SeqCst);
                current = u64::MAX;
                eprintln!("collect: broker connection: {e}; reconnecting");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// Connects, retrying while the database is away; a certificate it does not trust is an error (retrying will not help).
async fn connect_db(database: &Database, metrics: &Metrics) -> anyhow::Result<tokio_postgres::Client> {
    let mut backoff = blickfang::spool::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match database.connect().await {
            Ok(client) => return Ok(client),
            Err(e) => {
                metrics.db_errors.fetch_add(1, Relaxed);
                if crate::pgtls::is_certificate_error(&e) {
                    return Err(e).context(database.certificate_failure());
                }
                eprintln!("collect: database {}: {e}; retrying", database.describe());
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// What the writer task does next.
enum Job {
    Batch(Vec<(Delivery, Judged)>),
    /// Delete raw rows older than this many days.
    Retention(u32),
}

/// Judges one message (where it arrives, so that the next batch is judged while one commits).
fn judge(publish: &Publish, rules: &Rules) -> Judged {
    let topic = String::from_utf8_lossy(&publish.topic).into_owned();
    let ingested = ingest::ingest(&topic, &publish.payload, rules);
    if let ingest::Ingested::Rejected { reason, detail } = &ingested
        && *reason != ingest::Reason::Frame
    {
        eprintln!("collect: rejected ({}) on {topic}: {detail}", reason.as_str());
    }
    // The bytes are kept only where they are stored (parked, or the head of a rejected one).
    let payload = match &ingested {
        ingest::Ingested::Parked { .. } | ingest::Ingested::Rejected { .. } => publish.payload.to_vec(),
        _ => Vec::new(),
    };
    Judged { topic, payload, ingested }
}

/// The writer task: commits the batches in order (retrying until the database
/// takes each), then acknowledges each batch's messages — only after ITS commit.
#[allow(clippy::too_many_arguments)]
async fn write(
    mut pg: tokio_postgres::Client,
    database: Database,
    settings: Settings,
    thresholds: Thresholds,
    metrics: Arc<Metrics>,
    client: AsyncClient,
    connection: Arc<AtomicU64>,
    mut queue: mpsc::Receiver<Job>,
) -> anyhow::Result<()> {
    while let Some(job) = queue.recv().await {
        let batch = match job {
            Job::Batch(b) => b,
            Job::Retention(days) => {
                match db::apply_retention(&pg, days).await {
                    Ok(n) => eprintln!("collect: retention ({days} days) deleted {n} raw rows"),
                    Err(e) => eprintln!("collect: retention failed: {e}"),
                }
                continue;
            }
        };
        let (deliveries, judged): (Vec<Delivery>, Vec<Judged>) = batch.into_iter().unzip();
        let mut backoff = blickfang::spool::Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let started = Instant::now();
        let outcome = loop {
            if pg.is_closed() {
                pg = connect_db(&database, &metrics).await?;
            }
            match db::write_batch(&mut pg, &judged, &thresholds, settings.rejected_keep).await {
                Ok(o) => break o,
                Err(e) => {
                    // Nothing was committed: nothing is acknowledged; try again.
                    metrics.db_errors.fetch_add(1, Relaxed);
                    eprintln!("collect: writing a batch of {}: {}; retrying", judged.len(), db::describe(&e));
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        };
        metrics.record(&outcome, started.elapsed().as_micros() as u64);
        let current = connection.load(SeqCst);
        for d in deliveries {
            if d.connection == current {
                let _ = client.ack(&d.publish).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_urls() {
        let u = parse_mqtt_url("mqtt://collector:s3cret@broker.example:1884").unwrap();
        assert_eq!(
            u,
            MqttUrl {
                tls: false,
                host: "broker.example".into(),
                port: 1884,
                user: Some("collector".into()),
                password: Some("s3cret".into())
            }
        );
        let u = parse_mqtt_url("mqtts://broker").unwrap();
        assert_eq!((u.tls, u.port, u.user), (true, 8883, None));
        assert!(parse_mqtt_url("http://x").is_err());
        assert!(parse_mqtt_url("mqtt://:1883").is_err());
    }

    #[test]
    fn settings_from_toml_and_checks() {
        let s: Settings = toml::from_str("database = \"postgres://x\"\ngroup = \"g\"\nbatch_size = 100\n").unwrap();
        assert_eq!((s.batch_size, s.group.as_str(), s.max_wait_ms), (100, "g", 200));
        s.check().unwrap();
        assert_eq!(s.subscription(), "$share/g/blickfang/+/+");
        assert!(toml::from_str::<Settings>("bogus = 1").is_err());
        let bad = Settings { batch_size: 0, ..s.clone() };
        assert!(bad.check().is_err());
        let bad = Settings { database: String::new(), ..s };
        assert!(bad.check().is_err());
    }
}
