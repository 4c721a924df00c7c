use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::records::{self, LineSplitter};
use blickfang::spool::{self, Backoff, Push, Spool};
use rumqttc::{Client, Event, Incoming, MqttOptions, Outgoing, QoS, RecvTimeoutError, TlsConfiguration, Transport};

use super::{CONNECTION_MESSAGE, DRAIN_MESSAGE, DROPPED_MESSAGE};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("blickfang-mqttsink", gst::DebugColorFlags::empty(), Some("blickfang MQTT record sink"))
});

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u32 = 1883;
const DEFAULT_TOPIC: &str = "blickfang/{screen}/{type}";
const DEFAULT_QOS: u32 = 1;
const DEFAULT_KEEP_ALIVE: u32 = 30;
const DEFAULT_SPOOL_SIZE: u32 = 10_000;
const DEFAULT_DRAIN_TIMEOUT: u32 = 10_000;
const DEFAULT_RECONNECT_MIN: u32 = 100;
const DEFAULT_RECONNECT_MAX: u32 = 10_000;
const DEFAULT_CONNECT_TIMEOUT: u32 = 5;
/// Records published and not yet acknowledged, at most (also rumqttc's inflight).
const WINDOW: usize = 100;
/// Largest record, bytes.
const MAX_PACKET: usize = 256 * 1024;
/// How often the sender looks for new records while waiting on the network.
const POLL: Duration = Duration::from_millis(5);
/// A drop episode that goes on is posted at most this often.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Settings {
    host: String,
    port: u32,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    topic: String,
    screen_id: Option<String>,
    qos: u32,
    keep_alive: u32,
    connect_timeout: u32,
    spool_size: u32,
    spool_file: Option<String>,
    drain_timeout: u32,
    reconnect_min: u32,
    reconnect_max: u32,
    tls: bool,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT,
            client_id: None,
            username: None,
            password: None,
            topic: DEFAULT_TOPIC.into(),
            screen_id: None,
            qos: DEFAULT_QOS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            spool_size: DEFAULT_SPOOL_SIZE,
            spool_file: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            reconnect_min: DEFAULT_RECONNECT_MIN,
            reconnect_max: DEFAULT_RECONNECT_MAX,
            tls: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

/// What the sender thread needs, fixed at start.
struct Config {
    options: MqttOptions,
    connect_timeout: u64,
    topic: String,
    screen: String,
    qos: QoS,
    backoff: Backoff,
}

/// Shared between the streaming thread and the sender thread.
struct Shared {
    spool: Spool,
    stop: bool,
    /// Set by `unlock()`: a flushing seek or a state change interrupts the EOS wait.
    flushing: bool,
    connected: bool,
    published: u64,
    rejected: u64,
}

struct Link {
    shared: Mutex<Shared>,
    cond: Condvar,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap()
    }
}

struct State {
    link: Arc<Link>,
    sender: Option<JoinHandle<()>>,
    lines: LineSplitter,
    last_drop_report: Option<Instant>,
}

#[derive(Default)]
pub struct MqttSink {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for MqttSink {
    const NAME: &'static str = "BlickfangMqttSink";
    type Type = super::MqttSink;
    type ParentType = gst_base::BaseSink;
}

fn string_prop(
    name: &'static str,
    nick: &'static str,
    blurb: &'static str,
    default: Option<&'static str>,
) -> glib::ParamSpec {
    glib::ParamSpecString::builder(name).nick(nick).blurb(blurb).default_value(default).mutable_ready().build()
}

fn uint_prop(
    name: &'static str,
    nick: &'static str,
    blurb: &'static str,
    range: (u32, u32),
    default: u32,
) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder(name)
        .nick(nick)
        .blurb(blurb)
        .minimum(range.0)
        .maximum(range.1)
        .default_value(default)
        .mutable_ready()
        .build()
}

fn counter_prop(name: &'static str, nick: &'static str, blurb: &'static str) -> glib::ParamSpec {
    glib::ParamSpecUInt64::builder(name).nick(nick).blurb(blurb).read_only().build()
}

