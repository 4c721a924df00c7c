//! Every launch line in pipelines/ runs to EOS without error.

mod common;

use gst::prelude::*;

#[test]
fn every_example_pipeline_runs() {
    common::init();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let data = common::data("");
    let mut ran = 0;
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "txt")) {
        let text = std::fs::read_to_string(file).unwrap();
        let line: String = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join(" ");
        let line = line.replace("${DATA}", data.to_str().unwrap());
        let pipeline = gst::parse::launch(&line).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Error, gst::MessageType::Eos])
            .unwrap_or_else(|| panic!("{} timed out", file.display()));
        pipeline.set_state(gst::State::Null).unwrap();
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{}: {} {:?}", file.display(), e.error(), e.debug());
        }
        ran += 1;
    }
    assert!(ran >= 2, "only {ran} pipelines found");
}
