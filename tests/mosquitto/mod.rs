//! A real `mosquitto` broker on 127.0.0.1 for the tests (and the metadata
//! benchmark): a generated config on a free port, persistence in a private
//! folder (so queued messages survive a stop and restart, as in production),
//! stopped with SIGTERM as a service manager would. A missing binary fails:
//! `scripts/setup.sh --test` (`make test`) installs it. Also the tests'
//! subscriber, which records what the broker delivers.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;

pub struct Mosquitto {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

fn binary() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed (apt package `mosquitto`; `make test` installs it)");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Mosquitto {
    /// Starts a broker; `extra` goes into its config (listeners, auth).
    pub fn start_with(extra: &str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("blickfang-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            "listener {port} 127.0.0.1\n\
             {anonymous}\
             user root\n\
             persistence true\n\
             persistence_location {dir}/\n\
             persistence_file mosquitto.db\n\
             max_queued_messages 0\n\
             max_inflight_messages 100\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             {extra}\n",
            dir = dir.display(),
            anonymous = if extra.contains("allow_anonymous") { "" } else { "allow_anonymous true\n" },
        );
        std::fs::write(dir.join("mosquitto.conf"), config).unwrap();
        let mut m = Self { port, dir, child: None };
        m.restart();
        m
    }

    pub fn start() -> Self {
        Self::start_with("")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the broker (again) and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {}: {}", self.port, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit (mosquitto saves its sessions).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// SIGKILL, as a crash would: no save on the way out (what the broker
    /// acknowledged since its last autosave is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id while running (for a test that signals it itself).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One message as received: topic, payload (JSON when it is), arrival.
#[derive(Clone, Debug)]
pub struct Received {
    pub topic: String,
    pub json: Option<Value>,
    pub text: String,
    pub at: Instant,
}

pub struct Subscriber {
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub client: Client,
}

impl Subscriber {
    /// Subscribes to `filter` at QoS 1 with a persistent session (clean_session=false): the
    /// subscription outlives a broker restart, and what the broker queued while the
    /// subscriber was away arrives when it is back.
    pub fn start(port: u16, id: &str, filter: &str, credentials: Option<(&str, &str)>) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_max_packet_size(1 << 20, 1 << 20);
        if let Some((u, p)) = credentials {
            options.set_credentials(u, p);
        }
        let (client, mut conn) = Client::new(options, 64);
        client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (subscribed_tx, subscribed) = mpsc::channel();
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match conn.recv_timeout(Duration::from_millis(100)) {
                        Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => {
                            let _ = subscribed_tx.send(());
                        }
                        Ok(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                            let text = String::from_utf8_lossy(&p.payload).into_owned();
                            let json = serde_json::from_str(&text).ok();
                            received.lock().unwrap().push(Received {
                                topic: p.topic.clone(),
                                json,
                                text,
                                at: Instant::now(),
                            });
                        }
                        Ok(Ok(_)) | Err(_) => {}
                        // The broker is away: rumqttc reconnects on the next poll.
                        Ok(Err(_)) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })
        };
        subscribed.recv_timeout(Duration::from_secs(10)).expect("subscribed");
        Self { received, stop, thread: Some(thread), client }
    }

    pub fn records(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what arrived; fails after `timeout`, naming `what`.
    pub fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.records();
            if done(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what} ({} messages)", got.len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Subscriber {
    /// What arrived as (topic, JSON); every payload must be a JSON record.
    pub fn json_records(&self) -> Vec<(String, Value)> {
        self.records()
            .into_iter()
            .map(|r| {
                let v = r.json.unwrap_or_else(|| panic!("not a JSON record on {}: {}", r.topic, r.text));
                (r.topic, v)
            })
            .collect()
    }

    /// Waits until `done` holds for the JSON records, at most `timeout`, and returns them either
    /// way (the caller asserts on what arrived).
    pub fn wait_json(&self, timeout: Duration, done: impl Fn(&[(String, Value)]) -> bool) -> Vec<(String, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.json_records();
            if done(&got) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A CA (`ca.crt`) and a server certificate for 127.0.0.1 (`server.crt`, `server.key`) in
/// `dir`, made with openssl: for a TLS `listener` in [`Mosquitto::start_with`].
pub fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=blickfang test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}
