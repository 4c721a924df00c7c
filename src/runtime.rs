//! Where ONNX Runtime and the models live, and the one process-wide ONNX
//! Runtime environment.
//!
//! Search order for the ONNX Runtime library (first hit wins):
//! 1. an explicit path (element property `onnxruntime` / CLI option),
//! 2. `$BLICKFANG_ORT_LIB`, then `$ORT_DYLIB_PATH`,
//! 3. `<data dir>/onnxruntime/libonnxruntime.so` for each data dir below,
//! 4. the Debian package's own copy, [`PACKAGE_LIB_DIR`]`/libonnxruntime.so`,
//! 5. `libonnxruntime.so` on the system library path.
//!
//! Data dirs: `$BLICKFANG_DATA_DIR`, `$XDG_DATA_HOME/blickfang` (default
//! `~/.local/share/blickfang`), `/usr/local/share/blickfang`, `/usr/share/blickfang`,
//! `/var/lib/blickfang` (where `blickfang models install` puts the models when run as root).
//! Models are looked up as `<dir>/<relative path>` in `$BLICKFANG_MODEL_DIR`,
//! then `<data dir>/models` for each data dir.
//!
//! Sessions are shared: every element instance (every pipeline) of a process
//! that loads the same model file with the same threads gets the same ONNX
//! Runtime session ([`shared_session`]), so N cameras do not load N copies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use ort::session::Session;

use crate::detect::DecodeError;
use crate::frame::FrameError;

/// The environment variable naming the ONNX Runtime shared library.
pub const ORT_LIB_ENV: &str = "BLICKFANG_ORT_LIB";
/// The environment variable naming the folder that holds the models.
pub const MODEL_DIR_ENV: &str = "BLICKFANG_MODEL_DIR";
/// The environment variable naming blickfang's data folder.
pub const DATA_DIR_ENV: &str = "BLICKFANG_DATA_DIR";

const ORT_LIB_NAME: &str = "libonnxruntime.so";

/// The Debian package's private library folder (packaging/build-deb.sh puts
/// the ONNX Runtime it was tested with there, out of the system library path).
pub const PACKAGE_LIB_DIR: &str = if cfg!(target_arch = "aarch64") {
    "/usr/lib/aarch64-linux-gnu/blickfang"
} else {
    "/usr/lib/x86_64-linux-gnu/blickfang"
};

/// The environment variable that switches ONNX Runtime's telemetry off.
pub const TELEMETRY_ENV: &str = "ORT_DISABLE_TELEMETRY";

