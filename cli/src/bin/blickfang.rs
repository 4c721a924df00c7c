//! `blickfang`: runs blickfang's elements from the command line.
//!
//! `blickfang analyze <INPUT> --output <FILE.jsonl|->` runs the same element
//! pipeline as a live deployment, ending in `metajson ! appsink`, on a folder
//! of images (one `frame` record per image, recursively, sorted, `source` =
//! the image's path in the folder), a video file, a URI or a camera device
//! (a `frame` record per frame, then the `person-event` and `content-report`
//! records): the records of `schema/blickfang-records.schema.json`, written
//! by the one record writer, `metajson`.
//!
//! The `evaluate-*` commands score `analyze` output (its frame records)
//! against the labels of the shared data sets.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use gst::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use gstblickfang::meta;

#[derive(Parser)]
#[command(name = "blickfang", version, about = "Privacy-preserving audience analytics for digital signage")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect and track faces in images, a video file, a URI or a camera.
    Analyze(AnalyzeArgs),
    /// Head-pose MAE (yaw, pitch, roll) of `analyze` output against labels.csv (AFLW2000-3D).
    EvaluateHeadpose {
        /// labels.csv: file,yaw_deg,pitch_deg,roll_deg,box_x1,box_y1,box_x2,box_y2.
        #[arg(long)]
        labels: PathBuf,
        /// JSON lines written by `blickfang analyze` over the labelled images.
        predictions: PathBuf,
    },
    /// WIDER FACE AP (easy/medium/hard, official protocol) of `analyze` output.
    EvaluateWider {
        /// The ground truth, `gt_full.jsonl`.
        #[arg(long)]
        ground_truth: PathBuf,
        /// JSON lines written by `blickfang analyze` over the same images.
        predictions: PathBuf,
    },
    /// Age and gender accuracy of `analyze` output on UTKFace or FairFace
    /// (labels.csv under $BLICKFANG_SHARED_DIR/data, default ../shared from the current directory).
    EvaluateDemographics {
        /// utkface or fairface.
        #[arg(long)]
        dataset: String,
        /// The labels file (default: the dataset's labels.csv in the shared data).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Count a gender whose confidence is below this as unknown (to see
        /// other operating points of one `analyze --confidence-threshold 0.5` run).
        #[arg(long)]
        confidence_threshold: Option<f64>,
        /// JSON lines written by `blickfang analyze` over the dataset's images.
        predictions: PathBuf,
    },
    /// Fleet: every screen's records from an MQTT broker into PostgreSQL (a long-running service).
    Collect(blickfang_fleet::cli::CollectArgs),
    /// Fleet: virtual screens' records to a broker or a records file, and their exact truth.
    Simulate(blickfang_fleet::cli::SimulateArgs),
    /// The audience report (HTML, CSV or JSON), k-anonymous, from the fleet's database or records files.
    Report(blickfang_report::cli::ReportArgs),
    /// Appliance mode: every camera of the config through the whole chain to the broker, until SIGTERM.
    Edge {
        #[arg(long, default_value = blickfang_cli::edge::config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// The plain-language privacy notice (GDPR Art. 13) for the configuration that runs.
    PrivacyNotice {
        #[arg(long, default_value = blickfang_cli::edge::config::DEFAULT_PATH)]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "txt")]
        format: blickfang_cli::notice::Format,
        #[arg(long, value_enum, default_value = "en")]
        lang: blickfang_cli::notice::Lang,
    },
    /// The models: `list`, and `install [--from DIR]` (SHA-256 checked; none are packaged).
    Models(blickfang_cli::models::ModelsArgs),
}