impl ObjectImpl for MqttSink {
    fn constructed(&self) {
        self.parent_constructed();
        // Records are metadata to deliver as soon as possible, not media to render on time.
        self.obj().set_sync(false);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                string_prop("host", "Host", "MQTT broker host name or address", Some(DEFAULT_HOST)),
                uint_prop("port", "Port", "MQTT broker port (1883; 8883 is usual with TLS)", (1, 65535), DEFAULT_PORT),
                string_prop(
                    "client-id",
                    "Client id",
                    "MQTT client id; unset: blickfang-<host name>-<process id>-<n>",
                    None,
                ),
                string_prop("username", "User name", "User name for the broker; unset: anonymous", None),
                string_prop("password", "Password", "Password for the broker (with username)", None),
                string_prop(
                    "topic",
                    "Topic",
                    "Topic template: {screen} is replaced by screen-id, {type} by the record type \
                     (frame, person-event, content-report)",
                    Some(DEFAULT_TOPIC),
                ),
                string_prop("screen-id", "Screen id", "Fills {screen} in the topic; unset: the host name", None),
                uint_prop(
                    "qos",
                    "QoS",
                    "MQTT quality of service: 1 (at least once) or 2; 0 can lose records",
                    (0, 2),
                    DEFAULT_QOS,
                ),
                uint_prop(
                    "keep-alive",
                    "Keep alive",
                    "MQTT keep-alive interval, seconds (0: none)",
                    (0, 65535),
                    DEFAULT_KEEP_ALIVE,
                ),
                uint_prop(
                    "connect-timeout",
                    "Connect timeout",
                    "Seconds a connection attempt may take",
                    (1, 600),
                    DEFAULT_CONNECT_TIMEOUT,
                ),
                uint_prop(
                    "spool-size",
                    "Spool size",
                    "Records held until the broker acknowledges them; when full, new records are dropped, \
                     counted and reported",
                    (1, u32::MAX),
                    DEFAULT_SPOOL_SIZE,
                ),
                string_prop(
                    "spool-file",
                    "Spool file",
                    "Also keep the spooled records (metadata lines only) in this file, so that records not \
                     delivered before a stop or crash are sent after the next start; unset: memory only",
                    None,
                ),
                uint_prop(
                    "drain-timeout",
                    "Drain timeout",
                    "At EOS, wait at most this many milliseconds for the spool to be delivered",
                    (0, u32::MAX),
                    DEFAULT_DRAIN_TIMEOUT,
                ),
                uint_prop(
                    "reconnect-min",
                    "Minimum reconnect delay",
                    "First delay, milliseconds, before reconnecting to a lost broker; doubles per failure",
                    (1, u32::MAX),
                    DEFAULT_RECONNECT_MIN,
                ),
                uint_prop(
                    "reconnect-max",
                    "Maximum reconnect delay",
                    "Longest delay, milliseconds, between reconnection attempts",
                    (1, u32::MAX),
                    DEFAULT_RECONNECT_MAX,
                ),
                glib::ParamSpecBoolean::builder("tls")
                    .nick("TLS")
                    .blurb("Connect with TLS (rustls); needs ca-file")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                string_prop("ca-file", "CA file", "PEM file of the certificate authorities to trust (TLS)", None),
                string_prop(
                    "cert-file",
                    "Client certificate",
                    "PEM client certificate, for brokers that require client authentication (TLS, with key-file)",
                    None,
                ),
                string_prop("key-file", "Client key", "PEM private key of cert-file (TLS)", None),
                counter_prop("published", "Published", "Records the broker has acknowledged"),
                counter_prop("dropped", "Dropped", "Records dropped because the spool was full"),
                counter_prop("queued", "Queued", "Records waiting in the spool"),
                counter_prop("rejected", "Rejected", "Lines refused: not a JSON object, or able to hold pixels"),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let opt = |v: &glib::Value| v.get::<Option<String>>().unwrap().filter(|v| !v.is_empty());
        match pspec.name() {
            "host" => s.host = opt(value).unwrap_or_else(|| DEFAULT_HOST.into()),
            "port" => s.port = value.get().unwrap(),
            "client-id" => s.client_id = opt(value),
            "username" => s.username = opt(value),
            "password" => s.password = opt(value),
            "topic" => s.topic = opt(value).unwrap_or_else(|| DEFAULT_TOPIC.into()),
            "screen-id" => s.screen_id = opt(value),
            "qos" => s.qos = value.get().unwrap(),
            "keep-alive" => s.keep_alive = value.get().unwrap(),
            "connect-timeout" => s.connect_timeout = value.get().unwrap(),
            "spool-size" => s.spool_size = value.get().unwrap(),
            "spool-file" => s.spool_file = opt(value),
            "drain-timeout" => s.drain_timeout = value.get().unwrap(),
            "reconnect-min" => s.reconnect_min = value.get().unwrap(),
            "reconnect-max" => s.reconnect_max = value.get().unwrap(),
            "tls" => s.tls = value.get().unwrap(),
            "ca-file" => s.ca_file = opt(value),
            "cert-file" => s.cert_file = opt(value),
            "key-file" => s.key_file = opt(value),
            name => unimplemented!("property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "published" | "dropped" | "queued" | "rejected" => return self.counter(pspec.name()).to_value(),
            _ => {}
        }
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "host" => s.host.to_value(),
            "port" => s.port.to_value(),
            "client-id" => s.client_id.to_value(),
            "username" => s.username.to_value(),
            // Write-only in spirit: never read a secret back.
            "password" => None::<String>.to_value(),
            "topic" => s.topic.to_value(),
            "screen-id" => s.screen_id.to_value(),
            "qos" => s.qos.to_value(),
            "keep-alive" => s.keep_alive.to_value(),
            "connect-timeout" => s.connect_timeout.to_value(),
            "spool-size" => s.spool_size.to_value(),
            "spool-file" => s.spool_file.to_value(),
            "drain-timeout" => s.drain_timeout.to_value(),
            "reconnect-min" => s.reconnect_min.to_value(),
            "reconnect-max" => s.reconnect_max.to_value(),
            "tls" => s.tls.to_value(),
            "ca-file" => s.ca_file.to_value(),
            "cert-file" => s.cert_file.to_value(),
            "key-file" => s.key_file.to_value(),
            name => unimplemented!("property {name}"),
        }
    }
}

