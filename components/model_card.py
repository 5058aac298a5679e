"""`model_card.md`: what a pushed version is, what made it, how it scored.

The Pusher writes one card into every version directory, from the model's
export metadata and properties and the Evaluator's blessing: the data
fingerprint, the method and its config, the evaluation metrics and the
blessing's reason, and how to call the two serving signatures.
"""

from __future__ import annotations

import json
import time

FILE_NAME = "model_card.md"


def _json_block(value) -> list[str]:
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    return ["```json", text, "```"]


def _data_fingerprint(model, blessing):
    """The training data's fingerprint, else the evaluation data's."""
    for properties in (model.properties, blessing.properties):
        if properties.get("data_fingerprint") is not None:
            return properties["data_fingerprint"]
    return None


def _summary(model, blessing, metadata) -> list[str]:
    dim = metadata.get("embedding_dim")
    return [
        f"- Method: {metadata.get('method') or model.properties.get('method')}",
        f"- Encoder fingerprint: {metadata.get('fingerprint')}",
        f"- Image size: {metadata.get('image_size')}, embedding size: {dim}",
        f"- Model artifact: {model.uri}",
        f"- Blessing: {blessing.uri}",
        f"- Evaluated on: {blessing.properties.get('examples_uri')}",
        f"- Pushed: {time.strftime('%Y-%m-%dT%H:%M:%S')}",
    ]


def _metrics_table(metrics: dict) -> list[str]:
    if not metrics:
        return ["No metrics recorded."]
    rows = [
        f"| {name} | {value:.4f} |" for name, value in sorted(metrics.items())
    ]
    return ["| metric | value |", "| --- | --- |", *rows]


def render(model, blessing, metadata: dict) -> str:
    """The card's Markdown.

    Args:
        model: the pushed `Model` artifact.
        blessing: its `ModelBlessing`.
        metadata: the export's `export.json` (method, config, sizes).
    """
    reason = blessing.properties.get("reason", "")
    lines = [
        "# Model card",
        "",
        *_summary(model, blessing, metadata),
        "",
        "## Data fingerprint",
        "",
        *_json_block(_data_fingerprint(model, blessing)),
        "",
        "## Evaluation",
        "",
        *_metrics_table(blessing.properties.get("metrics") or {}),
        "",
        "## Blessing",
        "",
        *(f"- {part}" for part in reason.split("; ") if part),
        "",
        "## Serving",
        "",
        "- `serving_default`: `images`, uint8 `[n, h, w, 3]` (any size)",
        "- `serving_bytes`: `image_bytes`, string `[n]` of encoded JPEG/PNG",
        '  (REST: `{"instances": [{"b64": "..."}]}`)',
        "- Both return `embedding`, float32 `[n, embedding size]`.",
        "",
        "## Config",
        "",
        *_json_block(metadata.get("config")),
        "",
    ]
    return "\n".join(lines)
