//! `blickfang-mqttsink` against a real `mosquitto` on 127.0.0.1 (started by
//! the test itself, see tests/mosquitto): no loss while the broker is killed
//! and restarted, reported drops when the spool is full, the spool file,
//! TLS with credentials, topics per record type.

mod common;
mod mosquitto;
mod records_schema;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstblickfang::meta::PERSON_EVENT;
use gstblickfang::mqttsink::{CONNECTION_MESSAGE, DRAIN_MESSAGE, DROPPED_MESSAGE};
use mosquitto::{Mosquitto, Subscriber};
use records_schema::RecordSchema;
use rumqttc::{Client, Event, Incoming, MqttOptions, TlsConfiguration, Transport};
use serde_json::Value;

/// A real analysed frame: t1.jpg (6 faces) through facedetect.
fn analysed_frame() -> (gst::Buffer, gst::Caps) {
    common::init();
    let (frames, caps) = common::decode_frames(&common::data("photos/t1.jpg"), "I420", 1);
    let detector = gst::ElementFactory::make("blickfang-facedetect").build().unwrap();
    let mut h = common::harness(detector, &caps);
    let out = common::run_frames(&mut h, &frames);
    assert!(gstblickfang::meta::faces(&out[0]).len() >= 3, "t1.jpg shows people");
    (out.into_iter().next().unwrap(), caps)
}

/// appsrc (analysed video) ! blickfang-metajson ! blickfang-mqttsink, with the
/// sink's element messages collected.
struct Pipeline {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst::Element,
    messages: Arc<Mutex<Vec<gst::Structure>>>,
    /// Element warnings on the bus, as "message (debug)".
    warnings: Arc<Mutex<Vec<String>>>,
    frame: gst::Buffer,
    pushed: u64,
}

