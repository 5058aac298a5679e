"""Checks image files once before training, then decodes them in `tf.data`.

Folders, manifests and TFRecords often hold files that would crash a
`tf.data` pipeline mid-epoch: empty files, truncated JPEGs, text saved as
`.png`, unusual colour modes. A Python-side scan (`ssl_tf.data.scan`) runs
once before training and calls `inspect_image_bytes` on each item: it reads
the header with PIL, then runs the very decode op that `decode_image` uses,
so every accepted item is known to decode in-graph. That is the item's one
decode: PIL decodes only what TF rejects (to name the reason) and the BMPs
it converts. Everything else is skipped, logged on the `ssl_tf.data` logger
and named in `ScanReport.summary()`.

Conversions (the `kind` of an accepted item); TF decodes these natively:

- `""`: plain RGB JPEG/PNG/BMP.
- `"grayscale"`: tiled to RGB.
- `"rgba"`: alpha composited over white, so transparent pixels (whose hidden
  colour is often black) become white.
- `"palette"`: palette PNGs and still GIFs, expanded by the decoder.
- `"uint16"`: 16-bit PNGs, scaled by 1/257 with rounding (not truncated).
- `"cmyk"`: CMYK/YCCK JPEGs, read with Adobe (inverted) conventions like
  PIL and browsers do, and converted as `(1 - C) * (1 - K)`.
- `"animated"`: animated GIF or APNG; the first frame is used.

Only some BMPs need PIL (`PIL_CONVERSION_KINDS`): TensorFlow reads 8-bit
palette BMPs as grayscale indices (`"bmp_indexed"`, wrong colours, no error)
and cannot read 1/4-bit, RLE, 16-bit, bitfield or OS/2 BMPs (`"bmp_other"`).
They are skipped unless the scan is given `allow_conversion=True`; the caller
must then replace the bytes of every id in `ScanReport.needs_conversion` with
`convert_to_rgb_png_bytes(data)` before `decode_image`.

Images with more than `max_pixels` pixels (default 50M, i.e. 8000x8000 is
skipped) are skipped from the header alone, before any pixel is decoded:
decoding one costs `4 * pixels * channels` bytes of float32 for the resize,
per parallel `tf.data` call. EXIF orientation and ICC profiles are ignored.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import logging
import os
import threading
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image

logger = logging.getLogger("ssl_tf.data")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
PIL_CONVERSION_KINDS = frozenset({"bmp_indexed", "bmp_other"})
DEFAULT_MAX_PIXELS = 50_000_000

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (_PNG_MAGIC, "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)
_MAX_LISTED = 20


class NoUsableImagesError(ValueError):
    """A data source holds no image that can be decoded."""


def _category(reason: str) -> str:
    return reason.split(" (", 1)[0]


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """The outcome of scanning a set of images.

    Args:
        good: ids of the usable images in input order: file paths (a
            `PathTable`) or `"path#index"` (`RecordIds`), made when read.
        skipped: `(id, reason)` for every unusable image, in input order.
        converted: `(kind, count)` pairs, sorted by kind, for the accepted
            images that are not plain RGB (`dict(report.converted)`).
        needs_conversion: ids in `good` whose bytes must go through
            `convert_to_rgb_png_bytes` before `decode_image`.
        max_shape: `(largest height, largest width)` over the usable
            images (an upper bound of each one's size, not one image's),
            or `None` when there are none or a size is unknown.
    """

    good: Sequence[str] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    converted: tuple[tuple[str, int], ...] = ()
    needs_conversion: tuple[str, ...] = ()
    max_shape: tuple[int, int] | None = None

    def skip_counts(self) -> dict[str, int]:
        """Number of skipped items per reason category, most common first."""
        counts = collections.Counter(_category(r) for _, r in self.skipped)
        return dict(counts.most_common())

    def summary(self) -> str:
        """One paragraph naming every skipped item (up to 20 of them)."""
        text = f"{len(self.good)} usable, {len(self.skipped)} skipped"
        if self.skipped:
            counts = ", ".join(
                f"{n} {c}" for c, n in self.skip_counts().items()
            )
            names = _display_names([i for i, _ in self.skipped[:_MAX_LISTED]])
            listed = ", ".join(
                f"{name} ({reason})"
                for name, (_, reason) in zip(names, self.skipped, strict=False)
            )
            text += f" ({counts}): {listed}"
            if len(self.skipped) > _MAX_LISTED:
                text += f" and {len(self.skipped) - _MAX_LISTED} more"
        text += "."
        if self.converted:
            kinds = ", ".join(f"{n} {k}" for k, n in self.converted)
            text += f" Converted to RGB: {kinds}."
        return text


def _display_names(ids: Sequence[str]) -> list[str]:
    """Ids without their common directory, so the summary stays readable."""
    try:
        root = os.path.commonpath([os.path.dirname(i) for i in ids])
    except ValueError:  # a mix of absolute and relative ids
        root = ""
    if not root:
        return list(ids)
    return [i[len(root) :].lstrip(os.sep) for i in ids]


def require_usable(report: ScanReport, source_description: str) -> None:
    """Fails fast, before training, when a scan found no usable image.

    Args:
        report: the scan of the source.
        source_description: the folder, pattern or manifest, for the message.

    Raises:
        NoUsableImagesError: when `report.good` is empty.
    """
    if report.good:
        return
    if not report.skipped:
        raise NoUsableImagesError(
            f"No usable images in {source_description}: no image files found."
        )
    counts = ", ".join(f"{n} {c}" for c, n in report.skip_counts().items())
    first_id, first_reason = report.skipped[0]
    raise NoUsableImagesError(
        f"No usable images in {source_description}: "
        f"{len(report.skipped)} files skipped ({counts}). "
        f"First: {os.path.basename(first_id) or first_id} ({first_reason})"
    )


def _sniff(data: bytes) -> str | None:
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def _bmp_kind(data: bytes) -> str:
    header_size = int.from_bytes(data[14:18], "little")
    bits = int.from_bytes(data[28:30], "little")
    compression = int.from_bytes(data[30:34], "little")
    if header_size < 40:  # OS/2 headers: TF cannot read them
        return "bmp_other"
    if bits <= 8:
        return "bmp_indexed"
    if bits not in (24, 32) or compression != 0:
        return "bmp_other"
    return ""


def _kind(image: Image.Image, fmt: str, data: bytes) -> str:
    if getattr(image, "is_animated", False):
        return "animated"
    if image.mode == "CMYK":
        return "cmyk"
    if fmt == "BMP":
        return _bmp_kind(data)
    if fmt == "PNG" and data[24:25] == b"\x10":
        return "uint16"
    if image.mode in ("P", "PA"):
        return "palette"
    if image.mode in ("RGBA", "LA", "La", "RGBa") or (
        "transparency" in image.info
    ):
        return "rgba"
    if image.mode in ("1", "L", "I", "F") or image.mode.startswith("I;"):
        return "grayscale"
    return ""


def inspect_image_bytes(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    allow_conversion: bool = False,
) -> tuple[str | None, str | None]:
    """Decides whether `decode_image` will decode `data` correctly.

    Args:
        data: the encoded file.
        max_pixels: images with more pixels are skipped before decoding.
            PIL's own limit (`2 * Image.MAX_IMAGE_PIXELS`) also applies.
        allow_conversion: accept `PIL_CONVERSION_KINDS`, which the caller
            must convert with `convert_to_rgb_png_bytes`.

    Returns:
        `(kind, None)` when usable (`kind` is `""` for plain RGB, otherwise
        one of the kinds in the module docstring), or `(None, reason)`.
    """
    return inspect_images(
        [data], max_pixels, allow_conversion=allow_conversion
    )[0][:2]


def inspect_images(
    datas: Sequence[bytes],
    max_pixels: int = DEFAULT_MAX_PIXELS,
    *,
    allow_conversion: bool = False,
) -> list[tuple[str | None, str | None, tuple[int, int] | None]]:
    """`inspect_image_bytes` of each of `datas`, decoding each once.

    PIL reads each header; the images it passes are then decoded together
    by the pipeline's own op in one `tf.data` pass (`_tf_decodable`): a
    call per image costs ~2 ms of dispatch, the pass ~0.15 ms an image.

    Returns:
        `(kind, reason, size)` per item: `inspect_image_bytes`' pair and,
        for a usable image, its `(height, width)` from the header (the
        size `decode_image` decodes, also for PIL conversions), else None.
    """
    headers = [
        _inspect_header(data, max_pixels, allow_conversion) for data in datas
    ]
    results = [
        (kind, reason, size if reason is None else None)
        for kind, reason, size, _ in headers
    ]
    pending = [i for i, header in enumerate(headers) if header[3]]
    decodable = _tf_decodable([datas[i] for i in pending])
    for i, ok in zip(pending, decodable, strict=True):
        if not ok:
            results[i] = (*_tf_failure(datas[i], headers[i][3]), None)
    return results


def _inspect_header(data, max_pixels, allow_conversion):
    """`(kind, reason, (height, width) or None, fmt)` from the header.

    `fmt` is None for a final result; otherwise the image is usable if
    TensorFlow decodes it.
    """
    if not data:
        return _skip("empty file")
    fmt = _sniff(data)
    if fmt is None:
        try:
            with Image.open(io.BytesIO(data)) as image:
                return _skip(f"unsupported format ({image.format})")
        except Exception:  # anything PIL cannot open is skipped
            return _skip("not an image (unknown header)")
    try:
        with Image.open(io.BytesIO(data), formats=(fmt,)) as image:
            width, height = image.size
            if width * height > max_pixels:
                return _skip(
                    f"too large ({width}x{height} > max_pixels={max_pixels})"
                )
            if width == 0 or height == 0:
                return _skip(f"corrupt {fmt} (size {width}x{height})")
            kind = _kind(image, fmt, data)
    except Exception as error:  # PIL raises many types
        return _skip(_pil_reason(error, fmt))
    size = (height, width)
    if kind in PIL_CONVERSION_KINDS:
        if not allow_conversion:
            return _skip(f"needs conversion ({kind}; see allow_conversion)")
        # PIL decodes these in the pipeline: its decode is the check.
        return kind, _pil_load_reason(data, fmt), size, None
    return kind, None, size, fmt


def _skip(reason):
    """The `_inspect_header` result of an unusable image."""
    return None, reason, None, None


def _tf_decodable(datas: Sequence[bytes]) -> list[bool]:
    """Whether the op of `decode_image` decodes each of `datas`.

    One graph-mode pass: an image whose decode raises is dropped by
    `ignore_errors`, so the indices that come out are the decodable ones.
    """
    if not datas:
        return []
    indices = (
        tf.data.Dataset.from_tensor_slices(tf.constant(list(datas)))
        .enumerate()
        .map(
            # The traced `_decoded_shape_fn`: a chunk does not trace again.
            lambda index, data: (index, _decoded_shape()(data)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=False,
        )
        .ignore_errors()
        .map(lambda index, shape: index)
        .batch(4096)
    )
    ok = np.zeros(len(datas), bool)
    for batch in indices.as_numpy_iterator():
        ok[batch] = True
    return ok.tolist()


def _tf_failure(data: bytes, fmt: str) -> tuple[None, str]:
    """Names why TensorFlow rejected `data` (rare: decodes again with PIL)."""
    reason = _pil_load_reason(data, fmt)
    if reason is not None:
        return None, reason
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        return None, "truncated PNG (no IEND chunk)"
    try:
        _decoded_shape()(tf.constant(data))
    except tf.errors.OpError as error:
        return None, (
            f"TensorFlow cannot decode it ({fmt}: {_tf_error_text(error)})"
        )
    return None, f"TensorFlow cannot decode it ({fmt})"


def _pil_reason(error: Exception, fmt: str) -> str:
    if isinstance(error, Image.DecompressionBombError):
        limit = 2 * Image.MAX_IMAGE_PIXELS
        return f"too large (over the PIL limit of {limit} pixels)"
    message = str(error).replace(" when reading image file", "")
    if "truncated" in message.lower() or isinstance(error, EOFError):
        return f"truncated {fmt}"
    if isinstance(error, Image.UnidentifiedImageError):
        message = "unreadable header"
    return f"corrupt {fmt} ({message or type(error).__name__})"


def _pil_load_reason(data: bytes, fmt: str) -> str | None:
    """Why PIL cannot decode `data` fully, or None if it can."""
    try:
        with Image.open(io.BytesIO(data), formats=(fmt,)) as image:
            image.load()
    except Exception as error:  # PIL raises many types
        return _pil_reason(error, fmt)
    return None


def _tf_error_text(error: tf.errors.OpError) -> str:
    """The op's own message, without the traceback TF wraps around it."""
    lines = [
        line.strip()
        for line in error.message.splitlines()
        if line.strip()
        and not line.strip().startswith(
            ("Graph execution", "Detected at", "File ", "[[")
        )
    ]
    text = lines[-1] if lines else type(error).__name__
    return text.split("}} ")[-1].split(" [[")[0].split(" [Op:")[0].strip()


