//! blickfang's core: everything that does not need GStreamer — frame
//! sampling, face detection decoding and NMS, tracking and evaluation.

pub mod demographics;
pub mod detect;
pub mod dwell;
pub mod eval;
pub mod frame;
pub mod geometry;
pub mod headpose;
pub mod looking;
pub mod records;
pub mod redact;
pub mod report;
pub mod runtime;
pub mod spool;
pub mod time;
pub mod tracker;
