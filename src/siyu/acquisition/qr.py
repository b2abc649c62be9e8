"""QR codes and posters: read WeCom's QR image once, then draw it with segno and Pillow at any size."""

from __future__ import annotations

import io
import os
from functools import lru_cache

import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from siyu.kit.http import shared_http

# Where Debian and other systems keep a font with Chinese glyphs; SIYU_POSTER_FONT wins.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
MAX_IMAGE_BYTES = 2 * 1024 * 1024


def decode_image_url(url: str) -> str:
    """Fetch a QR image and return the text it encodes ("" when there is no readable code)."""

    response = shared_http().get(url, timeout=10)
    response.raise_for_status()
    if len(response.content) > MAX_IMAGE_BYTES:
        raise ValueError("QR image too large")
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)).convert("L"))
    return found[0].text if found else ""


def qr_png(content: str, *, scale: int = 10, dark: str = "#000000") -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="png", scale=scale, border=4, dark=dark)
    return out.getvalue()


def qr_svg(content: str, *, dark: str = "#000000") -> bytes:
    out = io.BytesIO()
    segno.make(content, error="m").save(out, kind="svg", scale=10, border=4, dark=dark, xmldecl=True)
    return out.getvalue()


@lru_cache(maxsize=8)
def _font(size: int):
    path = os.environ.get("SIYU_POSTER_FONT") or next((p for p in FONT_CANDIDATES if os.path.exists(p)), None)
    if path:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    # Chinese has no spaces: wrap by character, breaking at spaces when there are some.
    lines, line = [], ""
    for ch in text:
        if ch == "\n" or draw.textlength(line + ch, font=font) > width:
            lines.append(line)
            line = "" if ch in "\n " else ch
        else:
            line += ch
    if line:
        lines.append(line)
    return lines


def poster_png(*, qr_image: Image.Image, title: str, subtitle: str = "", footer: str = "", background: str = "#FFF7EE", accent: str = "#C2410C") -> bytes:
    """A 750×1334 phone poster: the brand's title, the QR on a card, a subtitle and a footer."""
    width, height = 750, 1334
    poster = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(poster)
    y = 120
    for line in _wrap(draw, title, _font(56), width - 120)[:3]:
        draw.text((width // 2, y), line, font=_font(56), fill=accent, anchor="mt")
        y += 76
    y += 30
    card = 520
    left = (width - card) // 2
    draw.rounded_rectangle((left, y, left + card, y + card), radius=28, fill="#FFFFFF", outline=accent, width=4)
    qr = qr_image.convert("RGB").resize((card - 60, card - 60), Image.NEAREST)
    poster.paste(qr, (left + 30, y + 30))
    y += card + 50
    for line in _wrap(draw, subtitle, _font(34), width - 120)[:4]:
        draw.text((width // 2, y), line, font=_font(34), fill="#333333", anchor="mt")
        y += 50
    if footer:
        draw.text((width // 2, height - 90), footer[:40], font=_font(26), fill="#777777", anchor="mt")
    out = io.BytesIO()
    poster.save(out, format="PNG", optimize=True)
    return out.getvalue()


def qr_image(content: str) -> Image.Image:
    return Image.open(io.BytesIO(qr_png(content, scale=8)))