impl Pipeline {
    fn new(frame: &gst::Buffer, caps: &gst::Caps, sink_props: &str) -> Self {
        let desc = format!(
            "appsrc name=src format=time block=true max-buffers=64 ! blickfang-metajson utc=never ! \
             blickfang-mqttsink name=sink {sink_props}"
        );
        let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
        let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
        src.set_caps(Some(caps));
        let sink = pipeline.by_name("sink").unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let warnings = Arc::new(Mutex::new(Vec::new()));
        {
            let (messages, warnings) = (messages.clone(), warnings.clone());
            pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
                match msg.view() {
                    gst::MessageView::Element(e) => {
                        if let Some(s) = e.structure() {
                            messages.lock().unwrap().push(s.to_owned());
                        }
                    }
                    gst::MessageView::Warning(w) => {
                        warnings.lock().unwrap().push(format!("{} ({:?})", w.error(), w.debug()));
                    }
                    _ => {}
                }
                gst::BusSyncReply::Pass
            });
        }
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, src, sink, messages, warnings, frame: frame.clone(), pushed: 0 }
    }

    fn push(&mut self) {
        let mut b = self.frame.copy();
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(40) * self.pushed);
            b.set_duration(gst::ClockTime::from_mseconds(40));
        }
        self.src.push_buffer(b).expect("pushed");
        self.pushed += 1;
    }

    fn event(&self, e: gst::Event) {
        assert!(self.src.send_event(e));
    }

    fn counter(&self, name: &str) -> u64 {
        self.sink.property::<u64>(name)
    }

    /// Waits for `counter(name)` to reach `at_least`.
    fn wait_counter(&self, name: &str, at_least: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        while self.counter(name) < at_least && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.counter(name)
    }

    fn messages(&self, name: &str) -> Vec<gst::Structure> {
        self.messages.lock().unwrap().iter().filter(|s| s.name() == name).cloned().collect()
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap().clone()
    }

    /// Waits for a connection message with `reason`, at most `timeout`.
    fn wait_reason(&self, reason: &str, timeout: Duration) -> Option<gst::Structure> {
        let deadline = Instant::now() + timeout;
        loop {
            let found =
                self.messages(CONNECTION_MESSAGE).into_iter().find(|s| s.get::<&str>("reason").ok() == Some(reason));
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// EOS, then waits for it at the sink (after its drain) or an error.
    fn finish(self, timeout: Duration) -> Self {
        self.src.end_of_stream().unwrap();
        let msg = self
            .pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(
                gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("EOS in time");
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{} {:?}", e.error(), e.debug());
        }
        self
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn seqs(records: &[(String, Value)]) -> Vec<u64> {
    records.iter().map(|(_, v)| v["seq"].as_u64().unwrap()).collect()
}

/// `seqs` without the repeats QoS 1 allows (first arrivals, in arrival order).
fn first_arrivals(records: &[(String, Value)]) -> Vec<u64> {
    let mut seen = HashSet::new();
    seqs(records).into_iter().filter(|s| seen.insert(*s)).collect()
}

#[test]
fn ten_thousand_records_survive_two_broker_restarts() {
    const N: u64 = 10_000;
    let started = Instant::now();
    let (frame, caps) = analysed_frame();
    let mut broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "blickfang-test-subscriber", "blickfang/screen-1/#", None);
    let mut p = Pipeline::new(
        &frame,
        &caps,
        &format!(
            "host=127.0.0.1 port={} screen-id=screen-1 spool-size=20000 drain-timeout=60000 \
             reconnect-min=50 reconnect-max=400",
            broker.port
        ),
    );
    let mut queued_at_restart = Vec::new();
    for i in 0..N {
        p.push();
        // About 1000 records a second, as a busy screen would never produce.
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(10));
        }
        match i {
            2_500 | 6_000 => broker.stop(),
            4_000 | 7_500 => {
                queued_at_restart.push(p.counter("queued"));
                broker.restart();
            }
            _ => {}
        }
    }
    let p = p.finish(Duration::from_secs(90));
    let got = sub.wait_json(Duration::from_secs(60), |r| {
        let mut s: Vec<u64> = seqs(r);
        s.sort_unstable();
        s.dedup();
        s.len() as u64 >= N
    });
    let all = seqs(&got);
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    let duplicates = all.len() - unique.len();
    let missing: Vec<u64> = (0..N).filter(|i| unique.binary_search(i).is_err()).take(20).collect();
    eprintln!(
        "{} records received ({} unique, {duplicates} duplicates from QoS 1 resends), {} s, spool at restarts {:?}",
        all.len(),
        unique.len(),
        started.elapsed().as_secs_f64(),
        queued_at_restart
    );
    assert!(missing.is_empty(), "missing seq {missing:?}…\nbroker log:\n{}", broker.log());
    assert_eq!(unique, (0..N).collect::<Vec<_>>());
    assert!(
        queued_at_restart.iter().all(|&q| q >= 500),
        "records waited while the broker was away: {queued_at_restart:?}"
    );
    // In order: each record's first arrival comes after the one before it.
    let firsts = first_arrivals(&got);
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "first arrivals out of order");
    // The state at start is posted too: count the losses of a connection.
    let states: Vec<bool> =
        p.messages(CONNECTION_MESSAGE).iter().map(|s| s.get::<bool>("connected").unwrap()).collect();
    assert_eq!(states.first(), Some(&false), "the state at start is on the bus");
    let lost = states.windows(2).filter(|w| w[0] && !w[1]).count();
    assert!(lost >= 2, "the sink saw the broker go away twice: {lost}");
    assert_eq!(p.counter("dropped"), 0);
    assert_eq!(p.counter("queued"), 0);
    assert!(p.counter("published") >= N);
    let drained = p.messages(DRAIN_MESSAGE);
    assert!(drained.len() == 1 && drained[0].get::<bool>("drained").unwrap(), "{drained:?}");
    // Every record as published is valid.
    let schema = RecordSchema::load();
    for (topic, r) in got.iter().step_by(97) {
        schema.check(r);
        assert_eq!(topic, "blickfang/screen-1/frame");
        assert!(r["faces"].as_array().unwrap().len() >= 3);
    }
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
}

