#!/usr/bin/env bash
# Check the bundle on older x86-64 CPUs, emulated by qemu-user (Debian's qemu-user):
# - Haswell (2013: AVX2, no AVX-512): `mingjing ask` answers with the built-in model, on the
#   bundle's baseline CPU variant, chosen and probed at first launch;
# - Sandy Bridge (AVX, no AVX2) and Nehalem (no AVX): one line naming what the CPU lacks,
#   exit code 2, no SIGILL, no traceback.
#
#   packaging/check_cpu_compat.sh [BUNDLE_DIR]      (default dist/mingjing; x86-64 Linux)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUNDLE=${1:-dist/mingjing}
EXE=$BUNDLE/mingjing
[ -x "$EXE" ] || { echo "no bundle at $BUNDLE (make package)" >&2; exit 1; }
QEMU=$(command -v qemu-x86_64) || { echo "qemu-x86_64 missing: apt-get install qemu-user" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
quiet() { grep -v "warning: TCG doesn't support" || true; }  # qemu's notes, not the app's
EXE=$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")
# PyInstaller's Linux launcher restarts itself (execve) so that LD_LIBRARY_PATH takes
# effect, and qemu-user cannot follow an execve: the restarted program would run natively.
# So the emulated process is started as the restarted one, with the environment the
# launcher gives it. (The CPU variant chosen below, haswell and not the host's AVX-512 one,
# shows the app really ran on the emulated CPU.)
emulate() {  # emulate CPU ARGS...
  local cpu=$1; shift
  env _PYI_ARCHIVE_FILE="$EXE" _PYI_PARENT_PROCESS_LEVEL=-1 \
    LD_LIBRARY_PATH="$(dirname "$EXE")/_internal${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$QEMU" -cpu "$cpu" "$EXE" "$@"
}

for cpu in Nehalem SandyBridge; do
  echo "== $cpu: below the AVX2 baseline"
  set +e
  MINGJING_HOME=$WORK/$cpu emulate "$cpu" ask --max-tokens 8 "The capital of France is" \
    > "$WORK/out.txt" 2> "$WORK/err-raw.txt"
  code=$?
  set -e
  quiet < "$WORK/err-raw.txt" > "$WORK/err.txt"
  cat "$WORK/err.txt"
  echo "exit code: $code"
  [ "$code" = 2 ] || fail "$cpu: exit code $code, expected 2"
  [ "$(wc -l < "$WORK/err.txt")" = 1 ] || fail "$cpu: expected one line on stderr"
  grep -q "lacks .*AVX2" "$WORK/err.txt" || fail "$cpu: the message does not name AVX2"
  ! grep -q Traceback "$WORK/err.txt" || fail "$cpu: a traceback"
  [ ! -s "$WORK/out.txt" ] || fail "$cpu: unexpected output on stdout"
done

echo "== Haswell: the baseline (first launch: chooses and probes its CPU variant)"
export MINGJING_HOME=$WORK/haswell
t0=$(date +%s)
emulate Haswell ask --max-tokens 8 --temperature 0 --seed 1 \
  "The capital of France is" > "$WORK/answer.txt" 2> "$WORK/err-raw.txt" \
  || { quiet < "$WORK/err-raw.txt"; fail "Haswell: ask exited $?"; }
echo "answer: $(cat "$WORK/answer.txt")  ($(( $(date +%s) - t0 )) s emulated)"
[ -n "$(tr -d '[:space:]' < "$WORK/answer.txt")" ] || fail "Haswell: empty answer"
variant=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['variant'])" \
  "$MINGJING_HOME/cpu-backend.json")
echo "CPU variant chosen: $variant"
[ "$variant" = haswell ] || fail "Haswell: chose $variant"
emulate Haswell model info 2>/dev/null | grep -E "^(engine|cpu) " || true
echo "OK: the bundle answers on an emulated Haswell and refuses older CPUs in one line"
