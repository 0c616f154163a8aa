"""Image helpers: the MultiTrust typographic renderer and a safe image loader.

Pure module (Pillow and the standard library only; no pytest, no model code), so the dataset
loaders, the fixture generator and the unit tests can all use it.

Typographic renderer (spec section 3.14, upstream ``related-image-txtembed``): black text on white,
FreeMonoBold at 90 px, greedy word wrap at 1024 px, every line centred, canvas height
``ceil(font_size * n_lines * 1.1)`` and lines stacked at a pitch of 1.1 x the font size. Upstream
file names are the SHA3-256 hex of the text plus ``.png``.

Deliberate differences from upstream, all for determinism or robustness:
- the FreeType "basic" layout engine is forced, so output does not depend on whether libraqm is
  installed;
- a word wider than the canvas is broken by characters instead of widening the canvas;
- each line is centred on its ink, not on its advance width (upstream centres the whole block and
  left-aligns lines inside it; the spec asks for every line centred);
- lines sit exactly 1.1 x font size apart, each line box centred in its slot (upstream's
  ``multiline_text`` used the font's own line spacing plus 4 px).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from pytest_mllmtrust.core.errors import ConfigError, DataError

StrPath = str | os.PathLike[str]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

DEFAULT_FONT_SIZE = 90
DEFAULT_WIDTH = 1024
LINE_PITCH = 1.1  # line pitch and canvas height factor, in units of the font size

FONT_ENV_VAR = "MLLMTRUST_FONT"

# Where FreeMonoBold (the benchmark's font) or a close monospace bold usually lives. Read at call
# time, so tests can monkeypatch it to exercise the Pillow-default fallback.
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/freefont/FreeMonoBold.ttf",  # Debian, Ubuntu (fonts-freefont-ttf)
    "/usr/share/fonts/gnu-free/FreeMonoBold.otf",  # Arch, Fedora (gnu-free-fonts)
    "/usr/share/fonts/gnu-free/FreeMonoBold.ttf",
    "/usr/local/share/fonts/FreeMonoBold.ttf",
    "/Library/Fonts/FreeMonoBold.ttf",  # macOS, installed by hand
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",  # Debian, Ubuntu
    "/usr/share/fonts/TTF/DejaVuSansMono-Bold.ttf",  # Arch
    "/usr/share/fonts/dejavu-sans-mono-fonts/DejaVuSansMono-Bold.ttf",  # Fedora
    "/usr/share/fonts/dejavu/DejaVuSansMono-Bold.ttf",
)

# Pixel budget of load_image: well above any benchmark image, far below a decompression bomb.
MAX_PIXELS = 64_000_000

# Formats load_image accepts. Restricting them keeps Pillow away from plugins such as EPS, which
# would run Ghostscript on a file that merely claims to be an image.
IMAGE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


# --------------------------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------------------------


def _load_truetype(path: StrPath, font_size: int) -> Font:
    try:
        # BASIC layout: identical glyph placement with or without libraqm on the machine.
        return ImageFont.truetype(os.fspath(path), font_size, layout_engine=ImageFont.Layout.BASIC)
    except OSError as exc:
        raise ConfigError(f"cannot load font {os.fspath(path)!r}: {exc}") from exc


def _describe(font: Font, where: str) -> str:
    if isinstance(font, ImageFont.FreeTypeFont):
        family, style = font.getname()
        return f"{family} {style} ({where})"
    return f"bitmap font ({where})"


def resolve_font(
    font_path: StrPath | None = None, *, font_size: int = DEFAULT_FONT_SIZE
) -> tuple[Font, str]:
    """Find the renderer's font and describe it (the description is recorded with results).

    Order: ``font_path``; else the ``MLLMTRUST_FONT`` environment variable; else the first of
    ``FONT_CANDIDATES`` that exists; else Pillow's built-in scalable default font. A path given
    explicitly (argument or environment) that does not exist is a ``ConfigError``: silently
    falling back would change every rendered image.
    """
    if font_size < 1:
        raise ValueError(f"font_size must be positive, got {font_size}")
    explicit: StrPath | None = font_path
    if explicit is None:
        explicit = os.environ.get(FONT_ENV_VAR) or None
    if explicit is not None:
        if not os.path.isfile(explicit):
            raise ConfigError(f"font file not found: {os.fspath(explicit)!r}")
        font = _load_truetype(explicit, font_size)
        return font, _describe(font, os.fspath(explicit))
    for candidate in FONT_CANDIDATES:
        if os.path.isfile(candidate):
            font = _load_truetype(candidate, font_size)
            return font, _describe(font, candidate)
    font = ImageFont.load_default(size=font_size)
    return font, _describe(font, "Pillow built-in default")


# --------------------------------------------------------------------------------------------
# Typographic renderer
# --------------------------------------------------------------------------------------------


def _fits(font: Font, text: str, width: int) -> bool:
    # Strict "<" as upstream: a line exactly as wide as the canvas is wrapped.
    return font.getlength(text) < width


def _break_word(word: str, font: Font, width: int) -> list[str]:
    """Split a word wider than the canvas into the longest prefixes that fit."""
    pieces: list[str] = []
    current = ""
    for char in word:
        # An empty line always takes at least one character, so a very narrow canvas still ends.
        if current and not _fits(font, current + char, width):
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces


def wrap_text(text: str, font: Font, width: int) -> list[str]:
    """Greedy word wrap: lines whose advance width stays below ``width``.

    Newlines in ``text`` are hard breaks; runs of spaces collapse. An empty paragraph still takes
    a line, as upstream does.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if _fits(font, candidate, width):
                current = candidate
                continue
            if current:
                lines.append(current)
            if _fits(font, word, width):
                current = word
            else:
                *full, current = _break_word(word, font, width)
                lines.extend(full)
        lines.append(current)
    return lines


