"""A folder of good, odd and broken image files for the data tests.

Every image is one solid colour, so tests can check decoded pixels against
`EXPECTED_COLORS`. The 8000x8000 image is a 1-bit PNG (23 KB on disk, about
0.3 s to write).
"""

from __future__ import annotations

import io
import os

from PIL import Image

# Colour of every usable file after conversion to RGB.
EXPECTED_COLORS = {
    "good_red.jpg": (200, 30, 30),
    "good_green.png": (0, 200, 0),
    "good_blue.bmp": (20, 40, 220),
    "good_rgba.bmp": (10, 120, 90),
    "cmyk.jpg": (0, 255, 255),
    "uint16.png": (128, 128, 128),
    "rgba.png": (255, 0, 0),
    "rgba_half.png": (255, 127, 127),
    "palette.png": (255, 0, 0),
    "palette.bmp": (0, 128, 255),
    "grayscale.jpg": (100, 100, 100),
    "tiny_1x1.png": (10, 20, 30),
    "tiny_1x1.jpg": (10, 20, 30),
    "animated.gif": (255, 0, 0),
    "huge_8000x8000.png": (255, 255, 255),
}

# Skip reasons, up to the first " (".
EXPECTED_REASONS = {
    "empty.jpg": "empty file",
    "truncated.jpg": "truncated JPEG",
    "text.png": "not an image",
    "truncated_iend.png": "truncated PNG",
    "huge_8000x8000.png": "too large",
    "palette.bmp": "needs conversion",
}

# Files that are only accepted with `allow_conversion=True`, and their kind.
CONVERSION_FILES = {"palette.bmp": "bmp_indexed"}


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _solid(mode, color, size=(24, 16)):
    return Image.new(mode, size, color)


def _noise_jpeg():
    # Noise, so the entropy-coded data is long and truncation hits pixels.
    image = Image.effect_noise((128, 96), 64).convert("RGB")
    return _encode(image, "JPEG", quality=90)


def _palette(color, fmt):
    image = Image.new("P", (24, 16), 0)
    image.putpalette(list(color) + [0, 0, 0] * 255)
    return _encode(image, fmt)


def _animated_gif():
    frames = [_solid("RGB", c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=50
    )
    return buffer.getvalue()


def _contents():
    png = _encode(_solid("RGB", (0, 200, 0)), "PNG")
    jpeg = _noise_jpeg()
    return {
        "good_red.jpg": _encode(_solid("RGB", (200, 30, 30)), "JPEG"),
        "good_green.png": png,
        "good_blue.bmp": _encode(_solid("RGB", (20, 40, 220)), "BMP"),
        # 32-bit BMP whose 4th byte is 0: padding, not transparency.
        "good_rgba.bmp": _encode(_solid("RGBA", (10, 120, 90, 0)), "BMP"),
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "text.png": b"This is a text file, not a PNG.\n",
        "truncated_iend.png": png[:-12],
        "cmyk.jpg": _encode(
            _solid("CMYK", (255, 0, 0, 0)), "JPEG", quality=100
        ),
        "uint16.png": _encode(_solid("I;16", 32768), "PNG"),
        "rgba.png": _encode(_solid("RGBA", (255, 0, 0, 255)), "PNG"),
        "rgba_half.png": _encode(_solid("RGBA", (255, 0, 0, 128)), "PNG"),
        "palette.png": _palette((255, 0, 0), "PNG"),
        "palette.bmp": _palette((0, 128, 255), "BMP"),
        "grayscale.jpg": _encode(_solid("L", 100), "JPEG", quality=95),
        "tiny_1x1.png": _encode(_solid("RGB", (10, 20, 30), (1, 1)), "PNG"),
        "tiny_1x1.jpg": _encode(
            _solid("RGB", (10, 20, 30), (1, 1)), "JPEG", quality=95
        ),
        "huge_8000x8000.png": _encode(_solid("1", 1, (8000, 8000)), "PNG"),
        "animated.gif": _animated_gif(),
    }


def write_corrupt_corpus(directory: str) -> dict[str, str]:
    """Writes good, odd and broken image files into `directory`.

    Args:
        directory: created if missing.

    Returns:
        `{filename: outcome}` under the default scan settings, where outcome
        is `"rgb"`, a conversion kind (see `ssl_tf.data.images`) or
        `"skip"` (reason in `EXPECTED_REASONS`).
    """
    os.makedirs(directory, exist_ok=True)
    for name, data in _contents().items():
        with open(os.path.join(directory, name), "wb") as file:
            file.write(data)
    return {
        "good_red.jpg": "rgb",
        "good_green.png": "rgb",
        "good_blue.bmp": "rgb",
        "good_rgba.bmp": "rgb",
        "empty.jpg": "skip",
        "truncated.jpg": "skip",
        "text.png": "skip",
        "truncated_iend.png": "skip",
        "cmyk.jpg": "cmyk",
        "uint16.png": "uint16",
        "rgba.png": "rgba",
        "rgba_half.png": "rgba",
        "palette.png": "palette",
        "palette.bmp": "skip",
        "grayscale.jpg": "grayscale",
        "tiny_1x1.png": "rgb",
        "tiny_1x1.jpg": "rgb",
        "huge_8000x8000.png": "skip",
        "animated.gif": "animated",
    }
