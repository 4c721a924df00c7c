//! Proof that no frame reaches the disk: a full analysis pipeline on a real
//! clip (facedetect, gazedwell, then blurredact to a video sink and metajson
//! to a file), run by `gst-launch-1.0` under `strace -f`, opens for writing
//! only the configured metadata file (and GStreamer's registry cache), and no
//! record it wrote could carry pixels.

mod common;
mod records_schema;

use std::path::{Path, PathBuf};
use std::process::Command;

use records_schema::RecordSchema;

const CLIP: &str = "videos_people/intel_preview_face-demographics-walking.transcoded.mp4";
const CLIP_FRAMES: usize = 35;

/// The analysis chain between decoding and the tee. When `demographics` is
/// registered by the plugin, this becomes `"blickfang-facedetect !
/// blickfang-demographics ! blickfang-gazedwell content-id=spring-sale"`
/// (the only edit this test needs).
const ANALYSIS: &str = "blickfang-facedetect ! blickfang-demographics ! blickfang-gazedwell content-id=spring-sale";

/// A folder holding only the plugin this test was built with: the cdylib in
/// `deps/` (cargo refreshes target/release/libgstblickfang.so only when the
/// library itself is built, not for tests), linked into `dir`.
fn plugin_dir(dir: &Path) -> PathBuf {
    let built = common::profile_dir().join("deps/libgstblickfang.so");
    assert!(built.exists(), "{} not built", built.display());
    let plugins = dir.join("plugin");
    std::fs::create_dir_all(&plugins).unwrap();
    let link = plugins.join("libgstblickfang.so");
    std::fs::remove_file(&link).ok();
    std::os::unix::fs::symlink(&built, &link).unwrap();
    plugins
}

fn strace() -> &'static str {
    assert!(
        Path::new("/usr/bin/strace").exists(),
        "strace is not installed (apt package `strace`; `make test` installs it)"
    );
    "/usr/bin/strace"
}

/// A file opened with write access: (path, flags) of one traced call.
#[derive(Debug)]
struct WriteOpen {
    path: String,
    #[allow(dead_code)] // shown in the failure message
    flags: String,
}

/// Opens with O_WRONLY, O_RDWR or O_CREAT (and every creat) in an strace log.
fn write_opens(log: &str) -> Vec<WriteOpen> {
    log.lines()
        .filter_map(|line| {
            let call = ["openat(", "open(", "creat("].iter().find_map(|c| line.find(c).map(|i| (&line[i..], *c)))?;
            let (rest, name) = call;
            let start = rest.find('"')? + 1;
            let end = start + rest[start..].find('"')?;
            let path = rest[start..end].to_string();
            let flags =
                rest[end + 1..].trim_start_matches(", ").split([',', ')', ' ']).next().unwrap_or("").to_string();
            let writes =
                name == "creat(" || flags.contains("O_WRONLY") || flags.contains("O_RDWR") || flags.contains("O_CREAT");
            writes.then_some(WriteOpen { path, flags })
        })
        .collect()
}

/// Character devices and kernel interfaces are not the disk.
fn is_not_a_file(path: &str) -> bool {
    ["/dev/", "/proc/", "/sys/"].iter().any(|p| path.starts_with(p))
}

#[test]
fn parser_finds_write_opens() {
    let log = "12 openat(AT_FDCWD, \"/tmp/x.ndjson\", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 5\n\
               12 openat(AT_FDCWD, \"/usr/lib/a.so\", O_RDONLY|O_CLOEXEC) = 3\n\
               13 open(\"/tmp/frame.raw\", O_RDWR <unfinished ...>\n\
               13 creat(\"/tmp/y\", 0644) = 4\n";
    let opens = write_opens(log);
    let paths: Vec<_> = opens.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, ["/tmp/x.ndjson", "/tmp/frame.raw", "/tmp/y"]);
}

#[test]
fn a_full_pipeline_writes_only_the_metadata_file() {
    common::init();
    let out = std::env::temp_dir().join(format!("blickfang-no-frames-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let records = out.join("records.ndjson");
    let registry = out.join("registry.bin");
    let log = out.join("strace.log");
    let clip = common::data(CLIP);
    let pipeline = format!(
        "filesrc location={clip} ! decodebin ! videoconvert ! {ANALYSIS} ! tee name=t \
         t. ! queue ! blickfang-blurredact ! fakesink \
         t. ! queue ! blickfang-metajson ! filesink location={records}",
        clip = clip.display(),
        records = records.display()
    );
    let status = Command::new(strace())
        .args(["-f", "-qq", "--seccomp-bpf", "-e", "trace=openat,open,creat", "-o"])
        .arg(&log)
        .arg("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin_dir(&out))
        .env("GST_REGISTRY", &registry)
        // Nothing the environment may have set to dump pipelines or logs to files.
        .env_remove("GST_DEBUG_DUMP_DOT_DIR")
        .env_remove("GST_DEBUG_FILE")
        .env_remove("GST_TRACERS")
        .status()
        .expect("strace runs");
    assert!(status.success(), "the pipeline failed under strace: {pipeline}");

    let log_text = std::fs::read_to_string(&log).unwrap();
    let opens = write_opens(&log_text);
    assert!(
        opens.iter().any(|o| Path::new(&o.path) == records),
        "the metadata file was not opened: is strace tracing? {opens:?}"
    );
    let registry_prefix = registry.to_str().unwrap();
    let unexpected: Vec<&WriteOpen> = opens
        .iter()
        .filter(|o| Path::new(&o.path) != records && !o.path.starts_with(registry_prefix) && !is_not_a_file(&o.path))
        .collect();
    assert!(
        unexpected.is_empty(),
        "files opened for writing besides the metadata file and the registry: {unexpected:#?}"
    );
    let devices: Vec<&str> = opens.iter().filter(|o| is_not_a_file(&o.path)).map(|o| o.path.as_str()).collect();
    eprintln!(
        "write opens: {} (metadata file, registry cache{})",
        opens.len(),
        if devices.is_empty() { String::new() } else { format!(", devices {devices:?}") }
    );

    let text = std::fs::read_to_string(&records).unwrap();
    let all = RecordSchema::load().check_lines(&text);
    let of = |t: &str| all.iter().filter(|r| r["type"] == t).collect::<Vec<_>>();
    let frames = of("frame");
    assert_eq!(frames.len(), CLIP_FRAMES, "one frame record per frame");
    let faces: usize = frames.iter().map(|r| r["faces"].as_array().unwrap().len()).sum();
    assert!(faces > 0, "the clip shows faces");
    assert!(!of("person-event").is_empty(), "gazedwell's person events are records");
    assert_eq!(of("content-report").len(), 1, "one content report at EOS");
    // No field outside the vocabulary: a frame record has only these keys.
    let allowed =
        ["schema", "type", "seq", "pts", "running_time", "utc", "screen", "width", "height", "analysis", "faces"];
    for r in &frames {
        for k in r.as_object().unwrap().keys() {
            assert!(allowed.contains(&k.as_str()), "unexpected field {k}");
        }
    }
    std::fs::remove_dir_all(&out).ok();
}
