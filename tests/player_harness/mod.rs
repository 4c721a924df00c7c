//! What the player tests share (tests/signage_player.rs, tests/c_example.rs):
//! a private folder, a python3 with PyGObject, and a player run headless with
//! only the built plugin file added to the system's plugins and a private
//! registry; its stdout read as JSON lines.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A private folder for a run's registry and files, removed afterwards.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("blickfang-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A python3 that has PyGObject with GStreamer: `$BLICKFANG_PYTHON`, else
/// `python3` on the PATH, else the system one (a pyenv or venv python3 on the
/// PATH usually lacks the Debian-packaged `gi`).
pub fn python_with_gi() -> Result<String, String> {
    let candidates: Vec<String> = match std::env::var("BLICKFANG_PYTHON") {
        Ok(p) => vec![p],
        Err(_) => vec!["python3".into(), "/usr/bin/python3".into()],
    };
    let probe = "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst";
    for py in &candidates {
        if Command::new(py).args(["-c", probe]).output().is_ok_and(|o| o.status.success()) {
            return Ok(py.clone());
        }
    }
    Err(format!(
        "no python3 with PyGObject and Gst 1.0 among {candidates:?} (install python3-gi gir1.2-gstreamer-1.0 \
         gir1.2-gst-plugins-base-1.0, or set BLICKFANG_PYTHON)"
    ))
}

/// The interpreter, or `None` when the test is to be skipped (never under CI=true).
pub fn python() -> Option<String> {
    match python_with_gi() {
        Ok(py) => Some(py),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{e} (CI=true: not skipped)"),
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// Runs `cmd` headless (no display) with the built plugin and a private registry in `tmp`.
pub fn run_headless(mut cmd: Command, tmp: &TempDir) -> Output {
    let what = format!("{:?}", cmd.get_program());
    let out = cmd
        .env("GST_PLUGIN_PATH", crate::common::plugin_dir())
        .env("GST_REGISTRY", tmp.0.join("registry.bin"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap_or_else(|e| panic!("{what} does not run: {e}"));
    eprintln!("--- {what} stderr ---\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `examples/signage_player.py` with `args`, headless.
pub fn run_player(py: &str, tmp: &TempDir, args: &[&str]) -> Output {
    let mut cmd = Command::new(py);
    cmd.arg(repo_root().join("examples/signage_player.py")).args(args);
    run_headless(cmd, tmp)
}

/// Every stdout line as JSON (a line that is not JSON fails, naming it).
pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}")))
        .collect()
}