impl GstObjectImpl for MqttSink {}

impl ElementImpl for MqttSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang MQTT record sink",
                "Sink/Network/Metadata",
                "Publishes JSON records to an MQTT broker (QoS 1), spooling them while the broker is away",
                "blickfang developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder(super::super::metajson::NDJSON_CAPS).build();
            vec![gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap()]
        });
        PAD_TEMPLATES.as_ref()
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "screen".into())
}

fn read_file(what: &str, path: &Option<String>) -> Result<Vec<u8>, gst::ErrorMessage> {
    let path = path
        .as_ref()
        .ok_or_else(|| gst::error_msg!(gst::ResourceError::Settings, ["blickfang-mqttsink: tls=true needs {what}"]))?;
    std::fs::read(path).map_err(|e| {
        gst::error_msg!(gst::ResourceError::OpenRead, ["blickfang-mqttsink: cannot read {what} {path}: {e}"])
    })
}

impl MqttSink {
    fn counter(&self, name: &str) -> u64 {
        let state = self.state.lock().unwrap();
        let Some(state) = state.as_ref() else { return 0 };
        let shared = state.link.lock();
        match name {
            "published" => shared.published,
            "dropped" => shared.spool.total_dropped(),
            "queued" => shared.spool.len() as u64,
            _ => shared.rejected,
        }
    }

