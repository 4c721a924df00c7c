#!/usr/bin/env bash
# Installs whatever blickfang needs and is missing, every file SHA-256 checked.
# Idempotent: a second run only checks.
#
#   scripts/setup.sh           running and building: GStreamer (runtime, codecs,
#                              dev files), ONNX Runtime (the shared library from
#                              the PyPI onnxruntime wheel), the models (from a
#                              mirror folder, else upstream). `make setup`, `make run`.
#   scripts/setup.sh --test    + the peers the tests compare with or start: OpenCV's
#                              GStreamer plugin and Haar data, deface, mosquitto,
#                              strace, PyGObject, PostgreSQL 15 (and the user
#                              blickfang-pg the fleet tests run it as). `make test`.
#   scripts/setup.sh --bench   + cv2 5 (YuNet's reference) and perf for the benchmarks. `make bench*`.
#
# The peers stay out of the plain setup: a user running blickfang needs none of
# them, and OpenCV's plugin also registers an element called `facedetect`,
# which then takes that short name from ours.
#
#   BLICKFANG_DATA_DIR     where ONNX Runtime and models go
#                          (default ${XDG_DATA_HOME:-~/.local/share}/blickfang)
#   BLICKFANG_SHARED_DIR   the shared folder beside the checkout (default ../shared)
#   BLICKFANG_MODEL_MIRROR folder holding the models (default $BLICKFANG_SHARED_DIR/models)
#   BLICKFANG_SETUP_PLAN=1 print what the mode installs (Debian packages, then the
#                          Python peers) and exit without installing anything
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${BLICKFANG_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/blickfang}
shared=${BLICKFANG_SHARED_DIR:-$root/../shared}
mirror=${BLICKFANG_MODEL_MIRROR:-$shared/models}

mode=${1:-}
case "$mode" in
    '' | --test | --bench) ;;
    *) echo "usage: $0 [--test | --bench]" >&2; exit 2 ;;
esac

ORT_VERSION=1.32.0
ORT_LIB_SHA256=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f