/// Problems finding or starting ONNX Runtime or a model, or running one.
/// Callers decide by variant (a missing model is a different GStreamer error
/// than a broken one); the message says what to do about it, and carries the
/// cause's text because a GStreamer error shows only the message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    /// A model named relative to the model folders is in none of them.
    #[error(
        "model {model} not found in {} (run `blickfang models install` or `make setup`, set {MODEL_DIR_ENV}, or give an absolute path)",
        list(searched)
    )]
    ModelNotFound { model: String, searched: Vec<PathBuf> },
    /// A model named by its path does not exist.
    #[error("model file {} does not exist", path.display())]
    ModelMissing { path: PathBuf },
    /// A model named by its path is a directory, not a file.
    #[error("model {} is a directory, not a model file", path.display())]
    ModelIsDirectory { path: PathBuf },
    /// The ONNX Runtime library cannot be loaded.
    #[error(
        "cannot load ONNX Runtime from {}: {reason} (run `make setup`, or set {ORT_LIB_ENV} / the `onnxruntime` property to libonnxruntime.so)",
        path.display()
    )]
    LibraryLoad { path: PathBuf, reason: String },
    /// The library loaded but its environment did not start.
    #[error("cannot start ONNX Runtime from {}: {reason}", path.display())]
    EnvironmentStart { path: PathBuf, reason: String },
    /// One process holds one ONNX Runtime library.
    #[error(
        "ONNX Runtime is already loaded from {} in this process; cannot also load {}",
        loaded.display(),
        requested.display()
    )]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
    /// ONNX Runtime cannot open the model file (not ONNX, unsupported operators, ...).
    #[error("cannot load model {}: {reason}", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    /// The model loads but is not what the element expects.
    #[error("model {} is not {expected} ({found}); {hint}", path.display())]
    WrongModel { path: PathBuf, expected: &'static str, found: String, hint: &'static str },
    /// A model property that names no model, or too many.
    #[error("model {spec:?}: expected {expected}")]
    ModelSpec { spec: String, expected: String },
    /// ONNX Runtime would start with its telemetry on.
    #[error(
        "ONNX Runtime's telemetry is not switched off: set {TELEMETRY_ENV}=1 before the process starts threads (blickfang's plugin and CLI do; a program using blickfang's core calls runtime::disable_telemetry() first thing in main)"
    )]
    TelemetryOn,
    /// No model given where at least one is needed.
    #[error("no {what} model given")]
    NoModel { what: &'static str },
    /// The frame cannot be read as its caps say (or a crop of it made).
    #[error("cannot read frame: {0}")]
    Frame(FrameError),
    /// The face geometry handed to a model cannot be cropped.
    #[error("degenerate face geometry {0}")]
    FaceGeometry(String),
    /// The input tensor cannot be built.
    #[error("cannot build input tensor: {0}")]
    Tensor(String),
    /// ONNX Runtime failed to run the model.
    #[error("{}: inference failed: {reason}", model.display())]
    Inference { model: PathBuf, reason: String },
    /// The model's outputs are not what its family gives.
    #[error("model {}: {problem}", model.display())]
    Output { model: PathBuf, problem: OutputProblem },
}

/// What is wrong with a model's output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputProblem {
    #[error("no output {0}")]
    Missing(String),
    #[error("output {name} is not f32: {reason}")]
    NotF32 { name: String, reason: String },
    #[error("output {name} has {found} values, {expected} expected")]
    Size { name: String, found: usize, expected: usize },
    /// A detector's outputs that its decoder cannot read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

// Not `#[from]`: that would also make the frame error the `source()`, and
// reporters that print the chain would show its text twice.
impl From<FrameError> for RuntimeError {
    fn from(e: FrameError) -> Self {
        RuntimeError::Frame(e)
    }
}

impl RuntimeError {
    /// An [`RuntimeError::Output`] problem of `model`.
    pub fn output(model: &Path, problem: impl Into<OutputProblem>) -> Self {
        RuntimeError::Output { model: model.to_path_buf(), problem: problem.into() }
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// blickfang's data folders, most specific first.
pub fn data_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    dirs.extend(env_path(DATA_DIR_ENV));
    let xdg = env_path("XDG_DATA_HOME").or_else(|| env_path("HOME").map(|h| h.join(".local/share")));
    dirs.extend(xdg.map(|d| d.join("blickfang")));
    dirs.push(PathBuf::from("/usr/local/share/blickfang"));
    dirs.push(PathBuf::from("/usr/share/blickfang"));
    dirs.push(PathBuf::from("/var/lib/blickfang"));
    dirs
}

/// The folders searched for models, most specific first.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env_path(MODEL_DIR_ENV).into_iter().collect();
    dirs.extend(data_dirs().into_iter().map(|d| d.join("models")));
    dirs
}

/// Resolves a model given as an absolute path, or as a path relative to the
/// model folders (e.g. `face/yunet_s_dynamic.onnx`).
pub fn find_model(model: &str) -> Result<PathBuf, RuntimeError> {
    let p = Path::new(model);
    if p.is_absolute() || model.starts_with("./") || model.starts_with("../") {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else if p.is_dir() {
            Err(RuntimeError::ModelIsDirectory { path: p.to_path_buf() })
        } else {
            Err(RuntimeError::ModelMissing { path: p.to_path_buf() })
        };
    }
    let dirs = model_dirs();
    match dirs.iter().map(|d| d.join(p)).find(|c| c.is_file()) {
        Some(found) => Ok(found),
        None => match dirs.iter().map(|d| d.join(p)).find(|c| c.is_dir()) {
            Some(dir) => Err(RuntimeError::ModelIsDirectory { path: dir }),
            None => Err(RuntimeError::ModelNotFound { model: model.to_string(), searched: dirs }),
        },
    }
}