    fn config(&self, s: &Settings) -> Result<Config, gst::ErrorMessage> {
        spool::check_topic_template(&s.topic)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ["blickfang-mqttsink property topic: {e}"]))?;
        static INSTANCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let client_id = s.client_id.clone().unwrap_or_else(|| {
            let n = INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("blickfang-{}-{}-{n}", host_name(), std::process::id())
        });
        let mut options = MqttOptions::new(client_id, s.host.clone(), s.port as u16);
        options
            .set_keep_alive(Duration::from_secs(s.keep_alive.into()))
            // The spool, not the broker session, makes delivery reliable.
            .set_clean_session(true)
            .set_inflight(WINDOW as u16)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some(user) = &s.username {
            options.set_credentials(user.clone(), s.password.clone().unwrap_or_default());
        }
        if s.tls {
            let ca = read_file("ca-file", &s.ca_file)?;
            let client_auth = match (&s.cert_file, &s.key_file) {
                (None, None) => None,
                (Some(_), Some(_)) => {
                    Some((read_file("cert-file", &s.cert_file)?, read_file("key-file", &s.key_file)?))
                }
                _ => {
                    return Err(gst::error_msg!(
                        gst::ResourceError::Settings,
                        ["blickfang-mqttsink: cert-file and key-file go together"]
                    ));
                }
            };
            // rustls on ring; harmless if a provider is installed already.
            let _ = rustls::crypto::ring::default_provider().install_default();
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple { ca, alpn: None, client_auth }));
        } else if s.ca_file.is_some() || s.cert_file.is_some() || s.key_file.is_some() {
            gst::warning!(CAT, imp = self, "ca-file, cert-file and key-file are used only with tls=true");
        }
        Ok(Config {
            options,
            connect_timeout: s.connect_timeout.into(),
            topic: s.topic.clone(),
            screen: s.screen_id.clone().unwrap_or_else(host_name),
            qos: match s.qos {
                0 => QoS::AtMostOnce,
                2 => QoS::ExactlyOnce,
                _ => QoS::AtLeastOnce,
            },
            backoff: Backoff::new(
                Duration::from_millis(s.reconnect_min.into()),
                Duration::from_millis(s.reconnect_max.into()),
            ),
        })
    }

    /// One line from upstream into the spool.
    fn accept_line(&self, state: &mut State, line: &str) {
        let ok = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .filter(|v| v.is_object())
            .map(|v| records::is_pixel_free(&v));
        if ok != Some(true) {
            let why = if ok.is_none() { "not a JSON object" } else { "a value that could hold pixels" };
            let n = {
                let mut shared = state.link.lock();
                shared.rejected += 1;
                shared.rejected
            };
            if n == 1 || n.is_power_of_two() {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Format,
                    ["blickfang-mqttsink refused a record ({why}); {n} so far"]
                );
            }
            return;
        }
        let (push, total, queued) = {
            let mut shared = state.link.lock();
            let push = shared.spool.push(line);
            (push, shared.spool.total_dropped(), shared.spool.len() as u64)
        };
        state.link.cond.notify_all();
        match push {
            Ok(Push::Queued { dropped: 0 }) => {}
            Ok(Push::Queued { dropped }) => {
                gst::warning!(CAT, imp = self, "spool full: {dropped} records were dropped");
                self.post_dropped(dropped, total, queued, true);
                state.last_drop_report = None;
            }
            Ok(Push::Dropped { episode, first }) => {
                let due = state.last_drop_report.is_none_or(|t| t.elapsed() >= DROP_REPORT_INTERVAL);
                if first || due {
                    if first {
                        gst::warning!(CAT, imp = self, "spool full ({queued} records): dropping new records");
                    }
                    self.post_dropped(episode, total, queued, false);
                    state.last_drop_report = Some(Instant::now());
                }
            }
            Err(e) => {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Write,
                    ["blickfang-mqttsink: cannot write the spool file: {e}"]
                );
            }
        }
    }

    fn post_dropped(&self, dropped: u64, total: u64, queued: u64, ended: bool) {
        let s = gst::Structure::builder(DROPPED_MESSAGE)
            .field("dropped", dropped)
            .field("total-dropped", total)
            .field("queued", queued)
            .field("ended", ended)
            .build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }

    /// At EOS: waits until everything was acknowledged, at most `drain-timeout`.
    fn drain(&self) {
        let timeout = Duration::from_millis(self.settings.lock().unwrap().drain_timeout.into());
        let Some(link) = self.state.lock().unwrap().as_ref().map(|s| s.link.clone()) else { return };
        let deadline = Instant::now() + timeout;
        let mut shared = link.lock();
        while !shared.spool.is_empty() && !shared.flushing {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            shared = link.cond.wait_timeout(shared, deadline - now).unwrap().0;
        }
        let queued = shared.spool.len() as u64;
        let _ = shared.spool.sync();
        drop(shared);
        let s = gst::Structure::builder(DRAIN_MESSAGE).field("drained", queued == 0).field("queued", queued).build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        if queued > 0 {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                [
                    "blickfang-mqttsink: {queued} records not delivered within drain-timeout ({} ms)",
                    timeout.as_millis()
                ]
            );
        }
    }
}