def typographic_height(n_lines: int, font_size: int = DEFAULT_FONT_SIZE) -> int:
    """Canvas height for ``n_lines`` lines.

    Written as upstream's float expression on purpose: 90 * 1 * 1.1 is 99.00000000000001 in
    floating point, so one line gives 100 px, exactly as the released images.
    """
    return math.ceil(font_size * n_lines * LINE_PITCH)


def _ink_span(line: str, font: Font) -> tuple[int, int]:
    """Left and right ink columns of ``line`` drawn at x = 0 (may be negative)."""
    # getbbox() is advance-based horizontally, so measure real ink on a scratch strip with a
    # margin wide enough for any side bearing.
    margin = int(font.size) if isinstance(font, ImageFont.FreeTypeFont) else 16
    left, _top, right, bottom = font.getbbox(line)
    strip = Image.new("L", (int(right - left) + 2 * margin, int(bottom) + margin), 0)
    ImageDraw.Draw(strip).text((margin, 0), line, font=font, fill=255)
    # Measure where coverage reaches one half, as the eye does; faint anti-aliasing fringes
    # differ between the two ends of a line. Very light text falls back to any ink at all.
    box = strip.point([0] * 128 + [255] * 128).getbbox() or strip.getbbox()
    if box is None:
        return 0, 0
    return box[0] - margin, box[2] - margin


def _line_box_height(font: Font) -> int:
    """Ascender-to-descender height of one line."""
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return int(ascent + descent)
    return int(font.getbbox("Ag")[3])  # bitmap fonts (Pillow without FreeType) have no metrics


def render_typographic(
    text: str,
    *,
    font_path: StrPath | None = None,
    font_size: int = DEFAULT_FONT_SIZE,
    width: int = DEFAULT_WIDTH,
) -> Image.Image:
    """Render ``text`` as black-on-white typography, the way the benchmark's renderer does.

    The canvas is ``width`` wide and ``ceil(font_size * n_lines * 1.1)`` high; line ``i`` occupies
    the slot starting at ``floor(i * 1.1 * font_size)``, with the font's ascender-to-descender box
    centred vertically in that slot and its ink centred horizontally. Same text and font give the
    same pixels (and, through ``png_bytes``, the same file).
    """
    if width < 1:
        raise ValueError(f"width must be positive, got {width}")
    font, _ = resolve_font(font_path, font_size=font_size)
    lines = wrap_text(text, font, width)
    canvas = Image.new("RGB", (width, typographic_height(len(lines), font_size)), "white")
    draw = ImageDraw.Draw(canvas)
    pitch = LINE_PITCH * font_size
    # Centring the nominal line box in its slot keeps FreeMonoBold (box 1.0 x size) clear of the
    # edges, and lets fonts with taller metrics lose as little as possible at the bottom.
    inset = math.floor((pitch - _line_box_height(font)) / 2)
    for index, line in enumerate(lines):
        if not line:
            continue
        ink_left, ink_right = _ink_span(line, font)
        x = (width - (ink_right - ink_left)) // 2 - ink_left
        y = math.floor(index * pitch) + inset
        draw.text((x, y), line, font=font, fill="black")
    return canvas


#: side of the generated unrelated images (solid colour, noise), in pixels
GENERATED_SIDE = 512


def render_solid(rgb: Sequence[int], side: int = GENERATED_SIDE) -> Image.Image:
    """A square of one colour: the benchmark's "color" unrelated image."""
    red, green, blue = (int(c) for c in rgb)
    return Image.new("RGB", (side, side), (red, green, blue))


