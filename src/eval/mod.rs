//! Accuracy measurement against third-party ground truth.

pub mod wider;
