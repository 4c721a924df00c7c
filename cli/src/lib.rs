//! Code the `blickfang-cli` binaries share (not an API: the binaries are the
//! product of this crate).

pub mod bench;
pub mod edge;
pub mod models;
pub mod notice;