#[derive(clap::Args, Debug)]
struct AnalyzeArgs {
    /// A folder of images, a video file, a URI (rtsp://, file://, ...) or /dev/videoN.
    input: String,
    /// Where the JSON lines go; "-" for standard output.
    #[arg(long, short)]
    output: PathBuf,
    /// facedetect's `score-threshold`.
    #[arg(long)]
    score_threshold: Option<f32>,
    /// facedetect's `nms-threshold`.
    #[arg(long)]
    nms_threshold: Option<f32>,
    /// facedetect's `detection-size` (long side; 0 = full resolution).
    #[arg(long)]
    detection_size: Option<u32>,
    /// facedetect's `model` (path, or relative to the model folders).
    #[arg(long)]
    model: Option<String>,
    /// facedetect's `interval`.
    #[arg(long)]
    interval: Option<u32>,
    /// facedetect's `threads`.
    #[arg(long)]
    threads: Option<u32>,
    /// facedetect's `onnxruntime` (path of libonnxruntime.so).
    #[arg(long)]
    onnxruntime: Option<String>,
    /// gazedwell's `headpose-model` ("" = head pose from the landmarks).
    #[arg(long)]
    headpose_model: Option<String>,
    /// gazedwell's `content-id` for a video's report.
    #[arg(long)]
    content_id: Option<String>,
    /// gazedwell's `min-group-size` (k-anonymity of the content report).
    #[arg(long)]
    min_group_size: Option<u32>,
    /// Stop a video after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
    /// Images are face crops (UTKFace chips): each is one face, aligned on
    /// the detector's landmarks when it finds it (the most central face),
    /// the whole image otherwise.
    #[arg(long)]
    face_crops: bool,
    /// Leave out age and gender (no `demographics` element).
    #[arg(long)]
    no_demographics: bool,
    /// demographics' `model` (one file, or "gender-model,age-model").
    #[arg(long)]
    demographics_model: Option<String>,
    /// demographics' `confidence-threshold`.
    #[arg(long)]
    confidence_threshold: Option<f32>,
    /// demographics' `calibrate=false`: the models' own numbers.
    #[arg(long)]
    no_calibration: bool,
    /// Any other demographics property, as NAME=VALUE (repeatable), e.g.
    /// `--demographics-set max-yaw=60`.
    #[arg(long, value_name = "NAME=VALUE")]
    demographics_set: Vec<String>,
}

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"];

fn main() {
    // SAFETY: the first statement of main: no other thread exists yet to read
    // the environment (see runtime::disable_telemetry).
    unsafe { blickfang::runtime::disable_telemetry() };
    let cli = Cli::parse();
    let result = gst::init()
        .context("cannot initialise GStreamer")
        .and_then(|_| gstblickfang::register_static().context("cannot register the blickfang elements"))
        .and_then(|_| match cli.command {
            Command::Analyze(args) => analyze(&args),
            Command::EvaluateWider { ground_truth, predictions } => evaluate_wider(&ground_truth, &predictions),
            Command::EvaluateDemographics { dataset, labels, confidence_threshold, predictions } => {
                evaluate_demographics(&dataset, labels.as_deref(), confidence_threshold, &predictions)
            }
            Command::EvaluateHeadpose { labels, predictions } => evaluate_headpose(&labels, &predictions),
            Command::Collect(args) => blickfang_fleet::cli::collect(args),
            Command::Simulate(args) => blickfang_fleet::cli::simulate(args),
            Command::Report(args) => blickfang_report::cli::run(args),
            Command::Edge { config } => blickfang_cli::edge::run(&config),
            Command::PrivacyNotice { config, format, lang } => privacy_notice(&config, format, lang),
            Command::Models(args) => blickfang_cli::models::run(args),
        });
    if let Err(e) = result {
        eprintln!("blickfang: {e}");
        std::process::exit(1);
    }
}

fn privacy_notice(
    config: &Path,
    format: blickfang_cli::notice::Format,
    lang: blickfang_cli::notice::Lang,
) -> Result<()> {
    let config = blickfang_cli::edge::config::Config::load(config).map_err(anyhow::Error::msg)?;
    print!("{}", blickfang_cli::notice::render(&config, format, lang).map_err(anyhow::Error::msg)?);
    Ok(())
}

fn evaluate_wider(ground_truth: &Path, predictions: &Path) -> Result<()> {
    use blickfang::eval::wider;
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let gt = wider::parse_ground_truth(&read(ground_truth)?).context("bad ground truth")?;
    let preds = wider::parse_predictions(&read(predictions)?).context("bad predictions")?;
    let ap = wider::evaluate(&gt, &preds);
    println!("{}", json!({"images": gt.len(), "easy": ap.easy, "medium": ap.medium, "hard": ap.hard}));
    Ok(())
}

