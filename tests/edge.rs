//! `blickfang edge`, the appliance mode, against a real broker (mosquitto on
//! loopback) and real network cameras (tests/appliance/rtsp_server.py looping
//! shared clips over RTSP), plus its systemd unit:
//!
//! - two inputs; one camera switched off and on again mid-run: the other's
//!   records go on, the removed one resumes, every record of every run
//!   arrives (seq without gaps); content set over the retained MQTT topic and
//!   over the Unix socket reaches the reports; SIGTERM publishes the final
//!   content reports and exits 0;
//! - a broker refusing the credentials: the edge announces it, keeps measuring
//!   into its spool, and delivers everything once the broker accepts;
//! - a bad configuration: an error naming the key, before anything runs;
//! - packaging/systemd/blickfang-edge.service passes `systemd-analyze verify`
//!   and `security --offline=true`; the same sandbox, applied with bwrap from
//!   the unit's own lines, lets the edge run and write nowhere but its spool.
//!
//! Needs mosquitto, python3-gi with gir1.2-gst-rtsp-server-1.0, systemd
//! (systemd-analyze) and bubblewrap (scripts/setup.sh --test).

mod appliance;
mod common;
mod mosquitto;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use appliance::{Edge, RtspServer, TempDir};
use mosquitto::{Mosquitto, Received, Subscriber};
use rumqttc::QoS;

const WALKING: &str = "videos_people/intel_preview_face-demographics-walking.transcoded.mp4";
const HEAD_POSE: &str = "videos_people/intel_preview_head-pose-face-detection-male.transcoded.mp4";
const MINUTE: Duration = Duration::from_secs(60);

fn is(r: &Received, screen: &str, kind: &str) -> bool {
    r.topic == format!("blickfang/{screen}/{kind}")
}

