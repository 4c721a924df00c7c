//! Live sources only: facedetect's privacy pass on a worker thread, so a live
//! camera's frames never wait the pass's 60 to 75 ms (1080p at 1280).
//!
//! One pass at a time: a pass that comes due while the worker still runs the
//! last one waits (counted), so nothing queues up however far behind the
//! worker falls. Its finds join the candidate tracker on a later frame, moved
//! by the motion of the track they overlapped when the pass was handed over.

use std::sync::{Arc, Mutex, MutexGuard};

use blickfang::detect::{Detection, DetectorConfig, FaceDetector};
use blickfang::geometry::BBox;
use blickfang::tracker::{TrackId, Tracker};

use crate::worker::Worker;

/// A pass handed to the worker: the frame (a new buffer sharing the memory: an element
/// downstream that writes, as blurredact does, writes to a copy), what the frame already
/// covers (for duplicates), and where every track was (to move the finds along).
pub struct PassJob {
    pub frame: gst::Buffer,
    pub info: gst_video::VideoInfo,
    /// The frame's index (facedetect's count).
    pub index: u64,
    /// Score and NMS thresholds of the pass.
    pub tuning: (f32, f32),
    /// Boxes of the frame's visible faces and of its candidates: a find this close is no news.
    pub covered: Vec<BBox>,
    /// Face and candidate tracks on the frame: (candidate?, id, box).
    pub tracks: Vec<(bool, TrackId, BBox)>,
}

/// A pass's finds, for the streaming thread.
pub struct PassResult {
    pub index: u64,
    pub found: Vec<Detection>,
    pub tracks: Vec<(bool, TrackId, BBox)>,
}

#[derive(Default)]
struct Pending {
    job: Option<PassJob>,
    done: Option<PassResult>,
    /// A job handed over and its result not yet taken.
    busy: bool,
    /// The worker runs a pass.
    running: bool,
    /// Bumped by a flush or a new stream: results of older jobs are dropped.
    epoch: u64,
    /// Passes the worker ran.
    passes: u64,
}

/// Counters of the live privacy pass, posted at EOS.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassStats {
    /// Passes the worker ran.
    pub passes: u64,
    /// Frames on which a due pass waited because the worker was still busy.
    pub waits: u64,
    /// Frames between the frame a pass saw and the frame its finds joined: largest and sum.
    pub lag_max: u64,
    pub lag_total: u64,
    /// Passes whose finds joined a frame.
    pub merged: u64,
}

pub struct PassWorker {
    worker: Worker<Pending>,
    pub stats: PassStats,
}

/// Near duplicates: a find this close to a face or candidate already on the frame adds nothing.
const NEAR_DUPLICATE_IOU: f32 = 0.9;
/// facedetect's `max-faces` default: the privacy pass keeps every face.
const MAX_FACES: usize = 5000;
/// A find overlapping a track this much moves with it.
const FOLLOW_IOU: f32 = 0.3;

/// The privacy detectors of the live workers, one per configuration for the whole process: their
/// runs take turns on one session anyway (whose input, 1280x736 floats, 11 MB, they share), and
/// one detector keeps one set of resize taps for N cameras.
static DETECTORS: Mutex<Vec<(DetectorConfig, std::sync::Weak<Mutex<FaceDetector>>)>> = Mutex::new(Vec::new());

/// The process's privacy detector for `config`, loaded (in session lane 1: the analysis runs, on
/// the streaming threads, never wait on a pass) when no worker holds it.
pub fn shared_detector(
    config: DetectorConfig,
    library: &std::path::Path,
) -> Result<Arc<Mutex<FaceDetector>>, blickfang::runtime::RuntimeError> {
    let mut detectors = lock(&DETECTORS);
    detectors.retain(|(_, d)| d.strong_count() > 0);
    if let Some(d) = detectors.iter().find(|(c, _)| *c == config).and_then(|(_, d)| d.upgrade()) {
        return Ok(d);
    }
    let detector = Arc::new(Mutex::new(FaceDetector::load_in_lane(config.clone(), library, 1)?));
    detectors.push((config, Arc::downgrade(&detector)));
    Ok(detector)
}

