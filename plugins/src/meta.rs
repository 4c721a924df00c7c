//! The metadata contract between our elements and downstream consumers.
//!
//! - One `GstVideoRegionOfInterestMeta` per face: `roi_type` [`ROI_TYPE_FACE`],
//!   `id` = track id, with a [`DETECTION`] structure param:
//!   `confidence` (f64), `x`, `y`, `width`, `height` (f64, frame pixels),
//!   `landmarks` (array of 10 f64: x, y of right eye, left eye, nose tip,
//!   right and left mouth corner), `predicted` (bool: position carried by the
//!   tracker, on a frame the model did not run on or while the face is hidden
//!   (up to facedetect's `track-gap`): not a view of the face, so analysis
//!   skips it; redaction covers it).
//! - One `GstVideoRegionOfInterestMeta` per face candidate: `roi_type`
//!   [`ROI_TYPE_FACE_CANDIDATE`], `id` 0 (not tracked), the same [`DETECTION`]
//!   param (without `landmarks`). Candidates are what only privacy wants from
//!   the same model run: detections scoring between `facedetect`'s
//!   `redact-threshold` and `score-threshold`, faces smaller than
//!   `min-face-size`, and faces only the privacy pass at
//!   `redact-detection-size` found. `blurredact` redacts them; every analysis
//!   reader ([`faces`], [`face_boxes`], `demographics`, `gazedwell`,
//!   `metajson`) reads only [`ROI_TYPE_FACE`] and never sees them.
//! - One custom meta [`ANALYSIS_META`] on every frame `facedetect` analysed,
//!   even with no faces, whose structure [`ANALYSIS`] has `frame` (u64),
//!   `detector-ran` (bool), `faces` (u32), `model-family` (string). Elements
//!   that must not let unanalysed frames through (`blurredact`) look for it.
//! - `facedetect` asks downstream, with a custom query [`REDACTION_QUERY`],
//!   whether anything redacts its frames; `blurredact` answers it. Only then
//!   does the privacy pass at `redact-detection-size` run (an analysis-only
//!   pipeline does not pay for it).
//! - `demographics` adds a [`DEMOGRAPHICS`] structure param to each face ROI:
//!   `age` (f64, years; absent until a usable view of the track arrived),
//!   `age-group` (string, one of the element's `age-groups`, or `unknown`),
//!   `gender` (string `female`, `male` or `unknown`), `gender-confidence`
//!   (f64 0..1: calibrated probability of the likelier gender, 0 without a
//!   view), `samples` (u32: views fused for this track), `frozen` (bool: the
//!   estimate no longer changes). Read back with [`face_demographics`].
//! - `gazedwell` adds [`HEAD_POSE`] and [`ATTENTION`] params to each face ROI,
//!   and sends [`PERSON_EVENT`] and [`CONTENT_REPORT`] structures on the bus
//!   and downstream (as custom events, for `metajson`); a player says what is
//!   on screen with a [`CONTENT_EVENT`].
//!
//! Track ids: the ROI's `id` is a `gint`; blickfang's track ids
//! ([`TrackId`], u32) stay within 1..=`i32::MAX`, so the id is the same
//! number everywhere. An ROI whose id is negative (another vendor's
//! detector) is read as track 0.
//!
//! Times: `running-time` fields are the stream's running time in seconds;
//! `utc` fields are the pipeline clock mapped to the system's wall clock at
//! that running time ([`wall_clock_utc`]), formatted once
//! (`blickfang::time::utc_rfc3339`).

use gst::glib;
use gst::prelude::*;

pub use blickfang::tracker::TrackId;

pub const ROI_TYPE_FACE: &str = "face";
/// ROI type of what is redacted but not analysed (see the module doc).
pub const ROI_TYPE_FACE_CANDIDATE: &str = "face-candidate";
pub const DETECTION: &str = "detection";
pub const ANALYSIS_META: &str = "BlickfangAnalysisMeta";
pub const ANALYSIS: &str = "blickfang-analysis";
/// ROI param added by `gazedwell`: `yaw`, `pitch`, `roll` (degrees), `source`.
pub const HEAD_POSE: &str = "head-pose";
/// ROI param added by `gazedwell`: `looking`, `dwell-time`, `attention-time`, `glances`.
pub const ATTENTION: &str = "attention";
/// ROI param added by `demographics`.
pub const DEMOGRAPHICS: &str = "demographics";
/// Structure (bus message and custom downstream event) of something that
/// happened to one person: `event` (appeared, looking-started,
/// looking-stopped, left), `id` (track id), `running-time`, `dwell-time`,
/// `attention-time`, `glances`, `gender`, `age-group`, `utc` (live sources);
/// on `left` also `contents` (one `content-share` structure per content
/// period: `content-id`, `start`, `end`, `dwell-time`, `attention-time`) and
/// `ending` (normal, eos, flush).
pub const PERSON_EVENT: &str = "blickfang-person-event";
/// Structure of a content item's audience report (gazedwell), when the
/// content changes, at EOS and at a flush (`ending`).
pub const CONTENT_REPORT: &str = "blickfang-content-report";
/// Custom downstream event a player sends to say what is on screen (`content-id`).
pub const CONTENT_EVENT: &str = "blickfang-content";
/// One content period's share of a person's presence, inside [`PERSON_EVENT`]'s `contents`.
pub const CONTENT_SHARE: &str = "content-share";

