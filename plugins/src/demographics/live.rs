//! Live sources only: age/gender classification off the streaming thread, so
//! the video never waits on the model.
//!
//! The worker holds one pending frame at most: a newer frame replaces one it
//! has not taken (its views counted as dropped), so memory stays bounded
//! however far behind it falls. Each frame carries the latest estimate of its
//! tracks; a frame's own views are classified for a later frame.

use std::collections::HashMap;

use blickfang::demographics::{self as core, Estimator, FaceEstimate, FaceInput, ViewUse};
use blickfang::tracker::TrackId;

use crate::worker::Worker;

/// One frame's faces for the worker, with the frame (a new buffer sharing
/// the memory: later elements that write, as blurredact does, then write to
/// a copy, and the worker sees the frame as it came).
pub struct Job {
    pub frame: gst::Buffer,
    pub info: gst_video::VideoInfo,
    pub faces: Vec<FaceInput>,
}

/// What the worker did so far (the `blickfang-demographics-stats` counters).
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerStats {
    pub engine: core::Stats,
    /// Frames replaced before the worker took them, and their faces.
    pub frames_dropped: u64,
    pub views_dropped: u64,
}

#[derive(Default)]
struct Pending {
    /// The newest frame not yet taken: a newer one replaces it (its views dropped).
    job: Option<Job>,
    tuning: Option<core::EstimatorConfig>,
    reset: bool,
    /// The latest estimate of every track the engine knows.
    estimates: HashMap<TrackId, FaceEstimate>,
    stats: WorkerStats,
}

pub struct LiveClassifier {
    worker: Worker<Pending, Estimator>,
    /// The engine's crop scales (fixed at start; a tuning keeps them).
    pub crop_scales: Vec<f32>,
}

impl LiveClassifier {
    pub fn start(mut engine: Estimator) -> std::io::Result<Self> {
        let crop_scales = engine.config().crop_scales.clone();
        let worker = Worker::spawn("bf-demographics", Pending::default(), move |inbox| {
            crate::video::step_back_for_video(crate::video::WORKER_NICE);
            while let Some((job, tuning, reset)) = inbox.wait(
                |p| p.job.is_some() || p.reset || p.tuning.is_some(),
                |p| (p.job.take(), p.tuning.take(), std::mem::take(&mut p.reset)),
            ) {
                if reset {
                    engine.reset();
                    inbox.with(|p| p.estimates.clear());
                }
                if let Some(tuning) = tuning {
                    engine.set_tuning(&tuning);
                }
                let Some(job) = job else { continue };
                match crate::video::on_view(job.frame, &job.info, |view| engine.process(view, &job.faces)) {
                    Ok(results) => inbox.with(|p| {
                        for r in results {
                            p.estimates.insert(r.id, r);
                        }
                        // Tracks the engine forgot are forgotten here too.
                        p.estimates.retain(|id, _| engine.knows(*id));
                        p.stats.engine = engine.stats();
                    }),
                    Err(e) => {
                        inbox.fail(e);
                        break;
                    }
                }
            }
            engine
        })?;
        Ok(Self { worker, crop_scales })
    }

    /// Hands a frame to the worker; a frame it has not taken yet is dropped.
    pub fn submit(&self, job: Job) {
        self.worker.inbox().send(|p| {
            if let Some(old) = p.job.replace(job) {
                p.stats.frames_dropped += 1;
                p.stats.views_dropped += old.faces.len() as u64;
            }
        });
    }

    pub fn tune(&self, tuning: core::EstimatorConfig) {
        self.worker.inbox().send(|p| p.tuning = Some(tuning));
    }

    /// A flush or a new stream: the pending frame and every estimate are forgotten.
    pub fn reset(&self) {
        self.worker.inbox().send(|p| {
            p.job = None;
            p.reset = true;
        });
    }

    /// The latest estimate of each face's track (unknown until the worker classified it).
    pub fn latest(&self, faces: &[FaceInput]) -> Vec<FaceEstimate> {
        self.worker.inbox().with(|p| {
            let known = |f: &FaceInput| p.estimates.get(&f.id).cloned();
            faces.iter().map(|f| known(f).unwrap_or_else(|| unknown(f.id))).collect()
        })
    }

    pub fn take_error(&self) -> Option<String> {
        self.worker.inbox().take_error()
    }

    pub fn stats(&self) -> WorkerStats {
        self.worker.inbox().with(|p| p.stats)
    }

    /// Stops the worker and gives back its engine.
    pub fn stop(self) -> Option<Estimator> {
        self.worker.stop()
    }
}

fn unknown(id: TrackId) -> FaceEstimate {
    FaceEstimate {
        id,
        estimate: core::Estimate::NONE,
        age_group: "unknown".into(),
        view: ViewUse::NotNeeded,
        view_changed: false,
        quality: Default::default(),
    }
}