def render_noise(seed: int, side: int = GENERATED_SIDE) -> Image.Image:
    """A square of uniform RGB noise: the benchmark's "noise" unrelated image. The bytes come
    from SHAKE-256 of the seed, so they are the same on every platform and library version."""
    pixels = hashlib.shake_256(f"mllmtrust-noise/{seed}".encode()).digest(side * side * 3)
    return Image.frombytes("RGB", (side, side), pixels)


#: F.5's layout, which the F.7 image variants follow: two 224 px squares side by side, each
#: captioned with its option letter underneath
CHOICE_SIDE = 224
CHOICE_CAPTION = 50


def render_choice_pair(
    files: Sequence[str], root: StrPath, font_path: StrPath | None = None
) -> Image.Image:
    """Options A and B side by side (each scaled to a square), "A" and "B" printed underneath."""
    font, _ = resolve_font(font_path, font_size=CHOICE_CAPTION * 3 // 4)
    canvas = Image.new("RGB", (2 * CHOICE_SIDE, CHOICE_SIDE + CHOICE_CAPTION), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (name, letter) in enumerate(zip(files, "AB", strict=True)):
        option = load_image(Path(root, name), root=root).convert("RGB")
        option = option.resize((CHOICE_SIDE, CHOICE_SIDE), Image.Resampling.BICUBIC)
        canvas.paste(option, (index * CHOICE_SIDE, 0))
        ink_left, ink_right = _ink_span(letter, font)
        x = index * CHOICE_SIDE + (CHOICE_SIDE - (ink_right - ink_left)) // 2 - ink_left
        y = CHOICE_SIDE + (CHOICE_CAPTION - _line_box_height(font)) // 2
        draw.text((x, y), letter, font=font, fill="black")
    return canvas


def render(spec: Mapping[str, Any], root: StrPath | None = None) -> Image.Image:
    """The image an ``ImageRef.render`` description stands for; ``root`` is the data root the
    files a description names (``choice-pair``) are read from."""
    kind = spec.get("kind")
    if kind == "choice-pair":
        if root is None:
            raise ValueError("a choice-pair image needs the data root of its files")
        return render_choice_pair(spec["files"], root, spec.get("font"))
    if kind == "typographic":
        return render_typographic(str(spec["text"]), font_path=spec.get("font"))
    if kind == "color":
        return render_solid(spec["rgb"])
    if kind == "noise":
        return render_noise(int(spec["seed"]))
    raise ValueError(f"unknown rendered image kind {kind!r}")


def typographic_cache_name(text: str) -> str:
    """Upstream's cache file name: SHA3-256 hex of the UTF-8 text, plus ``.png``."""
    return hashlib.sha3_256(text.encode("utf-8")).hexdigest() + ".png"


def png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as PNG with no metadata and a fixed compression level.

    Only pixel data (and palette transparency, which is pixel data) is kept: text chunks, ICC
    profiles or EXIF copied from a source file would make equal pixels give different bytes.
    """
    clean = image.copy()
    transparency = image.info.get("transparency")
    clean.info = {} if transparency is None else {"transparency": transparency}
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_image(path: StrPath, *, root: StrPath, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Load an image from inside ``root`` as a fully decoded RGB image.

    A relative ``path`` is taken relative to ``root``. The real path (symlinks resolved) must lie
    inside the real ``root``: dataset records are untrusted and must not reach other files.
    Images above ``max_pixels``, unsupported formats, and truncated or corrupt files raise
    ``DataError`` naming the file, here rather than later inside a model.
    """
    shown = os.fspath(path)
    real_root = Path(root).resolve()
    real = (real_root / path).resolve()
    if not real.is_relative_to(real_root):
        raise DataError(f"image path {shown!r} resolves outside the data root {str(real_root)!r}")
    if not real.is_file():
        raise DataError(f"image not found: {shown!r} (looked at {str(real)!r})")
    try:
        # Image.open warns above Image.MAX_IMAGE_PIXELS and raises above twice that; turn the
        # warning into an error locally so a bomb never gets decoded.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(real, formats=IMAGE_FORMATS) as image:
                n_pixels = image.width * image.height
                if n_pixels > max_pixels:
                    raise DataError(
                        f"image {shown!r} has {image.width}x{image.height} = {n_pixels} pixels,"
                        f" over the limit of {max_pixels}"
                    )
                image.load()  # decode now: a truncated file fails here, not in the model
                return image.convert("RGB")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"image {shown!r} refused as a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports unreadable, truncated and corrupt files through these.
        raise DataError(f"cannot read image {shown!r}: {exc}") from exc
