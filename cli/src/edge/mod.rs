//! `blickfang edge --config /etc/blickfang/edge.toml`: the appliance mode.
//!
//! Each `[[input]]` (a V4L2 camera, an RTSP/URI source or a file) runs the
//! whole chain in its own pipeline in this one process:
//!
//!   <input> ! videoconvert ! blickfang-facedetect ! [blickfang-demographics !]
//!     blickfang-gazedwell ! [tee → blickfang-blurredact ! local window]
//!     blickfang-metajson ! blickfang-mqttsink spool-file=<spool_dir>/<input>.spool
//!
//! An input that errs or ends (a camera unplugged, an RTSP server gone) is
//! torn down — its mqttsink keeps what the broker has not acknowledged in its
//! spool file — and started again with backoff, while the others go on. A
//! file input ends once. SIGTERM (or SIGINT) sends EOS to every pipeline, so
//! gazedwell closes the open content periods and mqttsink drains its spool;
//! a second signal stops at once.
//!
//! The content channel (what is on screen) is a retained MQTT topic per screen
//! (`mqtt.content_topic`, default `blickfang/<screen>/content`, payload the
//! content id) and, with `content_socket`, a local Unix socket taking lines
//! `<screen> <content-id>` (or `<content-id>` when there is one screen),
//! answered `ok` or `error: ...`.

pub mod config;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use gst::glib;
use gst::prelude::*;

use config::{Config, Input};
use gstblickfang::meta::CONTENT_EVENT;

/// How long the whole process waits, after SIGTERM, for every pipeline's EOS (and mqttsink's drain).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
const CONNECTION_MESSAGE: &str = "blickfang-mqtt-connection";

fn log(msg: impl AsRef<str>) {
    eprintln!("blickfang edge: {}", msg.as_ref());
}

/// What is on screen per screen, and the running gazedwells to tell; shared with the channel threads.
#[derive(Default)]
struct Content {
    on_screen: HashMap<String, String>,
    /// input name → (screen, gazedwell)
    gazes: HashMap<String, (String, gst::Element)>,
}

impl Content {
    /// Records `content_id` for `screen` and tells the screen's running inputs, in stream order.
    fn set(shared: &Mutex<Content>, screen: &str, content_id: &str) -> Result<(), String> {
        if content_id.is_empty() || content_id.len() > 256 || content_id.chars().any(char::is_control) {
            return Err(format!("content id {content_id:?}: empty, too long or has control characters"));
        }
        let gazes: Vec<gst::Element> = {
            let mut c = shared.lock().unwrap();
            if !c.on_screen.contains_key(screen) {
                return Err(format!("unknown screen {screen:?}"));
            }
            c.on_screen.insert(screen.to_string(), content_id.to_string());
            c.gazes.values().filter(|(s, _)| s == screen).map(|(_, g)| g.clone()).collect()
        };
        log(format!("screen {screen}: on screen now {content_id}"));
        for gaze in gazes {
            let s = gst::Structure::builder(CONTENT_EVENT).field("content-id", content_id).build();
            let sent = gaze.static_pad("sink").is_some_and(|p| p.send_event(gst::event::CustomDownstream::new(s)));
            if !sent {
                // Not streaming yet: the property applies to the first frame it analyses.
                gaze.set_property("content-id", content_id);
            }
        }
        Ok(())
    }
}

struct Runner {
    input: Input,
    screen: String,
    pipeline: Option<gst::Pipeline>,
    watch: Option<gst::bus::BusWatchGuard>,
    retry: Option<glib::SourceId>,
    backoff_ms: u64,
    done: bool,
}

struct Edge {
    config: Config,
    runners: Vec<Runner>,
    content: Arc<Mutex<Content>>,
    main_loop: glib::MainLoop,
    stopping: bool,
    /// File inputs that ended with an error.
    failed: Vec<String>,
}

type EdgeRef = Rc<RefCell<Edge>>;

