//! The MQTT session behind `blickfang-mqttsink`, without GStreamer: the sender
//! thread's loop (one rumqttc connection after the other, with backoff), the
//! acknowledgement window, and what the connection state is and why. `imp.rs`
//! turns the [`Note`]s it gets into bus messages, warnings and log lines.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use blickfang::records;
use blickfang::spool::{self, Backoff, Spool};
use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, Incoming, MqttOptions, Outgoing, QoS, RecvTimeoutError,
};

/// Records published and not yet acknowledged, at most (also rumqttc's inflight).
pub const WINDOW: usize = 100;
/// Largest record, bytes.
pub const MAX_PACKET: usize = 256 * 1024;
/// How often the sender looks for new records while waiting on the network.
const POLL: Duration = Duration::from_millis(5);

/// The screen id of a host called `host`: the name with the characters that
/// would change a topic's meaning (`/`, `+`, `#`, NUL) replaced by `_`, as in
/// every topic ([`spool::topic_level`]); `screen` when the name is empty.
pub fn screen_id(host: &str) -> String {
    match host.trim() {
        "" => "screen".into(),
        host => spool::topic_level(host),
    }
}

/// The `keep-alive` property (milliseconds) as rumqttc takes it: MQTT counts
/// the keep-alive in whole seconds, so the rest of a second is ignored and
/// 1..999 ms (which would be 0, "no keep-alive") is refused.
pub fn keep_alive(ms: u32) -> Result<Duration, String> {
    match ms {
        0 => Ok(Duration::ZERO),
        1..=999 => Err(format!("{ms} ms: 0 (none) or at least 1000 ms (MQTT counts it in whole seconds)")),
        ms => Ok(Duration::from_secs((ms / 1000).into())),
    }
}

/// rumqttc's connection timeout is whole seconds: the next whole second at
/// or above `timeout` (the sink itself gives up at `timeout` exactly).
fn whole_seconds(timeout: Duration) -> u64 {
    timeout.as_millis().div_ceil(1000).max(1) as u64
}

/// What the sender thread needs, fixed at start.
pub struct Config {
    pub options: MqttOptions,
    /// How long a connection attempt may take until the broker's CONNACK.
    pub connect_timeout: Duration,
    pub topic: String,
    pub screen: String,
    pub qos: QoS,
    pub backoff: Backoff,
}

/// Why the sink is not connected to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The broker refused the user name or password (CONNACK code 4).
    BadCredentials,
    /// The broker refused this client (CONNACK code 5): no or unknown
    /// credentials where `allow_anonymous false`, or not allowed.
    NotAuthorized,
    /// The broker refused the connection for another reason, or closed it
    /// during the handshake.
    Refused,
    /// TLS failed: the broker's certificate is not signed by `ca-file` or not
    /// issued for `host`, or a client certificate or key was refused.
    Tls,
    /// No connection: unknown host, nothing listening, no route.
    Unreachable,
    /// No answer from the broker within `connect-timeout`.
    Timeout,
    /// An established connection was lost.
    Lost,
    /// The MQTT client or the spool file failed.
    Local,
}