#[test]
fn a_full_spool_drops_new_records_and_says_so() {
    let (frame, caps) = analysed_frame();
    let mut broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "blickfang-test-drops", "blickfang/#", None);
    broker.stop();
    let mut p = Pipeline::new(
        &frame,
        &caps,
        &format!("host=127.0.0.1 port={} screen-id=s spool-size=100 reconnect-min=20 reconnect-max=100", broker.port),
    );
    for _ in 0..300 {
        p.push();
    }
    // The last 200 did not fit.
    assert_eq!(p.wait_counter("dropped", 200, Duration::from_secs(10)), 200);
    assert_eq!(p.counter("queued"), 100);
    let first = p.messages(DROPPED_MESSAGE);
    assert!(!first.is_empty(), "the loss is on the bus while it happens");
    assert_eq!(first[0].get::<u64>("dropped").unwrap(), 1);
    broker.restart();
    assert_eq!(p.wait_counter("published", 100, Duration::from_secs(20)), 100);
    p.push();
    let p = p.finish(Duration::from_secs(30));
    let ended: Vec<_> = p.messages(DROPPED_MESSAGE).into_iter().filter(|s| s.get::<bool>("ended").unwrap()).collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].get::<u64>("dropped").unwrap(), 200);
    assert_eq!(ended[0].get::<u64>("total-dropped").unwrap(), 200);
    let got = sub.wait_json(Duration::from_secs(20), |r| r.iter().any(|(_, v)| v["seq"] == 300));
    let expected: Vec<u64> = (0..100).chain([300]).collect();
    assert_eq!(first_arrivals(&got), expected);
    let last = &got.last().unwrap().1;
    assert_eq!(last["dropped"], 200, "the next record says what was lost before it");
    RecordSchema::load().check(last);
}

#[test]
fn the_spool_file_keeps_undelivered_records_for_the_next_start() {
    let (frame, caps) = analysed_frame();
    let mut broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "blickfang-test-file", "blickfang/#", None);
    broker.stop();
    let dir = std::env::temp_dir().join(format!("blickfang-spool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("spool.ndjson");
    let props =
        format!("host=127.0.0.1 port={} spool-file={} drain-timeout=200 reconnect-min=20", broker.port, file.display());
    {
        let mut p = Pipeline::new(&frame, &caps, &props);
        for _ in 0..20 {
            p.push();
        }
        let p = p.finish(Duration::from_secs(10));
        let drain = p.messages(DRAIN_MESSAGE);
        assert_eq!(drain[0].get::<u64>("queued").unwrap(), 20);
    }
    // Metadata lines only: the same records that would have been published.
    let text = std::fs::read_to_string(&file).unwrap();
    let records = RecordSchema::load().check_lines(&text);
    assert_eq!(records.iter().map(|r| r["seq"].as_u64().unwrap()).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());

    broker.restart();
    let mut p = Pipeline::new(&frame, &caps, &props);
    p.push();
    let _p = p.finish(Duration::from_secs(30));
    let got = sub.wait_json(Duration::from_secs(20), |r| r.len() >= 21);
    // The new element instance starts its seq at 0 again, after the 20 spooled.
    let mut s = seqs(&got);
    s.dedup();
    assert_eq!(s, (0..20).chain([0]).collect::<Vec<_>>());
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "emptied once delivered");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn topics_follow_the_template_and_the_record_type() {
    let (frame, caps) = analysed_frame();
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "blickfang-test-topics", "signage/#", None);
    let mut p = Pipeline::new(
        &frame,
        &caps,
        &format!("host=127.0.0.1 port={} screen-id=lobby/2 topic=signage/{{screen}}/{{type}}", broker.port),
    );
    p.push();
    p.event(gst::event::CustomDownstream::new(
        gst::Structure::builder(PERSON_EVENT)
            .field("event", "appeared")
            .field("id", 4u32)
            .field("running-time", 0.0f64)
            .build(),
    ));
    p.push();
    let _p = p.finish(Duration::from_secs(30));
    let got = sub.wait_json(Duration::from_secs(10), |r| r.len() >= 3);
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["signage/lobby_2/frame", "signage/lobby_2/person-event", "signage/lobby_2/frame"]);
    let schema = RecordSchema::load();
    for (_, r) in &got {
        schema.check(r);
    }
}

#[test]
fn a_wildcard_topic_is_an_error_at_start() {
    common::init();
    let sink = gst::ElementFactory::make("blickfang-mqttsink").property("topic", "a/#").build().unwrap();
    assert!(sink.set_state(gst::State::Paused).is_err());
    sink.set_state(gst::State::Null).unwrap();
    // No short name: gst-plugins-bad's mqttsink keeps it.
    assert!(gst::ElementFactory::find("blickfang-mqttsink").is_some());
    let ours = gst::ElementFactory::find("mqttsink").is_some_and(|f| f.plugin_name().as_deref() == Some("blickfang"));
    assert!(!ours, "blickfang must not register mqttsink");
}