/// Every run's records carry seq 0, 1, 2, ...: none missing up to the last one seen (duplicates are QoS 1's right).
fn assert_no_gaps(records: &[Received]) {
    let mut runs: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for r in records {
        if let Some(v) = &r.json
            && let (Some(run), Some(seq)) = (v["run"].as_str(), v["seq"].as_u64())
        {
            runs.entry(run.to_string()).or_default().insert(seq);
        }
    }
    assert!(!runs.is_empty());
    for (run, seqs) in &runs {
        let max = *seqs.last().unwrap();
        assert_eq!(seqs.len() as u64, max + 1, "run {run}: records missing among 0..={max}");
    }
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("edge.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn two_cameras_one_switched_off_and_on_nothing_lost_and_sigterm_publishes_the_final_reports() {
    let Some(py) = appliance::python() else { return };
    let tmp = TempDir::new("two");
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "edge-test", "blickfang/#", None);
    let mut cam_a = RtspServer::start(&py, &common::data(WALKING));
    let cam_b = RtspServer::start(&py, &common::data(HEAD_POSE));
    let socket = tmp.0.join("content.sock");
    let config = write_config(
        &tmp.0,
        &format!(
            "demographics = false\nspool_dir = \"{spool}\"\ncontent_socket = \"{socket}\"\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\n\
             [retry]\nmin_ms = 200\nmax_ms = 2000\n\
             [[input]]\nname = \"cam-a\"\nscreen = \"screen-a\"\nuri = \"{a}\"\ncontent_id = \"welcome\"\n\
             [[input]]\nname = \"cam-b\"\nscreen = \"screen-b\"\nuri = \"{b}\"\ncontent_id = \"welcome\"\n\
             [notice]\nmin_group_size = 1\n",
            spool = tmp.0.join("spool").display(),
            socket = socket.display(),
            port = broker.port,
            a = cam_a.uri(),
            b = cam_b.uri(),
        ),
    );
    let mut edge = Edge::start(&tmp.0, &config, &[]);
    sub.wait_for(MINUTE, "frames from both cameras", |got| {
        got.iter().any(|r| is(r, "screen-a", "frame")) && got.iter().any(|r| is(r, "screen-b", "frame"))
    });

    // The content channel: a retained topic for screen-b, the local socket for screen-a.
    sub.client.publish("blickfang/screen-b/content", QoS::AtLeastOnce, true, "coffee").unwrap();
    let mut conn = std::os::unix::net::UnixStream::connect(&socket).expect("the content socket listens");
    let mut answers = BufReader::new(conn.try_clone().unwrap());
    let mut ask = |line: &str| {
        conn.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut a = String::new();
        answers.read_line(&mut a).unwrap();
        a
    };
    assert_eq!(ask("screen-a spring-sale"), "ok\n");
    assert!(ask("screen-c spring-sale").starts_with("error: unknown screen"), "an unknown screen is refused");
    edge.wait_log(MINUTE, "screen screen-b: on screen now coffee");

    // Camera A goes away for a while: B goes on.
    let runs_before: BTreeSet<String> = sub
        .records()
        .iter()
        .filter(|r| is(r, "screen-a", "frame"))
        .filter_map(|r| r.json.as_ref()?["run"].as_str().map(str::to_string))
        .collect();
    cam_a.stop();
    let stopped = Instant::now();
    edge.wait_log(MINUTE, "input cam-a: retrying");
    std::thread::sleep(Duration::from_secs(6));
    let later = stopped + Duration::from_secs(3);
    let b_meanwhile = sub.records().iter().filter(|r| is(r, "screen-b", "frame") && r.at > later).count();
    assert!(b_meanwhile > 10, "camera B's records go on while A is away: {b_meanwhile}");

    // A back: a new run of A's pipeline publishes again.
    cam_a.restart();
    sub.wait_for(MINUTE, "camera A's records after it came back", |got| {
        got.iter().any(|r| {
            is(r, "screen-a", "frame")
                && r.json.as_ref().and_then(|v| v["run"].as_str()).is_some_and(|run| !runs_before.contains(run))
        })
    });
    std::thread::sleep(Duration::from_secs(2));

    let status = edge.terminate(Duration::from_secs(90));
    assert!(status.success(), "{status:?}\n{}", edge.log());
    let got = sub.wait_for(Duration::from_secs(10), "the final content reports", |got| {
        ["screen-a", "screen-b"].iter().all(|s| {
            got.iter().any(|r| is(r, s, "content-report") && r.json.as_ref().is_some_and(|v| v["ending"] == "eos"))
        })
    });
    let last =
        |screen: &str| got.iter().rev().find(|r| is(r, screen, "content-report")).and_then(|r| r.json.clone()).unwrap();
    assert_eq!(last("screen-a")["content_id"], "spring-sale", "set over the socket: {}", last("screen-a"));
    assert_eq!(last("screen-b")["content_id"], "coffee", "set over the retained topic: {}", last("screen-b"));
    // Switching closed the first item's period: a report for "welcome" came first on B.
    assert!(got.iter().any(|r| is(r, "screen-b", "content-report")
        && r.json.as_ref().is_some_and(|v| v["content_id"] == "welcome" && v["ending"] == "normal")));
    assert_no_gaps(&got);
    let log = edge.log();
    println!("{log}");
    assert!(log.contains("input cam-a: error from") && log.contains("input cam-a: running"), "{log}");
}