/// The ONNX Runtime library to load, following the documented search order.
pub fn find_onnxruntime(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return p.to_path_buf();
    }
    if let Some(p) = env_path(ORT_LIB_ENV).or_else(|| env_path("ORT_DYLIB_PATH")) {
        return p;
    }
    data_dirs()
        .into_iter()
        .map(|d| d.join("onnxruntime").join(ORT_LIB_NAME))
        .chain(std::iter::once(Path::new(PACKAGE_LIB_DIR).join(ORT_LIB_NAME)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(ORT_LIB_NAME))
}

static LOADED_FROM: Mutex<Option<PathBuf>> = Mutex::new(None);
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// Switches ONNX Runtime's telemetry off for this process, unless the
/// variable is already set (an operator's explicit choice is kept).
///
/// ONNX Runtime (1.29 and later, on Linux too) writes a device id and an
/// event cache under `~/.cache/Microsoft/DeveloperTools` when its environment
/// is created, and about ten seconds later resolves and contacts
/// `mobile.events.data.microsoft.com`. The API switch ort sets
/// (`with_telemetry(false)`, `DisableTelemetryEvents`) acts only after the
/// environment exists and stops neither (measured with strace, see
/// tests/no_frames_on_disk.rs); only [`TELEMETRY_ENV`], read when the
/// environment is created, does. [`environment`] refuses to start ONNX
/// Runtime without it.
///
/// # Safety
/// Writes the process environment: call it only while no other thread can
/// be reading or writing it outside `std::env` (C code calling `getenv`):
/// first thing in `main`, or from the plugin's `plugin_init`
/// (plugins/src/lib.rs says why that is safe enough). Nothing is written
/// when the variable is set already, so a program that sets it itself (or
/// whose service unit does) never reaches the write.
pub unsafe fn disable_telemetry() {
    if std::env::var_os(TELEMETRY_ENV).is_none() {
        // SAFETY: the caller guarantees no concurrent environment access.
        unsafe { std::env::set_var(TELEMETRY_ENV, "1") };
    }
}

/// Whether ONNX Runtime may start: its telemetry variable must be set.
fn telemetry_off(value: Option<std::ffi::OsString>) -> Result<(), RuntimeError> {
    value.map(|_| ()).ok_or(RuntimeError::TelemetryOn)
}

/// The process-wide ONNX Runtime environment, loading the library on first
/// use. ort allows one library and one environment per process, so a later
/// call naming a different library is an error rather than silently ignored.
pub fn environment(library: &Path) -> Result<&'static ort::environment::Environment, RuntimeError> {
    let mut loaded = LOADED_FROM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        if let Some(prev) = loaded.as_ref().filter(|p| *p != library)
            && library.as_os_str() != ORT_LIB_NAME
        {
            return Err(RuntimeError::AlreadyLoaded { loaded: prev.clone(), requested: library.to_path_buf() });
        }
        return Ok(env);
    }
    // Never set here: this runs from an element's start(), when other
    // threads (streaming, ONNX Runtime's pools) may be reading the environment.
    telemetry_off(std::env::var_os(TELEMETRY_ENV))?;
    let builder = ort::init_from(library)
        .map_err(|e| RuntimeError::LibraryLoad { path: library.to_path_buf(), reason: e.to_string() })?;
    let env = builder
        .with_name("blickfang")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::EnvironmentStart { path: library.to_path_buf(), reason: e.to_string() })?;
    *loaded = Some(library.to_path_buf());
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// What makes two sessions the same: the model file and ONNX Runtime's
/// intra-op threads, which are fixed when a session is built, and the lane.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub model: PathBuf,
    pub threads: usize,
    /// Runs of one session take turns: work that must not wait on another's runs
    /// (facedetect's privacy pass on a worker beside its analysis run) asks for its own lane.
    pub lane: u32,
}

