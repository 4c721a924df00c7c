//! Accuracy measurement against third-party ground truth.

pub mod headpose;
pub mod wider;

use std::path::PathBuf;

/// The shared folder of dev data and models the evaluations, benchmarks and
/// tests read: `$BLICKFANG_SHARED_DIR`, default `../shared` beside this
/// checkout.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("BLICKFANG_SHARED_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}
