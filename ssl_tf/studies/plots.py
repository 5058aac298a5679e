"""Study plots: matplotlib figures of a fixed size, written as PNG files.

Figures are built with `matplotlib.figure.Figure`, never `pyplot`: no
window, no global state and no display backend, so plotting works headless
(the Agg renderer) on any host.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from ssl_tf import atomic

# Every study plot is WIDTH x HEIGHT inches at DPI: 800 x 400 pixels.
WIDTH, HEIGHT, DPI = 8, 4, 100
# The accuracies every point reports, and how the legends call them.
ACCURACIES = {"linear_top1": "linear", "knn_top1": "kNN"}


def figure(panels: int = 1):
    """`(figure, axes)`: a row of `panels` axes in a fixed-size figure."""
    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def save(fig, path: str) -> str:
    """Writes `fig` to `path` as a PNG, atomically; returns `path`."""
    return atomic.write_with(
        path, lambda stream: fig.savefig(stream, format="png", dpi=DPI)
    )


def percent(rows, key) -> list:
    """`100 * row[key]` of each row (`nan` where it is missing)."""
    return [
        float("nan") if row.get(key) is None else 100 * row[key] for row in rows
    ]


def accuracy_lines(axis, rows, x: str, label: str = "", **style) -> None:
    """Linear and kNN top-1 (%) of `rows` against `row[x]`, one line each."""
    xs = [row[x] for row in rows]
    for (key, name), marker in zip(ACCURACIES.items(), "os", strict=True):
        axis.plot(
            xs,
            percent(rows, key),
            marker=marker,
            label=f"{label} {name}".strip(),
            **style,
        )
    axis.set_ylabel("top-1 accuracy (%)")
    axis.grid(alpha=0.3)
