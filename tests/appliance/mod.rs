//! Helpers of tests/edge.rs: the test RTSP server (a looping clip), an MQTT
//! subscriber and the `blickfang edge` process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("blickfang-edge-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A python3 with PyGObject and GstRtspServer; a missing one fails under CI=true.
pub fn python() -> Option<String> {
    let probe = "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); \
                 from gi.repository import Gst, GstRtspServer";
    let candidates = match std::env::var("BLICKFANG_PYTHON") {
        Ok(p) => vec![p],
        Err(_) => vec!["python3".to_string(), "/usr/bin/python3".to_string()],
    };
    let found = candidates
        .iter()
        .find(|py| Command::new(py).args(["-c", probe]).output().is_ok_and(|o| o.status.success()))
        .cloned();
    if found.is_none() {
        let msg = format!(
            "no python3 with PyGObject and GstRtspServer among {candidates:?} (apt python3-gi \
             gir1.2-gst-rtsp-server-1.0; scripts/setup.sh --test)"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg} (CI=true: not skipped)");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// tests/appliance/rtsp_server.py serving `clip` in a loop at rtsp://127.0.0.1:<port>/cam.
pub struct RtspServer {
    pub port: u16,
    python: String,
    clip: PathBuf,
    child: Option<Child>,
}

impl RtspServer {
    pub fn start(python: &str, clip: &Path) -> Self {
        let mut s = Self { port: crate::mosquitto::free_port(), python: python.into(), clip: clip.into(), child: None };
        s.restart();
        s
    }

    pub fn uri(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/appliance/rtsp_server.py");
        let mut child = Command::new(&self.python)
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.clip)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the RTSP server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the RTSP server did not start");
        self.child = Some(child);
    }

    /// Gone, as a camera unplugged or a network camera switched off.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
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
    pub fn start(port: u16, filter: &str, credentials: Option<(&str, &str)>) -> Self {
        // A persistent session: the subscription outlives a broker restart.
        let mut options = MqttOptions::new(format!("edge-test-{}-{port}", std::process::id()), "127.0.0.1", port);
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

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `blickfang edge --config <config>`, stderr into a file read by `log()`.
pub struct Edge {
    pub child: Child,
    log: PathBuf,
}

impl Edge {
    pub fn start(dir: &Path, config: &Path, wrapper: &[String]) -> Self {
        let log = dir.join("edge.log");
        let stderr = std::fs::File::create(&log).unwrap();
        let bin = crate::common::blickfang_binary_path();
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .arg("edge")
            .arg("--config")
            .arg(config)
            .env("GST_PLUGIN_PATH", crate::common::plugin_dir())
            .env("GST_REGISTRY", dir.join("registry.bin"))
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("blickfang edge starts");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_log(&self, timeout: Duration, needle: &str) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(Instant::now() < deadline, "edge never said {needle:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status once it ends by itself (at most `timeout`).
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "edge did not end within {timeout:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then the exit status (at most `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "edge did not stop within {timeout:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
