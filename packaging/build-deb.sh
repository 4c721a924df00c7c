#!/usr/bin/env bash
# Builds the Debian packages blickfang_<version>_<arch>.deb (the player: plugin and
# command) and blickfang-central_<version>_<arch>.deb (the fleet side, no GStreamer)
# from the release build
# with dpkg-deb and dpkg-shlibdeps only (no packaging tool to compile). `make deb`.
#
#   packaging/build-deb.sh [OUTDIR]     default OUTDIR: $CARGO_TARGET_DIR/debian
#
# Needs `cargo build --release --workspace` first (make deb does it), and
# ONNX Runtime's wheel: fetched once with pip into
# ${XDG_CACHE_HOME:-~/.cache}/blickfang/wheels, its library checked against
# the SHA-256 scripts/setup.sh pins (one pin for both).
#
# Layout (Debian 12, multiarch triplet from dpkg-architecture):
#   /usr/bin/blickfang                         the command (+ man page)
#   /usr/lib/<triplet>/gstreamer-1.0/libgstblickfang.so   the plugin
#   /usr/lib/<triplet>/blickfang/libonnxruntime.so*       ONNX Runtime (private)
#   /usr/share/blickfang/{models.txt,schema/}  the model list, the JSON schemas
#   /usr/share/doc/blickfang/                  copyright, changelog, install.md,
#                                              examples/ (pipelines, players),
#                                              onnxruntime/ (its licence, notices)
#   /lib/systemd/system/*.service              every unit in packaging/systemd/
#   /etc/...                                   every file in packaging/etc/ (conffiles)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pkg=$root/packaging
target=${CARGO_TARGET_DIR:-$root/target}
release=$target/release
out=${1:-$target/debian}
say() { echo "build-deb: $*"; }

for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture dpkg-parsechangelog help2man; do
    command -v "$tool" >/dev/null || { say "$tool not found (apt-get install dpkg-dev help2man; scripts/setup.sh --test does)"; exit 1; }
done
for f in blickfang blickfang-central libgstblickfang.so; do
    [ -f "$release/$f" ] || { say "$release/$f is not built: run cargo build --release --workspace (make deb does)"; exit 1; }
done

version=$(dpkg-parsechangelog -l "$pkg/debian/changelog" -S Version)
cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
[ "${version%-*}" = "$cargo_version" ] \
    || { say "packaging/debian/changelog is at $version, Cargo.toml at $cargo_version: add a changelog entry"; exit 1; }
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
ort_version=$(sed -n 's/^ORT_VERSION=//p' "$root/scripts/setup.sh")
ort_sha=$(sed -n 's/^ORT_LIB_SHA256=//p' "$root/scripts/setup.sh")

