#!/usr/bin/env bash
# dist/Mingjing.app -> dist/Mingjing-<version>.dmg (drag to Applications). macOS only.
# PyInstaller signs the .app ad hoc; for distribution outside this machine sign with a
# Developer ID and notarize (see packaging/README.md).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
VERSION=$(python3 -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
STAGE=packaging/build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R dist/Mingjing.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
OUT=dist/Mingjing-$VERSION.dmg
rm -f "$OUT"
hdiutil create -volname "Mingjing $VERSION" -srcfolder "$STAGE" -ov -format UDZO "$OUT"
ls -l "$OUT"
