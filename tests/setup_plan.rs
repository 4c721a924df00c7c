//! `make run` installs what running needs and nothing more: OpenCV's GStreamer
//! plugin (which also registers an element named `facedetect`) and deface are
//! test peers, installed by `make test` (`scripts/setup.sh --test`) only.

use std::process::Command;

/// What `scripts/setup.sh [mode]` would install, without installing it.
fn plan(mode: &[&str]) -> Vec<String> {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/setup.sh"))
        .args(mode)
        .env("BLICKFANG_SETUP_PLAN", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect()
}

#[test]
fn make_run_installs_no_test_peer_and_make_test_installs_them_all() {
    let run = plan(&[]);
    let test = plan(&["--test"]);
    let peers = ["gstreamer1.0-opencv", "opencv-data", "pip:deface==1.5.0", "mosquitto", "strace", "chromium"];
    for peer in peers {
        assert!(!run.iter().any(|p| p == peer), "make run would install {peer}: {run:?}");
        assert!(test.iter().any(|p| p == peer), "make test would not install {peer}: {test:?}");
    }
    assert!(run.iter().all(|p| test.contains(p)), "the test set includes the running set");
    assert!(plan(&["--bench"]).iter().any(|p| p.starts_with("pip:opencv-python-headless")));
}

/// Nor does anything the running set pulls in bring OpenCV (Debian's dependency closure).
#[test]
fn nothing_make_run_installs_depends_on_opencv() {
    let run = plan(&[]);
    let out = Command::new("apt-cache")
        .args(["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks"])
        .args(["--no-replaces", "--no-enhances"])
        .args(run.iter().filter(|p| !p.contains(':')))
        .output()
        .expect("apt-cache");
    let closure = String::from_utf8_lossy(&out.stdout);
    let packages: Vec<&str> = closure.lines().filter(|l| !l.starts_with(' ')).collect();
    assert!(packages.len() > run.len(), "apt-cache resolved the dependencies ({} packages)", packages.len());
    let opencv: Vec<&&str> = packages.iter().filter(|p| p.contains("opencv")).collect();
    assert!(opencv.is_empty(), "make run would pull in {opencv:?}");
}
