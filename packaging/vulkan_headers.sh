#!/bin/sh
# Newer Vulkan headers for the Vulkan build of llama.cpp (`make gpu`), where the system's are
# too old (Debian 12's 1.3.239 lack vk::LayerSettingEXT; packaging/vulkan_prereqs.py says so).
# Downloads Debian 13 (trixie)'s libvulkan-dev with apt-get into a private apt state (apt
# checks it against the Debian archive key), unpacks it without installing anything, and
# keeps its usr/include in ${XDG_CACHE_HOME:-~/.cache}/mingjing/vulkan-headers, where the
# build finds it. No root needed (works as root too); the system is not changed. The build
# still links the system's loader (libvulkan-dev).
#   SUITE=trixie MIRROR=http://deb.debian.org/debian KEYRING=... packaging/vulkan_headers.sh
set -eu

SUITE=${SUITE:-trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mingjing/vulkan-headers

fail() { echo "vulkan_headers: $*" >&2; exit 1; }
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null \
    || fail "needs $tool (Debian/Ubuntu). Elsewhere install the Vulkan SDK, or set MINGJING_VULKAN_HEADERS=DIR (DIR/vulkan/vulkan.hpp, Vulkan 1.3.275 or later)"
done
[ -r "$KEYRING" ] || fail "$KEYRING is missing: sudo apt-get install debian-archive-keyring"

mkdir -p "$(dirname "$CACHE")"
WORK=$(mktemp -d "$(dirname "$CACHE")/.vulkan-headers.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/lists/partial" "$WORK/archives/partial" "$WORK/deb"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$WORK/sources.list"

# Only this source, no system lists, locks, caches or pins.
set -- -q -o Dir::Etc::SourceList="$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null \
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
  -o Dir::State::Lists="$WORK/lists" -o Dir::Cache::Archives="$WORK/archives" \
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1
# As root apt would hand the download to the _apt user, who cannot write to $WORK.
[ "$(id -u)" -ne 0 ] || set -- "$@" -o APT::Sandbox::User=root

echo "vulkan_headers: libvulkan-dev from $MIRROR $SUITE" >&2
apt-get "$@" update >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "apt-get update failed"; }
(cd "$WORK/deb" && apt-get "$@" download libvulkan-dev) >>"$WORK/apt.log" 2>&1 \
  || { cat "$WORK/apt.log" >&2; fail "apt-get download libvulkan-dev failed"; }
set -- "$WORK"/deb/libvulkan-dev_*.deb
[ -f "$1" ] || fail "no libvulkan-dev .deb was downloaded"
DEB=$1
dpkg-deb -x "$DEB" "$WORK/x"
grep -qs LayerSettingEXT "$WORK"/x/usr/include/vulkan/vulkan*.hpp \
  || fail "$(basename "$DEB") has no vk::LayerSettingEXT either"

mkdir -p "$WORK/out/usr"
mv "$WORK/x/usr/include" "$WORK/out/usr/include"
echo "$(basename "$DEB") $(sha256sum "$DEB" | cut -d' ' -f1)" >"$WORK/out/SOURCE"
rm -rf "$CACHE.old"
[ ! -e "$CACHE" ] || mv "$CACHE" "$CACHE.old"
mv "$WORK/out" "$CACHE"
rm -rf "$CACHE.old"
echo "vulkan_headers: $(basename "$DEB") headers in $CACHE/usr/include" >&2
