//! Helpers of tests/edge.rs: the test RTSP server (a looping clip) and the
//! `blickfang edge` process (the MQTT subscriber is tests/mosquitto's).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