#[test]
fn a_broker_refusing_the_credentials_is_announced_and_nothing_measured_meanwhile_is_lost() {
    let Some(py) = appliance::python() else { return };
    let tmp = TempDir::new("auth");
    let passwd = tmp.0.join("passwd");
    let set_password = |user: &str, pw: &str| {
        let mut cmd = Command::new("mosquitto_passwd");
        if !passwd.exists() {
            cmd.arg("-c");
        }
        let st = cmd.arg("-b").arg(&passwd).args([user, pw]).status().expect("mosquitto_passwd runs");
        assert!(st.success());
    };
    set_password("reader", "r");
    let mut broker = Mosquitto::start_with(&format!("password_file {}\nallow_anonymous false\n", passwd.display()));
    let sub = Subscriber::start(broker.port, "edge-test", "blickfang/#", Some(("reader", "r")));
    let cam = RtspServer::start(&py, &common::data(WALKING));
    let spool = tmp.0.join("spool");
    let config = write_config(
        &tmp.0,
        &format!(
            "screen = \"door\"\nspool_dir = \"{}\"\n[mqtt]\nport = {}\nusername = \"edge\"\npassword = \"secret\"\n\
             [[input]]\nname = \"cam\"\nuri = \"{}\"\n",
            spool.display(),
            broker.port,
            cam.uri()
        ),
    );
    let mut edge = Edge::start(&tmp.0, &config, &[]);
    edge.wait_log(MINUTE, "input cam: warning from sink");
    edge.wait_log(MINUTE, "input cam: running");
    // Measuring goes on into the spool file.
    let spool_file = spool.join("cam.spool");
    let deadline = Instant::now() + MINUTE;
    while std::fs::metadata(&spool_file).map(|m| m.len()).unwrap_or(0) < 10_000 {
        assert!(Instant::now() < deadline, "nothing spooled:\n{}", edge.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(sub.records().is_empty(), "nothing got through the refusing broker");
    let log = edge.log();
    let log = log.to_lowercase();
    assert!(["not-authorized", "bad-credentials", "not authorized"].iter().any(|r| log.contains(r)), "{log}");

    // The operator fixes the broker's password file: the spooled records arrive, from seq 0.
    set_password("edge", "secret");
    broker.stop();
    broker.restart();
    sub.wait_for(Duration::from_secs(90), "the spooled records", |got| {
        got.iter().any(|r| r.json.as_ref().is_some_and(|v| v["seq"] == 0))
            && got.iter().filter(|r| is(r, "door", "frame")).count() > 40
    });
    assert!(edge.terminate(Duration::from_secs(90)).success(), "{}", edge.log());
    let got = sub.wait_for(Duration::from_secs(10), "the final report", |got| {
        got.iter().any(|r| is(r, "door", "content-report"))
    });
    assert_no_gaps(&got);
    assert!(got[0].json.as_ref().unwrap()["seq"] == 0, "the oldest record first");
}

#[test]
fn a_bad_configuration_is_refused_naming_the_key() {
    let tmp = TempDir::new("bad");
    for (body, key) in [
        ("screen = \"s\"\n[[input]]\nname = \"a\"\nuri = \"rtsp://x/\"\nfile = \"/x.mp4\"\n", "input[0] (a)"),
        ("screen = \"s\"\n[[input]]\nname = \"a\"\nuri = \"rtsp://x/\"\n[mqtt]\nprot = 1\n", "prot"),
        ("[[input]]\nname = \"a\"\nuri = \"rtsp://x/\"\n", "input[0].screen"),
        ("screen = \"s\"\n[[input]]\nname = \"a\"\nfile = \"/no/such.mp4\"\n", "input[0].file"),
    ] {
        let config = write_config(&tmp.0, body);
        let out = Command::new(common::blickfang_binary_path())
            .args(["edge", "--config"])
            .arg(&config)
            .env("GST_PLUGIN_PATH", common::plugin_dir())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(key) && stderr.contains("edge.toml"), "{key} not named: {stderr}");
    }
}

// --- the systemd unit ----------------------------------------------------------

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/blickfang-edge.service")
}

/// The unit's `Key=value` lines of [Service] (a key may repeat).
fn unit_settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(unit_path()).unwrap();
    let mut in_service = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && !line.starts_with('#') && !line.is_empty() {
            let (k, v) = line.split_once('=').unwrap();
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn setting(settings: &[(String, String)], key: &str) -> Vec<String> {
    settings.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
}

/// The unit with ExecStart pointing at the built binary (verify checks that it exists).
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(unit_path()).unwrap();
    let bin = common::blickfang_binary_path();
    let path = dir.join("blickfang-edge.service");
    std::fs::write(&path, text.replace("/usr/bin/blickfang", bin.to_str().unwrap())).unwrap();
    path
}

#[test]
fn the_unit_verifies_and_its_sandbox_scores_as_exposed_little() {
    let tmp = TempDir::new("unit");
    let unit = unit_for_this_build(&tmp.0);
    let out =
        Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit).output().expect("systemd-analyze");
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&unit).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for blickfang-edge.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {text}"));
    println!("systemd-analyze security --offline=true: exposure {score}");
    assert!(score <= 2.0, "exposure {score} (0 = locked down, 10 = exposed):\n{text}");
    let s = unit_settings();
    for (k, v) in [
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("DevicePolicy", "closed"),
        ("DeviceAllow", "char-video4linux rw"),
    ] {
        assert_eq!(setting(&s, k), [v], "{k}");
    }
    assert!(setting(&s, "Environment").iter().any(|e| e.starts_with("GST_REGISTRY=/var/cache/blickfang/")));
    // The live workers call setpriority (plugins/src/video.rs): a filter that
    // denied it would kill the service (SIGSYS) at its first live camera.
    let filters = setting(&s, "SystemCallFilter");
    let denied = filters.iter().position(|f| f.starts_with('~') && f.contains("@resources"));
    let allowed = filters.iter().rposition(|f| f.split_whitespace().any(|c| c == "setpriority"));
    assert!(denied.is_none() || allowed > denied, "setpriority must stay allowed: {filters:?}");
}

