//! What the benchmark binaries share: the generated input clip.

pub mod fixture;