fn evaluate_demographics(
    dataset: &str,
    labels: Option<&Path>,
    threshold: Option<f64>,
    predictions: &Path,
) -> Result<()> {
    use blickfang::demographics::eval;
    let dataset = eval::Dataset::parse(dataset).map_err(anyhow::Error::msg)?;
    let labels_path = labels
        .map(Path::to_path_buf)
        .unwrap_or_else(|| blickfang::eval::shared_dir().join("data").join(dataset.folder()).join("labels.csv"));
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let labels = eval::parse_labels(dataset, &read(&labels_path)?)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("bad labels {}", labels_path.display()))?;
    let mut preds =
        eval::parse_predictions(&read(predictions)?).map_err(anyhow::Error::msg).context("bad predictions")?;
    if let Some(t) = threshold {
        eval::apply_confidence_threshold(&mut preds, t);
    }
    let report = eval::evaluate(dataset, &labels, &preds);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn evaluate_headpose(labels: &Path, predictions: &Path) -> Result<()> {
    use blickfang::eval::headpose;
    use blickfang::geometry::BBox;
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let labels = headpose::parse_labels(&read(labels)?).map_err(anyhow::Error::msg)?;
    let mut faces: std::collections::HashMap<String, Vec<(BBox, [f64; 3])>> = Default::default();
    for r in blickfang::records::frame_records(&read(predictions)?).context("bad predictions")? {
        let source = r.source.unwrap_or_default();
        let file = Path::new(&source).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let entry = faces.entry(file).or_default();
        for f in r.faces {
            if let Some(p) = f.head_pose {
                let b = f.bbox.map(|v| v as f32);
                entry.push((BBox::new(b[0], b[1], b[2], b[3]), [p.yaw, p.pitch, p.roll]));
            }
        }
    }
    let m = headpose::evaluate(&labels, |file| faces.get(file).cloned().unwrap_or_default());
    println!("{}", json!({"images": m.images, "missed": m.missed, "yaw": m.yaw, "pitch": m.pitch, "roll": m.roll}));
    Ok(())
}

fn analyze(args: &AnalyzeArgs) -> Result<()> {
    let mut out: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        let f =
            std::fs::File::create(&args.output).with_context(|| format!("cannot create {}", args.output.display()))?;
        Box::new(std::io::BufWriter::new(f))
    };
    let input = Path::new(&args.input);
    if input.is_dir() {
        analyze_images(args, input, &mut out)?;
    } else {
        if args.face_crops {
            bail!("--face-crops is for a folder of face images");
        }
        analyze_stream(args, &mut out)?;
    }
    out.flush().context("cannot write the output")?;
    Ok(())
}

/// The facedetect element configured from the command line.
fn facedetect(args: &AnalyzeArgs) -> Result<gst::Element> {
    let mut b = gst::ElementFactory::make("blickfang-facedetect");
    if let Some(v) = args.score_threshold {
        b = b.property("score-threshold", v);
    }
    if let Some(v) = args.nms_threshold {
        b = b.property("nms-threshold", v);
    }
    if let Some(v) = args.detection_size {
        b = b.property("detection-size", v);
    }
    if let Some(v) = &args.model {
        b = b.property("model", v);
    }
    if let Some(v) = args.interval {
        b = b.property("interval", v);
    }
    if let Some(v) = args.threads {
        b = b.property("threads", v);
    }
    if let Some(v) = &args.onnxruntime {
        b = b.property("onnxruntime", v);
    }
    b.build().context("cannot create blickfang-facedetect")
}

/// gazedwell configured from the command line.
fn gazedwell(args: &AnalyzeArgs) -> Result<gst::Element> {
    let mut b = gst::ElementFactory::make("blickfang-gazedwell");
    if let Some(v) = &args.headpose_model {
        b = b.property("headpose-model", v);
    }
    if let Some(v) = &args.onnxruntime {
        b = b.property("onnxruntime", v);
    }
    if let Some(v) = &args.content_id {
        b = b.property("content-id", v);
    }
    if let Some(v) = args.min_group_size {
        b = b.property("min-group-size", v);
    }
    b.build().context("cannot create blickfang-gazedwell")
}

