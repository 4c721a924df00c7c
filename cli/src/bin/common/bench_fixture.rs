//! Where `blickfang-bench` keeps the 1080p clip it makes from the shared
//! photo, so that the other benchmarks find the same file. Included by the
//! bench binaries with `#[path]`; not part of the plugin library.

use std::path::PathBuf;

/// Bump when the fixture's recipe changes, so a stale clip is not reused.
pub const FIXTURE_NAME: &str = "t1-panzoom-1080p30-h264-v1.mp4";

/// `$CARGO_TARGET_DIR`, else the `<target>` the running binary lives in
/// (`<target>/<profile>/`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The folder of generated benchmark inputs (never in the repository).
pub fn fixture_dir() -> PathBuf {
    target_dir().join("bench-fixtures")
}

/// The 1080p30 clip with six faces, once `blickfang-bench` has made it.
pub fn clip_path() -> PathBuf {
    fixture_dir().join(FIXTURE_NAME)
}
