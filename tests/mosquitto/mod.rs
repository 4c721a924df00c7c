//! A real `mosquitto` broker on 127.0.0.1 for the tests (and the metadata
//! benchmark): a generated config on a free port, persistence in a private
//! folder (so queued messages survive a stop and restart, as in production),
//! stopped with SIGTERM as a service manager would. A missing binary fails:
//! `scripts/setup.sh --test` (`make test`) installs it.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