def convert_to_rgb_png_bytes(data: bytes) -> bytes:
    """Re-encodes any image PIL can read as an 8-bit RGB PNG.

    Needed for `PIL_CONVERSION_KINDS`; works for every other kind too, with
    the same colour rules as `decode_image` (first frame, alpha over white,
    16-bit grayscale scaled by 1/257, CMYK as `(1 - C) * (1 - K)`).

    Args:
        data: the encoded file.

    Returns:
        PNG bytes of the same size in mode RGB.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        image.load()
        if image.mode == "CMYK":
            cmyk = np.asarray(image, np.float32) / 255
            ink = (1 - cmyk[..., :3]) * (1 - cmyk[..., 3:])
            rgb = Image.fromarray(_to_uint8(ink * 255))
        elif image.mode in ("I", "F") or image.mode.startswith("I;"):
            values = np.asarray(image, np.float64)
            rgb = Image.fromarray(_to_uint8(values / 257)).convert("RGB")
        elif image.mode in ("RGB", "L", "1"):
            rgb = image.convert("RGB")
        else:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgb = Image.alpha_composite(white, rgba).convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _decode_raw(data: tf.Tensor) -> tf.Tensor:
    """uint8 `(h, w, c)` with 1 <= c <= 4; the only op that can raise."""
    # The header is padded so short inputs cannot make `substr` raise.
    header = tf.strings.substr(data, 0, 25) + b"\0" * 25
    is_png16 = tf.logical_and(
        tf.equal(tf.strings.substr(header, 0, 8), _PNG_MAGIC),
        tf.equal(tf.strings.substr(header, 24, 1), b"\x10"),
    )

    def png16():
        # x / 257 with rounding, exact for 8-bit values stored as x * 257;
        # `convert_image_dtype` would truncate (x >> 8).
        wide = tf.cast(tf.io.decode_png(data, dtype=tf.uint16), tf.int32)
        return tf.cast((wide + 128) // 257, tf.uint8)

    def other():
        return tf.io.decode_image(data, expand_animations=False)

    image = tf.cond(is_png16, png16, other)
    image.set_shape([None, None, None])
    # A 32-bit BMP's 4th byte is padding by the BMP spec (PIL agrees), and is
    # often 0, which would read as fully transparent.
    is_bmp = tf.equal(tf.strings.substr(header, 0, 2), b"BM")
    return tf.cond(is_bmp, lambda: image[..., :3], lambda: image)


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _decoded_shape_fn(data):
    return tf.shape(_decode_raw(data))


_TRACE_LOCK = threading.Lock()


def _decoded_shape():
    # Traced once under a lock: scan threads would otherwise race to trace.
    with _TRACE_LOCK:
        return _decoded_shape_fn.get_concrete_function()


def fit_within(image: tf.Tensor, max_side: int) -> tf.Tensor:
    """Scales a float image `(h, w, c)` down until no side exceeds `max_side`.

    The aspect ratio is kept (antialiased bilinear); an image that already
    fits is returned unchanged, so its pixels are the decoded ones.
    """
    shape = tf.shape(image)
    longer = tf.maximum(shape[0], shape[1])

    def shrink():
        scale = max_side / tf.cast(longer, tf.float32)
        size = tf.round(tf.cast(shape[:2], tf.float32) * scale)
        size = tf.maximum(tf.cast(size, tf.int32), 1)
        return tf.image.resize(image, size, antialias=True)

    return tf.cond(longer > max_side, shrink, lambda: image)


def decode_image(
    data: tf.Tensor, image_size: int, max_side: int | None = None
) -> tf.Tensor:
    """Decodes an image the scan accepted to uint8 `(size, size, 3)`.

    Pure TF ops, safe inside `tf.data.Dataset.map`. Grayscale is tiled to
    RGB, alpha is composited over white, 16-bit PNGs are scaled by 1/257 and
    animations give their first frame. The image is resized straight to a
    square (aspect ratio is not kept) with an antialiased bilinear filter,
    then rounded and clipped to uint8. With `max_side`, it keeps its own
    size and aspect ratio instead (`fit_within`: only a side longer than
    `max_side` shrinks it), for crops from the full-resolution image.

    Args:
        data: scalar string tensor with the encoded file.
        image_size: side of the square output.
        max_side: Integer or None; see above.

    Returns:
        uint8 tensor of shape `(image_size, image_size, 3)`, or `(h, w, 3)`
        with `h, w <= max_side` when `max_side` is given.
    """
    if image_size <= 0:
        raise ValueError(
            f"`image_size` must be positive. Received: image_size={image_size}"
        )
    raw = _decode_raw(data)
    channels = tf.shape(raw)[-1]
    has_alpha = tf.equal(channels % 2, 0)  # 2 (gray + alpha) or 4 (RGBA)
    image = tf.cast(raw, tf.float32)

    def premultiply():
        # Resizing premultiplied colour and alpha, then compositing, equals
        # compositing then resizing, and keeps hidden colours from bleeding.
        alpha = image[..., -1:] / 255
        return tf.concat([image[..., :-1] * alpha, image[..., -1:]], -1)

    image = tf.cond(has_alpha, premultiply, lambda: image)
    size = (image_size, image_size)
    if max_side is None:
        resized = tf.image.resize(image, size, antialias=True)
    else:
        resized, size = fit_within(image, max_side), (None, None)
    color = tf.cond(
        channels >= 3,
        lambda: resized[..., :3],
        lambda: tf.tile(resized[..., :1], [1, 1, 3]),
    )
    background = tf.cond(
        has_alpha,
        lambda: 255 - resized[..., -1:],
        lambda: tf.zeros_like(resized[..., :1]),
    )
    rgb = tf.clip_by_value(tf.round(color + background), 0, 255)
    return tf.ensure_shape(tf.cast(rgb, tf.uint8), (*size, 3))