/// Runs until SIGTERM/SIGINT, or until every (file) input has ended.
pub fn run(path: &Path) -> Result<()> {
    let mut config = Config::load(path).map_err(anyhow::Error::msg)?;
    if config.preview && std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        // A failing window must not stop the measuring: the preview is the optional part.
        log("preview = true but no display (DISPLAY, WAYLAND_DISPLAY): running without the preview");
        config.preview = false;
    }
    let mut needed = vec!["blickfang-facedetect", "blickfang-gazedwell", "blickfang-metajson", "blickfang-mqttsink"];
    if config.demographics {
        needed.push("blickfang-demographics");
    }
    if config.preview {
        needed.extend(["blickfang-blurredact", "autovideosink"]);
    }
    for name in needed {
        if gst::ElementFactory::find(name).is_none() {
            bail!("element {name} not found (is the blickfang plugin installed?)");
        }
    }
    std::fs::create_dir_all(&config.spool_dir)
        .with_context(|| format!("spool_dir = {:?}: cannot create it", config.spool_dir.display().to_string()))?;

    let mut content = Content::default();
    for input in &config.inputs {
        let screen = config.screen_of(input);
        let id = input.content_id.clone().unwrap_or_default();
        let entry = content.on_screen.entry(screen).or_default();
        if entry.is_empty() {
            *entry = id;
        }
    }
    let content = Arc::new(Mutex::new(content));
    let runners = config
        .inputs
        .iter()
        .map(|i| Runner {
            input: i.clone(),
            screen: config.screen_of(i),
            pipeline: None,
            watch: None,
            retry: None,
            backoff_ms: config.retry.min_ms,
            done: false,
        })
        .collect();
    let main_loop = glib::MainLoop::new(None, false);
    if let Some(socket) = &config.content_socket {
        content_socket(socket, config.screens(), content.clone())?;
    }
    content_mqtt(&config, content.clone())?;
    let edge = Rc::new(RefCell::new(Edge {
        config,
        runners,
        content,
        main_loop: main_loop.clone(),
        stopping: false,
        failed: Vec::new(),
    }));
    let n = edge.borrow().runners.len();
    // From the loop, so that an input done at once can quit it.
    let first = edge.clone();
    glib::idle_add_local_once(move || {
        for i in 0..n {
            start(&first, i);
        }
    });
    // Signals arrive on a thread (tokio's handler); the main loop looks at their count.
    let signals = Arc::new(AtomicUsize::new(0));
    watch_signals(signals.clone())?;
    let mut seen = 0;
    let edge_for_signals = edge.clone();
    glib::timeout_add_local(Duration::from_millis(100), move || {
        let n = signals.load(Ordering::Relaxed);
        while seen < n {
            seen += 1;
            shutdown(&edge_for_signals);
        }
        glib::ControlFlow::Continue
    });
    main_loop.run();
    let mut e = edge.borrow_mut();
    for r in &mut e.runners {
        if let Some(p) = r.pipeline.take() {
            let _ = p.set_state(gst::State::Null);
        }
    }
    log("stopped");
    if !e.failed.is_empty() {
        bail!("input(s) {} failed (see above)", e.failed.join(", "));
    }
    Ok(())
}

