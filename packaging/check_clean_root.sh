#!/usr/bin/env bash
# Install the .deb into a clean Debian root and use it the way a user meets it.
#
#   sudo packaging/check_clean_root.sh [path/to/mingjing_*.deb]     (`make package-check-root`)
#
# 1. debootstrap --variant=minbase the host's Debian release into a temporary folder
#    (the bootstrapped root is cached as packaging/build/cache/<release>-minbase.tar).
# 2. apt-get install ./mingjing_*.deb --no-install-recommends (dependencies come from the
#    Debian mirror), then check every library in /opt/mingjing resolves (ldd).
# 3. As a fresh user, with the network cut (unshare -n): `mingjing ask` answers with the
#    built-in model on first launch.
# 4. Install the recommended packages (CJK fonts, MIME/desktop tools), check the .gguf
#    MIME type and desktop entry are registered, start Xvfb, open the window with the
#    network cut (`mingjing FILE.gguf`, as "Open with" does) and take a screenshot:
#    packaging/out/clean-root-window.png.
# 5. apt-get remove/purge: /opt/mingjing goes, the user's data folder stays.
# Needs root, debootstrap, Xvfb and imagemagick (import) on the host.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
for tool in debootstrap Xvfb import unshare chroot; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install debootstrap xvfb imagemagick)" >&2; exit 1; }
done
DEB=${1:-$(ls -t dist/mingjing_*.deb 2>/dev/null | head -1)}
[ -f "$DEB" ] || { echo "no .deb: run make package" >&2; exit 1; }

. /etc/os-release
RELEASE=${RELEASE:-${VERSION_CODENAME:-bookworm}}
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE=packaging/build/cache/$RELEASE-minbase.tar
OUT=packaging/out
mkdir -p "$OUT" "$(dirname "$CACHE")"
LOG=$OUT/clean-root.log
: > "$LOG"
WORK=$(mktemp -d /tmp/mingjing-root.XXXXXX)
R=$WORK/root
XVFB_PID=
DISPLAY_NUM=${DISPLAY_NUM:-97}

cleanup() {
  set +e
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null
  for m in tmp/.X11-unix dev/shm dev/pts dev sys proc; do
    mountpoint -q "$R/$m" 2>/dev/null && { umount "$R/$m" 2>/dev/null || umount -l "$R/$m"; }
  done
  if ! grep -q " $WORK/" /proc/mounts; then rm -rf "$WORK"; else echo "left $WORK (mounts)" >&2; fi
}
trap cleanup EXIT
step() { echo; echo "== $*" | tee -a "$LOG"; }
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
as_user() {  # the fresh user, no network
  unshare -n chroot --userspec=tester:tester "$R" /usr/bin/env -i HOME=/home/tester \
    PATH=/usr/bin:/bin LANG=zh_CN.UTF-8 LC_ALL=C.UTF-8 "$@"; }
fail() { echo "FAIL: $*" | tee -a "$LOG" >&2; exit 1; }

step "clean $RELEASE root (minbase) in $R"
t0=$(date +%s)
mkdir -p "$R"
if [ -f "$CACHE" ]; then
  tar -xf "$CACHE" -C "$R"
else
  debootstrap --variant=minbase "$RELEASE" "$R" "$MIRROR" >> "$LOG" 2>&1
  tar -cf "$CACHE" -C "$R" .
fi
echo "root ready in $(( $(date +%s) - t0 )) s: $(du -sh "$R" | cut -f1)" | tee -a "$LOG"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mount -t proc proc "$R/proc"
mount -t sysfs sys "$R/sys"
mount --bind /dev "$R/dev"
mount --bind /dev/pts "$R/dev/pts"
mount -t tmpfs shm "$R/dev/shm"
mkdir -p "$R/tmp/.X11-unix" /tmp/.X11-unix
mount --bind /tmp/.X11-unix "$R/tmp/.X11-unix"
in_root useradd -m -s /bin/sh tester

step "apt-get install ./$(basename "$DEB") --no-install-recommends"
cp "$DEB" "$R/tmp/"
t0=$(date +%s)
in_root apt-get update -qq >> "$LOG" 2>&1
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$DEB")" >> "$LOG" 2>&1 \
  || { tail -20 "$LOG"; fail "apt-get install"; }
echo "installed in $(( $(date +%s) - t0 )) s; packages pulled in:" \
  "$(grep -c '^Unpacking' "$LOG") ($(grep '^Unpacking' "$LOG" | awk '{print $2}' | tr '\n' ' '))" | tee -a "$LOG"
echo "/opt/mingjing: $(du -sh "$R/opt/mingjing" | cut -f1)" | tee -a "$LOG"

step "every shared library of the bundle resolves (ldd)"
# As the bundle's launcher sets it up: its own _internal folder first, then the system.
# The wayland platform plugin needs libwayland-* (Recommends); everything else must resolve.
in_root sh -c 'export LD_LIBRARY_PATH=/opt/mingjing/_internal
  find /opt/mingjing -name "*.so*" -type f | while read -r f; do
  ldd "$f" 2>/dev/null | grep "not found" | sed "s|^|$f: |"; done' > "$WORK/ldd.txt" || true
