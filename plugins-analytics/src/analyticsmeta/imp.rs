use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::glib::translate::IntoGlib;
use gst::subclass::prelude::*;
use gst_analytics::prelude::*;
use gst_analytics::{AnalyticsRelationMeta, RelTypes};
use gst_base::subclass::prelude::*;
use gstblickfang::meta;

use crate::tracks::{Tracks, gender_levels};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "blickfang-analyticsmeta",
        gst::DebugColorFlags::empty(),
        Some("blickfang faces as analytics relation meta"),
    )
});

#[derive(Default)]
pub struct AnalyticsMeta {
    tracks: Mutex<Tracks>,
}

#[glib::object_subclass]
impl ObjectSubclass for AnalyticsMeta {
    const NAME: &'static str = "BlickfangAnalyticsMeta";
    type Type = super::AnalyticsMeta;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for AnalyticsMeta {}

impl GstObjectImpl for AnalyticsMeta {}

impl ElementImpl for AnalyticsMeta {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "blickfang analytics meta",
                "Filter/Analyzer/Video",
                "Adds blickfang's faces, demographics and tracks to the GstAnalyticsRelationMeta \
                 (ODMtd, ClsMtd, TrackingMtd)",
                "blickfang",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Metadata only: any raw video, as upstream negotiated it.
            let caps = gst::Caps::builder("video/x-raw").build();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for AnalyticsMeta {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.tracks.lock().unwrap().clear();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            self.tracks.lock().unwrap().clear();
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buf: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let faces = meta::faces(buf);
        if faces.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let demographics = meta::face_demographics(buf);
        let now = buf.pts().unwrap_or(gst::ClockTime::ZERO);
        let mut tracks = self.tracks.lock().unwrap();
        tracks.forget_old(now.nseconds());
        // One relation meta per buffer: add to an upstream detector's, if any.
        let mut rmeta = match buf.meta_mut::<AnalyticsRelationMeta>() {
            Some(m) => m,
            None => AnalyticsRelationMeta::add(buf),
        };
        for (face, demo) in faces.iter().zip(demographics) {
            let first_seen = gst::ClockTime::from_nseconds(tracks.seen(face.id, now.nseconds()));
            if let Err(err) = add_face(&mut rmeta, face, demo.as_ref(), first_seen, now) {
                // The meta grows as needed; failing here means it is broken: say so, keep the stream.
                gst::warning!(CAT, imp = self, "face of track {} not added to the relation meta: {err}", face.id);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }
}

/// One face: its ODMtd, its TrackingMtd and its ClsMtds, and their relations
/// (DL Streamer's directions: classification IS_PART_OF detection, detection
/// RELATE_TO tracking; plus detection CONTAIN classification, the inverse, so
/// a reader at the face finds its classes with get_direct_related).
fn add_face(
    rmeta: &mut gst::MetaRefMut<'_, AnalyticsRelationMeta, gst::meta::Standalone>,
    face: &meta::FaceRoi,
    demo: Option<&meta::DemographicsRoi>,
    first_seen: gst::ClockTime,
    now: gst::ClockTime,
) -> Result<(), glib::BoolError> {
    let (x, y, w, h) = face.rect;
    let to_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let od = rmeta
        .add_od_mtd(
            glib::Quark::from_str(super::FACE_TYPE),
            to_i32(x),
            to_i32(y),
            to_i32(w),
            to_i32(h),
            face.confidence as f32,
        )?
        .id();
    let track = rmeta.add_tracking_mtd(u64::from(face.id), first_seen)?.id();
    // The safe wrapper (mtd_mut) would borrow the meta for the whole buffer: set last-seen directly.
    let mut mtd = gst_analytics::ffi::GstAnalyticsMtd { id: track, meta: rmeta.as_mut_ptr() };
    // SAFETY: `mtd` names the TrackingMtd just added to this meta, which `rmeta` holds mutably.
    let updated = unsafe {
        gst_analytics::ffi::gst_analytics_tracking_mtd_update_last_seen(&mut mtd as *mut _ as *mut _, now.into_glib())
    };
    if updated == glib::ffi::GFALSE {
        return Err(glib::bool_error!("could not set the last-seen time of track {}", face.id));
    }
    rmeta.set_relation(RelTypes::RELATE_TO, od, track)?;
    let Some(demo) = demo else { return Ok(()) };
    let mut classes = Vec::with_capacity(2);
    if let Some(levels) = gender_levels(&demo.gender, demo.gender_confidence) {
        let quarks = levels.map(|(label, _)| glib::Quark::from_str(label));
        classes.push(rmeta.add_cls_mtd(&levels.map(|(_, level)| level), &quarks)?.id());
    }
    if demo.age_group != "unknown" {
        // demographics gives no probability for the age group: level 1.
        classes.push(rmeta.add_one_cls_mtd(1.0, glib::Quark::from_str(&demo.age_group))?.id());
    }
    for cls in classes {
        rmeta.set_relation(RelTypes::IS_PART_OF, cls, od)?;
        rmeta.set_relation(RelTypes::CONTAIN, od, cls)?;
    }
    Ok(())
}
