//! The fleet end of blickfang: every screen's records from an MQTT broker
//! into PostgreSQL (`blickfang collect`), and a fleet simulator
//! (`blickfang simulate`). GStreamer-free; not a dependency of the plugin.
//!
//! - [`ingest`]: one MQTT message into a typed record, or a rejection with a reason;
//! - [`rollup`]: the hourly rollup cell's arithmetic (collector and simulator truth alike);
//! - [`db`]: migrations and the batch write (idempotent on (screen, run, seq));
//! - [`pgtls`]: TLS to PostgreSQL (`sslmode` up to `verify-full`, a CA file), on rustls;
//! - [`collector`]: the MQTT 5 shared-subscription consumer, acks after commit;
//! - [`metrics`]: counters, Prometheus text, progress;
//! - [`simulate`]: virtual screens and the exact truth;
//! - [`bulk`]: a simulated fleet's rollup at scale (weeks, no records) and its bulk load;
//! - [`notice`]: the `[notice]` section (k, retention, what the privacy notice names), one parser for all.

pub mod bulk;
pub mod cli;
pub mod collector;
pub mod db;
pub mod ingest;
pub mod metrics;
pub mod notice;
pub mod pgtls;
pub mod rollup;
pub mod simulate;