/// A session and the input its runs are filled into. The input is the session's, not each
/// instance's: it is filled under the session's lock, just before the run, so N cameras on one
/// model hold one input (YuNet's 640x384 is 2.9 MB, FaceRes's batch of twelve crops 7.2 MB), not N.
struct SessionSlot {
    session: Session,
    input: Vec<f32>,
}

struct SessionEntry {
    session: Arc<Mutex<SessionSlot>>,
    /// Live [`SharedSession`] handles.
    users: usize,
    /// When the last user let go (a tick of [`RELEASES`]), for evicting the oldest idle one.
    idle_since: u64,
}

static SESSIONS: Mutex<Option<HashMap<SessionKey, SessionEntry>>> = Mutex::new(None);
static SESSIONS_CREATED: AtomicU64 = AtomicU64::new(0);
static RELEASES: AtomicU64 = AtomicU64::new(0);
/// Sessions nobody uses are kept (the oldest dropped beyond this many): `blickfang
/// analyze` runs one pipeline per image, and building a FaceRes session costs more
/// than classifying a face. Five: the whole chain's four, and a live facedetect's privacy lane.
pub const MAX_IDLE_SESSIONS: usize = 5;

fn sessions() -> MutexGuard<'static, Option<HashMap<SessionKey, SessionEntry>>> {
    SESSIONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// One ONNX Runtime session shared by every element instance of the process
/// with the same [`SessionKey`]; reference-counted (see [`session_stats`]).
/// `ort`'s `Session::run` takes `&mut self`, so runs are serialised by a
/// lock: instances on different streaming threads take turns on one model,
/// which costs no CPU (one model run at a time already uses its threads).
pub struct SharedSession {
    key: SessionKey,
    session: Arc<Mutex<SessionSlot>>,
    time: Arc<RunTime>,
}

impl SharedSession {
    /// The session, to read what it declares (inputs, outputs).
    pub fn lock(&self) -> SessionGuard<'_> {
        SessionGuard(self.slot())
    }

    fn slot(&self) -> MutexGuard<'_, SessionSlot> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session for one run and reading its outputs: the CPU time this
    /// thread spends until the guard drops counts as the model's (see [`model_times`]),
    /// except what it spends in [`TimedRun::fill_input`].
    pub fn lock_for_run(&self) -> TimedRun<'_> {
        let slot = self.slot();
        TimedRun { slot, filled: 0, time: &self.time, cpu0: thread_cpu_time() }
    }

    pub fn key(&self) -> &SessionKey {
        &self.key
    }
}

/// Runs of one model (file and lane), and the CPU time their threads spent
/// in them, over the process's life.
#[derive(Default)]
struct RunTime {
    runs: AtomicU64,
    cpu_ns: AtomicU64,
}

static RUN_TIMES: Mutex<Vec<(SessionKey, Arc<RunTime>)>> = Mutex::new(Vec::new());

fn run_time(key: &SessionKey) -> Arc<RunTime> {
    let mut times = RUN_TIMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, t)) = times.iter().find(|(k, _)| k == key) {
        return t.clone();
    }
    let t = Arc::new(RunTime::default());
    times.push((key.clone(), t.clone()));
    t
}

/// One model's runs so far in this process: the profile per model that the
/// benchmarks print (`blickfang-bench-chain`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTime {
    pub key: SessionKey,
    pub runs: u64,
    /// CPU time of the calling threads while they held the session (with
    /// `threads` above 1, the pool threads' time is not in it).
    pub cpu: Duration,
}

pub fn model_times() -> Vec<ModelTime> {
    let times = RUN_TIMES.lock().unwrap_or_else(|e| e.into_inner());
    times
        .iter()
        .map(|(key, t)| ModelTime {
            key: key.clone(),
            runs: t.runs.load(Ordering::Relaxed),
            cpu: Duration::from_nanos(t.cpu_ns.load(Ordering::Relaxed)),
        })
        .collect()
}