/// bwrap arguments from the unit: the root read-only (ProtectSystem=strict),
/// empty homes (ProtectHome), a private /tmp (PrivateTmp), a minimal /dev,
/// and writable only ReadWritePaths= and the CacheDirectory= (the registry),
/// each backed by a folder of the test (`state`) since they are not on this machine.
fn bwrap_args(settings: &[(String, String)], state: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["--die-with-parent".into(), "--unshare-pid".into(), "--unshare-ipc".into()];
    assert_eq!(setting(settings, "ProtectSystem"), ["strict"]);
    a.extend(["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"].map(String::from));
    // Writable places are mounted over empty parents (the real ones need not exist here).
    a.extend(["--tmpfs", "/var/lib", "--tmpfs", "/var/cache", "--tmpfs", "/run"].map(String::from));
    if setting(settings, "ProtectHome") == ["yes"] {
        a.extend(["--tmpfs", "/home", "--tmpfs", "/root"].map(String::from));
    }
    if setting(settings, "PrivateTmp") == ["yes"] {
        a.extend(["--tmpfs", "/tmp", "--tmpfs", "/var/tmp"].map(String::from));
    }
    let mut writable: Vec<String> = setting(settings, "ReadWritePaths");
    writable.extend(setting(settings, "CacheDirectory").iter().map(|d| format!("/var/cache/{d}")));
    writable.extend(setting(settings, "RuntimeDirectory").iter().map(|d| format!("/run/{d}")));
    for (i, w) in writable.iter().enumerate() {
        let backing = state.join(format!("rw{i}"));
        std::fs::create_dir_all(&backing).unwrap();
        a.extend(["--bind".into(), backing.display().to_string(), w.clone()]);
    }
    // The empty parents read-only again: only the binds inside them stay writable.
    a.extend(["--remount-ro", "/var/lib", "--remount-ro", "/var/cache", "--remount-ro", "/run"].map(String::from));
    if setting(settings, "ProtectHome") == ["yes"] {
        a.extend(["--remount-ro", "/home", "--remount-ro", "/root"].map(String::from));
    }
    for e in setting(settings, "Environment") {
        let (k, v) = e.split_once('=').unwrap();
        a.extend(["--setenv".into(), k.into(), v.into()]);
    }
    a
}

#[test]
fn under_the_units_sandbox_the_edge_runs_and_writes_nowhere_but_its_spool() {
    let bwrap = ["/usr/bin/bwrap", "/bin/bwrap"].into_iter().find(|p| Path::new(p).exists());
    let Some(bwrap) = bwrap else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "bwrap missing (apt bubblewrap; CI=true: not skipped)");
        return;
    };
    // The test's own files live outside /tmp, which the sandbox replaces.
    let tmp = TempDir(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("edge-sandbox-{}", std::process::id())));
    std::fs::create_dir_all(&tmp.0).unwrap();
    let settings = unit_settings();
    let spool = setting(&settings, "ReadWritePaths").pop().expect("ReadWritePaths=");
    let mut args = vec![bwrap.to_string()];
    args.extend(bwrap_args(&settings, &tmp.0));
    // The models and ONNX Runtime: installed under /usr/share/blickfang by the package; on a build
    // machine in the home folder the unit hides, so shown (read-only) where a package would put them.
    let data = std::env::var_os("BLICKFANG_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share/blickfang")))
        .filter(|d| d.join("models").is_dir());
    if let Some(data) = data {
        let d = data.display().to_string();
        args.extend(["--tmpfs", "/usr/local/share", "--ro-bind", &d, "/usr/local/share/blickfang"].map(String::from));
        args.extend(["--remount-ro", "/usr/local/share"].map(String::from));
    }
    // A build under /tmp (CI's fresh clone) would vanish behind the private /tmp: the build (the
    // binary, the plugin) and this test's folder (the config) are shown read-only where they are,
    // as a package's files would be.
    let build = common::blickfang_binary_path().parent().unwrap().to_path_buf();
    for dir in [build, common::plugin_dir(), tmp.0.clone()] {
        if dir.starts_with("/tmp") || dir.starts_with("/var/tmp") {
            let d = dir.display().to_string();
            args.extend(["--ro-bind", &d, &d].map(String::from));
        }
    }

    // A probe: writes everywhere a leaking service might, and in the spool.
    let probe = format!(
        "for d in /etc /usr /var /var/lib /opt /run {home} {spool} /var/cache/blickfang /run/blickfang; do \
           if touch \"$d/blickfang-probe\" 2>/dev/null; then echo \"writable $d\"; fi; done; \
         touch /tmp/blickfang-probe && echo 'private tmp'",
        home = std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
    );
    let out = Command::new(&args[0]).args(&args[1..]).args(["sh", "-c", &probe]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    println!("{said}{}", String::from_utf8_lossy(&out.stderr));
    let writable: Vec<&str> = said.lines().filter_map(|l| l.strip_prefix("writable ")).collect();
    // The spool, the registry cache and the runtime folder of the content socket: nothing else.
    assert_eq!(writable, [spool.as_str(), "/var/cache/blickfang", "/run/blickfang"]);
    assert!(said.contains("private tmp") && !Path::new("/tmp/blickfang-probe").exists(), "PrivateTmp");

    // The edge itself, in the same sandbox, on a file: records reach the broker, the spool is used.
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "edge-test", "blickfang/#", None);
    // The clip by its real path: the shared folder may be linked from under /tmp.
    let clip = common::data(WALKING).canonicalize().unwrap();
    let config = write_config(
        &tmp.0,
        &format!(
            "screen = \"sandboxed\"\nspool_dir = \"{spool}\"\n[mqtt]\nport = {}\n[[input]]\nname = \"clip\"\nfile = \"{}\"\n",
            broker.port,
            clip.display()
        ),
    );
    let mut edge = Edge::start(&tmp.0, &config, &args);
    let status = edge.wait(Duration::from_secs(120));
    assert!(status.success(), "{}", edge.log());
    let got = sub.wait_for(Duration::from_secs(10), "the clip's report", |got| {
        got.iter().any(|r| is(r, "sandboxed", "content-report"))
    });
    assert_eq!(got.iter().filter(|r| is(r, "sandboxed", "frame")).count(), 35, "every frame's record");
    assert!(std::fs::read_dir(tmp.0.join("rw0")).unwrap().any(|e| e.unwrap().file_name() == "clip.spool"));
}