/// Counts SIGTERM and SIGINT in `count`.
fn watch_signals(count: Arc<AtomicUsize>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().context("signal handling")?;
    let (mut term, mut int) = rt.block_on(async {
        Ok::<_, std::io::Error>((signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?))
    })?;
    std::thread::spawn(move || {
        rt.block_on(async {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    Ok(())
}

/// The launch line of input `r` (strings set as properties afterwards, not quoted here).
fn description(config: &Config, r: &Runner) -> String {
    let src = match &r.input.device {
        Some(_) => "v4l2src name=src ! decodebin",
        None => "uridecodebin name=src",
    };
    let demographics = if config.demographics { "blickfang-demographics ! " } else { "" };
    let preview = if config.preview {
        // The only pixels that leave the chain: faces blurred (blurredact fails closed), on this box's display.
        "tee name=t ! queue ! blickfang-blurredact ! videoconvert ! autovideosink sync=false t. ! queue ! "
    } else {
        ""
    };
    format!(
        "{src} ! videoconvert ! blickfang-facedetect ! {demographics}blickfang-gazedwell name=gaze ! {preview}\
         blickfang-metajson ! blickfang-mqttsink name=sink"
    )
}

fn build(config: &Config, r: &Runner, content_id: &str) -> Result<gst::Pipeline, String> {
    let p = gst::parse::launch(&description(config, r))
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    p.set_property("name", format!("edge-{}", r.input.name));
    let src = p.by_name("src").unwrap();
    if let Some(d) = &r.input.device {
        src.set_property("device", d);
    } else if let Some(u) = &r.input.uri {
        src.set_property("uri", u);
    } else if let Some(f) = &r.input.file {
        let abs = std::fs::canonicalize(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let uri = glib::filename_to_uri(&abs, None).map_err(|e| e.to_string())?;
        src.set_property("uri", uri.as_str());
    }
    if let Some(u) = &r.input.uri
        && u.starts_with("rtsp")
    {
        // A dropped RTSP server: notice within seconds over TCP instead of waiting for UDP timeouts.
        src.connect("source-setup", false, |args| {
            let source = args[1].get::<gst::Element>().ok()?;
            if source.has_property("protocols") {
                source.set_property_from_str("protocols", "tcp");
            }
            None
        });
    }
    let gaze = p.by_name("gaze").unwrap();
    gaze.set_property("min-group-size", config.min_group_size());
    if !content_id.is_empty() {
        gaze.set_property("content-id", content_id);
    }
    let sink = p.by_name("sink").unwrap();
    let m = &config.mqtt;
    sink.set_property("host", &m.host);
    sink.set_property("port", u32::from(m.port));
    sink.set_property("topic", &m.topic);
    sink.set_property("screen-id", &r.screen);
    if let Some(u) = &m.username {
        sink.set_property("username", u);
    }
    if let Some(pw) = &m.password {
        sink.set_property("password", pw);
    }
    if m.tls {
        sink.set_property("tls", true);
        sink.set_property("ca-file", m.ca_file.as_ref().map(|f| f.display().to_string()));
    }
    let spool = config.spool_dir.join(format!("{}.spool", r.input.name));
    sink.set_property("spool-file", spool.display().to_string());
    Ok(p)
}

fn start(edge: &EdgeRef, i: usize) {
    let mut e = edge.borrow_mut();
    if e.stopping {
        return;
    }
    let content_id = e.content.lock().unwrap().on_screen.get(&e.runners[i].screen).cloned().unwrap_or_default();
    let built = build(&e.config, &e.runners[i], &content_id);
    let name = e.runners[i].input.name.clone();
    let pipeline = match built {
        Ok(p) => p,
        Err(err) => {
            log(format!("input {name}: cannot build the pipeline: {err}"));
            drop(e);
            schedule_retry(edge, i);
            return;
        }
    };
    let weak = Rc::downgrade(edge);
    let watch = pipeline
        .bus()
        .unwrap()
        .add_watch_local(move |_, msg| {
            if let Some(edge) = weak.upgrade() {
                on_message(&edge, i, msg);
            }
            glib::ControlFlow::Continue
        })
        .expect("one bus watch per pipeline");
    let gaze = pipeline.by_name("gaze").unwrap();
    let screen = e.runners[i].screen.clone();
    e.content.lock().unwrap().gazes.insert(name.clone(), (screen, gaze));
    let r = &mut e.runners[i];
    r.pipeline = Some(pipeline.clone());
    r.watch = Some(watch);
    log(format!("input {name}: starting"));
    drop(e);
    if pipeline.set_state(gst::State::Playing).is_err() {
        // Say why (the errors already on the bus), then retry: the watch goes with the pipeline.
        let bus = pipeline.bus().unwrap();
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                log(format!("input {name}: error from {from}: {}", err.error()));
                if let Some(d) = err.debug() {
                    log(format!("input {name}:   ({d})"));
                }
            }
        }
        log(format!("input {name}: cannot start"));
        teardown(edge, i);
        retry_or_finish(edge, i);
    }
}

/// Stops input `i`'s pipeline (mqttsink keeps its undelivered records in the spool file).
fn teardown(edge: &EdgeRef, i: usize) {
    let (pipeline, watch) = {
        let mut e = edge.borrow_mut();
        let name = e.runners[i].input.name.clone();
        e.content.lock().unwrap().gazes.remove(&name);
        let r = &mut e.runners[i];
        (r.pipeline.take(), r.watch.take())
    };
    if let Some(p) = pipeline {
        let _ = p.set_state(gst::State::Null);
    }
    drop(watch);
}

fn schedule_retry(edge: &EdgeRef, i: usize) {
    let mut e = edge.borrow_mut();
    if e.stopping {
        e.runners[i].done = true;
        drop(e);
        quit_when_done(edge);
        return;
    }
    let max = e.config.retry.max_ms;
    let r = &mut e.runners[i];
    let delay = r.backoff_ms;
    r.backoff_ms = (r.backoff_ms * 2).min(max);
    log(format!("input {}: retrying in {:.1} s", r.input.name, delay as f64 / 1000.0));
    let weak = Rc::downgrade(edge);
    r.retry = Some(glib::timeout_add_local_once(Duration::from_millis(delay), move || {
        if let Some(edge) = weak.upgrade() {
            edge.borrow_mut().runners[i].retry = None;
            start(&edge, i);
        }
    }));
}

fn on_message(edge: &EdgeRef, i: usize, msg: &gst::Message) {
    use gst::MessageView;
    let (name, is_file, stopping) = {
        let e = edge.borrow();
        let r = &e.runners[i];
        (r.input.name.clone(), r.input.file.is_some(), e.stopping)
    };
    let from = || msg.src().map(|s| s.name().to_string()).unwrap_or_else(|| "the pipeline".into());
    match msg.view() {
        MessageView::Error(err) => {
            log(format!("input {name}: error from {}: {}", from(), err.error()));
            if let Some(d) = err.debug() {
                log(format!("input {name}:   ({d})"));
            }
            teardown(edge, i);
            retry_or_finish(edge, i);
        }
        MessageView::Eos(_) => {
            teardown(edge, i);
            if stopping || is_file {
                log(format!("input {name}: ended"));
                finish(edge, i);
            } else {
                log(format!("input {name}: the stream ended"));
                schedule_retry(edge, i);
            }
        }
        MessageView::Warning(w) => log(format!("input {name}: warning from {}: {}", from(), w.error())),
        MessageView::StateChanged(s) => {
            let e = edge.borrow();
            let is_pipeline =
                e.runners[i].pipeline.as_ref().is_some_and(|p| msg.src() == Some(p.upcast_ref::<gst::Object>()));
            if is_pipeline && s.current() == gst::State::Playing {
                drop(e);
                log(format!("input {name}: running"));
                let mut e = edge.borrow_mut();
                e.runners[i].backoff_ms = e.config.retry.min_ms;
            }
        }
        MessageView::Element(el) => {
            if let Some(s) = el.structure()
                && s.name() == CONNECTION_MESSAGE
            {
                log(format!("input {name}: broker connection: {s}"));
            }
        }
        _ => {}
    }
}

/// After an error: a camera is retried, a file is done (and the run failed).
fn retry_or_finish(edge: &EdgeRef, i: usize) {
    let (is_file, name) = {
        let e = edge.borrow();
        (e.runners[i].input.file.is_some(), e.runners[i].input.name.clone())
    };
    if is_file {
        edge.borrow_mut().failed.push(name);
        finish(edge, i);
    } else {
        schedule_retry(edge, i);
    }
}

fn finish(edge: &EdgeRef, i: usize) {
    edge.borrow_mut().runners[i].done = true;
    quit_when_done(edge);
}

fn quit_when_done(edge: &EdgeRef) {
    let e = edge.borrow();
    if e.runners.iter().all(|r| r.done) {
        e.main_loop.quit();
    }
}

/// SIGTERM/SIGINT: EOS to every running input (final reports, spool drained); a second one stops at once.
fn shutdown(edge: &EdgeRef) {
    let mut e = edge.borrow_mut();
    if e.stopping {
        log("second signal: stopping now (undelivered records stay in the spool files)");
        e.main_loop.quit();
        return;
    }
    e.stopping = true;
    log("stopping: ending every input's stream (final content reports follow)");
    let mut pipelines = Vec::new();
    for r in &mut e.runners {
        if let Some(id) = r.retry.take() {
            id.remove();
        }
        match &r.pipeline {
            Some(p) => pipelines.push(p.clone()),
            None => r.done = true,
        }
    }
    let main_loop = e.main_loop.clone();
    drop(e);
    for p in pipelines {
        p.send_event(gst::event::Eos::new());
    }
    glib::timeout_add_local_once(SHUTDOWN_GRACE, move || {
        log("stopping: not every input ended in time; stopping now");
        main_loop.quit();
    });
    quit_when_done(edge);
}

/// The local content channel: `<screen> <content-id>` lines (or `<content-id>` with one screen).
fn content_socket(path: &Path, screens: Vec<String>, content: Arc<Mutex<Content>>) -> Result<()> {
    use std::os::unix::net::UnixListener;
    // A socket left by a previous run that did not end cleanly.
    if std::fs::symlink_metadata(path).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type())) {
        std::fs::remove_file(path).ok();
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("content_socket = {:?}: cannot listen", path.display().to_string()))?;
    // Players on this box run as other users: anyone local may say what is on screen (ids only, checked).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("content_socket = {:?}: cannot open it to players", path.display().to_string()))?;
    log(format!("content channel: Unix socket {}", path.display()));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (screens, content) = (screens.clone(), content.clone());
            std::thread::spawn(move || {
                let Ok(mut out) = conn.try_clone() else { return };
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { break };
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    let answer = match line.split_once(char::is_whitespace) {
                        Some((screen, id)) => Content::set(&content, screen, id.trim()),
                        None if screens.len() == 1 => Content::set(&content, &screens[0], line),
                        None => Err("several screens: say `<screen> <content-id>`".into()),
                    };
                    let reply = match answer {
                        Ok(()) => "ok\n".to_string(),
                        Err(e) => format!("error: {e}\n"),
                    };
                    if out.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

/// The content id from a retained message: the payload text, or `{"content_id": ...}`.
fn content_payload(payload: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        return v.get("content_id")?.as_str().map(str::to_string);
    }
    Some(text.to_string())
}

/// The MQTT content channel: subscribes to every screen's retained content topic, on the
/// records' broker with the records' settings (`[mqtt]`: credentials, `tls` with `ca_file`).
fn content_mqtt(config: &Config, content: Arc<Mutex<Content>>) -> Result<()> {
    use rumqttc::{Client, Event, Incoming, MqttOptions, QoS, TlsConfiguration, Transport};
    let m = &config.mqtt;
    let mut opts = MqttOptions::new(format!("blickfang-edge-content-{}", std::process::id()), &m.host, m.port);
    opts.set_keep_alive(Duration::from_secs(30));
    if let (Some(u), Some(p)) = (&m.username, &m.password) {
        opts.set_credentials(u, p);
    }
    if m.tls {
        // The check at load made ca_file present with tls; mqttsink trusts the same CA.
        let path = m.ca_file.clone().unwrap_or_default();
        let ca = std::fs::read(&path).with_context(|| format!("mqtt.ca_file {}: cannot read", path.display()))?;
        // rumqttc's rustls takes the process's provider (ring, as mqttsink and the collector use).
        let _ = rumqttc::tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Simple { ca, alpn: None, client_auth: None }));
    }
    let topics: HashMap<String, String> =
        config.screens().into_iter().map(|s| (m.content_topic.replace("{screen}", &s), s)).collect();
    log(format!("content channel: MQTT {}", topics.keys().cloned().collect::<Vec<_>>().join(", ")));
    let (client, mut connection) = Client::new(opts, 16);
    std::thread::spawn(move || {
        let mut failing = false;
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    failing = false;
                    for t in topics.keys() {
                        let _ = client.subscribe(t, QoS::AtLeastOnce);
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let Some(screen) = topics.get(p.topic.as_str()) else { continue };
                    match content_payload(&p.payload) {
                        Some(id) => {
                            if let Err(e) = Content::set(&content, screen, &id) {
                                log(format!("content channel: {}: {e}", p.topic));
                            }
                        }
                        None => log(format!("content channel: {}: the payload is not a content id", p.topic)),
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if !failing {
                        log(format!("content channel: MQTT: {e}; retrying"));
                        failing = true;
                    }
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_payloads() {
        assert_eq!(content_payload(b" coffee\n").as_deref(), Some("coffee"));
        assert_eq!(content_payload(br#"{"content_id": "sale"}"#).as_deref(), Some("sale"));
        assert_eq!(content_payload(b"{bad"), None);
    }

    #[test]
    fn content_ids_are_checked_and_screens_known() {
        let c = Mutex::new(Content::default());
        c.lock().unwrap().on_screen.insert("s".into(), String::new());
        assert!(Content::set(&c, "s", "coffee").is_ok());
        assert_eq!(c.lock().unwrap().on_screen["s"], "coffee");
        assert!(Content::set(&c, "t", "coffee").unwrap_err().contains("unknown screen"));
        assert!(Content::set(&c, "s", "a\nb").is_err());
    }
}
