//! `gazedwell` (also `blickfang-gazedwell`): head pose per face, whether each
//! person looks at the screen, dwell and attention time per person, and
//! audience reports per content item.
//!
//! Per face ROI it adds a `head-pose` structure (`yaw`, `pitch`, `roll`
//! degrees, `source` "fsanet" or "landmarks"; with `headpose-interval` > 1 also
//! `frames-since-estimate`, 0 on the frame the pose was estimated) and an `attention` structure
//! (`looking`, `dwell-time`, `attention-time` seconds, `glances`).
//!
//! At EOS it posts `blickfang-gazedwell-stats` on the bus (`frames`, `faces-estimated`,
//! `model-runs`, `headpose-interval`, `live`, `frames-dropped`).
//!
//! With a live source FSA-Net runs on a worker thread: each frame carries its
//! tracks' latest estimates (a frame or two old, `frames-since-estimate` says
//! how old), so the video never waits on head pose; a frame the worker has not
//! taken when the next comes is dropped (`frames-dropped`). Non-live sources
//! (files, the tests, `blickfang analyze`) estimate on the streaming thread:
//! the same numbers on every run.
//!
//! On the bus, and as custom downstream events for metadata sinks, it posts
//! `blickfang-person-event` (`event`: appeared, looking-started,
//! looking-stopped, left; `id` (the track id), `running-time`, `dwell-time`,
//! `attention-time`, `glances`, `gender`, `age-group`, and `utc` for live
//! sources; a `left` event also carries `contents`, the person's dwell and
//! attention time per content period, and `ending`: normal, eos or flush)
//! and, when the content changes, at EOS and at a flushing seek,
//! `blickfang-content-report` (`content-id`, `start`, `end`, `ending`, `ots`,
//! `watchers`, `conversion`, `attention-time-total`, `attention-time-mean`,
//! `dwell-time-total`, `dwell-histogram`, `attention-histogram`,
//! `demographics` (array of `cell` structures: `gender`, `age-group`, `ots`),
//! `min-group-size`; suppressed counts are absent and listed in `suppressed`,
//! suppressed histogram cells are -1).
//!
//! The player says what is on screen with the `content-id` property or, from
//! anywhere upstream, a custom downstream event `blickfang-content` with a
//! `content-id` string field.
//!
//! ```text
//! gst-launch-1.0 -m v4l2src ! videoconvert ! blickfang-facedetect ! \
//!     blickfang-gazedwell content-id=spring-sale ! fakesink
//! ```

use gst::glib;
use gst::prelude::*;

mod imp;
mod live;

pub(crate) use imp::frame_count_time;

glib::wrapper! {
    pub struct GazeDwell(ObjectSubclass<imp::GazeDwell>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: Option<&gst::Plugin>) -> Result<(), glib::BoolError> {
    crate::register_element(plugin, "gazedwell", GazeDwell::static_type())
}

/// The custom event a player sends downstream to say what is on screen.
pub fn content_event(content_id: &str) -> gst::Event {
    gst::event::CustomDownstream::new(
        gst::Structure::builder(crate::meta::CONTENT_EVENT).field("content-id", content_id).build(),
    )
}