/// This thread's CPU time (user + system), where the system tells it.
fn thread_cpu_time() -> Option<Duration> {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec that we own.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    ok.then(|| Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// A session held to read what it declares; see [`SharedSession::lock`].
pub struct SessionGuard<'a>(MutexGuard<'a, SessionSlot>);

impl std::ops::Deref for SessionGuard<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.0.session
    }
}

/// A session held for one run; see [`SharedSession::lock_for_run`].
pub struct TimedRun<'a> {
    slot: MutexGuard<'a, SessionSlot>,
    /// How much of the input [`TimedRun::fill_input`] wrote for this run.
    filled: usize,
    time: &'a RunTime,
    cpu0: Option<Duration>,
}

impl TimedRun<'_> {
    /// Hands `fill` the session's input, `len` values long, to write every one of them (it holds
    /// another instance's last input). The fill is not the model's time: the clock restarts after it.
    pub fn fill_input<T>(&mut self, len: usize, fill: impl FnOnce(&mut [f32]) -> T) -> T {
        let input = &mut self.slot.input;
        // Grown only: a chain that alternates sizes (analysis and privacy runs) zeroes nothing twice.
        if input.len() < len {
            input.resize(len, 0.0);
        }
        let result = fill(&mut input[..len]);
        self.filled = len;
        self.cpu0 = thread_cpu_time();
        result
    }

    /// The session to run, and the input that [`fill_input`](Self::fill_input) wrote.
    pub fn session_and_input(&mut self) -> (&mut Session, &[f32]) {
        let SessionSlot { session, input } = &mut *self.slot;
        (session, &input[..self.filled])
    }
}

impl std::ops::Deref for TimedRun<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.slot.session
    }
}

impl std::ops::DerefMut for TimedRun<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        &mut self.slot.session
    }
}

impl Drop for TimedRun<'_> {
    fn drop(&mut self) {
        if let Some(spent) = self.cpu0.zip(thread_cpu_time()).map(|(a, b)| b.saturating_sub(a)) {
            self.time.runs.fetch_add(1, Ordering::Relaxed);
            self.time.cpu_ns.fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
        }
    }
}

