use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use blickfang::records::{self, LineSplitter};
use blickfang::spool::{self, Backoff, Push, Spool};
use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};

use super::session::{self, Config, Connection, Link, MAX_PACKET, Note, Reason, WINDOW};
use super::{CONNECTION_MESSAGE, ConnectFailure, DRAIN_MESSAGE, DROPPED_MESSAGE};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("blickfang-mqttsink", gst::DebugColorFlags::empty(), Some("blickfang MQTT record sink"))
});

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u32 = 1883;
const DEFAULT_TOPIC: &str = "blickfang/{screen}/{type}";
const DEFAULT_QOS: u32 = 1;
const DEFAULT_KEEP_ALIVE: u32 = 30_000;
const DEFAULT_SPOOL_SIZE: u32 = 10_000;
const DEFAULT_DRAIN_TIMEOUT: u32 = 10_000;
const DEFAULT_RECONNECT_MIN: u32 = 100;
const DEFAULT_RECONNECT_MAX: u32 = 10_000;
const DEFAULT_CONNECT_TIMEOUT: u32 = 5_000;
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
    on_connect_failure: ConnectFailure,
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
            on_connect_failure: ConnectFailure::Warn,
            tls: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
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
    /// With on-connect-failure=error: the error the streaming thread posts
    /// with the next buffer (posting it from the sender thread could race
    /// the application's own state change).
    failure: Mutex<Option<gst::ErrorMessage>>,
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
                string_prop(
                    "screen-id",
                    "Screen id",
                    "Fills {screen} in the topic; unset: the host name with / + # replaced by _",
                    None,
                ),
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
                    "MQTT keep-alive interval, milliseconds, in whole seconds as MQTT counts it \
                     (0: none; 1 to 999 is refused)",
                    (0, 65_535_000),
                    DEFAULT_KEEP_ALIVE,
                ),
                uint_prop(
                    "connect-timeout",
                    "Connect timeout",
                    "Milliseconds a connection attempt may take until the broker accepts it",
                    (1, 600_000),
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
                glib::ParamSpecEnum::builder_with_default("on-connect-failure", ConnectFailure::Warn)
                    .nick("On connect failure")
                    .blurb(
                        "What a failed connection attempt (refused credentials, TLS, no route) does besides the \
                         blickfang-mqtt-connection message: warn and keep retrying, or post an error",
                    )
                    .mutable_ready()
                    .build(),
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
        if pspec.name() == "password" {
            gst::info!(CAT, imp = self, "password set");
        } else {
            gst::info!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        }
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
            "on-connect-failure" => s.on_connect_failure = value.get().unwrap(),
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
            "on-connect-failure" => s.on_connect_failure.to_value(),
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
        let keep_alive = session::keep_alive(s.keep_alive).map_err(|e| {
            gst::error_msg!(gst::ResourceError::Settings, ["blickfang-mqttsink property keep-alive: {e}"])
        })?;
        static INSTANCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let client_id = s.client_id.clone().unwrap_or_else(|| {
            let n = INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("blickfang-{}-{}-{n}", super::default_screen_id(), std::process::id())
        });
        let mut options = MqttOptions::new(client_id, s.host.clone(), s.port as u16);
        options
            .set_keep_alive(keep_alive)
            // The spool, not the broker session, makes delivery reliable.
            .set_clean_session(true)
            .set_inflight(WINDOW as u16)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some(user) = &s.username {
            options.set_credentials(user.clone(), s.password.clone().unwrap_or_default());
        }
        if s.tls {
            let ca = read_file("ca-file", &s.ca_file)?;
            // A file without a certificate can never work: say so now, not at every connection attempt.
            if !ca.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    ["blickfang-mqttsink: ca-file {} holds no PEM certificate", s.ca_file.as_deref().unwrap_or("")]
                ));
            }
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
            connect_timeout: Duration::from_millis(s.connect_timeout.into()),
            topic: s.topic.clone(),
            screen: s.screen_id.clone().unwrap_or_else(super::default_screen_id),
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
            gst::debug!(CAT, imp = self, "refused a record ({why}); {n} so far");
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
            Ok(Push::Queued { dropped: 0 }) => {
                gst::log!(CAT, imp = self, "spooled a {} record, {queued} waiting", records::line_type(line));
            }
            Ok(Push::Queued { dropped }) => {
                gst::warning!(CAT, imp = self, "spool full: {dropped} records were dropped");
                gst::debug!(CAT, imp = self, "spooled again after {dropped} dropped; this record says so");
                self.post_dropped(dropped, total, queued, true);
                state.last_drop_report = None;
            }
            Ok(Push::Dropped { episode, first }) => {
                gst::log!(CAT, imp = self, "dropped a record: spool full ({queued} waiting, {episode} dropped)");
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

    /// Posts the connection failure on-connect-failure=error made fatal.
    fn check_failure(&self) -> Result<(), gst::FlowError> {
        match self.failure.lock().unwrap().take() {
            Some(error) => {
                self.post_error_message(error);
                Err(gst::FlowError::Error)
            }
            None => Ok(()),
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
        gst::debug!(CAT, imp = self, "EOS: waiting up to {} ms for the spool to be delivered", timeout.as_millis());
        let deadline = Instant::now() + timeout;
        let mut shared = link.lock();
        while !shared.spool.is_empty() && !shared.flushing {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            shared = link.cond.wait_timeout(shared, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        let queued = shared.spool.len() as u64;
        let _ = shared.spool.sync();
        let connection = shared.connection.clone();
        drop(shared);
        let s = gst::Structure::builder(DRAIN_MESSAGE).field("drained", queued == 0).field("queued", queued).build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        if queued > 0 {
            let why = match &connection {
                Connection::Connected => "the broker did not acknowledge them in time".to_string(),
                Connection::Connecting => "no connection to the broker yet".to_string(),
                Connection::Failed { reason, error } => format!("not connected: {} ({error})", reason.describe()),
            };
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Write,
                (
                    "blickfang-mqttsink: {queued} records not delivered within drain-timeout ({} ms): {why}",
                    timeout.as_millis()
                )
            );
        } else {
            gst::debug!(CAT, imp = self, "EOS: everything delivered");
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
        let broker = format!("{}:{}", settings.host, settings.port);
        gst::info!(
            CAT,
            imp = self,
            "start: broker {broker}, topic {}, screen {}, QoS {}, spool {} records{}",
            settings.topic,
            config.screen,
            settings.qos,
            settings.spool_size,
            settings.spool_file.as_deref().map(|f| format!(" (file {f})")).unwrap_or_default()
        );
        if !spool.is_empty() {
            gst::info!(CAT, imp = self, "{} records from the spool file go first", spool.len());
        }
        *self.failure.lock().unwrap() = None;
        let link = Arc::new(Link::new(spool));
        let poster = Poster { sink: self.obj().downgrade(), broker, on_failure: settings.on_connect_failure };
        let sender = {
            let link = link.clone();
            std::thread::Builder::new()
                .name("blickfang-mqtt".into())
                .spawn(move || session::run(&link, config, &poster))
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
        state.link.stop();
        if let Some(t) = state.sender.take() {
            let _ = t.join();
        }
        let mut shared = state.link.lock();
        let _ = shared.spool.sync();
        if !shared.spool.is_empty() {
            gst::warning!(CAT, imp = self, "stopped with {} records undelivered", shared.spool.len());
        }
        gst::info!(
            CAT,
            imp = self,
            "stop: {} published, {} dropped, {} refused, {} waiting",
            shared.published,
            shared.spool.total_dropped(),
            shared.rejected,
            shared.spool.len()
        );
        Ok(())
    }

    /// Before preroll and render.
    fn prepare(&self, _buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.check_failure()?;
        Ok(gst::FlowSuccess::Ok)
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
            if self.check_failure().is_err() {
                return false;
            }
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

/// Says what the session notes, on the sender thread: connection messages
/// and warnings on the bus, decisions at `debug`, records at `log`.
struct Poster {
    sink: glib::WeakRef<super::MqttSink>,
    /// `host:port`, for messages.
    broker: String,
    on_failure: ConnectFailure,
}

impl session::Observer for Poster {
    fn note(&self, note: Note<'_>) {
        // Per record, and each retry of a state already said: `log`.
        let per_record = matches!(note, Note::Published { .. } | Note::Acknowledged { .. } | Note::Retrying { .. });
        if per_record && CAT.threshold() < gst::DebugLevel::Log {
            return;
        }
        let Some(obj) = self.sink.upgrade() else { return };
        match note {
            Note::Connection { state, warn } => self.post_connection(&obj, state, warn),
            Note::Backlog { waiting } => {
                gst::debug!(CAT, obj = obj, "{waiting} records waiting go out first (again if sent before)")
            }
            Note::Retrying { delay } => gst::log!(CAT, obj = obj, "next attempt in {} ms", delay.as_millis()),
            Note::Published { index, topic } => gst::log!(CAT, obj = obj, "published record {index} on {topic}"),
            Note::Acknowledged { index } => gst::log!(CAT, obj = obj, "broker acknowledged record {index}"),
        }
    }
}

impl Poster {
    fn post_connection(&self, obj: &super::MqttSink, state: &Connection, warn: bool) {
        let broker = &self.broker;
        let mut s = gst::Structure::builder(CONNECTION_MESSAGE)
            .field("connected", state.is_connected())
            .field("broker", broker.as_str());
        match state {
            Connection::Connecting => gst::debug!(CAT, obj = obj, "connecting to {broker}"),
            Connection::Connected => gst::debug!(CAT, obj = obj, "connected to {broker}"),
            Connection::Failed { reason, error } => {
                gst::debug!(CAT, obj = obj, "not connected to {broker}: {} ({error})", reason.as_str());
                s = s.field("reason", reason.as_str()).field("error", error.as_str());
            }
        }
        let _ = obj.post_message(gst::message::Element::builder(s.build()).src(obj).build());
        if let (true, Connection::Failed { reason, error }) = (warn, state) {
            // A connection lost after it was made is the spool's job, even with on-connect-failure=error.
            let fatal = self.on_failure == ConnectFailure::Error && *reason != Reason::Lost;
            let then = if fatal {
                "on-connect-failure=error"
            } else {
                "records stay in the spool and the sink keeps retrying"
            };
            let text = format!("blickfang-mqttsink, broker {broker}: {} ({error}); {then}", reason.describe());
            let domain = match reason {
                Reason::BadCredentials | Reason::NotAuthorized => gst::ResourceError::NotAuthorized,
                Reason::Local => gst::ResourceError::Write,
                _ => gst::ResourceError::OpenWrite,
            };
            if fatal {
                *obj.imp().failure.lock().unwrap() = Some(gst::error_msg!(domain, ("{text}")));
            } else {
                gst::element_warning!(obj, domain, ("{text}"));
            }
        }
    }
}