/// The demographics element configured from the command line (`None`:
/// `--no-demographics`). With `--face-crops`, a probe on its sink pad makes
/// each image one face.
fn demographics(args: &AnalyzeArgs) -> Result<Option<gst::Element>> {
    if args.no_demographics {
        return Ok(None);
    }
    let mut b = gst::ElementFactory::make("blickfang-demographics");
    if let Some(v) = &args.demographics_model {
        b = b.property("model", v);
    }
    if let Some(v) = args.confidence_threshold {
        b = b.property("confidence-threshold", v);
    }
    if args.no_calibration {
        b = b.property("calibrate", false);
    }
    if Path::new(&args.input).is_dir() {
        // A photo is one view of its face, with no later frames to average in.
        b = b.property("crop-scales", blickfang::demographics::STILL_IMAGE_CROP_SCALES);
    }
    for kv in &args.demographics_set {
        let (k, v) = kv.split_once('=').with_context(|| format!("--demographics-set {kv}: expected NAME=VALUE"))?;
        b = b.property_from_str(k.trim(), v.trim());
    }
    if let Some(v) = args.threads {
        b = b.property("threads", v);
    }
    if let Some(v) = &args.onnxruntime {
        b = b.property("onnxruntime", v);
    }
    let element = b.build().context("cannot create blickfang-demographics")?;
    if args.face_crops {
        let pad = element.static_pad("sink").context("demographics without sink pad")?;
        pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
            let size = pad
                .current_caps()
                .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
                .map(|i| (i.width(), i.height()));
            if let (Some((w, h)), Some(gst::PadProbeData::Buffer(buffer))) = (size, info.data.as_mut()) {
                keep_one_face(buffer.make_mut(), w, h);
            }
            gst::PadProbeReturn::Ok
        });
    }
    Ok(Some(element))
}

/// `--face-crops`: the image is one face. Keeps the face ROI nearest the
/// image centre, or adds one covering the whole image (confidence 1: given,
/// not detected; no landmarks: `demographics` then takes the image as a face chip).
fn keep_one_face(buffer: &mut gst::BufferRef, width: u32, height: u32) {
    let faces = meta::faces(buffer);
    if faces.is_empty() {
        let detection = gst::Structure::builder(meta::DETECTION)
            .field("confidence", 1.0f64)
            .field("x", 0.0f64)
            .field("y", 0.0f64)
            .field("width", width as f64)
            .field("height", height as f64)
            .field("predicted", false)
            .build();
        let mut roi = gst_video::VideoRegionOfInterestMeta::add(buffer, meta::ROI_TYPE_FACE, (0, 0, width, height));
        roi.set_id(1);
        roi.add_param(detection);
        return;
    }
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let distance = |f: &meta::FaceRoi| (f.bbox[0] + f.bbox[2] / 2.0 - cx).hypot(f.bbox[1] + f.bbox[3] / 2.0 - cy);
    let keep = (0..faces.len()).min_by(|&a, &b| distance(&faces[a]).total_cmp(&distance(&faces[b]))).unwrap_or(0);
    let mut index = 0;
    buffer.foreach_meta_mut(|mut m| {
        let is_face = m
            .downcast_ref::<gst_video::VideoRegionOfInterestMeta>()
            .is_some_and(|roi| roi.roi_type() == meta::ROI_TYPE_FACE);
        if !is_face {
            return std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Keep);
        }
        index += 1;
        let action = if index - 1 == keep {
            gst::buffer::BufferMetaForeachAction::Keep
        } else {
            gst::buffer::BufferMetaForeachAction::Remove
        };
        std::ops::ControlFlow::Continue(action)
    });
}

/// The analysis elements, in pipeline order, between videoconvert and the sink.
fn analysis_chain(args: &AnalyzeArgs) -> Result<Vec<gst::Element>> {
    let mut chain = vec![facedetect(args)?];
    // Before gazedwell, which counts audiences by gender and age group.
    chain.extend(demographics(args)?);
    chain.push(gazedwell(args)?);
    Ok(chain)
}

fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_images(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what} {{msg}}"))
            .expect("template"),
    );
    bar
}

/// The record writer at the end of every analysis pipeline: `source` names
/// the input in each record. Images get frame records only (a photo has no
/// audience over time) and no wall clock.
fn metajson(source: &str, frames_only: bool) -> Result<gst::Element> {
    let mut b = gst::ElementFactory::make("blickfang-metajson").property("source-id", source);
    if frames_only {
        b = b.property_from_str("mode", "frames").property_from_str("utc", "never");
    }
    b.build().context("cannot create blickfang-metajson")
}

/// One pipeline per image: images differ in size, and each must yield
/// exactly one record.
fn analyze_images(args: &AnalyzeArgs, dir: &Path, out: &mut dyn Write) -> Result<()> {
    let mut images = Vec::new();
    collect_images(dir, &mut images)?;
    if images.is_empty() {
        bail!("no images ({}) under {}", IMAGE_EXTENSIONS.join(", "), dir.display());
    }
    let bar = progress(images.len() as u64, "images");
    for path in &images {
        let rel = path.strip_prefix(dir).unwrap_or(path).to_string_lossy().into_owned();
        // The cause in the message itself: `main` prints the outermost context only.
        let sample = run_image(args, path, &rel).map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        write_record(out, &sample)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

fn run_image(args: &AnalyzeArgs, path: &Path, source: &str) -> Result<gst::Sample> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc").property("location", path).build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let sink = gst_app::AppSink::builder().sync(false).max_buffers(1).build();
    let chain: Vec<gst::Element> = std::iter::once(convert.clone())
        .chain(analysis_chain(args)?)
        .chain([metajson(source, true)?, sink.clone().upcast()])
        .collect();
    pipeline.add_many([&src, &decode])?;
    pipeline.add_many(&chain)?;
    src.link(&decode)?;
    gst::Element::link_many(&chain)?;
    link_decoded_video(&decode, &convert);
    start(&pipeline)?;
    let result = wait_for_sample(&pipeline, &sink);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Writes a record line (a metajson buffer) as it is.
fn write_record(out: &mut dyn Write, sample: &gst::Sample) -> Result<()> {
    let buffer = sample.buffer().context("a record sample without buffer")?;
    let map = buffer.map_readable().context("cannot read a record")?;
    out.write_all(map.as_slice()).context("cannot write the output")
}

/// Links decodebin's video pad, when it appears, to `next`.
fn link_decoded_video(decode: &gst::Element, next: &gst::Element) {
    let next = next.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(next) = next.upgrade() else { return };
        let is_video =
            pad.current_caps().and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/"))).unwrap_or(false);
        if is_video
            && let Some(sink) = next.static_pad("sink")
            && !sink.is_linked()
        {
            let _ = pad.link(&sink);
        }
    });
}

fn wait_for_sample(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> Result<gst::Sample> {
    let bus = pipeline.bus().context("pipeline without bus")?;
    loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(20)) {
            return Ok(sample);
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
            match msg.view() {
                gst::MessageView::Error(e) => bail!("{}", pipeline_error(&bus, e)),
                _ => bail!("the image produced no frame"),
            }
        }
    }
}

/// Sets the pipeline playing; when an element refuses to start (a model not
/// found, ...), says what that element posted rather than only that it failed.
fn start(pipeline: &gst::Pipeline) -> Result<()> {
    if pipeline.set_state(gst::State::Playing).is_ok() {
        return Ok(());
    }
    let bus = pipeline.bus().context("pipeline without bus")?;
    let error = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error]);
    let _ = pipeline.set_state(gst::State::Null);
    // The element posts its error from the failing state change; it can arrive just after.
    if let Some(msg) = error
        && let gst::MessageView::Error(e) = msg.view()
    {
        bail!("cannot start the pipeline: {}", pipeline_error(&bus, e));
    }
    bail!("cannot start the pipeline")
}

