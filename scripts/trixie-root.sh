#!/usr/bin/env bash
# A Debian 13 (trixie) root with GStreamer 1.26 and its development files, to
# build and test plugins-analytics (GstAnalyticsRelationMeta needs GStreamer
# >= 1.24; the host, Debian 12, has 1.22). See docs/analytics-meta.md.
#
#   scripts/trixie-root.sh path         create the root if missing, print its folder
#   scripts/trixie-root.sh run CMD...   run CMD inside it (as root, in a private
#                                       mount namespace: nothing stays mounted)
#
# Cached outside the clone, keyed by the recipe (suite, options, packages): a
# changed recipe makes a new root, an unchanged one is reused.
#   $BLICKFANG_ROOT_CACHE  default ${XDG_CACHE_HOME:-~/.cache}/blickfang/roots
# Inside CMD: the checkout is /src (read-only), the host's Rust toolchain
# /cargo and /rustup (Debian 13's rustc 1.85 is older than our lockfile
# needs), a cargo target folder cached beside the root /target, the shared
# folder /shared ($BLICKFANG_SHARED_DIR, read-only; models from /shared/models)
# and the folder of ONNX Runtime's library /ort ($BLICKFANG_ORT_LIB, default
# the one scripts/setup.sh installs; read-only).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cache=${BLICKFANG_ROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/blickfang/roots}

# The recipe: every input of the root is in these lines (the key hashes them).
suite=trixie
mirror=http://deb.debian.org/debian
options=(--variant=apt --aptopt='APT::Install-Recommends "false"'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/locale/*')
packages=(
    # Building: the linker, pkg-config and GStreamer's development files (the
    # analytics library, gstanalytics-1.0, comes with plugins-bad's).
    gcc libc6-dev pkg-config
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
    # Running the clip: demuxer, H.264 decoder, and objectdetectionoverlay (plugins-bad).
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
)
key=$(printf '%s\n' "$suite" "$mirror" "${options[@]}" "${packages[@]}" | sha256sum | cut -c1-16)
dir=$cache/$suite-$key

say() { echo "trixie-root: $*" >&2; }

create() {
    [ -f "$dir/.complete" ] && return
    [ "$(id -u)" = 0 ] || { say "creating and entering the root needs root (mmdebstrap, chroot)"; exit 1; }
    command -v mmdebstrap >/dev/null || { say "mmdebstrap is missing (scripts/setup.sh --test installs it)"; exit 1; }
    mkdir -p "$cache"
    local tmp=$dir.part start=$SECONDS
    rm -rf "$tmp"
    say "creating $dir (Debian $suite with GStreamer's development files; a few minutes, once)"
    mmdebstrap --quiet "${options[@]}" --include="$(IFS=,; echo "${packages[*]}")" "$suite" "$tmp" "$mirror" >&2
    mkdir -p "$tmp"/{src,cargo,rustup,target,shared,ort}
    touch "$tmp/.complete"
    mv "$tmp" "$dir"
    say "created in $((SECONDS - start)) s"
}

run() {
    create
    local target=$cache/target-$suite-$key shared=${BLICKFANG_SHARED_DIR:-$src/../shared}
    local ort=${BLICKFANG_ORT_LIB:-${BLICKFANG_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/blickfang}/onnxruntime/libonnxruntime.so}
    local cargo_home=${CARGO_HOME:-$HOME/.cargo} rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
    mkdir -p "$target"
    # The mounts live in this command's own mount namespace and vanish with it.
    unshare --mount --propagation private --fork env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        ROOT="$dir" SRC="$src" CARGO_DIR="$cargo_home" RUSTUP_DIR="$rustup_home" TARGET="$target" \
        SHARED="$(cd "$shared" && pwd)" ORT_DIR="$(dirname "$ort")" ORT_LIB=/ort/"$(basename "$ort")" CI="${CI:-}" RUST_LOG="${RUST_LOG:-}" GST_DEBUG="${GST_DEBUG:-}" \
        bash -euc '
        mount --rbind /dev "$ROOT/dev"
        mount -t proc proc "$ROOT/proc"
        mount -t tmpfs tmpfs "$ROOT/tmp"
        mount --bind "$SRC" "$ROOT/src" && mount -o remount,bind,ro "$ROOT/src"
        mount --bind "$CARGO_DIR" "$ROOT/cargo"
        mount --bind "$RUSTUP_DIR" "$ROOT/rustup"
        mount --bind "$TARGET" "$ROOT/target"
        mount --bind "$SHARED" "$ROOT/shared" && mount -o remount,bind,ro "$ROOT/shared"
        if [ -d "$ORT_DIR" ]; then mount --bind "$ORT_DIR" "$ROOT/ort" && mount -o remount,bind,ro "$ROOT/ort"; fi
        exec chroot "$ROOT" env -i HOME=/tmp PATH=/cargo/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            CARGO_HOME=/cargo RUSTUP_HOME=/rustup CARGO_TARGET_DIR=/target CI="$CI" GST_DEBUG="$GST_DEBUG" \
            BLICKFANG_SHARED_DIR=/shared BLICKFANG_MODEL_DIR=/shared/models BLICKFANG_ORT_LIB="$ORT_LIB" \
            bash -c "cd /src && exec \"\$@\"" bash "$@"
        ' bash "$@"
}

case "${1:-}" in
    path) create; echo "$dir" ;;
    run) shift; [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }; run "$@" ;;
    *) echo "usage: $0 path | run CMD..." >&2; exit 2 ;;
esac