impl PassWorker {
    pub fn start(detector: Arc<Mutex<FaceDetector>>) -> std::io::Result<Self> {
        // Unlike the analytics workers, the privacy pass does not step back for the video:
        // what it finds is redacted, so it must not starve when the cores are busy.
        let worker = Worker::spawn("bf-privacy-pass", Pending::default(), move |inbox| {
            let take = |p: &mut Pending| {
                p.running = true;
                (p.job.take(), p.epoch)
            };
            while let Some((Some(job), epoch)) = inbox.wait(|p| p.job.is_some(), take) {
                let (score, nms) = job.tuning;
                let mut detector = lock(&detector);
                detector.set_tuning(score, nms, 0, MAX_FACES);
                let result = crate::video::on_view(job.frame, &job.info, |view| detector.detect(view));
                drop(detector);
                let found = match result {
                    Ok(mut found) => {
                        found.retain(|d| !job.covered.iter().any(|k| k.iou(&d.bbox) >= NEAR_DUPLICATE_IOU));
                        found
                    }
                    Err(e) => {
                        inbox.fail(e);
                        inbox.with(|p| (p.running, p.busy) = (false, false));
                        return;
                    }
                };
                inbox.with(|p| {
                    p.running = false;
                    p.passes += 1;
                    if p.epoch == epoch {
                        p.done = Some(PassResult { index: job.index, found, tracks: job.tracks });
                    } else {
                        p.busy = false;
                    }
                });
            }
        })?;
        Ok(Self { worker, stats: PassStats::default() })
    }

    /// Whether a pass can be handed over now (the last one's finds were taken).
    pub fn idle(&self) -> bool {
        !self.worker.inbox().with(|p| p.busy)
    }

    pub fn submit(&self, job: PassJob) {
        self.worker.inbox().send(|p| {
            p.busy = true;
            p.job = Some(job);
        });
    }

    /// The finds of the last pass, once, when the worker is done.
    pub fn take(&mut self, index: u64) -> Option<PassResult> {
        let done = self.worker.inbox().with(|p| {
            let done = p.done.take()?;
            p.busy = false;
            Some(done)
        })?;
        let lag = index.saturating_sub(done.index);
        self.stats.lag_max = self.stats.lag_max.max(lag);
        self.stats.lag_total += lag;
        self.stats.merged += 1;
        Some(done)
    }

    pub fn error(&self) -> Option<String> {
        self.worker.inbox().take_error()
    }

    /// A flush or a new stream: a pass in progress is forgotten.
    pub fn reset(&self) {
        self.worker.inbox().with(|p| {
            p.epoch += 1;
            p.job = None;
            p.done = None;
            // A pass the worker is running ends with `busy` cleared (its epoch is old).
            p.busy = p.running;
        });
    }

    pub fn stats(&self) -> PassStats {
        PassStats { passes: self.worker.inbox().with(|p| p.passes), ..self.stats }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the tracks are now: (candidate?, id) to box.
pub fn track_boxes(faces: &Tracker, candidates: &Tracker) -> Vec<(bool, TrackId, BBox)> {
    let boxes = |c: bool, t: &Tracker| t.tracks().iter().map(move |t| (c, t.id, t.detection.bbox)).collect::<Vec<_>>();
    let mut v = boxes(false, faces);
    v.extend(boxes(true, candidates));
    v
}

/// Moves a pass's finds from the frame it saw to now: each by the motion, since then, of the
/// track it overlapped most then (a face or a candidate); a find over no track stays where it
/// was found (a new face: its next sighting gives it a motion).
pub fn move_to_now(found: &mut [Detection], then: &[(bool, TrackId, BBox)], now: &[(bool, TrackId, BBox)]) {
    for d in found {
        let best = then
            .iter()
            .map(|(c, id, b)| (b.iou(&d.bbox), (*c, *id, *b)))
            .filter(|(iou, _)| *iou >= FOLLOW_IOU)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, (c, id, before))) = best else { continue };
        if let Some((_, _, after)) = now.iter().find(|(c2, id2, _)| *c2 == c && *id2 == id) {
            let ((x0, y0), (x1, y1)) = (before.center(), after.center());
            *d = d.moved(x1 - x0, y1 - y0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32) -> Detection {
        Detection { bbox: BBox::new(x, y, 40.0, 40.0), score: 0.5, landmarks: [[x + 10.0, y + 10.0]; 5] }
    }

    #[test]
    fn finds_move_with_the_track_they_overlapped() {
        let mut found = [det(100.0, 100.0), det(500.0, 300.0)];
        let then = [(false, 3, BBox::new(102.0, 98.0, 40.0, 40.0)), (true, 7, BBox::new(900.0, 0.0, 40.0, 40.0))];
        let now = [(false, 3, BBox::new(132.0, 88.0, 40.0, 40.0)), (true, 7, BBox::new(910.0, 0.0, 40.0, 40.0))];
        move_to_now(&mut found, &then, &now);
        // Followed face 3's motion (+30, -10), landmarks too.
        assert_eq!(found[0].bbox, BBox::new(130.0, 90.0, 40.0, 40.0));
        assert_eq!(found[0].landmarks[0], [140.0, 100.0]);
        // Over no track: a new face stays where it was found.
        assert_eq!(found[1].bbox, BBox::new(500.0, 300.0, 40.0, 40.0));
        // A track that has ended since: the find stays put.
        let mut lost = [det(100.0, 100.0)];
        move_to_now(&mut lost, &then, &now[1..]);
        assert_eq!(lost[0].bbox, BBox::new(100.0, 100.0, 40.0, 40.0));
    }
}
