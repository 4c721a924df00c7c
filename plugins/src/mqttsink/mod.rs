//! `blickfang-mqttsink`: publishes JSON records (one per line, as `metajson`
//! writes them) to an MQTT broker, at QoS 1 by default, without silent loss.
//!
//! Registered only under the prefixed name: gst-plugins-bad has an `mqttsink`.
//!
//! - Each record goes to `topic` with `{screen}` (`screen-id`, default
//!   [`default_screen_id`]) and `{type}` (the record's `type`) filled in.
//! - Records wait in a bounded spool (`spool-size` records, optionally also
//!   in `spool-file`, metadata lines only) until the broker acknowledges them,
//!   so a broker that is away gets them, in order, when it is back; the sink
//!   reconnects with exponential backoff (`reconnect-min` .. `reconnect-max`).
//! - A full spool drops *new* records; the loss is posted on the bus
//!   (element message [`DROPPED_MESSAGE`]) and the next record that gets in
//!   carries `"dropped": n`.
//! - At EOS the sink waits up to `drain-timeout` for the spool to empty.
//! - Every time property is in milliseconds (`keep-alive`, `connect-timeout`,
//!   `drain-timeout`, `reconnect-min`, `reconnect-max`), as gst-plugins-rs'
//!   network sinks count their timeouts (s3sink's `request-timeout`) and as
//!   the reconnect delays need (100 ms steps).
//! - The connection state is posted at start and on every change
//!   ([`CONNECTION_MESSAGE`]); a failure (refused credentials, TLS, no route)
//!   also comes as an element warning with the broker's reason, and the sink
//!   keeps spooling and retrying; with `on-connect-failure=error` it is an
//!   element error instead, posted with the next record (a flow error, which
//!   stops the pipeline).
//! - A line that is not a JSON object, or holds something that could be pixels
//!   (a string over 256 characters, an array over 32 numbers), is refused.
//!
//! ```text
//! gst-launch-1.0 v4l2src ! videoconvert ! blickfang-facedetect ! blickfang-metajson ! \
//!     blickfang-mqttsink host=broker.local screen-id=lobby-1 topic='signage/{screen}/{type}'
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
mod session;

/// Element message posted when records were dropped because the spool was
/// full: `dropped` (this episode), `total-dropped`, `queued`, `ended` (a
/// record got in again).
pub const DROPPED_MESSAGE: &str = "blickfang-mqtt-dropped";
/// Element message posted with the connection state at start and whenever it
/// changes: `connected` (bool), `broker` (`host:port`), and when not connected
/// after an attempt `reason` (`not-authorized`, `bad-credentials`, `refused`,
/// `tls`, `unreachable`, `timeout`, `lost`, `local`) and `error` (the client's
/// or broker's words).
pub const CONNECTION_MESSAGE: &str = "blickfang-mqtt-connection";
/// Element message posted at EOS: `drained` (bool), `queued` (records left).
pub const DRAIN_MESSAGE: &str = "blickfang-mqtt-drain";

/// The screen id records and topics use when `screen-id` is not set: the host
/// name (`g_get_host_name()`) with `/`, `+`, `#` and NUL replaced by `_`, so it
/// is one topic level and the same in a record as in its topic.
pub fn default_screen_id() -> String {
    session::screen_id(&glib::host_name())
}

/// What a failed connection attempt does (`on-connect-failure`). Either way
/// the connection message is posted and the records stay in the spool.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "BlickfangMqttConnectFailure")]
pub enum ConnectFailure {
    /// The default, which the edge service relies on: nothing is lost while the spool lasts.
    #[default]
    #[enum_value(name = "Post a warning with the broker's reason, keep spooling and retrying", nick = "warn")]
    Warn = 0,
    #[enum_value(
        name = "Post an element error with the broker's reason with the next record (stops the pipeline), \
                unless the connection was lost after it had been made",
        nick = "error"
    )]
    Error = 1,
}

glib::wrapper! {
    pub struct MqttSink(ObjectSubclass<imp::MqttSink>) @extends gst_base::BaseSink, gst::Element, gst::Object;
}

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    gst::Element::register(plugin, "blickfang-mqttsink", gst::Rank::NONE, MqttSink::static_type())
}