/// The track id an ROI carries (see the module doc).
pub fn track_id(roi_id: i32) -> TrackId {
    TrackId::try_from(roi_id).unwrap_or(0)
}

/// The ROI's `gint` id of a track: the same number. The tracker keeps ids in
/// 1..=`MAX_TRACK_ID` (= `i32::MAX`), so every id fits unchanged; a larger
/// one would be a tracker bug, reported rather than truncated.
pub fn roi_id(id: TrackId) -> Result<i32, String> {
    i32::try_from(id)
        .map_err(|_| format!("track id {id} exceeds the ROI id range (at most {})", blickfang::tracker::MAX_TRACK_ID))
}

/// The wall-clock time (RFC 3339 UTC) at which the frame at `running_time`
/// was on the element's pipeline clock: now, minus how long ago the clock
/// passed that running time. Without a clock or running time: now.
pub fn wall_clock_utc(element: &gst::Element, running_time: Option<gst::ClockTime>) -> String {
    let now = glib::real_time() as i128 * 1000;
    let age = (|| {
        let clock = element.clock()?;
        let at = element.base_time()? + running_time?;
        Some(clock.time().nseconds() as i128 - at.nseconds() as i128)
    })()
    .unwrap_or(0);
    blickfang::time::utc_rfc3339(now - age)
}

/// Seconds of a clock time (the unit of every time field in our structures).
pub fn secs(t: gst::ClockTime) -> f64 {
    t.nseconds() as f64 / 1e9
}

/// Custom query `facedetect` sends downstream: does an element redact these frames?
pub const REDACTION_QUERY: &str = "blickfang-redaction";

/// Whether an element downstream of `pad` (a source pad) redacts the frames (answers [`REDACTION_QUERY`]).
pub fn redaction_downstream(pad: &gst::Pad) -> bool {
    let mut query = gst::query::Custom::new(gst::Structure::new_empty(REDACTION_QUERY));
    pad.peer_query(&mut query)
        && query.structure().is_some_and(|s| s.name() == REDACTION_QUERY && s.get::<bool>("redacts").unwrap_or(false))
}

/// Answers [`REDACTION_QUERY`] (for a redacting element); false for any other query.
pub fn answer_redaction_query(query: &mut gst::QueryRef) -> bool {
    let gst::QueryViewMut::Custom(custom) = query.view_mut() else {
        return false;
    };
    match custom.structure_mut() {
        s if s.name() == REDACTION_QUERY => {
            s.set("redacts", true);
            true
        }
        _ => false,
    }
}

/// Registers the custom analysis meta (idempotent).
pub fn register() {
    if !gst::meta::CustomMeta::is_registered(ANALYSIS_META) {
        // No tags: transforms that keep untagged metas (most do) carry the marker along.
        gst::meta::CustomMeta::register(ANALYSIS_META, &[]);
    }
}

/// The analysis marker of a buffer, if `facedetect` analysed it.
pub fn analysis(buffer: &gst::BufferRef) -> Option<gst::Structure> {
    gst::meta::CustomMeta::from_buffer(buffer, ANALYSIS_META).ok().map(|m| m.structure().to_owned())
}

/// Whether `facedetect` analysed this buffer (cheaper than [`analysis`]: nothing is copied).
pub fn is_analysed(buffer: &gst::BufferRef) -> bool {
    gst::meta::CustomMeta::from_buffer(buffer, ANALYSIS_META).is_ok()
}

/// Track id and sub-pixel box (x, y, width, height) of every face ROI, in
/// meta order, without reading the rest of the metadata.
pub fn face_boxes(buffer: &gst::BufferRef) -> impl Iterator<Item = (TrackId, [f64; 4])> + '_ {
    buffer.iter_meta::<gst_video::VideoRegionOfInterestMeta>().filter(|m| m.roi_type() == ROI_TYPE_FACE).map(|m| {
        let rect = m.rect();
        let mut bbox = [rect.0 as f64, rect.1 as f64, rect.2 as f64, rect.3 as f64];
        if let Some(s) = m.param(DETECTION) {
            for (v, key) in bbox.iter_mut().zip(["x", "y", "width", "height"]) {
                if let Ok(x) = s.get::<f64>(key) {
                    *v = x;
                }
            }
        }
        (track_id(m.id()), bbox)
    })
}