impl Reason {
    /// The value of the `reason` field of the connection message.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadCredentials => "bad-credentials",
            Reason::NotAuthorized => "not-authorized",
            Reason::Refused => "refused",
            Reason::Tls => "tls",
            Reason::Unreachable => "unreachable",
            Reason::Timeout => "timeout",
            Reason::Lost => "lost",
            Reason::Local => "local",
        }
    }

    /// The cause in words, for the warning a user reads.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::BadCredentials => "the broker refused the username or password",
            Reason::NotAuthorized => "the broker refused this client (not authorized: check username and password)",
            Reason::Refused => "the broker refused or closed the connection",
            Reason::Tls => {
                "the TLS handshake failed (is the broker's certificate signed by ca-file and issued for host?)"
            }
            Reason::Unreachable => "the broker cannot be reached",
            Reason::Timeout => "the broker did not answer within connect-timeout",
            Reason::Lost => "the connection to the broker was lost",
            Reason::Local => "the MQTT client or the spool file failed",
        }
    }

    /// Only a change of settings (here or at the broker) ends it: worth a
    /// warning whenever it starts, not only on the first failure.
    pub fn needs_configuration(self) -> bool {
        matches!(self, Reason::BadCredentials | Reason::NotAuthorized | Reason::Tls)
    }

    /// Why `error` ended a connection that had (`connected`) or had not yet
    /// been acknowledged by the broker.
    pub fn of(error: &ConnectionError, connected: bool) -> Self {
        if connected {
            return Reason::Lost;
        }
        match error {
            ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => Reason::BadCredentials,
            ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => Reason::NotAuthorized,
            ConnectionError::ConnectionRefused(_) | ConnectionError::NotConnAck(_) => Reason::Refused,
            ConnectionError::Tls(_) => Reason::Tls,
            ConnectionError::NetworkTimeout => Reason::Timeout,
            ConnectionError::Io(e) => match e.kind() {
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe => Reason::Refused,
                // Connection refused, no route, unknown host (a lookup error has no kind of its own).
                _ => Reason::Unreachable,
            },
            _ => Reason::Lost,
        }
    }
}

/// The state of the connection to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// At start, until the first attempt has an outcome.
    Connecting,
    /// The broker acknowledged the connection (CONNACK).
    Connected,
    /// The last attempt failed, or the connection was lost; retrying.
    Failed { reason: Reason, error: String },
}