impl BaseSinkImpl for MqttSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let config = self.config(&settings)?;
        let spool = match &settings.spool_file {
            None => Spool::new(settings.spool_size as usize),
            Some(path) => Spool::with_file(settings.spool_size as usize, &PathBuf::from(path)).map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::OpenReadWrite,
                    ["blickfang-mqttsink: cannot open spool-file {path}: {e}"]
                )
            })?,
        };
        if !spool.is_empty() {
            gst::info!(CAT, imp = self, "{} records from the spool file go first", spool.len());
        }
        let link = Arc::new(Link {
            shared: Mutex::new(Shared {
                spool,
                stop: false,
                flushing: false,
                connected: false,
                published: 0,
                rejected: 0,
            }),
            cond: Condvar::new(),
        });
        let weak = self.obj().downgrade();
        let sender = {
            let link = link.clone();
            std::thread::Builder::new()
                .name("blickfang-mqtt".into())
                .spawn(move || send_loop(link, config, weak))
                .map_err(|e| {
                    gst::error_msg!(gst::CoreError::Thread, ["blickfang-mqttsink: cannot start its thread: {e}"])
                })?
        };
        *self.state.lock().unwrap() =
            Some(State { link, sender: Some(sender), lines: LineSplitter::default(), last_drop_report: None });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let Some(mut state) = self.state.lock().unwrap().take() else { return Ok(()) };
        state.link.lock().stop = true;
        state.link.cond.notify_all();
        if let Some(t) = state.sender.take() {
            let _ = t.join();
        }
        let mut shared = state.link.lock();
        let _ = shared.spool.sync();
        if !shared.spool.is_empty() {
            gst::warning!(CAT, imp = self, "stopped with {} records undelivered", shared.spool.len());
        }
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        for line in state.lines.push(map.as_slice()) {
            self.accept_line(state, &line);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            {
                let mut guard = self.state.lock().unwrap();
                if let Some(state) = guard.as_mut()
                    && let Some(line) = state.lines.finish()
                {
                    self.accept_line(state, &line);
                }
            }
            self.drain();
        }
        self.parent_event(event)
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().as_ref() {
            state.link.lock().flushing = true;
            state.link.cond.notify_all();
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(state) = self.state.lock().unwrap().as_ref() {
            state.link.lock().flushing = false;
        }
        Ok(())
    }
}

fn post(weak: &glib::WeakRef<super::MqttSink>, s: gst::Structure) {
    if let Some(obj) = weak.upgrade() {
        let _ = obj.post_message(gst::message::Element::builder(s).src(&obj).build());
    }
}

fn set_connected(link: &Link, weak: &glib::WeakRef<super::MqttSink>, connected: bool, error: Option<&str>) {
    let changed = {
        let mut shared = link.lock();
        std::mem::replace(&mut shared.connected, connected) != connected
    };
    if changed {
        let mut s = gst::Structure::builder(CONNECTION_MESSAGE).field("connected", connected);
        if let Some(e) = error {
            s = s.field("error", e);
        }
        post(weak, s.build());
    }
}

/// The sender thread: one connection after the other until stopped, waiting
/// `backoff` between them.
fn send_loop(link: Arc<Link>, mut config: Config, weak: glib::WeakRef<super::MqttSink>) {
    let mut first_failure = true;
    loop {
        match session(&link, &mut config, &weak) {
            Ok(()) => break,
            Err(e) => {
                set_connected(&link, &weak, false, Some(&e));
                if let Some(obj) = weak.upgrade() {
                    if first_failure {
                        gst::warning!(
                            CAT,
                            obj = obj,
                            "broker {}: {e}; reconnecting",
                            config.options.broker_address().0
                        );
                    } else {
                        gst::debug!(CAT, obj = obj, "broker: {e}");
                    }
                }
                first_failure = false;
            }
        }
        let delay = config.backoff.next_delay();
        let shared = link.lock();
        if shared.stop {
            break;
        }
        let shared = link.cond.wait_timeout_while(shared, delay, |s| !s.stop).unwrap().0;
        if shared.stop {
            break;
        }
    }
}