# ONNX Runtime: the library, its licence and notices, from the wheel setup.sh also uses.
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/blickfang/wheels
wheel=$(ls "$wheels"/onnxruntime-"$ort_version"-*manylinux_2_28_x86_64.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
    say "fetching the onnxruntime $ort_version wheel into $wheels"
    mkdir -p "$wheels"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 -d "$wheels" "onnxruntime==$ort_version"
    wheel=$(ls "$wheels"/onnxruntime-"$ort_version"-*manylinux_2_28_x86_64.whl | head -1)
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
d=$stage/root
ortdir=$d/usr/lib/$triplet/blickfang
doc=$d/usr/share/doc/blickfang
install -d "$d/DEBIAN" "$d/usr/bin" "$d/usr/lib/$triplet/gstreamer-1.0" "$ortdir" \
    "$d/usr/share/blickfang/schema" "$doc/examples/pipelines" "$doc/onnxruntime" "$d/usr/share/man/man1" \
    "$d/usr/share/lintian/overrides"

# Stripped copies: the release profile keeps line tables (debug = 1) for backtraces.
install -m 0755 "$release/blickfang" "$d/usr/bin/blickfang"
install -m 0644 "$release/libgstblickfang.so" "$d/usr/lib/$triplet/gstreamer-1.0/libgstblickfang.so"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$d/usr/bin/blickfang" "$d/usr/lib/$triplet/gstreamer-1.0/libgstblickfang.so"

unzip -q -o -d "$stage/wheel" "$wheel" "onnxruntime/capi/libonnxruntime.so.$ort_version" \
    onnxruntime/LICENSE onnxruntime/ThirdPartyNotices.txt onnxruntime/Privacy.md
echo "$ort_sha  $stage/wheel/onnxruntime/capi/libonnxruntime.so.$ort_version" | sha256sum --check --status \
    || { say "libonnxruntime.so.$ort_version in $wheel does not match scripts/setup.sh's SHA-256"; exit 1; }
install -m 0644 "$stage/wheel/onnxruntime/capi/libonnxruntime.so.$ort_version" "$ortdir/"
ln -s "libonnxruntime.so.$ort_version" "$ortdir/libonnxruntime.so"
install -m 0644 "$stage/wheel/onnxruntime/LICENSE" "$stage/wheel/onnxruntime/Privacy.md" "$doc/onnxruntime/"
gzip -9n -c "$stage/wheel/onnxruntime/ThirdPartyNotices.txt" > "$doc/onnxruntime/ThirdPartyNotices.txt.gz"

install -m 0644 "$root/scripts/models.txt" "$d/usr/share/blickfang/models.txt"
install -m 0644 "$root"/schema/*.json "$d/usr/share/blickfang/schema/"
install -m 0644 "$root"/pipelines/*.txt "$doc/examples/pipelines/"
install -m 0644 "$root/docs/install.md" "$doc/install.md"
# The embedding examples (the Python player, and any others beside it, e.g. examples/c/).
cp -r --no-preserve=mode,ownership "$root"/examples/. "$doc/examples/"
# Sources only: no VCS files, nothing a local build left (the C player's binary, Python caches).
find "$doc/examples" \( -name .gitignore -o -name __pycache__ -o -name '*.o' \) -prune -exec rm -rf {} +
rm -f "$doc/examples/c/blickfang-player"
find "$doc/examples" -type f -exec chmod 0644 {} +
find "$doc/examples" -type d -exec chmod 0755 {} +
install -m 0644 "$pkg/debian/copyright" "$doc/copyright"
gzip -9n -c "$pkg/debian/changelog" > "$doc/changelog.Debian.gz"
install -m 0644 "$pkg/debian/lintian-overrides" "$d/usr/share/lintian/overrides/blickfang"

# The man page from the command's own --help, so it cannot drift from it.
help2man --no-info --no-discard-stderr --section=1 --name="privacy-preserving audience analytics for digital signage" \
    --include="$pkg/blickfang.h2m" --version-string="$version" "$d/usr/bin/blickfang" \
    | gzip -9n > "$d/usr/share/man/man1/blickfang.1.gz"

units=()
if compgen -G "$pkg/systemd/*.service" >/dev/null; then
    install -d "$d/lib/systemd/system"
    for u in "$pkg"/systemd/*.service; do
        install -m 0644 "$u" "$d/lib/systemd/system/"
        units+=("$(basename "$u")")
    done
fi

: > "$d/DEBIAN/conffiles"
if [ -d "$pkg/etc" ]; then
    while IFS= read -r -d '' f; do
        rel=${f#"$pkg"/etc/}
        install -D -m 0644 "$f" "$d/etc/$rel"
        echo "/etc/$rel" >> "$d/DEBIAN/conffiles"
    done < <(find "$pkg/etc" -type f -print0 | sort -z)
fi
[ -s "$d/DEBIAN/conffiles" ] || rm "$d/DEBIAN/conffiles"

for s in postinst prerm postrm; do
    sed "s|@UNITS@|${units[*]:-}|g" "$pkg/debian/$s" > "$d/DEBIAN/$s"
    chmod 0755 "$d/DEBIAN/$s"
done

# Depends from what the binaries link (dpkg-shlibdeps wants a debian/control to read;
# --warnings=1: ONNX Runtime links libdl, librt, libpthread it does not use, which is theirs to fix).
mkdir -p "$stage/src/debian"
printf 'Source: blickfang\n\nPackage: blickfang\nArchitecture: any\n' > "$stage/src/debian/control"
shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O --warnings=1 -l"$ortdir" -e"$d/usr/bin/blickfang" \
    -e"$d/usr/lib/$triplet/gstreamer-1.0/libgstblickfang.so" -e"$ortdir/libonnxruntime.so.$ort_version" \
    | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$d" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$size|" -e "s|@SHLIBS@|$shlibs|" \
    "$pkg/debian/control.in" > "$d/DEBIAN/control"
(cd "$d" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$d/DEBIAN/md5sums"
chmod 0644 "$d/DEBIAN/control" "$d/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/blickfang_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$d" "$deb" >/dev/null

# blickfang-central: collect and report without GStreamer, the collector's unit, its settings (conffile).
c=$stage/central
cdoc=$c/usr/share/doc/blickfang-central
install -d "$c/DEBIAN" "$c/usr/bin" "$c/usr/share/blickfang/schema" "$cdoc" "$c/usr/share/man/man1" \
    "$c/lib/systemd/system" "$c/etc/blickfang" "$c/usr/share/lintian/overrides"
install -m 0644 "$pkg/central/lintian-overrides" "$c/usr/share/lintian/overrides/blickfang-central"
install -m 0755 "$release/blickfang-central" "$c/usr/bin/blickfang-central"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$c/usr/bin/blickfang-central"
install -m 0644 "$root/schema/blickfang-report.schema.json" "$root/schema/blickfang-records.schema.json" \
    "$c/usr/share/blickfang/schema/"
install -m 0644 "$root/docs/fleet.md" "$root/docs/report.md" "$cdoc/"
install -m 0644 "$pkg/debian/copyright" "$cdoc/copyright"
sed -i '/^Files: usr\/lib/,/^$/d' "$cdoc/copyright"
gzip -9n -c "$pkg/debian/changelog" > "$cdoc/changelog.Debian.gz"
install -m 0644 "$pkg/central/blickfang-collect.service" "$c/lib/systemd/system/"
install -m 0644 "$pkg/central/etc/blickfang/collect.toml" "$c/etc/blickfang/collect.toml"
echo /etc/blickfang/collect.toml > "$c/DEBIAN/conffiles"
help2man --no-info --no-discard-stderr --section=1 --version-string="$version" \
    --name="blickfang's fleet side: collect records, write the audience report" "$c/usr/bin/blickfang-central" \
    | gzip -9n > "$c/usr/share/man/man1/blickfang-central.1.gz"
for s in postinst prerm postrm; do
    sed -e "s|@UNITS@|blickfang-collect.service|g" -e '/No model weights/,/^    fi$/d' -e '/rm -rf \/var\/lib\/blickfang/d' \
        -e '/The models `blickfang models install` wrote/d' "$pkg/debian/$s" > "$c/DEBIAN/$s"
    chmod 0755 "$c/DEBIAN/$s"
done
cshlibs=$(cd "$stage/src" && dpkg-shlibdeps -O --warnings=1 -e"$c/usr/bin/blickfang-central" | sed -n 's/^shlibs:Depends=//p')
csize=$(du -sk --exclude=DEBIAN "$c" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@SIZE@|$csize|" -e "s|@SHLIBS@|$cshlibs|" \
    "$pkg/central/control.in" > "$c/DEBIAN/control"
(cd "$c" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$c/DEBIAN/md5sums"
chmod 0644 "$c/DEBIAN/control" "$c/DEBIAN/md5sums" "$c/DEBIAN/conffiles"
central=$out/blickfang-central_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$c" "$central" >/dev/null
say "$central"
say "$deb"
