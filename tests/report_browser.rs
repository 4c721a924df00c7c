//! The HTML report in a real browser: Debian's headless Chromium driven over
//! the DevTools protocol (a tiny synchronous client on `tungstenite`). The
//! page loads with no console error, no exception and no network request
//! but the file itself; the numbers of its table equal the JSON's; a
//! screenshot is taken. With `BLICKFANG_REPORT_SCREENSHOT=docs/report-screenshot.png`
//! the screenshot of the demo report is also written there (how the README's
//! image is regenerated). The demo clip's own report (`make run`: 2 people,
//! `blickfang analyze` then `blickfang report --records`) is fully suppressed
//! at the default k and passes the same checks.

mod common;
mod report;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use blickfang_report::input::{RecordOptions, cells_from_records};
use blickfang_report::render::{Format, render};
use blickfang_report::{Catalogue, Dimension, Header, Query, build};
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

const CHROMIUM: &str = "/usr/bin/chromium";

struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
    /// Every event received, in order.
    events: Vec<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn start(profile: &Path) -> Self {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh --test)"
        );
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut url = None;
        let mut seen = String::new();
        for _ in 0..200 {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(rest) = line.trim().strip_prefix("DevTools listening on ") {
                url = Some(rest.to_string());
                break;
            }
            seen.push_str(&line);
        }
        let url = url.unwrap_or_else(|| panic!("no DevTools URL from chromium:\n{seen}"));
        // Keep draining stderr so chromium never blocks on it.
        std::thread::spawn(move || for _ in stderr.lines() {});
        let (ws, _) = tungstenite::connect(url.as_str()).expect("DevTools WebSocket");
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        Self { child, ws, next_id: 1, session: None, events: Vec::new() }
    }

    /// Sends a command (on the page's session once attached) and waits for its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::text(msg.to_string())).expect("send to DevTools");
        loop {
            let v = self.read();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read from DevTools") {
                Message::Text(t) => return serde_json::from_str(&t).expect("DevTools JSON"),
                Message::Close(_) => panic!("DevTools closed"),
                _ => {}
            }
        }
    }

    /// Waits for an event named `method` (already received or to come).
    fn wait_for(&mut self, method: &str, timeout: Duration) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            let v = self.read();
            let done = v["method"] == method;
            self.events.push(v);
            if done {
                return;
            }
        }
        panic!("no {method} within {timeout:?}");
    }
}

fn demo_report(dir: &Path) -> (PathBuf, Value) {
    let (text, _) = report::demo_records(6, 2026);
    let cells = cells_from_records(text.as_bytes(), &RecordOptions::default()).unwrap();
    let query = Query { by: vec![Dimension::Content], ..Default::default() };
    let header = Header {
        title: "Audience report — demo fleet".into(),
        source: "records: demo (6 screens, 3 stores)".into(),
        time_note: "times are UTC (the records' utc)".into(),
        ..Default::default()
    };
    let mut cells = cells;
    // One rare content item, so the page shows what suppression looks like.
    let mut rare = cells[0].clone();
    rare.content_id = "pop-up-tasting".into();
    rare.counts = Default::default();
    rare.counts.plays = 2;
    rare.counts.on_screen_us = 600_000_000;
    for (d, a, g, age) in [(12.0, 4.0, "female", "30-39"), (8.0, 0.5, "male", "20-29"), (20.0, 9.0, "female", "40-49")]
    {
        rare.counts.add_person(d, a, a >= 1.0, g, age);
    }
    cells.push(rare);
    let report = build(&cells, &query, &Catalogue::default(), header);
    let html = dir.join("report.html");
    std::fs::write(&html, render(&report, Format::Html)).unwrap();
    let json: Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
    (html, json)
}

/// The JSON value as the HTML table shows it.
fn shown(column: &str, v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if column == "conversion" || column == "attraction" => {
            let pct = (n.as_f64().unwrap() * 1000.0).round() / 10.0;
            blickfang_report::publish::format_number(pct) + "%"
        }
        other => other.to_string(),
    }
}

