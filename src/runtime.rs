//! Where ONNX Runtime and the models live, and the one process-wide ONNX
//! Runtime environment.
//!
//! Search order for the ONNX Runtime library (first hit wins):
//! 1. an explicit path (element property `onnxruntime` / CLI option),
//! 2. `$BLICKFANG_ORT_LIB`, then `$ORT_DYLIB_PATH`,
//! 3. `<data dir>/onnxruntime/libonnxruntime.so` for each data dir below,
//! 4. `libonnxruntime.so` on the system library path.
//!
//! Data dirs: `$BLICKFANG_DATA_DIR`, `$XDG_DATA_HOME/blickfang` (default
//! `~/.local/share/blickfang`), `/usr/local/share/blickfang`, `/usr/share/blickfang`.
//! Models are looked up as `<dir>/<relative path>` in `$BLICKFANG_MODEL_DIR`,
//! then `<data dir>/models` for each data dir.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The environment variable naming the ONNX Runtime shared library.
pub const ORT_LIB_ENV: &str = "BLICKFANG_ORT_LIB";
/// The environment variable naming the folder that holds the models.
pub const MODEL_DIR_ENV: &str = "BLICKFANG_MODEL_DIR";
/// The environment variable naming blickfang's data folder.
pub const DATA_DIR_ENV: &str = "BLICKFANG_DATA_DIR";

const ORT_LIB_NAME: &str = "libonnxruntime.so";

/// Problems finding or starting ONNX Runtime or a model; the message says what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeError(pub String);

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuntimeError {}

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
        } else {
            Err(RuntimeError(format!("model file {} does not exist", p.display())))
        };
    }
    let dirs = model_dirs();
    dirs.iter().map(|d| d.join(p)).find(|c| c.is_file()).ok_or_else(|| {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        RuntimeError(format!(
            "model {model} not found in {} (run `make setup`, set {MODEL_DIR_ENV}, or give an absolute path)",
            searched.join(", ")
        ))
    })
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
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(ORT_LIB_NAME))
}

static LOADED_FROM: Mutex<Option<PathBuf>> = Mutex::new(None);
static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first
/// use. ort allows one library and one environment per process, so a later
/// call naming a different library is an error rather than silently ignored.
pub fn environment(library: &Path) -> Result<&'static ort::environment::Environment, RuntimeError> {
    let mut loaded = LOADED_FROM.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = ENVIRONMENT.get() {
        if let Some(prev) = loaded.as_ref().filter(|p| *p != library)
            && library.as_os_str() != ORT_LIB_NAME
        {
            return Err(RuntimeError(format!(
                "ONNX Runtime is already loaded from {} in this process; cannot also load {}",
                prev.display(),
                library.display()
            )));
        }
        return Ok(env);
    }
    // ONNX Runtime >= 1.29 collects telemetry on Linux too: it writes a device
    // id and an event cache under ~/.cache/Microsoft/DeveloperTools and
    // uploads them. Only this variable, set before the library starts, turns
    // all of it off (tests/no_frames_on_disk.rs sees every file written).
    if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
        // SAFETY: once per process, under LOADED_FROM's lock, before ONNX
        // Runtime (the variable's only reader) is loaded.
        unsafe { std::env::set_var("ORT_DISABLE_TELEMETRY", "1") };
    }
    let builder = ort::init_from(library).map_err(|e| {
        RuntimeError(format!(
            "cannot load ONNX Runtime from {}: {e} (run `make setup`, or set {ORT_LIB_ENV} / the `onnxruntime` property to libonnxruntime.so)",
            library.display()
        ))
    })?;
    let env = builder
        .with_name("blickfang")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError(format!("cannot start ONNX Runtime from {}: {e}", library.display())))?;
    *loaded = Some(library.to_path_buf());
    Ok(ENVIRONMENT.get_or_init(|| env))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_model_names_the_searched_folders() {
        let err = find_model("face/definitely-not-there.onnx").unwrap_err();
        assert!(err.0.contains("definitely-not-there"), "{err}");
        assert!(err.0.contains(MODEL_DIR_ENV), "{err}");
        assert!(find_model("/nonexistent/model.onnx").unwrap_err().0.contains("/nonexistent/model.onnx"));
    }

    #[test]
    fn missing_library_is_an_error() {
        let err = environment(Path::new("/nonexistent/libonnxruntime.so"));
        // Either ORT is not loaded yet (load fails, naming the path) or another
        // test loaded it first (then a different path is refused).
        assert!(err.unwrap_err().0.contains("/nonexistent/libonnxruntime.so"));
    }
}