/// The MQTT content channel uses the records' broker settings: on a broker the edge reaches
/// only over TLS (`mqtt.tls`, the test CA as `mqtt.ca_file`), the retained content id reaches
/// the pipeline and the records arrive, both over the one TLS listener.
#[test]
fn the_content_topic_and_the_records_share_the_brokers_tls() {
    let Some(py) = appliance::python() else { return };
    let tmp = TempDir::new("tls");
    mosquitto::make_certs(&tmp.0);
    let tls_port = mosquitto::free_port();
    let broker = Mosquitto::start_with(&format!(
        "listener {tls_port} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n",
        d = tmp.0.display()
    ));
    // The test reads and publishes on the plain listener; the edge is given only the TLS one.
    let sub = Subscriber::start(broker.port, "edge-test", "blickfang/#", None);
    sub.client.publish("blickfang/tls-1/content", QoS::AtLeastOnce, true, "coffee").unwrap();
    let cam = RtspServer::start(&py, &common::data(WALKING));
    let config = write_config(
        &tmp.0,
        &format!(
            "screen = \"tls-1\"\ndemographics = false\nspool_dir = \"{spool}\"\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {tls_port}\ntls = true\nca_file = \"{ca}\"\n\
             [[input]]\nname = \"cam\"\nuri = \"{uri}\"\ncontent_id = \"welcome\"\n",
            spool = tmp.0.join("spool").display(),
            ca = tmp.0.join("ca.crt").display(),
            uri = cam.uri(),
        ),
    );
    let mut edge = Edge::start(&tmp.0, &config, &[]);
    edge.wait_log(MINUTE, "screen tls-1: on screen now coffee");
    sub.wait_for(MINUTE, "records over TLS", |got| got.iter().any(|r| is(r, "tls-1", "frame")));
    let status = edge.terminate(Duration::from_secs(90));
    assert!(status.success(), "{status:?}\n{}", edge.log());
    let got = sub.wait_for(Duration::from_secs(10), "the final content report", |got| {
        got.iter().any(|r| is(r, "tls-1", "content-report") && r.json.as_ref().is_some_and(|v| v["ending"] == "eos"))
    });
    let last = got.iter().rev().find(|r| is(r, "tls-1", "content-report")).and_then(|r| r.json.clone()).unwrap();
    assert_eq!(last["content_id"], "coffee", "set over the retained topic, over TLS: {last}");
    assert!(!edge.log().contains("content channel: MQTT:"), "the content channel connected:\n{}", edge.log());
}
