"""Throughput of cv2's YuNet (cv2.FaceDetectorYN, OpenCV 5) on a video clip.

The reference `blickfang-bench` compares facedetect against: every frame is
decoded (cv2.VideoCapture, FFmpeg backend), resized so its long side is the
detection size (1920x1080 -> 640x360, INTER_LINEAR) and run through
yunet_s_dynamic.onnx (score 0.6, NMS 0.45, as facedetect's defaults). A
decode-only pass over the same clip comes first, in the same process, so the
two can be compared. Prints one JSON object:

    {"frames": N, "seconds": S, "fps": F, "decode_fps": D, ...}

    pip install 'opencv-python-headless==5.0.0.93' numpy
    python bench_cv2_yunet.py clip.mp4 --model yunet_s_dynamic.onnx [--threads N]
"""
import argparse
import json
import time

import cv2


def decode_only(path, max_frames):
    cap = open_clip(path)
    frames, start = 0, time.perf_counter()
    while frames < max_frames:
        ok, _ = cap.read()
        if not ok:
            break
        frames += 1
    seconds = time.perf_counter() - start
    cap.release()
    return frames, seconds


def detect_all(path, model, size, max_frames):
    cap = open_clip(path)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    s = size / max(w, h)
    dsize = (round(w * s), round(h * s))
    det = cv2.FaceDetectorYN.create(model=model, config="", input_size=dsize,
                                    score_threshold=0.6, nms_threshold=0.45, top_k=5000)
    # One untimed detection (the first inference allocates), then the clip
    # from its start again: reopened, as seeking FFmpeg is not frame exact.
    ok, frame = cap.read()
    if not ok:
        raise SystemExit(f"{path}: no frames")
    det.detect(cv2.resize(frame, dsize, interpolation=cv2.INTER_LINEAR))
    cap.release()
    cap = open_clip(path)

    frames = faces = 0
    start = time.perf_counter()
    while frames < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        _, found = det.detect(cv2.resize(frame, dsize, interpolation=cv2.INTER_LINEAR))
        faces += 0 if found is None else len(found)
        frames += 1
    seconds = time.perf_counter() - start
    backend = cap.getBackendName()
    cap.release()
    return frames, seconds, faces, dsize, backend


def open_clip(path):
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise SystemExit(f"{path}: cv2.VideoCapture (FFmpeg) cannot open it")
    return cap


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--model", required=True, help="yunet_s_dynamic.onnx")
    ap.add_argument("--size", type=int, default=640, help="long side the frame is resized to")
    ap.add_argument("--threads", type=int, help="cv2.setNumThreads (default: OpenCV's own)")
    ap.add_argument("--max-frames", type=int, default=1 << 62)
    args = ap.parse_args()
    if args.threads is not None:
        cv2.setNumThreads(args.threads)

    dec_frames, dec_seconds = decode_only(args.clip, args.max_frames)
    frames, seconds, faces, dsize, backend = detect_all(args.clip, args.model, args.size, args.max_frames)
    print(json.dumps({
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 2),
        "decode_frames": dec_frames,
        "decode_fps": round(dec_frames / dec_seconds, 2),
        "faces_per_frame": round(faces / max(frames, 1), 2),
        "input_size": list(dsize),
        "threads": cv2.getNumThreads(),
        "backend": backend,
        "opencv": cv2.__version__,
    }))


if __name__ == "__main__":
    main()
