"""The report's charts, drawn with matplotlib as inline SVG (no script, no network).

Each function takes plain numbers and returns one ``<svg>`` element as text; matplotlib is
imported on first use (``pip install "pytest-mllmtrust[report]"``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_mllmtrust.core.errors import ConfigError

Bar = tuple[str, float, tuple[float, float] | None]  # label, value, 95% interval
INK, PASS, FAIL, MARK = "#333333", "#2e7d32", "#c62828", "#1565c0"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "the trust report draws its charts with matplotlib: "
            'pip install "pytest-mllmtrust[report]"'
        ) from None
    matplotlib.use("Agg")
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",  # text stays text: small, searchable, the browser's font
            "svg.hashsalt": "pytest-mllmtrust",  # stable element ids: the same run, the same file
            "font.size": 9,
        }
    )
    import matplotlib.pyplot as plt

    return plt


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and doctype: inline SVG


def score_bars(
    bars: Sequence[Bar], limits: Mapping[str, float], title: str, scale: float = 100.0
) -> str:
    """Horizontal bars on 0..``scale``, each with its interval as an error bar and its
    threshold (if any) as a tick; a bar that misses its threshold is red."""
    plt = _pyplot()
    height = 0.8 + 0.28 * len(bars)
    figure, axes = plt.subplots(figsize=(6.4, height))
    for row, (label, value, interval) in enumerate(reversed(bars)):
        limit = limits.get(label)
        shown = 0.0 if math.isnan(value) else value
        colour = FAIL if limit is not None and shown < limit else PASS
        axes.barh(row, shown, color=colour, alpha=0.75, height=0.6)
        if interval is not None and not any(math.isnan(x) for x in interval):
            # a percentile interval need not contain the estimate: clamp the arms at 0
            arms = [[max(0.0, shown - interval[0])], [max(0.0, interval[1] - shown)]]
            axes.errorbar(shown, row, xerr=arms, color=INK, capsize=3, linewidth=1)
        if limit is not None:
            axes.plot([limit, limit], [row - 0.4, row + 0.4], color=MARK, linewidth=2)
        axes.text(scale * 1.01, row, "n/a" if math.isnan(value) else f"{value:.2f}",
                  va="center", fontsize=8, color=INK)  # fmt: skip
    axes.set_yticks(range(len(bars)), [label for label, _, _ in reversed(bars)])
    axes.set_xlim(0, scale)
    axes.set_title(title, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def guard_bars(rows: Sequence[tuple[str, float, float]], title: str) -> str:
    """MLLMGuard's ASD (lower is better) and PAR (higher is better) per dimension, in %."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 0.8 + 0.45 * len(rows)))
    for row, (_, asd, par) in enumerate(reversed(rows)):
        for offset, value, colour in ((0.18, asd, FAIL), (-0.18, par, PASS)):
            if not math.isnan(value):
                axes.barh(row + offset, 100 * value, color=colour, alpha=0.75, height=0.34)
                axes.text(100 * value + 1, row + offset, f"{100 * value:.1f}", va="center",
                          fontsize=7, color=INK)  # fmt: skip
    axes.set_yticks(range(len(rows)), [label for label, _, _ in reversed(rows)])
    axes.set_xlim(0, 110)
    axes.legend(
        handles=[
            plt.Rectangle((0, 0), 1, 1, color=FAIL, alpha=0.75, label="ASD % (lower is better)"),
            plt.Rectangle((0, 0), 1, 1, color=PASS, alpha=0.75, label="PAR % (higher is better)"),
        ],
        loc="lower right",
        fontsize=7,
    )
    axes.set_title(title, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def grouped_bars(
    runs: Sequence[str], columns: Sequence[str], values: Sequence[Sequence[float]]
) -> str:
    """One group of bars per column (a score), one bar per run, on 0-100."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(6.4, 0.6 * len(columns) * max(1, len(runs)) / 2), 3.2))
    width = 0.8 / max(1, len(runs))
    for index, (run, scores) in enumerate(zip(runs, values, strict=True)):
        positions = [c + (index - (len(runs) - 1) / 2) * width for c in range(len(columns))]
        shown = [0.0 if math.isnan(v) else v for v in scores]
        axes.bar(positions, shown, width=width, label=run)
    axes.set_xticks(range(len(columns)), list(columns))
    axes.set_ylim(0, 100)
    axes.legend(fontsize=7, loc="upper right")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
