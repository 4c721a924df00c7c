//! Live sources only: FSA-Net head pose off the streaming thread.
//!
//! The streaming thread hands the worker the frame and the boxes of the faces
//! due, and goes on with each track's latest estimate (one or two frames old;
//! a track the worker has not answered for yet is present but not measured).
//! The worker holds one pending frame at most: a newer frame replaces one it
//! has not taken (counted), so memory stays bounded however far behind it
//! falls. Non-live sources keep head pose on the streaming thread: the same
//! numbers on every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use blickfang::geometry::BBox;
use blickfang::headpose::{FsaNet, HeadPose};
use blickfang::tracker::TrackId;

/// One frame's faces due for an estimate, with the frame (a buffer sharing
/// the memory: an element downstream that writes, as blurredact does, writes
/// to a copy while the worker holds it).
pub struct Job {
    pub frame: gst::Buffer,
    pub info: gst_video::VideoInfo,
    /// The schedule's number of the frame (see `PoseInterval::frame`).
    pub frame_number: u64,
    pub ids: Vec<TrackId>,
    pub boxes: Vec<BBox>,
}

/// A finished estimate: track, pose, and the frame it was made on.
pub type Answer = (TrackId, HeadPose, u64);

#[derive(Default)]
struct Slot {
    job: Option<Job>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    answers: Mutex<Vec<Answer>>,
    frames_dropped: AtomicU64,
    faces_estimated: AtomicU64,
    model_runs: AtomicU64,
    error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the worker did so far (the `blickfang-gazedwell-stats` counters).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    pub faces_estimated: u64,
    pub model_runs: u64,
    /// Frames replaced before the worker took them (their faces not estimated).
    pub frames_dropped: u64,
}

pub struct PoseWorker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl PoseWorker {
    pub fn start(mut model: FsaNet) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let thread = std::thread::Builder::new().name("bf-headpose".into()).spawn(move || {
            crate::video::step_back_for_video(crate::video::WORKER_NICE);
            loop {
                let job = {
                    let mut s = lock(&worker.slot);
                    while s.job.is_none() && !s.stop {
                        s = worker.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
                    if s.stop {
                        return;
                    }
                    s.job.take().expect("checked above")
                };
                let runs = model.runs_for(job.boxes.len());
                let boxes = &job.boxes;
                let result = crate::video::on_view(job.frame, &job.info, |view| {
                    model.estimate_all(view, boxes).map(|poses| poses.to_vec())
                });
                match result {
                    Ok(poses) => {
                        worker.faces_estimated.fetch_add(poses.len() as u64, Ordering::Relaxed);
                        worker.model_runs.fetch_add(runs, Ordering::Relaxed);
                        let mut answers = lock(&worker.answers);
                        answers.extend(job.ids.iter().zip(poses).map(|(&id, pose)| (id, pose, job.frame_number)));
                    }
                    Err(e) => {
                        *lock(&worker.error) = Some(e);
                        return;
                    }
                }
            }
        })?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Hands a frame to the worker; a frame it has not taken yet is dropped.
    pub fn submit(&self, job: Job) {
        let mut s = lock(&self.shared.slot);
        if s.job.replace(job).is_some() {
            self.shared.frames_dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.wake.notify_one();
    }

    /// Moves the estimates finished since the last call into `into`.
    pub fn take_answers(&self, into: &mut Vec<Answer>) {
        into.append(&mut lock(&self.shared.answers));
    }

    /// The worker's error, once: it stopped on it.
    pub fn take_error(&self) -> Option<String> {
        lock(&self.shared.error).take()
    }

    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            faces_estimated: self.shared.faces_estimated.load(Ordering::Relaxed),
            model_runs: self.shared.model_runs.load(Ordering::Relaxed),
            frames_dropped: self.shared.frames_dropped.load(Ordering::Relaxed),
        }
    }
}

impl Drop for PoseWorker {
    fn drop(&mut self) {
        lock(&self.shared.slot).stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