say() { echo "setup: $*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Running and building blickfang.
apt_base=(
    pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    # pip fetches the ONNX Runtime wheel; unzip opens it; curl fetches models without a mirror.
    python3-pip unzip ca-certificates curl
)

# The tests' peers (--test and --bench).
apt_test=(
    # OpenCV's Haar facedetect/faceblur: the peers the tests and benchmarks compare with.
    gstreamer1.0-opencv opencv-data
    # Metadata out: the broker the MQTT tests start on 127.0.0.1, mosquitto_passwd
    # (in mosquitto) for their credentials, and strace for the no-frames-on-disk proof.
    mosquitto strace openssl
    # The fleet tests' database: initdb/pg_ctl (in `pg_config --bindir`) into a temporary folder.
    postgresql-15 postgresql-client-15
    # examples/signage_player.py (PyGObject) and its test.
    python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
    # python3 -m venv for .venv-ref (deface; cv2 for the benchmarks).
    python3-venv
    # examples/c compiled by its test; tests/edge.rs: its RTSP cameras, systemd-analyze, bwrap.
    gcc libc6-dev gir1.2-gst-rtsp-server-1.0 systemd bubblewrap
    # The report's browser test: headless Chromium driven over the DevTools protocol.
    chromium
    # make deb (packaging/build-deb.sh) and its test: dpkg-shlibdeps, the man page, lintian,
    # and the clean Debian 12 root tests/package.rs installs the package into;
    # also the Debian 13 root of tests/analytics_meta.rs (scripts/trixie-root.sh).
    dpkg-dev help2man lintian mmdebstrap
)

install_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

check_sha() { echo "$1  $2" | sha256sum --check --status; }

install_onnxruntime() {
    local dir=$data_dir/onnxruntime lib=$data_dir/onnxruntime/libonnxruntime.so.$ORT_VERSION
    if [ -f "$lib" ] && check_sha "$ORT_LIB_SHA256" "$lib"; then
        return
    fi
    say "fetching onnxruntime $ORT_VERSION from PyPI"
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 -d "$tmp" "onnxruntime==$ORT_VERSION"
    (cd "$tmp" && unzip -q -o ./*.whl "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION")
    check_sha "$ORT_LIB_SHA256" "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" \
        || { say "checksum mismatch for libonnxruntime.so.$ORT_VERSION"; exit 1; }
    mkdir -p "$dir"
    install -m 0644 "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$lib"
    ln -sf "libonnxruntime.so.$ORT_VERSION" "$dir/libonnxruntime.so"
    rm -rf "$tmp"
}

install_models() {
    local sha rel url dest
    while read -r sha rel url; do
        case "$sha" in ''|'#'*) continue ;; esac
        dest=$data_dir/models/$rel
        if [ -f "$dest" ] && check_sha "$sha" "$dest"; then
            continue
        fi
        mkdir -p "$(dirname "$dest")"
        if [ -f "$mirror/$rel" ]; then
            cp "$mirror/$rel" "$dest.part"
        elif [ "$url" != "-" ]; then
            say "downloading $rel"
            curl -fsSL "$url" -o "$dest.part"
        else
            say "model $rel is not in $mirror and has no upstream URL; set BLICKFANG_MODEL_MIRROR"
            exit 1
        fi
        check_sha "$sha" "$dest.part" || { say "checksum mismatch for $rel"; rm -f "$dest.part"; exit 1; }
        mv "$dest.part" "$dest"
    done < "$root/scripts/models.txt"
}

# gazedwell's default head-pose model, FSA-Net's two upstream files in one graph
# (headpose/fsanet-pair-iter-688590.onnx), is made from them by `blickfang models
# install` (blickfang::headpose::pair), which `make build` runs once the binary is built.

check_rust() {
    command -v cargo >/dev/null || { say "cargo not found: install Rust >= 1.92 (https://rustup.rs)"; exit 1; }
}

# Only for `make bench*`: cv2's YuNet, the reference implementation, in a venv
# of its own so the system Python stays untouched (python3-venv comes with the
# test packages).
install_bench_deps() {
    local venv=$root/.venv-ref
    if ! "$venv/bin/python" -c 'import cv2, numpy; assert cv2.__version__ == "5.0.0"' 2>/dev/null; then
        say "creating $venv with opencv-python-headless 5.0.0.93"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q 'opencv-python-headless==5.0.0.93' numpy
    fi
}

# deface (PyPI), the redaction tests/redaction_accuracy.rs compares blurredact
# with, in .venv-ref beside cv2 5 for the benchmark. deface asks for the GUI
# opencv-python; it runs headless on opencv-python-headless (same cv2 module,
# no libGL), so deface goes in with --no-deps and its other needs pinned.
DEFACE_VERSION=1.5.0
install_deface() {
    local venv=$root/.venv-ref
    if [ -x "$venv/bin/deface" ] && "$venv/bin/python" -c "
import importlib.metadata as m, cv2
assert m.version('deface') == '$DEFACE_VERSION'" 2>/dev/null; then
        return
    fi
    say "installing deface $DEFACE_VERSION into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        'opencv-python-headless==5.0.0.93' numpy 'imageio==2.38.1' 'imageio-ffmpeg==0.8.1' \
        'scikit-image==0.26.0' 'tqdm==4.70.1'
    # pip's closing check would name the opencv-python deface declares: it is headless here.
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "deface==$DEFACE_VERSION" 2>&1 \
        | grep -v -e "dependency resolver" -e "requires opencv-python, which is not installed" >&2 || true
    "$venv/bin/deface" --version >/dev/null || { say "deface does not run from $venv"; exit 1; }
}

if [ "${BLICKFANG_SETUP_PLAN:-}" = 1 ]; then
    printf '%s\n' "${apt_base[@]}"
    if [ -n "$mode" ]; then printf '%s\n' "${apt_test[@]}" "pip:deface==$DEFACE_VERSION"; fi
    if [ "$mode" = --bench ]; then echo "pip:opencv-python-headless==5.0.0.93"; echo linux-perf; fi
    exit 0
fi
if [ -n "$mode" ]; then
    install_apt "${apt_base[@]}" "${apt_test[@]}"
else
    install_apt "${apt_base[@]}"
fi
install_onnxruntime
install_models
check_rust
if [ -n "$mode" ]; then
    install_deface
fi
if [ "$mode" = --bench ]; then
    install_bench_deps
    # perf record -e cpu-clock: the whole chain's profile (docs/performance.md).
    install_apt linux-perf
fi
# PostgreSQL refuses to run as root: the fleet tests run their server as this user.
if [ -n "$mode" ] && [ "$(id -u)" = 0 ] && ! id blickfang-pg >/dev/null 2>&1; then
    say "creating the user blickfang-pg (the fleet tests' PostgreSQL runs as it)"
    useradd --system --no-create-home --shell /usr/sbin/nologin blickfang-pg
fi
say "ready${mode:+ (with the ${mode#--} peers)}: ONNX Runtime and models in $data_dir"
