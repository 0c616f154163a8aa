"""The run as Markdown, for where a release gate is read: a CI job summary, a pull-request or
merge-request comment (pure: no pytest import, no benchmark import).

Built from the results document (its ``gate``, ``tasks``, ``intervals`` and ``baseline``) and
the rows of every score above the tasks, which any benchmark's board gives by gate key
(``Scoreboard.values()`` and ``completeness()``), so a third party's benchmark shows like the
built-in ones. Every text that comes from a run (a check's sentence quotes data, file names and
judges' reasons; keys and task ids come from installed packages) goes through :func:`text`, so
that it can neither break a table nor bring HTML, a link or an image into the page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ScoreRow", "render", "text"]

#: baseline comparisons listed: the regressions and the largest drops, worst first
FELL_MOST = 10
OUTCOMES = ("pass", "fail", "unscored", "error")
#: scores above the tasks shown unfolded (the rest are folded below them)
SCORES_SHOWN = 24
#: a cell's text is cut here: a page comment has a size limit (65,536 characters on GitHub)
CELL_LIMIT = 300

# Markdown's inline syntax (emphasis, code, links, images, tables, strikethrough) and the
# characters an autolink starts with (':' of a scheme, '@' of an address): each is written
# with a backslash, which CommonMark defines for every ASCII punctuation character.
_ESCAPED = frozenset("\\`*_{}[]()#+-!|~:@")
# HTML is written as character references, never as markup
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}
_SPACE = re.compile(r"\s+")


def text(value: object, limit: int = CELL_LIMIT) -> str:
    """Any text from a run, safe in a Markdown table cell or line: one line (line breaks and
    other white space become a space), cut at ``limit`` characters, its HTML written as
    character references and its Markdown syntax escaped."""
    raw = _SPACE.sub(" ", "".join(c if c.isprintable() else " " for c in str(value))).strip()
    if len(raw) > limit:
        raw = raw[: limit - 1] + "…"
    out = []
    for char in raw:
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char in _ESCAPED:
            out.append("\\" + char)
        else:
            out.append(char)
    # GitHub links a bare www.host without a scheme: an escaped dot keeps it text
    return re.sub(r"(?i)(www)\.", r"\1\\.", "".join(out))


@dataclass(frozen=True)
class ScoreRow:
    """A score above the tasks (a dimension, a sub-aspect, an overall score), by gate key."""

    key: str
    value: float | None
    #: what the score lacks (empty when complete)
    missing: tuple[str, ...] = ()


def render(
    results: Mapping[str, Any],
    scores: Sequence[ScoreRow],
    reports: Sequence[tuple[str, str]] = (),
) -> str:
    """The summary: the verdict, each check, the scores with their intervals, the tasks, the
    scores that fell most against the baseline, and where the full reports are. ``results``:
    the results document (its samples are not read); ``reports``: (what, where) pairs, a
    ``where`` that is an http(s) address becoming a link."""
    gate = results.get("gate") or {}
    intervals: Mapping[str, Sequence[float | None]] = results.get("intervals") or {}
    parts = [
        *_headline(results, gate),
        *_checks(gate.get("checks") or []),
        *_scores(scores, intervals),
        *_tasks(results.get("tasks") or {}, intervals),
        *_baseline(results.get("baseline"), gate.get("checks") or []),
        *_reports(reports),
    ]
    return "\n".join(parts).rstrip() + "\n"


def _headline(results: Mapping[str, Any], gate: Mapping[str, Any]) -> Iterable[str]:
    verdict = str(gate.get("verdict", "failed"))
    mark = {"passed": "✅", "failed": "❌"}.get(verdict, "⚪")
    yield f"## {mark} mllmtrust gate: {text(verdict.upper() if mark != '⚪' else verdict)}"
    yield ""
    run = results.get("run") or {}
    counts = _counts(results.get("tasks") or {})
    facts = [
        f"model {text(run.get('model') or '-')}",
        f"{sum(counts.values())} samples: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['unscored']} unscored, {counts['error']} errors",
        f"gate mode {text(run.get('gate_mode', 'point'))}",
        f"limit {text(run.get('limit') or 'none')}",
        f"seed {text(run.get('seed', '-'))}",
    ]
    yield " · ".join(facts)
    yield ""


def _counts(tasks: Mapping[str, Any]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for entry in tasks.values():
        for outcome, n in (entry.get("counts") or {}).items():
            if outcome in counts:
                counts[outcome] += int(n)
    return counts


def _checks(checks: Sequence[Mapping[str, Any]]) -> Iterable[str]:
    yield "### Checks"
    yield ""
    yield "| | Check | Observed | Result | Resolution |"
    yield "|---|---|---|---|---|"
    for c in checks:
        mark = "✅" if c.get("passed") else "❌"
        observed = _number(c.get("observed"))
        resolution = _resolution(c.get("resolution"), c)
        yield (f"| {mark} | {text(c.get('threshold', ''))} | {observed} | "
               f"{text(c.get('message', ''))} | {resolution} |")  # fmt: skip
    yield ""


def _resolution(data: Mapping[str, Any] | None, check: Mapping[str, Any]) -> str:
    """A check's resolution in a cell (docs/reports.md, "What the gate can see")."""
    if not data:
        return ""
    if "keys" in data:  # the baseline gate: the finest and the coarsest key
        seen = sorted(
            (entry["min_drop"], key) for key, entry in data["keys"].items()
            if entry.get("min_drop") is not None
        )  # fmt: skip
        if not seen:
            return "no compared score has samples enough to show a drop"
        (finest, fkey), (coarsest, ckey) = seen[0], seen[-1]
        span = f"{finest:.2f}"
        if f"{coarsest:.2f}" != span:
            span = f"{finest:.2f} ({text(fkey)}) to {coarsest:.2f} ({text(ckey)})"
        return f"smallest drop it can flag: {span} points"
    if data.get("needs") is None:
        return f"cannot pass with {text(data.get('samples'))} samples"
    op = ">=" if check.get("op") in (">=", ">") else "<="
    about = "" if data.get("method") == "wilson" else "about "
    margin, samples = _number(data.get("margin")), text(data.get("samples"))
    return (
        f"needs {op} {about}{_number(data['needs'])} ({margin} past the limit, {samples} samples)"
    )