/// Records handed to the client and not yet acknowledged by the broker.
#[derive(Default)]
struct InFlight {
    /// Spool indexes published, in order, whose packet id is not known yet.
    submitted: VecDeque<u64>,
    /// Packet id to spool index.
    sent: HashMap<u16, u64>,
}

impl InFlight {
    fn len(&self) -> usize {
        self.submitted.len() + self.sent.len()
    }
}

/// One connection: publishes spooled records in order, at most [`WINDOW`]
/// unacknowledged, and forgets each when the broker acknowledges it. Returns
/// `Ok` when stopped, `Err` when the connection is lost (the records in
/// flight stay in the spool and go out again on the next connection).
fn session(link: &Link, config: &mut Config, weak: &glib::WeakRef<super::MqttSink>) -> Result<(), String> {
    let (client, mut conn) = Client::new(config.options.clone(), WINDOW + 8);
    let mut net = conn.eventloop.network_options();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(config.connect_timeout);
    conn.eventloop.set_network_options(net);
    let mut connected = false;
    let mut cursor = 0u64;
    let mut flight = InFlight::default();
    loop {
        if link.lock().stop {
            let _ = client.try_disconnect();
            let _ = conn.recv_timeout(Duration::from_millis(100));
            return Ok(());
        }
        if connected {
            submit(link, config, &client, &mut cursor, &mut flight)?;
        }
        // While connecting, a short timeout would cancel the handshake.
        let wait = if connected { POLL } else { Duration::from_secs(config.connect_timeout + 1) };
        match conn.recv_timeout(wait) {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
                connected = true;
                config.backoff.reset();
                cursor = link.lock().spool.first_index();
                set_connected(link, weak, true, None);
            }
            Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                if let Some(index) = flight.submitted.pop_front() {
                    if config.qos == QoS::AtMostOnce {
                        acknowledge(link, index)?;
                    } else {
                        flight.sent.insert(pkid, index);
                    }
                }
            }
            Ok(Ok(Event::Incoming(Incoming::PubAck(ack)))) if config.qos == QoS::AtLeastOnce => {
                if let Some(index) = flight.sent.remove(&ack.pkid) {
                    acknowledge(link, index)?;
                }
            }
            Ok(Ok(Event::Incoming(Incoming::PubRec(rec)))) if config.qos == QoS::ExactlyOnce => {
                if let Some(index) = flight.sent.remove(&rec.pkid) {
                    acknowledge(link, index)?;
                }
            }
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(RecvTimeoutError::Disconnected) => return Err("the MQTT client closed".into()),
        }
    }
}

/// Hands the next spooled records to the client, up to the window.
fn submit(
    link: &Link,
    config: &Config,
    client: &Client,
    cursor: &mut u64,
    flight: &mut InFlight,
) -> Result<(), String> {
    let shared = link.lock();
    *cursor = (*cursor).max(shared.spool.first_index());
    while flight.len() < WINDOW && *cursor < shared.spool.end_index() {
        if let Some(line) = shared.spool.get(*cursor) {
            let topic = spool::topic(&config.topic, &config.screen, &records::line_type(line));
            client.try_publish(topic, config.qos, false, line.as_bytes().to_vec()).map_err(|e| e.to_string())?;
            flight.submitted.push_back(*cursor);
        }
        *cursor += 1;
    }
    Ok(())
}

fn acknowledge(link: &Link, index: u64) -> Result<(), String> {
    let mut shared = link.lock();
    shared.spool.ack(index).map_err(|e| format!("spool file: {e}"))?;
    shared.published += 1;
    let empty = shared.spool.is_empty();
    drop(shared);
    if empty {
        link.cond.notify_all();
    }
    Ok(())
}