/// GStreamer's cause of a failed pipeline: the first error that is not the
/// generic "Internal data stream error" an element posts after the real one
/// (a demuxer or decoder's own error may follow it on the bus), with the
/// element that posted it and its debug text.
fn pipeline_error(bus: &gst::Bus, first: &gst::message::Error) -> String {
    let describe = |e: &gst::message::Error| {
        let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
        format!("{} (from {from}: {})", e.error(), e.debug().unwrap_or_default())
    };
    let generic = |e: &gst::message::Error| e.error().matches(gst::StreamError::Failed);
    if !generic(first) {
        return describe(first);
    }
    while let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(200), &[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view()
            && !generic(e)
        {
            return describe(e);
        }
    }
    describe(first)
}

fn stream_source(input: &str) -> Result<gst::Element> {
    if input.starts_with("/dev/video") {
        return Ok(gst::ElementFactory::make("v4l2src").property("device", input).build()?);
    }
    let uri = if input.contains("://") {
        input.to_string()
    } else {
        let abs = std::fs::canonicalize(input).with_context(|| format!("no such file {input}"))?;
        gst::glib::filename_to_uri(&abs, None).context("cannot make a URI")?.to_string()
    };
    Ok(gst::ElementFactory::make("uridecodebin").property("uri", uri).build()?)
}

/// `--max-frames`: lets `max` frames out of `pad`, then ends the stream
/// there, so the person and content records cover exactly the frames analysed.
fn end_after(pad: &gst::Pad, max: u64) {
    let passed = std::sync::atomic::AtomicU64::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let n = passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n <= max {
            return gst::PadProbeReturn::Ok;
        }
        if n == max + 1 {
            pad.push_event(gst::event::Eos::new());
        }
        gst::PadProbeReturn::Drop
    });
}

/// A video file, URI or camera: a frame record per frame, then the person
/// events and content reports, in stream order.
fn analyze_stream(args: &AnalyzeArgs, out: &mut dyn Write) -> Result<()> {
    let pipeline = gst::Pipeline::new();
    let src = stream_source(&args.input)?;
    let head = gst::ElementFactory::make("identity").build()?;
    if let Some(max) = args.max_frames {
        end_after(&head.static_pad("src").context("identity without src pad")?, max);
    }
    let sink = gst_app::AppSink::builder().sync(false).max_buffers(16).build();
    let chain: Vec<gst::Element> = [head.clone(), gst::ElementFactory::make("videoconvert").build()?]
        .into_iter()
        .chain(analysis_chain(args)?)
        .chain([metajson(&args.input, false)?, sink.clone().upcast()])
        .collect();
    pipeline.add(&src)?;
    pipeline.add_many(&chain)?;
    gst::Element::link_many(&chain)?;
    if src.static_pad("src").is_some() {
        src.link(&head)?;
    } else {
        link_decoded_video(&src, &head);
    }
    start(&pipeline)?;
    let bus = pipeline.bus().context("pipeline without bus")?;
    let mut bar: Option<ProgressBar> = None;
    let mut frames = 0u64;
    let result = loop {
        if bar.is_none()
            && let Some(d) = pipeline.query_duration::<gst::ClockTime>()
        {
            bar = Some(progress(d.mseconds(), "ms"));
        }
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(20)) {
            write_record(out, &sample)?;
            if let Some(buffer) = sample.buffer() {
                let is_frame = buffer
                    .map_readable()
                    .ok()
                    .is_some_and(|m| blickfang::records::line_type(&String::from_utf8_lossy(m.as_slice())) == "frame");
                frames += u64::from(is_frame);
                if let (Some(b), Some(p)) = (&bar, buffer.pts()) {
                    b.set_position(p.mseconds());
                }
            }
            continue;
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = msg.view()
        {
            break Err(anyhow::anyhow!("{}: {}", args.input, pipeline_error(&bus, e)));
        }
        if sink.is_eos() {
            // An empty output would read as "nobody there": say the source gave nothing.
            if frames == 0 {
                break Err(anyhow::anyhow!("{}: the source ended without a single video frame", args.input));
            }
            break Ok(());
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let _ = pipeline.set_state(gst::State::Null);
    result
}