#[test]
fn tls_with_username_and_password() {
    let (frame, caps) = analysed_frame();
    let dir = std::env::temp_dir().join(format!("blickfang-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    mosquitto::make_certs(&dir);
    let passwd = dir.join("passwd");
    let st = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["screen", "s3cret"])
        .status()
        .expect("mosquitto_passwd (apt mosquitto) runs");
    assert!(st.success());
    let tls_port = mosquitto::free_port();
    let broker = Mosquitto::start_with(&format!(
        "password_file {passwd}\nallow_anonymous false\n\
         listener {tls_port} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n",
        passwd = passwd.display(),
        d = dir.display()
    ));
    // The subscriber reads on the plain listener, with the same credentials.
    let sub = Subscriber::start(broker.port, "blickfang-test-tls", "blickfang/#", Some(("screen", "s3cret")));
    let props = format!(
        "host=127.0.0.1 port={tls_port} tls=true ca-file={}/ca.crt username=screen password=s3cret",
        dir.display()
    );
    let mut p = Pipeline::new(&frame, &caps, &props);
    for _ in 0..50 {
        p.push();
    }
    let p = p.finish(Duration::from_secs(30));
    assert_eq!(p.counter("published"), 50);
    assert_eq!(p.sink.property::<Option<String>>("password"), None, "secrets are not readable back");
    let got = sub.wait_json(Duration::from_secs(10), |r| r.len() >= 50);
    assert_eq!(first_arrivals(&got), (0..50).collect::<Vec<_>>());

    // A wrong password never connects: nothing published, the records stay spooled.
    let bad = props.replace("s3cret", "wrong") + " drain-timeout=300";
    let mut p = Pipeline::new(&frame, &caps, &bad);
    p.push();
    let p = p.finish(Duration::from_secs(10));
    assert_eq!(p.counter("published"), 0);
    assert_eq!(p.counter("queued"), 1);
    // ... and says why, on the bus, as the broker said it.
    let refused = p.messages(CONNECTION_MESSAGE).into_iter().find(|s| s.has_field("reason")).expect("a reason");
    let reason = refused.get::<String>("reason").unwrap();
    assert!(["not-authorized", "bad-credentials"].contains(&reason.as_str()), "{refused:?}");
    let warnings = p.warnings();
    assert!(warnings.iter().any(|w| w.contains("refused") && w.contains("retrying")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("not delivered") && w.contains("refused")), "{warnings:?}");
    drop(p);
    // A ca-file that did not sign the broker's certificate: a TLS failure, said as such.
    let wrong_ca = props.replace("ca.crt", "server.crt") + " drain-timeout=300";
    let mut p = Pipeline::new(&frame, &caps, &wrong_ca);
    p.push();
    let tls = p.wait_reason("tls", Duration::from_secs(10));
    let p = p.finish(Duration::from_secs(10));
    assert!(tls.is_some(), "{:?}", p.messages(CONNECTION_MESSAGE));
    assert!(p.warnings().iter().any(|w| w.contains("TLS")), "{:?}", p.warnings());
    assert_eq!(p.counter("published"), 0);
    drop(p);
    // A ca-file without a certificate can never work: an error at start that names it.
    common::init();
    let sink = gst::ElementFactory::make("blickfang-mqttsink")
        .property("tls", true)
        .property("ca-file", passwd.to_str().unwrap())
        .build()
        .unwrap();
    assert!(sink.set_state(gst::State::Paused).is_err());
    sink.set_state(gst::State::Null).unwrap();
    // Over TLS, a client without the CA cannot talk to the broker either.
    let mut options = MqttOptions::new("blickfang-test-noca", "127.0.0.1", tls_port);
    options.set_credentials("screen", "s3cret");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let other_ca = std::fs::read(dir.join("server.crt")).unwrap();
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: other_ca,
        alpn: None,
        client_auth: None,
    }));
    let (_c, mut conn) = Client::new(options, 4);
    let connected = matches!(conn.recv_timeout(Duration::from_secs(5)), Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))));
    assert!(!connected, "a server certificate not signed by the configured CA must be refused");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn lines_that_could_hold_pixels_are_refused_and_records_may_span_buffers() {
    common::init();
    let broker = Mosquitto::start();
    let sub = Subscriber::start(broker.port, "blickfang-test-refuse", "blickfang/#", None);
    let desc = format!(
        "appsrc name=src format=bytes caps=application/x-ndjson ! blickfang-mqttsink name=sink host=127.0.0.1 port={}",
        broker.port
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let crop = format!(
        r#"{{"schema":"blickfang/2","type":"frame","screen":"s","run":"r","seq":1,"faces":[{{"crop":"{}"}}]}}"#,
        "A".repeat(5000)
    );
    let embedding = serde_json::json!({"seq": 2, "embedding": vec![0.25; 128]}).to_string();
    let text = format!(
        "not json\n{crop}\n{embedding}\n{}\n{}\n",
        r#"{"schema":"blickfang/2","type":"frame","screen":"s","run":"r","seq":0,"width":1,"height":1,"faces":[]}"#,
        r#"{"schema":"blickfang/2","type":"person-event","screen":"s","run":"r","seq":3,"event":"left","id":1,"running_time":1.0}"#
    );
    // In pieces that cut records in two.
    for chunk in text.as_bytes().chunks(37) {
        src.push_buffer(gst::Buffer::from_slice(chunk.to_vec())).unwrap();
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert_eq!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos));
    let sink = pipeline.by_name("sink").unwrap();
    assert_eq!(sink.property::<u64>("rejected"), 3, "not JSON, a crop, an embedding");
    assert_eq!(sink.property::<u64>("published"), 2);
    pipeline.set_state(gst::State::Null).unwrap();
    let got = sub.wait_json(Duration::from_secs(10), |r| r.len() >= 2);
    assert_eq!(first_arrivals(&got), [0, 3]);
    // Default topic blickfang/{screen}/{type}, the screen being the host name.
    assert!(got[1].0.starts_with("blickfang/") && got[1].0.ends_with("/person-event"), "{}", got[1].0);
    assert_eq!(got[1].0.split('/').count(), 3);
}