impl Drop for SharedSession {
    fn drop(&mut self) {
        let mut guard = sessions();
        let Some(map) = guard.as_mut() else { return };
        if let Some(entry) = map.get_mut(&self.key) {
            entry.users = entry.users.saturating_sub(1);
            if entry.users == 0 {
                entry.idle_since = RELEASES.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keep the most recently released idle sessions only.
        let mut idle: Vec<(u64, SessionKey)> =
            map.iter().filter(|(_, e)| e.users == 0).map(|(k, e)| (e.idle_since, k.clone())).collect();
        if idle.len() > MAX_IDLE_SESSIONS {
            idle.sort_by_key(|(since, _)| *since);
            for (_, key) in &idle[..idle.len() - MAX_IDLE_SESSIONS] {
                map.remove(key);
            }
        }
    }
}

/// Sessions of this process, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// Sessions built since the process started.
    pub created: u64,
    /// Sessions held now (in use or idle).
    pub loaded: usize,
    /// Sessions with at least one user.
    pub in_use: usize,
    /// Handles held now, over all sessions.
    pub users: usize,
}

pub fn session_stats() -> SessionStats {
    let guard = sessions();
    let map = guard.as_ref();
    let entries = || map.into_iter().flat_map(|m| m.values());
    SessionStats {
        created: SESSIONS_CREATED.load(Ordering::Relaxed),
        loaded: entries().count(),
        in_use: entries().filter(|e| e.users > 0).count(),
        users: entries().map(|e| e.users).sum(),
    }
}

/// The process's session for `model` with `threads` intra-op threads,
/// built on first use (one inter-op thread, the graph fully optimised, no
/// spinning pool threads).
/// The registry lock is held while a session is built, so two elements
/// starting at once still build it once.
pub fn shared_session(onnxruntime: &Path, model: &Path, threads: usize) -> Result<SharedSession, RuntimeError> {
    shared_session_in_lane(onnxruntime, model, threads, 0)
}

/// As [`shared_session`], in `lane`: lanes other than 0 are sessions of their own (same model,
/// another session), shared by the instances that ask for the same lane.
pub fn shared_session_in_lane(
    onnxruntime: &Path,
    model: &Path,
    threads: usize,
    lane: u32,
) -> Result<SharedSession, RuntimeError> {
    let env = environment(onnxruntime)?;
    let key = SessionKey { model: model.to_path_buf(), threads: threads.max(1), lane };
    let mut guard = sessions();
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(entry) = map.get_mut(&key) {
        entry.users += 1;
        let time = run_time(&key);
        return Ok(SharedSession { key, session: entry.session.clone(), time });
    }
    let fail = |e: &dyn std::fmt::Display| RuntimeError::ModelLoad { path: model.to_path_buf(), reason: e.to_string() };
    let session = Session::builder(env)
        .map_err(|e| fail(&e))?
        .with_intra_threads(key.threads)
        .map_err(|e| fail(&e))?
        .with_inter_threads(1)
        .map_err(|e| fail(&e))?
        // Idle pool threads block instead of spinning: on a player a spinning
        // thread takes a core from the content while doing no work (issue 16:
        // threads=2 cost 95 ms of CPU per frame spinning, see docs/performance.md).
        .with_intra_op_spinning(false)
        .map_err(|e| fail(&e))?
        .with_inter_op_spinning(false)
        .map_err(|e| fail(&e))?
        .commit_from_file(model)
        .map_err(|e| fail(&e))?;
    SESSIONS_CREATED.fetch_add(1, Ordering::Relaxed);
    let session = Arc::new(Mutex::new(SessionSlot { session, input: Vec::new() }));
    map.insert(key.clone(), SessionEntry { session: session.clone(), users: 1, idle_since: 0 });
    let time = run_time(&key);
    Ok(SharedSession { key, session, time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_names_the_searched_folders() {
        let err = find_model("face/definitely-not-there.onnx").unwrap_err();
        let RuntimeError::ModelNotFound { model, searched } = &err else { panic!("{err:?}") };
        assert_eq!(model, "face/definitely-not-there.onnx");
        assert_eq!(searched, &model_dirs());
        assert!(err.to_string().contains(MODEL_DIR_ENV), "{err}");
        let err = find_model("/nonexistent/model.onnx").unwrap_err();
        assert_eq!(err, RuntimeError::ModelMissing { path: "/nonexistent/model.onnx".into() });
        assert!(err.to_string().contains("/nonexistent/model.onnx"), "{err}");
    }

    #[test]
    fn a_directory_is_not_reported_as_missing() {
        let dir = std::env::temp_dir();
        let err = find_model(&dir.display().to_string()).unwrap_err();
        assert_eq!(err, RuntimeError::ModelIsDirectory { path: dir.clone() });
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn onnx_runtime_never_starts_with_telemetry_on() {
        assert_eq!(telemetry_off(None), Err(RuntimeError::TelemetryOn));
        assert_eq!(telemetry_off(Some("1".into())), Ok(()));
    }

    #[test]
    fn missing_library_is_an_error() {
        // SAFETY: the core's tests are pure Rust: every other environment
        // access in this process goes through std::env and its lock.
        unsafe { disable_telemetry() };
        let missing = Path::new("/nonexistent/libonnxruntime.so");
        // Either ORT is not loaded yet (load fails, naming the path) or another
        // test loaded it first (then a different path is refused).
        match environment(missing).unwrap_err() {
            RuntimeError::LibraryLoad { path, .. } => assert_eq!(path, missing),
            RuntimeError::AlreadyLoaded { requested, .. } => assert_eq!(requested, missing),
            other => panic!("{other:?}"),
        }
    }
}
