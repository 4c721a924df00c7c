//! The shape the live workers share (demographics, facedetect's privacy pass,
//! gazedwell's head pose): one thread, fed through one mutex-guarded inbox
//! that the streaming thread writes and the worker waits on. What the inbox
//! holds is each worker's own (one pending frame, a tuning, finished results);
//! here are the waiting, the stop, the error and the join.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// What the streaming thread and a worker share: `P`, plus the stop request
/// and the error the worker stopped on.
pub struct Inbox<P> {
    slot: Mutex<Slot<P>>,
    wake: Condvar,
}

struct Slot<P> {
    pending: P,
    stop: bool,
    error: Option<String>,
}

impl<P> Inbox<P> {
    fn new(pending: P) -> Self {
        Self { slot: Mutex::new(Slot { pending, stop: false, error: None }), wake: Condvar::new() }
    }

    // A panic elsewhere while holding the lock leaves plain data: go on with it
    // rather than panic in a streaming thread.
    fn lock(&self) -> MutexGuard<'_, Slot<P>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes what is pending and wakes the worker.
    pub fn send<R>(&self, change: impl FnOnce(&mut P) -> R) -> R {
        let r = change(&mut self.lock().pending);
        self.wake.notify_one();
        r
    }

    /// Reads or changes the shared part without waking the worker.
    pub fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        f(&mut self.lock().pending)
    }

    /// The worker's side: waits until `ready` holds, then lets `take` take the
    /// work out under the same lock; `None` once the worker is told to stop.
    pub fn wait<R>(&self, ready: impl Fn(&P) -> bool, take: impl FnOnce(&mut P) -> R) -> Option<R> {
        let mut slot = self.lock();
        while !slot.stop && !ready(&slot.pending) {
            slot = self.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        (!slot.stop).then(|| take(&mut slot.pending))
    }

    /// The worker stops on `error`: kept for the streaming thread to post.
    pub fn fail(&self, error: String) {
        self.lock().error = Some(error);
    }

    /// The error the worker stopped on, once.
    pub fn take_error(&self) -> Option<String> {
        self.lock().error.take()
    }
}

/// A worker thread and its inbox. Dropping it stops the thread and waits for
/// it; [`Worker::stop`] also gives back what the thread returned.
pub struct Worker<P, R = ()> {
    inbox: Arc<Inbox<P>>,
    thread: Option<JoinHandle<R>>,
}

impl<P: Send + 'static, R: Send + 'static> Worker<P, R> {
    /// Starts thread `name` running `body` on the inbox (which starts as `pending`).
    pub fn spawn(name: &str, pending: P, body: impl FnOnce(&Inbox<P>) -> R + Send + 'static) -> std::io::Result<Self> {
        let inbox = Arc::new(Inbox::new(pending));
        let theirs = inbox.clone();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || body(&theirs))?;
        Ok(Self { inbox, thread: Some(thread) })
    }
}

impl<P, R> Worker<P, R> {
    pub fn inbox(&self) -> &Inbox<P> {
        &self.inbox
    }

    /// Stops the thread after its current piece of work and returns what it gave back.
    pub fn stop(mut self) -> Option<R> {
        self.join()
    }

    fn join(&mut self) -> Option<R> {
        // Taken at most once: by stop(), or else by drop.
        self.inbox.lock().stop = true;
        self.inbox.wake.notify_one();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<P, R> Drop for Worker<P, R> {
    fn drop(&mut self) {
        self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Pending {
        job: Option<u32>,
        done: Vec<u32>,
    }

    #[test]
    fn a_worker_takes_jobs_gives_back_its_state_and_keeps_its_error() {
        let worker = Worker::spawn("test-worker", Pending::default(), |inbox: &Inbox<Pending>| {
            let mut seen = 0;
            while let Some(job) = inbox.wait(|p| p.job.is_some(), |p| p.job.take()) {
                let job = job.expect("ready");
                if job == 0 {
                    inbox.fail("job 0".into());
                    continue;
                }
                seen += 1;
                inbox.with(|p| p.done.push(job * 2));
            }
            seen
        })
        .unwrap();
        for job in [3, 0] {
            worker.inbox().send(|p| p.job = Some(job));
            while worker.inbox().with(|p| p.job.is_some()) {
                std::thread::yield_now();
            }
        }
        // The last job was taken; wait for the worker to finish it.
        let error = loop {
            if let Some(e) = worker.inbox().take_error() {
                break e;
            }
            std::thread::yield_now();
        };
        assert_eq!(error, "job 0");
        assert_eq!(worker.inbox().take_error(), None, "an error is taken once");
        assert_eq!(worker.inbox().with(|p| p.done.clone()), [6]);
        assert_eq!(worker.stop(), Some(1));
    }

    #[test]
    fn dropping_a_waiting_worker_stops_it() {
        let worker =
            Worker::spawn("test-idle", (), |inbox: &Inbox<()>| inbox.wait(|_| false, |_| ()).is_none()).unwrap();
        drop(worker);
    }
}