/// The repro of issue 15: a broker with `allow_anonymous false` and a sink
/// without credentials. The sink says so at once: the state at start, then a
/// connection message with the broker's reason and a warning naming it; it
/// keeps the records and keeps retrying.
#[test]
fn a_broker_that_refuses_the_client_is_said_on_the_bus() {
    let (frame, caps) = analysed_frame();
    let dir = std::env::temp_dir().join(format!("blickfang-noanon-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let passwd = dir.join("passwd");
    let st = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["screen", "s3cret"])
        .status()
        .expect("mosquitto_passwd (apt mosquitto) runs");
    assert!(st.success());
    let broker = Mosquitto::start_with(&format!("password_file {}\nallow_anonymous false\n", passwd.display()));
    let props = format!("host=127.0.0.1 port={} reconnect-min=50 reconnect-max=100 drain-timeout=500", broker.port);
    let mut p = Pipeline::new(&frame, &caps, &props);
    for _ in 0..20 {
        p.push();
    }
    let refused = p.wait_reason("not-authorized", Duration::from_secs(10));
    // Retried several times by now: still one message and one warning for it.
    std::thread::sleep(Duration::from_millis(500));
    let p = p.finish(Duration::from_secs(10));
    let states = p.messages(CONNECTION_MESSAGE);
    assert!(refused.is_some(), "{states:?}");
    assert!(!states[0].get::<bool>("connected").unwrap() && !states[0].has_field("reason"), "at start: {states:?}");
    assert_eq!(states[0].get::<String>("broker").unwrap(), format!("127.0.0.1:{}", broker.port));
    assert_eq!(states.len(), 2, "the same failure is said once: {states:?}");
    assert!(states[1].get::<String>("error").unwrap().contains("NotAuthorized"), "{states:?}");
    let warnings = p.warnings();
    let named: Vec<_> = warnings.iter().filter(|w| w.contains("not authorized") && w.contains("retrying")).collect();
    assert_eq!(named.len(), 1, "{warnings:?}");
    assert!(named[0].contains(&format!("127.0.0.1:{}", broker.port)), "{named:?}");
    assert!(warnings.iter().any(|w| w.contains("20 records not delivered") && w.contains("not authorized")));
    assert_eq!(p.counter("published"), 0);
    assert_eq!(p.counter("queued"), 20);
    assert_eq!(p.counter("dropped"), 0);
    drop(p);

    // With the credentials the same records go out.
    let sub = Subscriber::start(broker.port, "blickfang-test-auth", "blickfang/#", Some(("screen", "s3cret")));
    let mut p = Pipeline::new(&frame, &caps, &(props + " username=screen password=s3cret"));
    p.push();
    let p = p.finish(Duration::from_secs(10));
    let states: Vec<bool> =
        p.messages(CONNECTION_MESSAGE).iter().map(|s| s.get::<bool>("connected").unwrap()).collect();
    assert_eq!(states, [false, true], "connecting, connected");
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    assert_eq!(p.counter("published"), 1);
    assert_eq!(sub.wait_json(Duration::from_secs(10), |r| !r.is_empty()).len(), 1);
    drop(p);

    // on-connect-failure=error: the same refusal stops the pipeline, with the broker's reason.
    common::init();
    let desc = format!(
        "appsrc name=src format=bytes caps=application/x-ndjson ! blickfang-mqttsink host=127.0.0.1 port={} \
         on-connect-failure=error",
        broker.port
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // Said with the next record, on the streaming thread.
    let line = r#"{"schema":"blickfang/1","type":"frame","seq":0,"width":1,"height":1,"faces":[]}"#;
    let bus = pipeline.bus().unwrap();
    let mut msg = None;
    for _ in 0..100 {
        let _ = src.push_buffer(gst::Buffer::from_slice(format!("{line}\n")));
        msg = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(50), &[gst::MessageType::Error]);
        if msg.is_some() {
            break;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let Some(msg) = msg else { panic!("no error") };
    let gst::MessageView::Error(e) = msg.view() else { unreachable!() };
    assert!(e.error().matches(gst::ResourceError::NotAuthorized), "{:?}", e.error());
    assert!(e.error().to_string().contains("not authorized"), "{}", e.error());
    std::fs::remove_dir_all(&dir).ok();
}

/// Nothing listening: `unreachable`. A broker that accepts TCP and never
/// answers: `timeout`, after `connect-timeout` milliseconds.
#[test]
fn an_unreachable_or_silent_broker_is_said_on_the_bus() {
    let (frame, caps) = analysed_frame();
    let closed = mosquitto::free_port();
    let mut p = Pipeline::new(&frame, &caps, &format!("host=127.0.0.1 port={closed} drain-timeout=100"));
    p.push();
    let unreachable = p.wait_reason("unreachable", Duration::from_secs(10));
    let p = p.finish(Duration::from_secs(10));
    assert!(unreachable.is_some(), "{:?}", p.messages(CONNECTION_MESSAGE));
    assert!(p.warnings().iter().any(|w| w.contains("cannot be reached")), "{:?}", p.warnings());
    drop(p);

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let mut p =
        Pipeline::new(&frame, &caps, &format!("host=127.0.0.1 port={port} connect-timeout=300 drain-timeout=100"));
    p.push();
    let timeout = p.wait_reason("timeout", Duration::from_secs(10));
    let took = started.elapsed();
    let p = p.finish(Duration::from_secs(10));
    let timeout = timeout.unwrap_or_else(|| panic!("{:?}", p.messages(CONNECTION_MESSAGE)));
    assert!(timeout.get::<String>("error").unwrap().contains("300 ms"), "{timeout:?}");
    // Milliseconds, not seconds (rumqttc's own timer counts whole seconds).
    assert!(took < Duration::from_millis(900), "connect-timeout=300 gave up after {took:?}");
    drop(silent);
}

#[test]
fn every_time_property_is_in_milliseconds() {
    common::init();
    let sink = gst::ElementFactory::make("blickfang-mqttsink").build().unwrap();
    let defaults = [
        ("keep-alive", 30_000u32),
        ("connect-timeout", 5_000),
        ("drain-timeout", 10_000),
        ("reconnect-min", 100),
        ("reconnect-max", 10_000),
    ];
    for (name, default) in defaults {
        assert_eq!(sink.property::<u32>(name), default, "{name}");
        let blurb = sink.find_property(name).unwrap().blurb().unwrap_or_default().to_string();
        assert!(blurb.to_lowercase().contains("millisecond"), "{name}: {blurb}");
    }
    // MQTT counts the keep-alive in whole seconds: under one second (but not 0, none) is refused.
    let sink = gst::ElementFactory::make("blickfang-mqttsink").property("keep-alive", 500u32).build().unwrap();
    assert!(sink.set_state(gst::State::Paused).is_err());
    sink.set_state(gst::State::Null).unwrap();
}
