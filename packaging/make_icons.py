"""Draw Mingjing's icon (a round bronze mirror with 明) and write it in every format the
packages need. Run once after changing the design; the outputs are committed:

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

icons/mingjing.svg (scalable, the glyph as a path: no font needed to show it),
icons/mingjing-<N>.png, icons/mingjing.ico (Windows), icons/mingjing.icns (macOS).
Needs PySide6 and a CJK font (Noto Sans/Serif CJK) only when run."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QGuiApplication, QImage, QPainter, QPainterPath
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def glyph_path(size: float = 256.0) -> str:
    """SVG path data for 明, centred in a size x size box."""
    font = QFont("Noto Serif CJK SC")
    font.setPixelSize(int(size * 0.5))
    font.setWeight(QFont.Weight.Bold)
    path = QPainterPath()
    path.addText(QPointF(0, 0), font, "明")
    box = path.boundingRect()
    path.translate(size / 2 - box.center().x(), size / 2 - box.center().y())
    parts: list[str] = []
    i = 0
    while i < path.elementCount():
        e = path.elementAt(i)
        if e.isMoveTo():
            parts.append(f"M{e.x:.1f} {e.y:.1f}")
        elif e.isLineTo():
            parts.append(f"L{e.x:.1f} {e.y:.1f}")
        else:  # a cubic: this element and the next two
            c1, c2 = path.elementAt(i + 1), path.elementAt(i + 2)
            parts.append(f"C{e.x:.1f} {e.y:.1f} {c1.x:.1f} {c1.y:.1f} {c2.x:.1f} {c2.y:.1f}")
            i += 2
        i += 1
    return "".join(parts) + "Z"


def svg() -> str:
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"
     viewBox="0 0 256 256">
  <title>明镜 Mingjing</title>
  <defs>
    <radialGradient id="rim" cx="50%" cy="40%" r="60%">
      <stop offset="0" stop-color="#e0b35a"/><stop offset="1" stop-color="#8a5a1c"/>
    </radialGradient>
    <radialGradient id="glass" cx="38%" cy="32%" r="75%">
      <stop offset="0" stop-color="#ffffff"/><stop offset="0.55" stop-color="#dfeef6"/>
      <stop offset="1" stop-color="#9fc3d6"/>
    </radialGradient>
  </defs>
  <circle cx="128" cy="128" r="120" fill="url(#rim)"/>
  <circle cx="128" cy="128" r="100" fill="url(#glass)" stroke="#6d4514" stroke-width="3"/>
  <path d="M70 78 Q96 52 128 48" fill="none" stroke="#ffffff" stroke-width="8"
        stroke-linecap="round" opacity="0.8"/>
  <path fill="#1f3b57" d="{glyph_path()}"/>
</svg>
"""


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def main() -> int:
    _app = QGuiApplication(sys.argv)
    HERE.mkdir(exist_ok=True)
    text = svg()
    (HERE / "mingjing.svg").write_text(text, encoding="utf-8")
    renderer = QSvgRenderer(QByteArray(text.encode("utf-8")))
    for size in SIZES:
        render(renderer, size).save(str(HERE / f"mingjing-{size}.png"))
    # Qt's image plugins write both container formats (ico: largest 256; icns: up to 512).
    render(renderer, 256).save(str(HERE / "mingjing.ico"), "ICO")
    render(renderer, 512).save(str(HERE / "mingjing.icns"), "ICNS")
    print("icons written to", HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