/// Sub-pixel box (x, y, width, height) and confidence of every face candidate ROI, in meta order.
pub fn candidate_boxes(buffer: &gst::BufferRef) -> impl Iterator<Item = ([f64; 4], f64)> + '_ {
    buffer.iter_meta::<gst_video::VideoRegionOfInterestMeta>().filter(|m| m.roi_type() == ROI_TYPE_FACE_CANDIDATE).map(
        |m| {
            let rect = m.rect();
            let mut bbox = [rect.0 as f64, rect.1 as f64, rect.2 as f64, rect.3 as f64];
            let mut confidence = 0.0;
            if let Some(s) = m.param(DETECTION) {
                for (v, key) in bbox.iter_mut().zip(["x", "y", "width", "height"]) {
                    if let Ok(x) = s.get::<f64>(key) {
                        *v = x;
                    }
                }
                confidence = s.get("confidence").unwrap_or(0.0);
            }
            (bbox, confidence)
        },
    )
}

/// One face as read back from a buffer's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRoi {
    pub id: TrackId,
    /// The integer ROI rectangle.
    pub rect: (u32, u32, u32, u32),
    pub confidence: f64,
    /// Sub-pixel box: x, y, width, height.
    pub bbox: [f64; 4],
    pub landmarks: [[f64; 2]; 5],
    pub predicted: bool,
}

/// Every face ROI on a buffer, in meta order.
pub fn faces(buffer: &gst::BufferRef) -> Vec<FaceRoi> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == ROI_TYPE_FACE)
        .map(|m| {
            let rect = m.rect();
            let mut face = FaceRoi {
                id: track_id(m.id()),
                rect,
                confidence: 0.0,
                bbox: [rect.0 as f64, rect.1 as f64, rect.2 as f64, rect.3 as f64],
                landmarks: [[0.0; 2]; 5],
                predicted: false,
            };
            if let Some(s) = m.param(DETECTION) {
                face.confidence = s.get("confidence").unwrap_or(0.0);
                for (v, key) in face.bbox.iter_mut().zip(["x", "y", "width", "height"]) {
                    if let Ok(x) = s.get::<f64>(key) {
                        *v = x;
                    }
                }
                if let Ok(arr) = s.get::<gst::Array>("landmarks") {
                    let v: Vec<f64> = arr.iter().filter_map(|x| x.get::<f64>().ok()).collect();
                    if v.len() == 10 {
                        face.landmarks = std::array::from_fn(|k| [v[2 * k], v[2 * k + 1]]);
                    }
                }
                face.predicted = s.get("predicted").unwrap_or(false);
            }
            face
        })
        .collect()
}

/// The `head-pose` param (yaw, pitch, roll) of the face ROI with track `id`.
pub fn head_pose(buffer: &gst::BufferRef, id: TrackId) -> Option<[f64; 3]> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == ROI_TYPE_FACE && track_id(m.id()) == id)
        .find_map(|m| {
            let s = m.param(HEAD_POSE)?;
            Some([s.get("yaw").ok()?, s.get("pitch").ok()?, s.get("roll").ok()?])
        })
}

/// A face's `demographics` param as read back from a buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct DemographicsRoi {
    pub age: Option<f64>,
    pub age_group: String,
    /// `female`, `male` or `unknown`.
    pub gender: String,
    pub gender_confidence: f64,
    pub samples: u32,
    pub frozen: bool,
}

impl DemographicsRoi {
    /// The labels a person is counted under, once the gender is known.
    pub fn profile(&self) -> Option<blickfang::dwell::Profile> {
        (self.gender != "unknown")
            .then(|| blickfang::dwell::Profile { gender: self.gender.clone(), age_group: self.age_group.clone() })
    }
}

/// The `demographics` param of every face ROI, in the order of [`faces`]
/// (`None` where `demographics` did not run).
pub fn face_demographics(buffer: &gst::BufferRef) -> Vec<Option<DemographicsRoi>> {
    buffer
        .iter_meta::<gst_video::VideoRegionOfInterestMeta>()
        .filter(|m| m.roi_type() == ROI_TYPE_FACE)
        .map(|m| {
            let s = m.param(DEMOGRAPHICS)?;
            Some(DemographicsRoi {
                age: s.get::<f64>("age").ok(),
                age_group: s.get::<String>("age-group").unwrap_or_else(|_| "unknown".into()),
                gender: s.get::<String>("gender").unwrap_or_else(|_| "unknown".into()),
                gender_confidence: s.get("gender-confidence").unwrap_or(0.0),
                samples: s.get("samples").unwrap_or(0),
                frozen: s.get("frozen").unwrap_or(false),
            })
        })
        .collect()
}
