#!/usr/bin/env bash
# Wrap the PyInstaller bundle (dist/mingjing) into dist/mingjing_<version>_<arch>.deb:
#   /opt/mingjing/              the bundle
#   /usr/bin/mingjing           -> /opt/mingjing/mingjing (window with no arguments, CLI with)
#   /usr/share/applications/mingjing.desktop   (opens .gguf files: application/x-gguf)
#   /usr/share/mime/packages/mingjing.xml      (*.gguf and the GGUF magic)
#   /usr/share/icons/hicolor/{scalable,NxN}/apps/mingjing.{svg,png}
# MINGJING_GPU=vulkan wraps the GPU variant (dist/vulkan/mingjing) into
# dist/mingjing_<version>+vulkan_<arch>.deb: the same package, recommending the Vulkan loader.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
HERE=packaging/linux
BUNDLE=dist/mingjing
SUFFIX=""
GPU_RECOMMENDS=""
if [ "${MINGJING_GPU:-}" = vulkan ]; then
  BUNDLE=dist/vulkan/mingjing
  SUFFIX="+vulkan"
  GPU_RECOMMENDS="libvulkan1, mesa-vulkan-drivers, "
fi
[ -x "$BUNDLE/mingjing" ] || { echo "no bundle at $BUNDLE: run packaging/build.sh" >&2; exit 1; }
VERSION=$(python3 -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')$SUFFIX
ARCH=$(dpkg --print-architecture)
STAGE=packaging/build/deb
rm -rf "$STAGE" && mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin"
cp -a "$BUNDLE" "$STAGE/opt/mingjing"
ln -s /opt/mingjing/mingjing "$STAGE/usr/bin/mingjing"
install -D -m644 $HERE/mingjing.desktop "$STAGE/usr/share/applications/mingjing.desktop"
install -D -m644 $HERE/mingjing-mime.xml "$STAGE/usr/share/mime/packages/mingjing.xml"
install -D -m644 packaging/icons/mingjing.svg \
  "$STAGE/usr/share/icons/hicolor/scalable/apps/mingjing.svg"
for n in 16 24 32 48 64 128 256 512; do
  install -D -m644 "packaging/icons/mingjing-$n.png" \
    "$STAGE/usr/share/icons/hicolor/${n}x${n}/apps/mingjing.png"
done
install -D -m644 $HERE/copyright "$STAGE/usr/share/doc/mingjing/copyright"
install -m755 $HERE/postinst $HERE/postrm "$STAGE/DEBIAN/"
SIZE_KB=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
# Depends: what the bundle does not carry (found by installing into a clean Debian root,
# packaging/check_clean_root.sh): the C library, OpenGL/EGL loaders (the system's GPU
# driver stack), and libxcb itself. Everything else (Qt, ICU, the xcb helper libraries,
# fontconfig/freetype, OpenBLAS, Python) is inside /opt/mingjing.
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE_KB/" \
  -e "s/@GPU_RECOMMENDS@/$GPU_RECOMMENDS/" \
  $HERE/control.in > "$STAGE/DEBIAN/control"
OUT=dist/mingjing_${VERSION}_${ARCH}.deb
# xz: the model (245 MB of quantized weights) hardly compresses; the rest does.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" -z"${DEB_LEVEL:-6}" --threads-max="$(nproc)" \
  --build "$STAGE" "$OUT" >/dev/null
echo "$OUT: $(du -h "$OUT" | cut -f1) (installed $(( SIZE_KB / 1024 )) MiB)"
