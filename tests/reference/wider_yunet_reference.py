"""OpenCV YuNet (cv2.FaceDetectorYN, OpenCV 5.x) detections on the WIDER FACE val subset.

Runs yunet_s_dynamic.onnx at the original image size (score 0.02, NMS 0.45) on every
image in <shared>/data/wider_face_val_subset/gt_full.jsonl and writes one JSON line
per image to argv[1], as a blickfang/2 frame record (what `blickfang evaluate-wider` reads):
{"schema", "type": "frame", "screen", "run", "seq", "source": path, "width", "height",
 "faces": [{"id", "box": [x,y,w,h], "confidence"}]}.
Serves as the reference for comparing the Rust detector's accuracy on WIDER FACE.

    BLICKFANG_SHARED_DIR=/path/to/shared python wider_yunet_reference.py out.jsonl
"""
import json
import os
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("BLICKFANG_SHARED_DIR", HERE / "../../../shared")).resolve()
MODEL = SHARED / "models/face/yunet_s_dynamic.onnx"
SUBSET = SHARED / "data/wider_face_val_subset"


def main():
    det = cv2.FaceDetectorYN.create(model=str(MODEL), config="", input_size=(320, 320),
                                    score_threshold=0.02, nms_threshold=0.45, top_k=5000)
    with open(SUBSET / "gt_full.jsonl") as gt, open(sys.argv[1], "w") as out:
        for seq, line in enumerate(gt):
            path = json.loads(line)["path"]
            img = cv2.imread(str(SUBSET / "images" / path), cv2.IMREAD_COLOR)
            h, w = img.shape[:2]
            det.setInputSize((w, h))
            _, faces = det.detect(img)
            rec = {"schema": "blickfang/2", "type": "frame", "screen": "reference", "run": "cv2-yunet",
                   "seq": seq, "source": path, "width": w, "height": h,
                   "faces": [{"id": i + 1, "box": [round(float(x), 2) for x in f[:4]],
                              "confidence": round(float(f[14]), 2)}
                             for i, f in enumerate([] if faces is None else faces)]}
            out.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