#[test]
fn the_html_report_in_headless_chromium() {
    let dir = std::env::temp_dir().join(format!("blickfang-report-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (html, json) = demo_report(&dir);
    assert!(json["rows"].as_array().unwrap().iter().any(|r| r["ots"] == "suppressed"), "the demo shows suppression");
    let png = check_in_chromium(&dir, &html, &json);
    if let Ok(path) = std::env::var("BLICKFANG_REPORT_SCREENSHOT") {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
        std::fs::write(&path, &png).unwrap();
        eprintln!("screenshot: {} ({} KiB)", path.display(), png.len() / 1024);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_demo_clips_report_is_fully_suppressed_and_clean_in_chromium() {
    let dir = std::env::temp_dir().join(format!("blickfang-report-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let clip = common::shared_dir()
        .join("data/videos_people/intel_preview_head-pose-face-detection-female-and-male.transcoded.mp4");
    let (records, html) = (dir.join("demo.ndjson"), dir.join("demo.html"));
    let run = |args: &[&str]| {
        let out = Command::new(common::blickfang_binary_path()).args(args).output().expect("blickfang runs");
        assert!(out.status.success(), "blickfang {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // What `make run` does.
    run(&["analyze", clip.to_str().unwrap(), "--output", records.to_str().unwrap()]);
    let report = ["report", "--records", records.to_str().unwrap()];
    run(&[&report[..], &["--format", "html", "--output", html.to_str().unwrap()]].concat());
    let json: Value = serde_json::from_str(&run(&[&report[..], &["--format", "json"]].concat())).unwrap();
    assert_eq!(json["min_group_size"], 5);
    assert_eq!(json["total"]["ots"], "suppressed", "2 people: fewer than k");
    // Every count of people is 0 or suppressed; every mean or ratio suppressed or undefined.
    for row in json["rows"].as_array().unwrap().iter().chain([&json["total"]]) {
        for name in ["ots", "watchers"] {
            assert!(row[name] == 0 || row[name] == "suppressed", "{name}: {}", row[name]);
        }
        for name in ["conversion", "attention_time_total", "attention_time_mean", "dwell_time_mean", "attraction"] {
            assert!(row[name].is_null() || row[name] == "suppressed", "{name}: {}", row[name]);
        }
        for list in ["dwell_histogram", "attention_histogram", "demographics"] {
            for v in row[list].as_array().unwrap() {
                assert!(*v == 0 || *v == "suppressed", "{list}: {v}");
            }
        }
    }
    check_in_chromium(&dir, &html, &json);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens `html` in headless Chromium: no console error or exception, no
/// network request but the file, the table's numbers equal `json`'s; returns
/// the screenshot (PNG).
fn check_in_chromium(dir: &Path, html: &Path, json: &Value) -> Vec<u8> {
    let url = format!("file://{}", html.canonicalize().unwrap().display());

    let mut b = Browser::start(&dir.join("profile"));
    let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call("Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}));
    b.session = Some(attached["sessionId"].as_str().unwrap().to_string());
    for domain in ["Runtime", "Log", "Network", "Page"] {
        b.call(&format!("{domain}.enable"), json!({}));
    }
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
    );
    b.events.clear();
    b.call("Page.navigate", json!({"url": url}));
    b.wait_for("Page.loadEventFired", Duration::from_secs(30));
    // Anything late (a deferred request, a console message) has a moment to show.
    b.call("Runtime.evaluate", json!({"expression": "new Promise(r => setTimeout(r, 500))", "awaitPromise": true}));

    let problems: Vec<&Value> = b
        .events
        .iter()
        .filter(|e| match e["method"].as_str().unwrap_or_default() {
            "Runtime.exceptionThrown" => true,
            "Runtime.consoleAPICalled" => {
                ["error", "warning", "assert"].contains(&e["params"]["type"].as_str().unwrap_or(""))
            }
            "Log.entryAdded" => ["error", "warning"].contains(&e["params"]["entry"]["level"].as_str().unwrap_or("")),
            _ => false,
        })
        .collect();
    assert!(problems.is_empty(), "console errors: {problems:#?}");
    let requests: Vec<&str> = b
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter_map(|e| e["params"]["request"]["url"].as_str())
        .collect();
    assert!(!requests.is_empty(), "the document itself is seen as a request");
    assert!(requests.iter().all(|u| *u == url), "network requests beyond the file: {requests:?}");

    // The table's cells, by column, row by row.
    let js = "JSON.stringify(Array.from(document.querySelectorAll('#report-table tbody tr')).map(tr => \
              Object.fromEntries(Array.from(tr.cells).map(td => [td.dataset.column, td.textContent]))))";
    let got = b.call("Runtime.evaluate", json!({"expression": js, "returnByValue": true}));
    let rows: Vec<serde_json::Map<String, Value>> =
        serde_json::from_str(got["result"]["value"].as_str().unwrap()).unwrap();
    let expected: Vec<&Value> = json["rows"].as_array().unwrap().iter().chain([&json["total"]]).collect();
    assert_eq!(rows.len(), expected.len());
    for (page, want) in rows.iter().zip(&expected) {
        let content = want["key"]["content"].as_str().unwrap_or("total");
        assert_eq!(page["content"], content);
        for m in blickfang_report::Metric::ALL {
            let name = m.name();
            assert_eq!(page[name].as_str().unwrap(), shown(name, &want[name]), "{content} {name}");
        }
    }

    let shot = b.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}));
    let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a screenshot of {} bytes", png.len());
    std::fs::write(dir.join("report.png"), &png).unwrap();
    drop(b);
    png
}
