//! Live sources only: FSA-Net head pose off the streaming thread.
//!
//! The streaming thread hands the worker the frame and the boxes of the faces
//! due, and goes on with each track's latest estimate (one or two frames old;
//! a track the worker has not answered for yet is present but not measured).
//! The worker holds one pending frame at most: a newer frame replaces one it
//! has not taken (counted), so memory stays bounded however far behind it
//! falls. Non-live sources keep head pose on the streaming thread: the same
//! numbers on every run.

use blickfang::geometry::BBox;
use blickfang::headpose::{FsaNet, HeadPose};
use blickfang::tracker::TrackId;

use crate::worker::Worker;

/// The faces of a frame that FSA-Net estimates: their tracks and boxes. Both
/// paths fill one per frame; the worker hands a job's back for a later frame's.
#[derive(Debug, Default)]
pub struct DueFaces {
    pub ids: Vec<TrackId>,
    pub boxes: Vec<BBox>,
}

/// One frame's faces due for an estimate, with the frame (a buffer sharing
/// the memory: an element downstream that writes, as blurredact does, writes
/// to a copy while the worker holds it).
pub struct Job {
    pub frame: gst::Buffer,
    pub info: gst_video::VideoInfo,
    /// The schedule's number of the frame (see `PoseInterval::frame`).
    pub frame_number: u64,
    pub due: DueFaces,
}

/// A finished estimate: track, pose, and the frame it was made on.
pub type Answer = (TrackId, HeadPose, u64);

/// What the worker did so far (the `blickfang-gazedwell-stats` counters).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    pub faces_estimated: u64,
    pub model_runs: u64,
    /// Frames replaced before the worker took them (their faces not estimated).
    pub frames_dropped: u64,
}

#[derive(Default)]
struct Pending {
    job: Option<Job>,
    /// Finished estimates the streaming thread has not taken yet.
    answers: Vec<Answer>,
    /// The face lists of a finished or replaced job, for the next frame's.
    spare: Option<DueFaces>,
    stats: WorkerStats,
}

pub struct PoseWorker(Worker<Pending>);

impl PoseWorker {
    pub fn start(mut model: FsaNet) -> std::io::Result<Self> {
        let worker = Worker::spawn("bf-headpose", Pending::default(), move |inbox| {
            crate::video::step_back_for_video(crate::video::WORKER_NICE);
            while let Some(Some(Job { frame, info, frame_number, due })) =
                inbox.wait(|p| p.job.is_some(), |p| p.job.take())
            {
                let runs = model.runs_for(due.boxes.len());
                let result = crate::video::on_view(frame, &info, |view| {
                    model.estimate_all(view, &due.boxes).map(|poses| {
                        inbox.with(|p| {
                            p.answers.extend(due.ids.iter().zip(poses).map(|(&id, &pose)| (id, pose, frame_number)));
                            p.stats.faces_estimated += poses.len() as u64;
                            p.stats.model_runs += runs;
                        })
                    })
                });
                if let Err(e) = result {
                    inbox.fail(e);
                    return;
                }
                inbox.with(|p| p.spare = Some(due));
            }
        })?;
        Ok(Self(worker))
    }

    /// Hands a frame to the worker; a frame it has not taken yet is dropped.
    pub fn submit(&self, job: Job) {
        self.0.inbox().send(|p| {
            if let Some(old) = p.job.replace(job) {
                p.stats.frames_dropped += 1;
                p.spare = Some(old.due);
            }
        });
    }

    /// Face lists to fill for the next job: a finished job's (empty ones at first).
    pub fn spare(&self) -> DueFaces {
        self.0.inbox().with(|p| p.spare.take()).unwrap_or_default()
    }

    /// Moves the estimates finished since the last call into `into`.
    pub fn take_answers(&self, into: &mut Vec<Answer>) {
        self.0.inbox().with(|p| into.append(&mut p.answers));
    }

    /// The worker's error, once: it stopped on it.
    pub fn take_error(&self) -> Option<String> {
        self.0.inbox().take_error()
    }

    pub fn stats(&self) -> WorkerStats {
        self.0.inbox().with(|p| p.stats)
    }
}
