#!/usr/bin/env bash
# Check the bundle the way a first launch meets it: an empty data folder and no network.
# `mingjing ask` must answer with the built-in model read in place from the bundle; the
# knowledge base (USE embedder, sqlite-vec, jieba, OpenCC, charset detection, HTML/DOCX
# extraction) must import and search. Builds the bundle first if there is none.
#
#   packaging/check_bundle.sh [--build] [BUNDLE_DIR]   (default dist/mingjing)
#   --build: rebuild the bundle first (`make package-check` and the pytest do)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=0
if [ "${1:-}" = --build ]; then BUILD=1; shift; fi
BUNDLE=${1:-dist/mingjing}
find_exe() {  # Linux: mingjing; Windows: mingjing.exe (the console one); macOS: Mingjing
  for name in mingjing.exe mingjing Mingjing; do
    if [ -f "$BUNDLE/$name" ] && [ -x "$BUNDLE/$name" ]; then echo "$BUNDLE/$name"; return; fi
  done
}
if [ "$BUILD" = 1 ] || [ -z "$(find_exe)" ]; then
  packaging/build.sh --bundle
fi
EXE=$(find_exe)
[ -n "$EXE" ] || { echo "no executable in $BUNDLE" >&2; exit 1; }
PYNOW=$(command -v python3 || command -v python)
now() { "$PYNOW" -c 'import time; print(time.time())'; }
elapsed() { "$PYNOW" -c "print(f'{$2 - $1:.1f}')"; }

# No network: unshare -n where we may (root or user namespaces), else run as is.
NONET=()
if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then NONET=(unshare -n)
elif command -v unshare >/dev/null && unshare -rn true 2>/dev/null; then NONET=(unshare -rn)
else echo "note: cannot cut the network here (no unshare); running with it" >&2; fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v cygpath >/dev/null && WORK=$(cygpath -m "$WORK")  # Windows (Git Bash): C:/...
export MINGJING_HOME=$WORK/home QT_QPA_PLATFORM=offscreen
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== ask (first launch: empty data folder, ${NONET[*]:-network on})"
t0=$(now)
${NONET[@]+"${NONET[@]}"} "$EXE" ask --max-tokens 8 --temperature 0 --seed 1 "The capital of France is" \
  > "$WORK/answer.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "ask exited $?"; }
t1=$(now)
answer=$(tr -d '[:space:]' < "$WORK/answer.txt")
[ -n "$answer" ] || { cat "$WORK/err.txt"; fail "empty answer"; }
echo "answer: $(cat "$WORK/answer.txt")"
echo "first launch: $(elapsed "$t0" "$t1") s"
# The bundle's model is read in place: nothing as big as a model lands in the data folder.
[ ! -e "$MINGJING_HOME/models/gemma-3-270m-q4_k_m.gguf" ] || fail "the built-in model was copied into the data folder"

t0=$(now)
${NONET[@]+"${NONET[@]}"} "$EXE" ask --max-tokens 8 --temperature 0 --seed 1 "The capital of France is" > /dev/null
t1=$(now)
echo "second launch: $(elapsed "$t0" "$t1") s"

echo "== model info"
${NONET[@]+"${NONET[@]}"} "$EXE" model info | head -5

echo "== knowledge base"
mkdir -p "$WORK/docs"
printf '明镜在本地运行大语言模型。\n知識庫使用混合檢索：向量搜索和關鍵詞搜索。\n' \
  | iconv -f utf-8 -t gb18030 > "$WORK/docs/说明.txt"   # GB18030 text, traditional chars
printf '<html><body><h1>上下文窗口</h1><p>上下文窗口决定模型一次能读多少词元。</p></body></html>' \
  > "$WORK/docs/page.html"
N_DOCS=2
FIXTURE_PY=packaging/build/venv/bin/python
[ -x "$FIXTURE_PY" ] || FIXTURE_PY=packaging/build/venv/Scripts/python.exe
if [ -x "$FIXTURE_PY" ]; then   # a DOCX and an AES-encrypted PDF (python-docx, pypdf+cryptography)
  "$FIXTURE_PY" packaging/make_fixtures.py "$WORK/docs" && N_DOCS=4
fi
${NONET[@]+"${NONET[@]}"} "$EXE" kb add --kb check "$WORK/docs" > "$WORK/kb.txt" 2>&1 \
  || { cat "$WORK/kb.txt"; fail "kb add"; }
tail -1 "$WORK/kb.txt"
grep -q "check: $N_DOCS indexed, 0 unchanged, 0 removed, 0 failed" "$WORK/kb.txt" \
  || { cat "$WORK/kb.txt"; fail "not all $N_DOCS documents were indexed"; }
${NONET[@]+"${NONET[@]}"} "$EXE" kb search --kb check --json "混合检索是什么" > "$WORK/search.json"
grep -q '"matched_terms": \["混合", "检索"\]' "$WORK/search.json" \
  || { cat "$WORK/search.json"; fail "search did not match the folded terms"; }
echo "search: top hit matched 混合 检索 (traditional 檢索 folded)"

echo "== window (offscreen): paints its first frame"
# MINGJING_EXIT_AFTER_PAINT: the window prints "first-paint" and quits once painted.
MINGJING_EXIT_AFTER_PAINT=1 ${NONET[@]+"${NONET[@]}"} "$EXE" > "$WORK/gui.txt" 2>&1 \
  || { cat "$WORK/gui.txt"; fail "the window failed"; }
grep -q first-paint "$WORK/gui.txt" || { cat "$WORK/gui.txt"; fail "the window did not paint"; }
echo "== the local API (mingjing serve on 127.0.0.1, a token, the base model)"
# On loopback only; a new network namespace would have no loopback up, so this runs as is.
"$EXE" serve --port 0 --token check-token-0123456789 --model gemma-3-270m --ctx 512 \
  > "$WORK/serve.txt" 2> "$WORK/serve-err.txt" &
SERVE_PID=$!
URL=
for _ in $(seq 1 300); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.txt" | head -1 || true)
  [ -n "$URL" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve-err.txt"; fail "serve ended"; }
  sleep 0.2
done
[ -n "$URL" ] || { kill "$SERVE_PID"; cat "$WORK/serve-err.txt"; fail "serve did not listen"; }
"$PYNOW" - "$URL" <<'PY' || { kill "$SERVE_PID"; cat "$WORK/serve-err.txt"; fail "the API did not answer"; }
import json, sys, urllib.request, urllib.error
url = sys.argv[1]
def call(path, body=None, token="check-token-0123456789"):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)
assert call("/v1/models")["data"][0]["id"] == "gemma-3-270m"
reply = call("/v1/completions", {"prompt": "The capital of France is", "max_tokens": 6,
                                 "temperature": 0})
print("API answered:", repr(reply["choices"][0]["text"]))
try:
    call("/v1/models", token="wrong")
    raise SystemExit("a wrong token was accepted")
except urllib.error.HTTPError as exc:
    assert exc.code == 401, exc.code
PY
kill -INT "$SERVE_PID"; wait "$SERVE_PID" || fail "serve did not stop cleanly on Ctrl-C"

echo "OK: the bundle works offline from an empty data folder"
