//! Every launch line in pipelines/ runs to EOS without error. `${OUT}` is a
//! temporary folder (every `*.ndjson` written there must match the record
//! schema); a line with `${MQTT_PORT}` gets a mosquitto of its own on 127.0.0.1.

mod common;
mod mosquitto;
mod records_schema;

use gst::prelude::*;

#[test]
fn every_example_pipeline_runs() {
    common::init();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let data = common::data("");
    let mut ran = 0;
    let out = std::env::temp_dir().join(format!("blickfang-pipelines-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut broker: Option<mosquitto::Mosquitto> = None;
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "txt")) {
        let text = std::fs::read_to_string(file).unwrap();
        let line: String = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join(" ");
        let mut line = line.replace("${DATA}", data.to_str().unwrap()).replace("${OUT}", out.to_str().unwrap());
        if line.contains("${MQTT_PORT}") {
            let port = broker.get_or_insert_with(mosquitto::Mosquitto::start).port;
            line = line.replace("${MQTT_PORT}", &port.to_string());
        }
        let pipeline = gst::parse::launch(&line).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Error, gst::MessageType::Eos])
            .unwrap_or_else(|| panic!("{} timed out", file.display()));
        let delivered = check_mqtt_sinks(&pipeline);
        pipeline.set_state(gst::State::Null).unwrap();
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{}: {} {:?}", file.display(), e.error(), e.debug());
        }
        delivered.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        check_records(&out).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        ran += 1;
    }
    std::fs::remove_dir_all(&out).ok();
    assert!(ran >= 2, "only {ran} pipelines found");
}

/// Every blickfang-mqttsink delivered all it got.
fn check_mqtt_sinks(pipeline: &gst::Element) -> Result<(), String> {
    let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
    for e in bin.iterate_recurse().into_iter().flatten() {
        if e.factory().is_some_and(|f| f.name() == "blickfang-mqttsink") {
            let (published, queued) = (e.property::<u64>("published"), e.property::<u64>("queued"));
            if published == 0 || queued > 0 {
                return Err(format!("blickfang-mqttsink published {published}, {queued} left"));
            }
        }
    }
    Ok(())
}

/// Every record file a pipeline wrote matches the schema; removed afterwards.
fn check_records(out: &std::path::Path) -> Result<(), String> {
    let schema = records_schema::RecordSchema::load();
    for f in std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()) {
        if f.extension().is_some_and(|e| e == "ndjson") {
            let n = schema.check_lines(&std::fs::read_to_string(&f).unwrap()).len();
            if n == 0 {
                return Err(format!("{} is empty", f.display()));
            }
            std::fs::remove_file(&f).unwrap();
        }
    }
    Ok(())
}
