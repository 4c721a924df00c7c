#!/usr/bin/env python3
"""Reference numbers for `demographics`, from Python, on the shared dev splits.

1. The HSE FaceRes model with its documented preprocessing (BGR minus the ImageNet
   means), on a square crop of 1.3x the YuNet box, clipped to the image and resized
   to 224x224: the reference the element is compared with.
2. The small models (oarriaga gender mini-Xception, SSR-Net age and gender) with the
   preprocessing MODELS.md gives and with the one their training code used, to tell
   whether their near-chance scores come from the preprocessing or the models.

Needs onnxruntime, opencv-python-headless and numpy (pip). Boxes come from
`blickfang analyze --no-demographics` (YuNet, the same detector):

    blickfang analyze ../shared/data/utkface_crop_subset/images --no-demographics -o utk_boxes.jsonl
    blickfang analyze ../shared/data/fairface_balanced540/images --no-demographics -o ff_boxes.jsonl
    python3 tests/reference/agegender_reference.py utk_boxes.jsonl ff_boxes.jsonl

Measured (dev splits, 2 cores): see README, "demographics".
"""
import csv
import json
import math
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

SHARED = os.environ.get("BLICKFANG_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
MODELS = os.path.join(SHARED, "models/agegender")
GROUPS = [(0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 999)]
NAMES = ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
MEAN = np.array([103.939, 116.779, 123.68], np.float32)


def load(kind, jsonl):
    folder = "utkface_crop_subset" if kind == "utk" else "fairface_balanced540"
    boxes = {}
    for line in open(jsonl):
        d = json.loads(line)
        if d.get("type") != "frame":
            continue
        w, h = d["width"], d["height"]
        faces = d["faces"]
        f = min(faces, key=lambda f: math.hypot(f["box"][0] + f["box"][2] / 2 - w / 2, f["box"][1] + f["box"][3] / 2 - h / 2)) if faces else None
        boxes[d["source"].split("/")[-1]] = f["box"] if f else [0, 0, w, h]
    rows = list(csv.DictReader(open(os.path.join(SHARED, "data", folder, "labels.csv"))))
    images = [cv2.imread(os.path.join(SHARED, "data", folder, "images", r["file"])) for r in rows]
    return rows, images, [boxes[r["file"]] for r in rows]


def clipped_crop(im, box, scale, size):
    """Square of `scale` x the box's long side, clipped to the image, resized."""
    x, y, w, h = box
    cx, cy, s = x + w / 2, y + h / 2, max(w, h) * scale
    H, W = im.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2))
    return cv2.resize(im[max(0, y1):min(H, y2), max(0, x1):min(W, x2)], (size, size))


def group(age):
    a = int(np.floor(age))
    return next((i for i, (lo, hi) in enumerate(GROUPS) if lo <= a <= hi), 8)


def score(kind, rows, p_male=None, age=None):
    out = []
    if p_male is not None:
        ok = (np.asarray(p_male) > 0.5) == np.array([r["gender"] == "male" for r in rows])
        adult = np.array([int(r["age"]) >= 18 for r in rows]) if kind == "utk" else np.array([NAMES.index(r["age_group"]) >= 3 for r in rows])
        out.append(f"gender {100 * ok.mean():.1f} % / adults {100 * ok[adult].mean():.1f} %")
        if kind == "utk":
            for race in ["white", "black", "asian", "indian", "others"]:
                m = np.array([r["race"] == race for r in rows]) & adult
                out.append(f"{race} {100 * ok[m].mean():.1f}")
    if age is not None:
        age = np.asarray(age, float)
        if kind == "utk":
            t = np.array([int(r["age"]) for r in rows])
            out.append(f"age MAE {np.abs(age - t).mean():.2f} / adults {np.abs(age - t)[t >= 18].mean():.2f}")
        else:
            t = np.array([NAMES.index(r["age_group"]) for r in rows])
            g = np.array([group(a) for a in age])
            out.append(f"age group {100 * (g == t).mean():.1f} % / within one {100 * (np.abs(g - t) <= 1).mean():.1f} %")
    return ", ".join(out)


def session(name):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 2
    return ort.InferenceSession(os.path.join(MODELS, name), o, providers=["CPUExecutionProvider"])


def batched(sess, inputs, outputs, x):
    res = [sess.run(outputs, {inputs: x[i:i + 32]}) for i in range(0, len(x), 32)]
    return [np.concatenate([r[k] for r in res]) for k in range(len(outputs))]


def main():
    hse = session("faceres_hse_agegender.onnx")
    oarriaga = session("oarriaga_gender_minixception.onnx")
    ssr_age = session("ssrnet_age_imdb.onnx")
    ssr_gender = session("ssrnet_gender_imdb.onnx")
    for kind, jsonl in zip(["utk", "ff"], sys.argv[1:3]):
        rows, images, boxes = load(kind, jsonl)
        print(f"== {'UTKFace' if kind == 'utk' else 'FairFace'} dev ({len(rows)} images)")
        x = np.stack([clipped_crop(im, b, 1.3, 224) for im, b in zip(images, boxes)]).astype(np.float32) - MEAN
        g, a = batched(hse, "input_1:0", ["gender_pred/Sigmoid:0", "age_pred/Softmax:0"], x)
        print(f"HSE FaceRes, 1.3x box, BGR - mean: {score(kind, rows, g[:, 0], a @ np.arange(100))}")
        for scale, note in [(1.0, "the box, as MODELS.md's smoke test"), (1.8, "40 % margin per side, as their demos")]:
            bgr = np.stack([clipped_crop(im, b, scale, 64) for im, b in zip(images, boxes)]).astype(np.float32)
            grey = (0.2989 * bgr[..., 2] + 0.587 * bgr[..., 1] + 0.114 * bgr[..., 0])[..., None] / 127.5 - 1
            (p,) = batched(oarriaga, "input_1:0", [oarriaga.get_outputs()[0].name], grey)
            print(f"oarriaga gender, {scale}x box ({note}), grey [-1,1]: {score(kind, rows, p_male=p[:, 1])}")
            for order, img in [("RGB (MODELS.md)", np.ascontiguousarray(bgr[..., ::-1])), ("BGR (SSR-Net's cv2 training)", bgr)]:
                (age,) = batched(ssr_age, "input_1:0", [ssr_age.get_outputs()[0].name], img)
                (gen,) = batched(ssr_gender, "input_4:0", [ssr_gender.get_outputs()[0].name], img)
                print(f"SSR-Net, {scale}x box, {order} 0..255: {score(kind, rows, p_male=gen[:, 0], age=age[:, 0])}, age spread (sd) {age.std():.1f} y")


if __name__ == "__main__":
    main()
