//! The collector's counters: in the log (progress on stderr) and as a
//! Prometheus text endpoint (`--metrics 127.0.0.1:PORT`, a tiny std server).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::db::Outcome;
use crate::ingest::Reason;

#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages received from the broker.
    pub received: AtomicU64,
    /// Records stored (person events and content periods inserted).
    pub stored: AtomicU64,
    /// Records already stored (redelivered or published twice).
    pub duplicates: AtomicU64,
    /// Person events acknowledged and not stored (appeared, looking-*).
    pub ignored: AtomicU64,
    /// Records of a newer schema, kept in `parked`.
    pub parked: AtomicU64,
    pub rejected: [AtomicU64; Reason::ALL.len()],
    /// Batches committed, and their write time (µs), total and last.
    pub batches: AtomicU64,
    pub batch_us_total: AtomicU64,
    pub batch_us_last: AtomicU64,
    /// Failed database attempts (the batch is retried, nothing acknowledged).
    pub db_errors: AtomicU64,
    /// Wall clock (µs) of the newest committed record.
    pub newest_us: AtomicI64,
}

impl Metrics {
    pub fn record(&self, o: &Outcome, batch_us: u64) {
        self.stored.fetch_add(o.stored, Relaxed);
        self.duplicates.fetch_add(o.duplicates, Relaxed);
        self.ignored.fetch_add(o.ignored, Relaxed);
        self.parked.fetch_add(o.parked, Relaxed);
        for (r, n) in &o.rejected {
            self.rejected[r.index()].fetch_add(*n, Relaxed);
        }
        self.batches.fetch_add(1, Relaxed);
        self.batch_us_total.fetch_add(batch_us, Relaxed);
        self.batch_us_last.store(batch_us, Relaxed);
        if let Some(n) = o.newest_us {
            self.newest_us.fetch_max(n, Relaxed);
        }
    }

    pub fn rejected(&self, r: Reason) -> u64 {
        self.rejected[r.index()].load(Relaxed)
    }

    pub fn rejected_total(&self) -> u64 {
        Reason::ALL.iter().map(|r| self.rejected(*r)).sum()
    }

    /// The Prometheus text exposition.
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            s.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
        };
        counter("blickfang_collect_received_total", "Messages received from the broker.", self.received.load(Relaxed));
        counter("blickfang_collect_stored_total", "Records stored.", self.stored.load(Relaxed));
        counter("blickfang_collect_duplicates_total", "Records already stored.", self.duplicates.load(Relaxed));
        counter("blickfang_collect_ignored_total", "Person events not stored.", self.ignored.load(Relaxed));
        counter("blickfang_collect_parked_total", "Records of a newer schema, parked.", self.parked.load(Relaxed));
        counter("blickfang_collect_batches_total", "Batches committed.", self.batches.load(Relaxed));
        counter("blickfang_collect_db_errors_total", "Failed database attempts.", self.db_errors.load(Relaxed));
        counter(
            "blickfang_collect_batch_seconds_total",
            "Time spent writing batches.",
            self.batch_us_total.load(Relaxed) / 1_000_000,
        );
        s.push_str("# HELP blickfang_collect_rejected_total Messages rejected, by reason.\n");
        s.push_str("# TYPE blickfang_collect_rejected_total counter\n");
        for r in Reason::ALL {
            s.push_str(&format!(
                "blickfang_collect_rejected_total{{reason=\"{}\"}} {}\n",
                r.as_str(),
                self.rejected(r)
            ));
        }
        s.push_str("# HELP blickfang_collect_batch_last_seconds Write time of the last batch.\n");
        s.push_str("# TYPE blickfang_collect_batch_last_seconds gauge\n");
        s.push_str(&format!(
            "blickfang_collect_batch_last_seconds {}\n",
            self.batch_us_last.load(Relaxed) as f64 / 1e6
        ));
        s
    }

    /// One progress line (stderr).
    pub fn progress(&self, per_second: f64, now_us: i64) -> String {
        let newest = self.newest_us.load(Relaxed);
        let lag = if newest > 0 { format!("{:.1} s", (now_us - newest) as f64 / 1e6) } else { "-".into() };
        let rejected: Vec<String> = Reason::ALL
            .iter()
            .filter(|r| self.rejected(**r) > 0)
            .map(|r| format!("{}={}", r.as_str(), self.rejected(*r)))
            .collect();
        format!(
            "collect: {:.0} records/s, received {}, stored {}, duplicates {}, ignored {}, parked {}, rejected {} [{}], lag {lag}",
            per_second,
            self.received.load(Relaxed),
            self.stored.load(Relaxed),
            self.duplicates.load(Relaxed),
            self.ignored.load(Relaxed),
            self.parked.load(Relaxed),
            self.rejected_total(),
            rejected.join(" ")
        )
    }
}

/// Serves `metrics` as Prometheus text on `addr` from a thread of its own.
/// Returns the bound address (port 0 picks one).
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let body = metrics.prometheus();
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    })?;
    Ok(local)
}
