"""Reference output of OpenCV's YuNet face detector (cv2.FaceDetectorYN, OpenCV 5.x).

Runs yunet_s_dynamic.onnx on the shared test photos, once at the original size
("faces") and once on a copy resized so the long side is 640 px ("faces_640",
mapped back to original coordinates), and writes yunet_photos.json next to this
script. Used as the fixture the Rust YuNet post-processing is compared against.

    pip install 'opencv-python-headless>=5.0.0.93' numpy
    BLICKFANG_SHARED_DIR=/path/to/shared python yunet_reference.py
"""
import json
import os
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("BLICKFANG_SHARED_DIR", HERE / "../../../shared")).resolve()
MODEL = SHARED / "models/face/yunet_s_dynamic.onnx"
IMAGES = ["t1.jpg", "astronaut.png"]
SCORE, NMS = 0.5, 0.45


def detect(img, scale=1.0):
    h, w = img.shape[:2]
    det = cv2.FaceDetectorYN.create(model=str(MODEL), config="", input_size=(w, h),
                                    score_threshold=SCORE, nms_threshold=NMS, top_k=5000)
    _, faces = det.detect(img)
    out = []
    for f in [] if faces is None else faces:
        v = [float(x) / scale for x in f[:14]]
        out.append({"box": [round(x, 2) for x in v[:4]],
                    "score": round(float(f[14]), 2),
                    "landmarks": [[round(v[4 + 2 * i], 2), round(v[5 + 2 * i], 2)] for i in range(5)]})
    return out


def main():
    result = {"generator": f"tests/reference/yunet_reference.py, opencv {cv2.__version__}",
              "score_threshold": SCORE, "nms_threshold": NMS, "images": {}}
    for name in IMAGES:
        img = cv2.imread(str(SHARED / "data/photos" / name), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        s = 640 / max(w, h)
        small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR)
        result["images"][name] = {"width": w, "height": h,
                                  "faces": detect(img), "faces_640": detect(small, s)}
    (HERE / "yunet_photos.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