impl Connection {
    pub fn is_connected(&self) -> bool {
        matches!(self, Connection::Connected)
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            Connection::Failed { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// What to do with a connection state: post it on the bus, and also warn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub post: bool,
    pub warn: bool,
}

/// Decides which connection states are said: the state at start and every
/// change of `connected` or of the reason are posted (the same failure again
/// at each backoff step is not); a warning goes with the first failure after
/// start or after a connection, and with every change to a failure that only
/// a change of settings ends (credentials, TLS).
#[derive(Debug, Default)]
pub struct Reporter {
    last: Option<(bool, Option<Reason>)>,
    warned: bool,
}

impl Reporter {
    pub fn report(&mut self, state: &Connection) -> Report {
        let key = (state.is_connected(), state.reason());
        let post = self.last != Some(key);
        self.last = Some(key);
        let warn = post && state.reason().is_some_and(|r| !self.warned || r.needs_configuration());
        if state.is_connected() {
            self.warned = false;
        } else if warn {
            self.warned = true;
        }
        Report { post, warn }
    }
}

/// Records handed to the client and not yet acknowledged by the broker, in
/// spool indexes; at most [`WINDOW`].
#[derive(Debug, Default)]
pub struct InFlight {
    /// Published, in order, whose packet id is not known yet.
    submitted: VecDeque<u64>,
    /// Packet id to spool index.
    sent: HashMap<u16, u64>,
}

impl InFlight {
    pub fn len(&self) -> usize {
        self.submitted.len() + self.sent.len()
    }

    pub fn has_room(&self) -> bool {
        self.len() < WINDOW
    }

    /// The record at `index` was handed to the client.
    pub fn submit(&mut self, index: u64) {
        self.submitted.push_back(index);
    }

    /// The client wrote the oldest submitted record as packet `pkid`. At QoS 0
    /// nothing will acknowledge it: its index is returned, done.
    pub fn written(&mut self, pkid: u16, qos: QoS) -> Option<u64> {
        let index = self.submitted.pop_front()?;
        if qos == QoS::AtMostOnce {
            return Some(index);
        }
        self.sent.insert(pkid, index);
        None
    }

    /// The broker acknowledged packet `pkid` (PUBACK at QoS 1, PUBREC at QoS 2):
    /// the index of its record, if it was ours.
    pub fn acknowledged(&mut self, pkid: u16) -> Option<u64> {
        self.sent.remove(&pkid)
    }
}

/// Shared between the streaming thread and the sender thread.
pub struct Shared {
    pub spool: Spool,
    pub stop: bool,
    /// Set by `unlock()`: a flushing seek or a state change interrupts the EOS wait.
    pub flushing: bool,
    pub connection: Connection,
    pub published: u64,
    pub rejected: u64,
}

pub struct Link {
    shared: Mutex<Shared>,
    /// Signalled when the spool gets a record or empties, and on stop.
    pub cond: Condvar,
}

impl Link {
    pub fn new(spool: Spool) -> Self {
        Self {
            shared: Mutex::new(Shared {
                spool,
                stop: false,
                flushing: false,
                connection: Connection::Connecting,
                published: 0,
                rejected: 0,
            }),
            cond: Condvar::new(),
        }
    }

    /// The shared state; a panic elsewhere while holding it leaves it usable.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends [`run`] (after at most `connect-timeout` when it is connecting).
    pub fn stop(&self) {
        self.lock().stop = true;
        self.cond.notify_all();
    }
}

/// What the session tells the element.
#[derive(Debug)]
pub enum Note<'a> {
    /// The connection state, when [`Reporter`] says to post it.
    Connection { state: &'a Connection, warn: bool },
    /// Connected: `waiting` records held from before go out first (again,
    /// for those published on a connection that was lost).
    Backlog { waiting: usize },
    /// The next attempt comes after `delay`.
    Retrying { delay: Duration },
    /// The record at `index` was handed to the client for `topic`.
    Published { index: u64, topic: &'a str },
    /// The broker acknowledged the record at `index`.
    Acknowledged { index: u64 },
}

/// Receives the session's [`Note`]s, on the sender thread.
pub trait Observer {
    fn note(&self, note: Note<'_>);
}

/// The sender thread: one connection after the other until stopped, waiting
/// the backoff between them.
pub fn run(link: &Link, mut config: Config, observer: &dyn Observer) {
    let mut reporter = Reporter::default();
    set_state(link, &mut reporter, observer, Connection::Connecting);
    loop {
        match connection(link, &mut config, &mut reporter, observer) {
            Ok(()) => break,
            Err(failed) => set_state(link, &mut reporter, observer, failed),
        }
        let delay = config.backoff.next_delay();
        observer.note(Note::Retrying { delay });
        let shared = link.lock();
        if shared.stop {
            break;
        }
        let shared = link.cond.wait_timeout_while(shared, delay, |s| !s.stop).unwrap_or_else(PoisonError::into_inner).0;
        if shared.stop {
            break;
        }
    }
}

fn set_state(link: &Link, reporter: &mut Reporter, observer: &dyn Observer, state: Connection) {
    link.lock().connection = state.clone();
    let report = reporter.report(&state);
    if report.post {
        observer.note(Note::Connection { state: &state, warn: report.warn });
    }
}

fn failed(reason: Reason, error: impl Into<String>) -> Connection {
    Connection::Failed { reason, error: error.into() }
}

/// One connection: publishes spooled records in order, at most [`WINDOW`]
/// unacknowledged, and forgets each when the broker acknowledges it. Returns
/// `Ok` when stopped, the failed state when the connection could not be made
/// or was lost (the records in flight stay in the spool and go out again on
/// the next connection).
fn connection(
    link: &Link,
    config: &mut Config,
    reporter: &mut Reporter,
    observer: &dyn Observer,
) -> Result<(), Connection> {
    let (client, mut conn) = Client::new(config.options.clone(), WINDOW + 8);
    let mut net = conn.eventloop.network_options();
    net.set_tcp_nodelay(true);
    net.set_connection_timeout(whole_seconds(config.connect_timeout));
    conn.eventloop.set_network_options(net);
    let deadline = Instant::now() + config.connect_timeout;
    let mut connected = false;
    let mut cursor = 0u64;
    let mut flight = InFlight::default();
    loop {
        if link.lock().stop {
            let _ = client.try_disconnect();
            let _ = conn.recv_timeout(Duration::from_millis(100));
            return Ok(());
        }
        let wait = if connected {
            submit(link, config, &client, &mut cursor, &mut flight, observer)?;
            POLL
        } else {
            // One wait up to the deadline: a shorter one would cancel the handshake.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let ms = config.connect_timeout.as_millis();
                return Err(failed(Reason::Timeout, format!("no CONNACK within connect-timeout ({ms} ms)")));
            }
            left
        };
        match conn.recv_timeout(wait) {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
                connected = true;
                config.backoff.reset();
                let waiting = {
                    let shared = link.lock();
                    cursor = shared.spool.first_index();
                    shared.spool.len()
                };
                set_state(link, reporter, observer, Connection::Connected);
                if waiting > 0 {
                    observer.note(Note::Backlog { waiting });
                }
            }
            Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                if let Some(index) = flight.written(pkid, config.qos) {
                    acknowledge(link, index, observer)?;
                }
            }
            Ok(Ok(Event::Incoming(Incoming::PubAck(ack)))) if config.qos == QoS::AtLeastOnce => {
                if let Some(index) = flight.acknowledged(ack.pkid) {
                    acknowledge(link, index, observer)?;
                }
            }
            Ok(Ok(Event::Incoming(Incoming::PubRec(rec)))) if config.qos == QoS::ExactlyOnce => {
                if let Some(index) = flight.acknowledged(rec.pkid) {
                    acknowledge(link, index, observer)?;
                }
            }
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => return Err(failed(Reason::of(&e, connected), e.to_string())),
            Err(RecvTimeoutError::Disconnected) => return Err(failed(Reason::Local, "the MQTT client closed")),
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
    observer: &dyn Observer,
) -> Result<(), Connection> {
    let shared = link.lock();
    *cursor = (*cursor).max(shared.spool.first_index());
    while flight.has_room() && *cursor < shared.spool.end_index() {
        if let Some(line) = shared.spool.get(*cursor) {
            let topic = spool::topic(&config.topic, &config.screen, &records::line_type(line));
            client
                .try_publish(topic.as_str(), config.qos, false, line.as_bytes().to_vec())
                .map_err(|e| failed(Reason::Local, e.to_string()))?;
            flight.submit(*cursor);
            observer.note(Note::Published { index: *cursor, topic: &topic });
        }
        *cursor += 1;
    }
    Ok(())
}

fn acknowledge(link: &Link, index: u64, observer: &dyn Observer) -> Result<(), Connection> {
    let mut shared = link.lock();
    shared.spool.ack(index).map_err(|e| failed(Reason::Local, format!("spool file: {e}")))?;
    shared.published += 1;
    let empty = shared.spool.is_empty();
    drop(shared);
    observer.note(Note::Acknowledged { index });
    if empty {
        link.cond.notify_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_ids_are_escaped_like_topics() {
        assert_eq!(screen_id("lobby-1"), "lobby-1");
        assert_eq!(screen_id("a/b+c#d"), "a_b_c_d");
        assert_eq!(screen_id(" kiosk\n"), "kiosk");
        assert_eq!(screen_id(""), "screen");
        // What a record says is what its topic says.
        let id = screen_id("hall/2");
        assert_eq!(spool::topic("x/{screen}", &id, "frame"), spool::topic("x/{screen}", "hall/2", "frame"));
    }

    #[test]
    fn keep_alive_is_whole_seconds() {
        assert_eq!(keep_alive(0), Ok(Duration::ZERO));
        assert!(keep_alive(1).is_err());
        assert!(keep_alive(999).is_err());
        assert_eq!(keep_alive(1000), Ok(Duration::from_secs(1)));
        assert_eq!(keep_alive(30_500), Ok(Duration::from_secs(30)));
        assert_eq!(keep_alive(u32::MAX), Ok(Duration::from_secs(4_294_967)));
    }

    #[test]
    fn rumqttc_gets_the_connect_timeout_rounded_up() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(5000)), 5);
    }

    #[test]
    fn errors_are_classified() {
        use std::io::{Error, ErrorKind};
        let refused = |code| ConnectionError::ConnectionRefused(code);
        assert_eq!(Reason::of(&refused(ConnectReturnCode::NotAuthorized), false), Reason::NotAuthorized);
        assert_eq!(Reason::of(&refused(ConnectReturnCode::BadUserNamePassword), false), Reason::BadCredentials);
        assert_eq!(Reason::of(&refused(ConnectReturnCode::BadClientId), false), Reason::Refused);
        let tls = ConnectionError::Tls(rumqttc::TlsError::NoValidCertInChain);
        assert_eq!(Reason::of(&tls, false), Reason::Tls);
        let io = |kind| ConnectionError::Io(Error::from(kind));
        assert_eq!(Reason::of(&io(ErrorKind::ConnectionRefused), false), Reason::Unreachable);
        assert_eq!(Reason::of(&io(ErrorKind::Other), false), Reason::Unreachable);
        assert_eq!(Reason::of(&io(ErrorKind::ConnectionReset), false), Reason::Refused);
        assert_eq!(Reason::of(&ConnectionError::NetworkTimeout, false), Reason::Timeout);
        // Once connected, whatever ends it is a lost connection.
        assert_eq!(Reason::of(&io(ErrorKind::ConnectionReset), true), Reason::Lost);
        assert_eq!(Reason::of(&refused(ConnectReturnCode::NotAuthorized), true), Reason::Lost);
        let names: Vec<_> = [Reason::NotAuthorized, Reason::BadCredentials, Reason::Tls, Reason::Unreachable]
            .map(Reason::as_str)
            .into();
        assert_eq!(names, ["not-authorized", "bad-credentials", "tls", "unreachable"]);
    }

    fn fail(reason: Reason) -> Connection {
        failed(reason, "x")
    }

    fn report(r: &mut Reporter, s: Connection) -> (bool, bool) {
        let Report { post, warn } = r.report(&s);
        (post, warn)
    }

    #[test]
    fn the_state_at_start_and_every_change_are_posted_once() {
        let mut r = Reporter::default();
        // Posted at start, though "not connected" is no change.
        assert_eq!(report(&mut r, Connection::Connecting), (true, false));
        // A refused login: posted and warned at once, not again at every retry.
        assert_eq!(report(&mut r, fail(Reason::NotAuthorized)), (true, true));
        assert_eq!(report(&mut r, fail(Reason::NotAuthorized)), (false, false));
        assert_eq!(report(&mut r, Connection::Connected), (true, false));
        // A broker outage: one warning (lost), the retries that follow are posted as they change.
        assert_eq!(report(&mut r, fail(Reason::Lost)), (true, true));
        assert_eq!(report(&mut r, fail(Reason::Unreachable)), (true, false));
        assert_eq!(report(&mut r, fail(Reason::Unreachable)), (false, false));
        assert_eq!(report(&mut r, fail(Reason::Timeout)), (true, false));
        // ... until it needs someone to change the settings: warned again.
        assert_eq!(report(&mut r, fail(Reason::BadCredentials)), (true, true));
        assert_eq!(report(&mut r, fail(Reason::Unreachable)), (true, false));
        assert_eq!(report(&mut r, Connection::Connected), (true, false));
        assert_eq!(report(&mut r, Connection::Connected), (false, false));
        // The first failure after a connection warns again.
        assert_eq!(report(&mut r, fail(Reason::Unreachable)), (true, true));
    }

    #[test]
    fn the_window_maps_packet_ids_back_to_records() {
        let mut f = InFlight::default();
        for i in 10..10 + WINDOW as u64 {
            assert!(f.has_room());
            f.submit(i);
        }
        assert!(!f.has_room());
        // rumqttc writes them in order; packet ids are its own.
        assert_eq!(f.written(7, QoS::AtLeastOnce), None);
        assert_eq!(f.written(8, QoS::AtLeastOnce), None);
        assert_eq!(f.len(), WINDOW);
        // Acknowledged out of order, each to its record, once.
        assert_eq!(f.acknowledged(8), Some(11));
        assert_eq!(f.acknowledged(8), None);
        assert_eq!(f.acknowledged(7), Some(10));
        assert_eq!(f.acknowledged(99), None, "not ours");
        assert_eq!(f.len(), WINDOW - 2);
        assert!(f.has_room());
        // QoS 0: written is done.
        assert_eq!(f.written(0, QoS::AtMostOnce), Some(12));
        let mut empty = InFlight::default();
        assert_eq!(empty.written(1, QoS::AtLeastOnce), None);
    }
}
