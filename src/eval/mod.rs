//! Accuracy measurement against third-party ground truth.

pub mod headpose;
pub mod wider;
