"""A picture of a recipe: originals beside their views, with parameters.

Lives outside `ssl_tf.augment`, a leaf package that imports no PIL.

`preview(views, images, seed)` draws each original next to the views a
method's view layer makes of it, enlarged (nearest neighbour) so a 32 px
crop can be judged by eye, with the sampled parameters written under each
row. Training writes it to TensorBoard; `ssl-tf augment preview` writes the
same picture as a PNG without training.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ssl_tf.augment import seeding

# Short names of the four jitter adjustments, in `ColorJitter`'s order.
_JITTER_NAMES = ("b", "c", "s", "h")
_GAP = 4
_LINE = 12


@dataclasses.dataclass
class Preview:
    """The picture and its parameters.

    Attributes:
        image: uint8 `(height, width, 3)` array (captions drawn in).
        captions: one list per original, one caption per view.
        markdown: the same captions as a Markdown table.
    """

    image: np.ndarray
    captions: list
    markdown: str

    def save(self, path):
        Image.fromarray(self.image).save(path)


def _row(values, i):
    return {
        k: _row(v, i) if isinstance(v, dict) else v[i]
        for k, v in values.items()
    }


def describe(parameters):
    """One line naming what was sampled for one view (one image's params)."""
    parts = []
    if "crop" in parameters:
        y1, x1, y2, x2 = np.asarray(parameters["crop"]["boxes"], float)
        parts.append(
            f"crop {100 * (y2 - y1) * (x2 - x1):.0f}% "
            f"y{y1:.2f}-{y2:.2f} x{x1:.2f}-{x2:.2f}"
        )
    if "flip" in parameters and bool(parameters["flip"]["flip"]):
        parts.append("flip")
    jitter = parameters.get("jitter")
    if jitter is not None and bool(jitter["applied"]):
        inner = jitter["inner"]
        order = "".join(_JITTER_NAMES[k] for k in np.asarray(inner["order"]))
        parts.append(
            f"jitter b{float(inner['brightness']):.2f} "
            f"c{float(inner['contrast']):.2f} "
            f"s{float(inner['saturation']):.2f} "
            f"h{float(inner['hue']):+.3f} order {order}"
        )
    for name in ("grayscale", "solarize"):
        step = parameters.get(name)
        if step is not None and bool(step["applied"]):
            parts.append(name)
    blur = parameters.get("blur")
    if blur is not None and bool(blur["applied"]):
        parts.append(f"blur sigma {float(blur['inner']['sigma']):.2f}")
    return ", ".join(parts) or "no augmentation"


def _views_with_parameters(views, images, seed, sizes=None):
    """`[(view batch, parameters or None)]` as the view layer makes them."""
    kwargs = {} if sizes is None else {"sizes": sizes}
    recipe = getattr(views, "recipe", None)
    out = []
    for index in getattr(views, "view_indices", (1,)):
        view_seed = seeding.derive(seed, index)
        if recipe is None:
            out.append((np.asarray(images, np.float32) / 255.0, None))
        elif hasattr(recipe, "augment_with_parameters"):
            batch, parameters = recipe.augment_with_parameters(
                images, view_seed, **kwargs
            )
            out.append((batch.numpy(), parameters))
        else:
            # KerasCV backend: stateful layers, parameters not exposed.
            out.append((recipe(images).numpy(), None))
    return out


def _enlarge(image, side):
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    pil = Image.fromarray((image * 255).round().astype(np.uint8))
    return pil.resize((side, side), Image.NEAREST)


def _wrap(draw, text, font, width):
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line]


def preview(views, images, seed, min_side=128, sizes=None):
    """Draws originals beside their views with the sampled parameters.

    Args:
        views: a method's view layer (e.g. from `SSLModel.views_for`).
        images: uint8 batch `(n, height, width, 3)`; every image is drawn.
        seed: int32 `(2,)` seed, as the pipeline passes to `views`.
        min_side: Integer. Every cell is enlarged to at least this side.
        sizes: `(n, 2)` `(height, width)` when `images` are the frames of
            a full-resolution batch (`ssl_tf.augment.frames`); each
            original is then drawn without its padding.

    Returns:
        A `Preview`.
    """
    images = np.asarray(images)
    views_and_parameters = _views_with_parameters(views, images, seed, sizes)
    size = max(images.shape[1], views_and_parameters[0][0].shape[1])
    side = size * -(-min_side // size)
    columns = 1 + len(views_and_parameters)
    width = columns * side + (columns + 1) * _GAP
    font = ImageFont.load_default()
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    captions, blocks = [], []
    for i in range(len(images)):
        row = []
        for v, (_, parameters) in enumerate(views_and_parameters):
            text = "recipe parameters not exposed"
            if parameters is not None:
                text = describe(_row(parameters, i))
            row.append(f"view {v + 1}: {text}")
        captions.append(row)
        lines = [
            line
            for text in row
            for line in _wrap(scratch, text, font, width - 2 * _GAP)
        ]
        blocks.append(lines)
    height = sum(side + _GAP + len(lines) * _LINE + _GAP for lines in blocks)
    canvas = Image.new("RGB", (width, height + _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    top = _GAP
    for i, lines in enumerate(blocks):
        original = images[i]
        if sizes is not None:
            original = original[: sizes[i][0], : sizes[i][1]]
        cells = [np.asarray(original, np.float32) / 255.0]
        cells += [batch[i] for batch, _ in views_and_parameters]
        for c, cell in enumerate(cells):
            canvas.paste(_enlarge(cell, side), (_GAP + c * (side + _GAP), top))
        top += side + _GAP
        for line in lines:
            draw.text((_GAP, top), line, fill="black", font=font)
            top += _LINE
        top += _GAP
    header = "| image | " + " | ".join(
        f"view {v + 1}" for v in range(len(views_and_parameters))
    )
    rule = "|---" * columns + "|"
    body = [
        f"| {i} | " + " | ".join(c.split(": ", 1)[1] for c in row) + " |"
        for i, row in enumerate(captions)
    ]
    markdown = "\n".join([header + " |", rule, *body])
    return Preview(np.asarray(canvas), captions, markdown)
