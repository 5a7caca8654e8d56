#!/usr/bin/env bash
# Build the Mingjing bundle (PyInstaller onedir) and, on Debian/Ubuntu, the .deb.
#
#   packaging/build.sh            # bundle + .deb   (what `make package` runs)
#   packaging/build.sh --bundle   # bundle only (also what the Windows/macOS workflows use)
#   MINGJING_GPU=vulkan packaging/build.sh   # the GPU variant: dist/vulkan/mingjing and
#                                            # dist/mingjing_<version>+vulkan_<arch>.deb
#
# Outputs: dist/mingjing/ (the bundle), dist/mingjing_<version>_<arch>.deb,
# dist/size-report.txt. The build environment is packaging/build/venv: the app's
# dependencies without the optional torch stack (packaging/deps.py) and PyInstaller; the
# app's own code and data files are taken from this checkout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=packaging/build
VENV=$BUILD/venv
DEPS_ARGS=()
if [ "${MINGJING_WITH_TORCH:-}" = 1 ]; then  # keep the optional sentence-transformers stack
  VENV=$BUILD/venv-torch
  DEPS_ARGS=(--with-torch)
fi
LLAMA_PROFILE=bundle
DIST=dist
case "${MINGJING_GPU:-}" in
  "") ;;
  vulkan)  # llama.cpp's Vulkan backend beside the CPU variants (engine/cpu_backend.py)
    VENV=$VENV-vulkan; LLAMA_PROFILE=bundle-vulkan; DIST=dist/vulkan ;;
  *) echo "MINGJING_GPU=${MINGJING_GPU}: only vulkan is built here" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
MODE=${1:-all}
case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) BIN=Scripts ;; *) BIN=bin ;; esac
PY=$VENV/$BIN/python

start=$(date +%s)
if [ ! -x "$PY" ] && [ ! -x "$PY.exe" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ] \
   || [ packaging/deps.py -nt "$VENV/.installed" ] \
   || [ packaging/llama_wheel.py -nt "$VENV/.installed" ] \
   || [ packaging/llama_cpu_variants.cmake -nt "$VENV/.installed" ]; then
  echo "== build environment ($VENV)"
  "$PY" -m pip install --quiet --upgrade pip
  # llama.cpp as installers need it: every x86-64 CPU variant, chosen at run time
  # (packaging/llama_wheel.py; ~12 min on 2 cores the first time, then from its cache).
  "$PY" packaging/llama_wheel.py install "$LLAMA_PROFILE"
  "$PY" packaging/deps.py ${DEPS_ARGS[@]+"${DEPS_ARGS[@]}"} > "$BUILD/requirements.txt"
  if [ "${MINGJING_WITH_TORCH:-}" = 1 ]; then  # pinned first: unpinned pulls a CUDA build
    "$PY" -m pip install --quiet "$(grep '^torch' "$BUILD/requirements.txt")"
  fi
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc 2>/dev/null || echo 2) \
    "$PY" -m pip install --quiet -r "$BUILD/requirements.txt"
  touch "$VENV/.installed"
fi

echo "== PyInstaller"  # the app's packages (app, ui, engine, kb) come from this checkout
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" \
  --workpath "$BUILD/work" packaging/mingjing.spec
INTERNAL=$DIST/mingjing/_internal
[ -d "$INTERNAL" ] || INTERNAL=$DIST/mingjing   # (older PyInstaller layouts)

if [ "$(uname -s)" = Linux ]; then
  # Debug symbols: Python's own library (a local build: 17 MB of them), SQLite (sqlean),
  # and the Rust extensions. Not the auditwheel-repaired libraries (numpy.libs and the
  # like): patchelf moved their segments, and strip breaks them.
  ( cd "$INTERNAL" && strip --strip-unneeded libpython3*.so.* python3*/lib-dynload/*.so \
      sqlean/*.so semantic_text_splitter/*.so cryptography/hazmat/bindings/*.so 2>/dev/null ) || true
  # llama-cpp-python's Linux wheel holds copies, not links, of libx.so and libx.so.0.
  for so in "$INTERNAL"/llama_cpp/lib/lib*.so; do
    if [ -f "$so.0" ] && [ ! -L "$so" ] && cmp -s "$so" "$so.0"; then
      ln -sf "$(basename "$so").0" "$so"
    fi
  done
fi
echo "bundle built in $(( $(date +%s) - start )) s"

"$PY" packaging/size_report.py "$DIST/mingjing" | tee "$DIST/size-report.txt"

if [ "$MODE" != "--bundle" ] && [ "$(uname -s)" = Linux ] && command -v dpkg-deb >/dev/null; then
  echo "== .deb"
  packaging/linux/make_deb.sh
  ls -l dist/*.deb | tee -a "$DIST/size-report.txt"
fi
echo "done in $(( $(date +%s) - start )) s"