def _scores(rows: Sequence[ScoreRow], intervals: Mapping[str, Any]) -> Iterable[str]:
    if not rows:
        return
    yield "### Scores"
    yield ""
    yield from _score_table(rows[:SCORES_SHOWN], intervals)
    rest = rows[SCORES_SHOWN:]
    if rest:  # MLLMGuard alone has dozens (per dimension and language); the widest come first
        yield f"<details><summary>{len(rest)} more scores</summary>"
        yield ""
        yield from _score_table(rest, intervals)
        yield "</details>"
        yield ""


def _score_table(rows: Sequence[ScoreRow], intervals: Mapping[str, Any]) -> Iterable[str]:
    yield "| Score | Value | 95% interval | Partial |"
    yield "|---|---|---|---|"
    for row in rows:
        yield (f"| {text(row.key)} | {_number(row.value)} | {_interval(intervals.get(row.key))} | "
               f"{_partial(row.missing)} |")  # fmt: skip
    yield ""


def _tasks(tasks: Mapping[str, Any], intervals: Mapping[str, Any]) -> Iterable[str]:
    if not tasks:
        return
    # folded: a full run has dozens of tasks; the HTML tags are the page's own, never data
    yield f"<details><summary>Tasks ({len(tasks)})</summary>"
    yield ""
    yield "| Task | Score | 95% interval | Pass / fail / unscored / error | Partial |"
    yield "|---|---|---|---|---|"
    for key, entry in tasks.items():
        counts = entry.get("counts") or {}
        tally = " / ".join(str(int(counts.get(o, 0))) for o in OUTCOMES)
        yield (f"| {text(key)} | {_number(entry.get('score'))} | {_interval(intervals.get(key))} | "
               f"{tally} | {_partial(entry.get('incomplete') or ())} |")  # fmt: skip
    yield ""
    yield "</details>"
    yield ""


def _baseline(
    baseline: Mapping[str, Any] | None, checks: Sequence[Mapping[str, Any]]
) -> Iterable[str]:
    if not baseline:
        return
    comparisons = baseline.get("comparisons") or []
    floors: Mapping[str, Any] = next(
        (c["resolution"]["keys"] for c in checks
         if c.get("key") == "baseline" and "keys" in (c.get("resolution") or {})),
        {},
    )  # fmt: skip
    fell = sorted(
        (c for c in comparisons if c.get("regressed") or (c.get("delta") or 0) < 0),
        key=lambda c: (not c.get("regressed"), c.get("delta") or 0),
    )
    name = str(baseline.get("file", "")).replace("\\", "/").rsplit("/", 1)[-1]
    yield "### Against the baseline"
    yield ""
    yield (f"{len(comparisons)} scores compared with {text(name)} (tolerance "
           f"{_number(baseline.get('max_regression'))} points); "
           f"{sum(bool(c.get('regressed')) for c in comparisons)} regressed.")  # fmt: skip
    yield ""
    if not fell:
        yield "No score fell."
        yield ""
        return
    columns = ("", "Score", "Baseline", "Now", "Change", "Pass→fail", "Fail→pass", "Shared", "p",
               "Smallest drop it can flag")  # fmt: skip
    yield "| " + " | ".join(columns) + " |"
    yield "|" + "---|" * len(columns)
    for c in fell[:FELL_MOST]:
        mark = "❌" if c.get("regressed") else "➖"
        floor = (floors.get(c.get("key")) or {}).get("min_drop")
        yield (
            f"| {mark} | {text(c.get('key', ''))} | {_number(c.get('old'))} | "
            f"{_number(c.get('new'))} | {_signed(c.get('delta'))} | "
            f"{len(c.get('pass_to_fail') or ())} | {len(c.get('fail_to_pass') or ())} | "
            f"{text(c.get('shared', ''))} | {_p(c.get('p_value'))} | {_number(floor)} |"
        )
    if len(fell) > FELL_MOST:
        yield ""
        yield f"{len(fell) - FELL_MOST} more fell less; the results file lists every comparison."
    yield ""


def _reports(reports: Sequence[tuple[str, str]]) -> Iterable[str]:
    if not reports:
        return
    yield "### Reports"
    yield ""
    for what, where in reports:
        if re.fullmatch(r"https?://[\w.\-:]+(/[\w.\-/]*)?", where):
            yield f"- {text(what)}: [{text(where)}]({where})"
        else:
            yield f"- {text(what)}: {text(where)}"
    yield ""


def _number(value: Any) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–"
    if math.isnan(value):
        return "–"
    # two decimals as the terminal shows scores, three below 1 (a fraction: ASD 0.375); a
    # bootstrap bound's floating-point dust (1.4e-15) reads as the 0 it is; + 0.0 turns -0 into 0
    return f"{round(value, 2 if abs(value) >= 1 else 3) + 0.0:g}"


def _signed(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:+.2f}"


def _p(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.3g}"


def _interval(bounds: Sequence[float | None] | None) -> str:
    if not bounds or any(b is None for b in bounds):
        return "–"
    low, high = bounds
    return f"{_number(low)} – {_number(high)}"


def _partial(missing: Sequence[str]) -> str:
    return f"partial: missing {text(', '.join(missing))}" if missing else ""
