#!/usr/bin/env python3
"""Fits the demographics calibration (src/demographics/calibration.rs) on the raw
output of `blickfang analyze` over the UTKFace and FairFace dev splits, and shows
how well a fit on one set transfers to the other.

    blickfang analyze ../shared/data/utkface_crop_subset/images --face-crops \
        --no-calibration --confidence-threshold 0.5 -o utk_raw.jsonl
    blickfang analyze ../shared/data/fairface_balanced540/images \
        --no-calibration --confidence-threshold 0.5 -o ff_raw.jsonl
    python3 tests/reference/fit_demographics_calibration.py utk_raw.jsonl ff_raw.jsonl

Needs numpy only. With --confidence-threshold 0.5 every face is named, so P(male)
is recoverable from `gender` and `gender_confidence`.

The model: P(male) = sigmoid(g0 + g1*logit + g2*(age - 40)/20) (logistic regression
on both sets, so that the calibration sees children, old women and men alike);
ages above a knee k are stretched, k + (age - k) * (sf*(1-p) + sm*p), fitted by
grid search on UTKFace's ages (MAE) plus FairFace's groups (distance to the
labelled group's interval).
"""
import csv
import json
import math
import os
import sys

import numpy as np

SHARED = os.environ.get("BLICKFANG_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
GROUPS = ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"]
LO = np.array([0, 3, 10, 20, 30, 40, 50, 60, 70.0])
HI = np.array([3, 10, 20, 30, 40, 50, 60, 70, 1000.0])


def central(faces, w, h):
    if not faces:
        return None
    return min(faces, key=lambda f: math.hypot(f["box"][0] + f["box"][2] / 2 - w / 2, f["box"][1] + f["box"][3] / 2 - h / 2))


def load(jsonl, labels):
    preds = {}
    for line in open(jsonl):
        d = json.loads(line)
        if d.get("type") != "frame":
            continue
        # A record's face keeps age and gender in its `demographics` object.
        faces = [dict(f, **f.get("demographics", {})) for f in d["faces"]]
        preds[d["source"].split("/")[-1]] = central(faces, d["width"], d["height"])
    rows, p, a = [], [], []
    for r in csv.DictReader(open(labels)):
        f = preds.get(r["file"])
        if f is None or f.get("age") is None or f.get("gender") not in ("male", "female"):
            continue  # no face or no view: not usable for fitting
        c = f["gender_confidence"]
        rows.append(r)
        p.append(c if f["gender"] == "male" else 1 - c)
        a.append(f["age"])
    return rows, np.clip(np.array(p), 1e-6, 1 - 1e-6), np.array(a, float)


def logit(p):
    return np.log(p / (1 - p))


def features(p, a):
    return np.stack([np.ones_like(p), logit(p), (a - 40) / 20], 1)


def fit_logistic(X, y, l2=1e-3):
    w = np.zeros(X.shape[1])
    for _ in range(100):
        q = 1 / (1 + np.exp(-X @ w))
        g = X.T @ (q - y) + l2 * w
        H = (X * (q * (1 - q))[:, None]).T @ X + l2 * np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return w


def stretch(a, p, k, sf, sm):
    s = sf * (1 - p) + sm * p
    return np.where(a > k, k + s * (a - k), a)


GRID = [(k, sf, sm) for k in range(24, 44, 2) for sf in np.arange(1.0, 2.01, 0.05) for sm in np.arange(0.8, 1.61, 0.05)]


def fit_age(sets):
    def loss(q):
        total = 0.0
        for kind, rows, p, a in sets:
            s = stretch(a, p, *q)
            if kind == "utk":
                total += np.abs(s - np.array([int(r["age"]) for r in rows])).mean()
            else:
                g = np.array([GROUPS.index(r["age_group"]) for r in rows])
                total += (np.maximum(LO[g] - s, 0) + np.maximum(s - HI[g], 0)).mean()
        return total
    return min(GRID, key=loss)


def group(a):
    return np.searchsorted(LO, np.floor(a), side="right") - 1


def scores(kind, rows, p, a):
    male = np.array([r["gender"] == "male" for r in rows])
    ok = (p >= 0.5) == male
    if kind == "utk":
        t = np.array([int(r["age"]) for r in rows])
        ad = t >= 18
        return f"gender {100*ok.mean():.1f} / adults {100*ok[ad].mean():.1f}  age MAE {np.abs(a-t).mean():.2f} / adults {np.abs(a-t)[ad].mean():.2f}"
    g = np.array([GROUPS.index(r["age_group"]) for r in rows])
    ad = g >= 3
    pg = group(a)
    return (f"gender {100*ok.mean():.1f} / adults {100*ok[ad].mean():.1f}  group exact {100*(pg==g).mean():.1f}"
            f" within one {100*(np.abs(pg-g)<=1).mean():.1f}")


def calibrate(w, q, p, a):
    pc = 1 / (1 + np.exp(-features(p, a) @ w))
    return pc, stretch(a, pc, *q)


def main():
    utk_jsonl, ff_jsonl = sys.argv[1:3]
    sets = {
        "utk": load(utk_jsonl, os.path.join(SHARED, "data/utkface_crop_subset/labels.csv")),
        "ff": load(ff_jsonl, os.path.join(SHARED, "data/fairface_balanced540/labels.csv")),
    }
    y = {k: np.array([r["gender"] == "male" for r in v[0]], float) for k, v in sets.items()}
    for k, (rows, p, a) in sets.items():
        print(f"raw        {k:3s}: {scores(k, rows, p, a)}")
    fits = {}
    for fit_on in ["utk", "ff"]:
        rows, p, a = sets[fit_on]
        w = fit_logistic(features(p, a), y[fit_on])
        q = fit_age([(fit_on, rows, p, a)])
        fits[fit_on] = (w, q)
        other = "ff" if fit_on == "utk" else "utk"
        ro, po, ao = sets[other]
        print(f"fit on {fit_on:3s} -> {other:3s}: {scores(other, ro, *calibrate(w, q, po, ao))}   (w {np.round(w, 2)}, age {np.round(q, 2)})")
    X = np.vstack([features(sets[k][1], sets[k][2]) for k in sets])
    w = fit_logistic(X, np.concatenate([y[k] for k in sets]))
    q = fit_age([(k, *sets[k]) for k in sets])
    for k, (rows, p, a) in sets.items():
        print(f"joint fit  {k:3s}: {scores(k, rows, *calibrate(w, q, p, a))}")
    print(f"gender: [{w[0]:.2f}, {w[1]:.2f}, {w[2]:.2f}]  age_knee {q[0]:.1f}  age_slope_female {q[1]:.2f}  age_slope_male {q[2]:.2f}")


if __name__ == "__main__":
    main()