grep -v -E "wayland|/libqwayland|/wayland-" "$WORK/ldd.txt" > "$WORK/ldd-bad.txt" || true
if [ -s "$WORK/ldd-bad.txt" ]; then cat "$WORK/ldd-bad.txt" | tee -a "$LOG"; fail "unresolved libraries"; fi
echo "all resolve ($(wc -l < "$WORK/ldd.txt") wayland-only misses, covered by Recommends)" | tee -a "$LOG"

step "first launch, network cut: unshare -n mingjing ask"
t0=$(date +%s.%N)
as_user mingjing ask --max-tokens 8 --temperature 0 --seed 1 "The capital of France is" \
  > "$WORK/answer.txt" 2> "$WORK/ask-err.txt" || { cat "$WORK/ask-err.txt"; fail "mingjing ask"; }
t1=$(date +%s.%N)
[ -n "$(tr -d '[:space:]' < "$WORK/answer.txt")" ] || fail "empty answer"
echo "answer: $(cat "$WORK/answer.txt")" | tee -a "$LOG"
printf 'first launch %.1f s\n' "$(echo "$t1 - $t0" | bc)" | tee -a "$LOG"
as_user sh -c '! ls ~/.local/share/Mingjing/models/*.gguf 2>/dev/null' \
  || fail "the built-in model was copied into the data folder (it is read from /opt/mingjing)"
as_user sh -c 'mkdir -p ~/文档 && printf "明镜在本地运行大语言模型。知識庫使用混合檢索。\n" > ~/文档/说明.txt &&
  mingjing kb add --kb 测试 ~/文档 && mingjing kb search --kb 测试 --json "混合检索"' \
  > "$WORK/kb.txt" 2>&1 || { cat "$WORK/kb.txt"; fail "knowledge base"; }
grep -q '"matched_terms": \["混合", "检索"\]' "$WORK/kb.txt" || { cat "$WORK/kb.txt"; fail "kb search"; }
echo "knowledge base: add + search OK (USE embedder, sqlite-vec, jieba, OpenCC)" | tee -a "$LOG"

step "recommended packages: fonts-noto-cjk shared-mime-info desktop-file-utils"
t0=$(date +%s)
in_root apt-get install -y -qq fonts-noto-cjk shared-mime-info desktop-file-utils \
  libwayland-client0 libwayland-cursor0 libwayland-egl1 >> "$LOG" 2>&1 || fail "recommends"
in_root dpkg-reconfigure mingjing >> "$LOG" 2>&1 || true   # runs postinst with the tools present
echo "installed in $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
grep -q "gguf" "$R/usr/share/mime/globs2" || fail "*.gguf not in the MIME database"
grep -q "application/x-gguf=mingjing.desktop" "$R/usr/share/applications/mimeinfo.cache" \
  || fail ".gguf not associated with mingjing.desktop"
echo "MIME: $(grep gguf "$R/usr/share/mime/globs2" | head -1); $(grep x-gguf "$R/usr/share/applications/mimeinfo.cache")" | tee -a "$LOG"

step "window under Xvfb, network cut: mingjing FILE.gguf (as 'Open with' runs it)"
Xvfb ":$DISPLAY_NUM" -screen 0 1400x900x24 -nolisten tcp > "$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 50); do [ -S "/tmp/.X11-unix/X$DISPLAY_NUM" ] && break; sleep 0.1; done
MODEL=$(find "$R/opt/mingjing" -name gemma-3-270m-q4_k_m.gguf | head -1); MODEL=${MODEL#"$R"}
# A Chinese file name (a copy of the built-in model): the model picker and status bar
# show it, so the screenshot proves CJK glyphs render and non-ASCII paths open.
OPENED=/home/tester/模型/明镜测试模型.gguf
as_user sh -c "mkdir -p ~/模型 && cp '$MODEL' '$OPENED'"
as_user env DISPLAY=":$DISPLAY_NUM" LANG=zh_CN.UTF-8 LC_ALL=zh_CN.UTF-8 QT_QPA_PLATFORM=xcb \
  timeout 25 mingjing "$OPENED" > "$WORK/gui.txt" 2>&1 &
GUI=$!
sleep "${GUI_WAIT:-15}"
DISPLAY=":$DISPLAY_NUM" import -window root "$OUT/clean-root-window.png"
set +e; wait $GUI; rc=$?; set -e
cat "$WORK/gui.txt" >> "$LOG"
[ "$rc" = 124 ] || { cat "$WORK/gui.txt"; fail "the window exited early (code $rc)"; }
echo "screenshot: $OUT/clean-root-window.png (window stayed up until stopped)" | tee -a "$LOG"

step "uninstall: the program goes, the user's data stays"
in_root apt-get remove -y -qq mingjing >> "$LOG" 2>&1
[ ! -e "$R/opt/mingjing" ] && [ ! -e "$R/usr/bin/mingjing" ] || fail "files left after remove"
in_root apt-get purge -y -qq mingjing >> "$LOG" 2>&1
[ -s "$R$OPENED" ] && [ -f "$R/home/tester/.local/share/Mingjing/knowledge.db" ] \
  || fail "user data was removed"
echo "removed and purged; ~/.local/share/Mingjing kept: $(ls "$R/home/tester/.local/share/Mingjing" | tr '\n' ' ')" | tee -a "$LOG"
echo; echo "OK: clean-root install check passed (log: $LOG)" | tee -a "$LOG"
