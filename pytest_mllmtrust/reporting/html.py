"""The standalone trust report: one self-contained HTML file built from a results document.

It is rebuilt from the results file alone (``python -m pytest_mllmtrust report RESULTS.json``),
so a report never needs a rerun. Images appear as small thumbnails stored once per content hash
(as CSS classes the rows name), never once per row: a report of thousands of samples stays
small. Every prompt, output, rationale and path is escaped by the template engine; the only
script is the report's own table filter.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.benchmarks import installed
from pytest_mllmtrust.reporting import charts
from pytest_mllmtrust.reporting.layout import Section, html_score, interval_of, layout_of, number

#: longest prompt or output shown in a table cell (the results file has the full text)
CELL_CHARS = 600
THUMB_PIXELS = 96
_SHA = re.compile(r"^[0-9a-f]{64}$")


def _clip(value: Any, limit: int = CELL_CHARS) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def thumbnail(data: bytes, pixels: int = THUMB_PIXELS) -> str:
    """A small JPEG of an image, as a data URL."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((pixels, pixels))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def thumbnail_at(root: Path | None, relative: str | None, sha: str | None) -> str | None:
    """The thumbnail of a sample's image file (``relative`` to its data root), or None when
    the file is rendered, outside the root, gone, changed since the run (``sha``) or
    unreadable."""
    if root is None or not sha or not relative or relative.startswith("rendered:"):
        return None
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        return None
    try:
        return thumbnail(data)
    except Exception:  # a picture Pillow cannot read gets no thumbnail, nothing else
        return None


def collect_thumbnails(
    results: Mapping[str, Any], root_of: Callable[[str], Path | None]
) -> dict[str, str]:
    """One thumbnail per distinct image of the run (by SHA-256), read from the data root of its
    sample's task (``root_of(task)``)."""
    thumbs: dict[str, str] = {}
    for sample in results.get("samples", []):
        sha = sample.get("image_sha256")
        if sha and sha not in thumbs:
            found = thumbnail_at(root_of(sample["task"]), sample.get("image"), sha)
            if found is not None:
                thumbs[sha] = found
    return thumbs


def _sections(results: Mapping[str, Any]) -> list[Section]:
    """Each installed benchmark's table (Benchmark.report), in benchmark order."""
    found = (layout_of(b).section(results) for b in installed())
    return [section for section in found if section is not None]


def _task_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "task": task,
            "description": info.get("description", ""),
            "score": number(info.get("score")),
            "interval": interval_of(results, task),
            "counts": info.get("counts", {}),
            "incomplete": info.get("incomplete", []),
            "variants": info.get("variants", {}),
        }
        for task, info in results.get("tasks", {}).items()
    ]


def _charts(results: Mapping[str, Any]) -> list[str]:
    """Each benchmark's charts, then the task scores'."""
    limits = {c["key"]: float(c["limit"]) for c in results.get("gate", {}).get("checks", [])
              if c["op"] in (">=", ">")}  # fmt: skip
    drawn = [chart for b in installed() for chart in layout_of(b).charts(results, limits)]
    tasks = _task_rows(results)
    if tasks:
        bars = [(t["task"], t["score"], t["interval"]) for t in tasks]
        drawn.append(charts.score_bars(bars, limits, "Task scores (0-100), thresholds in blue"))
    return drawn


def _sample_rows(results: Mapping[str, Any], thumbs: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for s in results.get("samples", []):
        sha = s.get("image_sha256") or ""
        rows.append({
            "uid": s["uid"], "task": s["task"], "variant": s["variant"], "key": s["key"],
            "outcome": s["outcome"], "judge": s.get("judge", ""),
            "prompt": _clip(s.get("prompt")), "output": _clip(s.get("output")),
            "why": _clip(s.get("rationale")), "image": s.get("image") or "",
            "thumb": sha if sha in thumbs else "",
        })  # fmt: skip
    return rows


def render(results: Mapping[str, Any], thumbs: Mapping[str, str] | None = None) -> str:
    """The report's HTML for ``results`` (a results document), with ``thumbs`` (SHA-256 ->
    data URL) as the images."""
    import jinja2

    thumbs = {sha: url for sha, url in (thumbs or {}).items() if _SHA.match(sha)}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["score"] = html_score
    samples = _sample_rows(results, thumbs)
    verdict = verdict_of(results.get("gate", {}))
    return env.get_template("report.html.j2").render(
        run=results.get("run", {}),
        gate=results.get("gate", {}),
        verdict=verdict,
        verdict_words=VERDICTS.get(verdict, ("", verdict))[1],
        sections=_sections(results),
        tasks=_task_rows(results),
        charts=_charts(results),
        samples=samples,
        tasks_seen=sorted({s["task"] for s in samples}),
        outcomes=sorted({s["outcome"] for s in samples}),
        thumbs=thumbs,
    )


def write(results: Mapping[str, Any], path: Path, root_of: Callable[[str], Path | None]) -> None:
    path.write_text(render(results, collect_thumbnails(results, root_of)), encoding="utf-8")


# -- pytest-html: the trust summary above its table, and each item's extra ---------------------


#: the colour and the words of each gate verdict (core.thresholds.Gate.verdict)
VERDICTS = {
    "passed": ("#2e7d32", "gate PASSED"),
    "failed": ("#c62828", "gate FAILED"),
    "no score thresholds set": ("#616161", "no score thresholds set"),
}


def verdict_of(gate: Mapping[str, Any]) -> str:
    """A results document's gate verdict (documents before schema 3 only say passed or not)."""
    return str(gate.get("verdict") or ("passed" if gate.get("passed") else "failed"))


def summary_fragment(lines: list[str], verdict: str) -> str:
    """The terminal summary's lines (scores, sub-aspects, tasks, gate) as an HTML block."""
    colour, words = VERDICTS[verdict]
    body = escape("\n".join(lines))
    return (
        f'<div class="mllmtrust-summary"><h2>Trust summary: '
        f'<span style="color:{colour}">{words}</span></h2>'
        f'<pre style="font-size:12px">{body}</pre></div>'
    )


def item_fragment(record: Mapping[str, Any], thumb: str | None) -> str:
    """One item's extra: its image thumbnail, prompt, output and the judge's rationale."""
    parts = ['<div class="mllmtrust-item" style="font-size:12px">']
    if thumb:
        parts.append(f'<img src="{escape(thumb)}" alt="{escape(str(record.get("image")))}">')
    for label, key in (("prompt", "prompt"), ("output", "output"), ("why", "rationale")):
        text = escape(_clip(record.get(key), 4000))
        parts.append(f'<p><b>{label}</b> <span style="white-space:pre-wrap">{text}</span></p>')
    parts.append(f"<p><b>judge</b> {escape(str(record.get('judge', '')))}</p></div>")
    return "".join(parts)


def item_score(record: Mapping[str, Any]) -> str:
    """The number behind an item's verdict, where its judge gives one (a rating, a 0-3 harm
    score, a pair label)."""
    signals = record.get("signals") or {}
    for name in ("rating", "s", "pair_label"):
        if name in signals:
            return f"{name} {signals[name]}"
    return ""
