"""How well a judge agrees with human verdicts: accuracy, coverage, Cohen's kappa, confusion.

A labelled file is JSONL, one case per line::

    {"task": "T.1", "variant": "ocr", "uid": "t1-003", "prompt": "...", "output": "...",
     "target": "...", "extra": {}, "human": "pass"}

``task``, ``output`` and ``human`` are required; ``variant`` (string: the task variant whose
judging applies, default the task's first), ``uid`` (string or null), ``prompt`` (string),
``target`` (any JSON value) and ``extra`` (object) are optional. ``human`` is
``"pass"`` or ``"fail"`` (any case, surrounding spaces ignored) or the JSON booleans ``true``
(pass) and ``false`` (fail), since hand-made label files often use either. Numbers, ``null`` and
``"unscored"``/``"error"`` are refused: a person either accepts an output or does not. Unknown
keys are refused too, so that a misspelt ``"humna"`` is caught rather than ignored, and so is a
second case with the same task and uid. Blank lines are skipped; a file without any case is an
error.

The judge's outcomes are the four of :class:`~pytest_mllmtrust.core.model.Outcome`. Accuracy
counts *unscored* and *error* as disagreement (the judge failed to give the human's verdict);
coverage is the share the judge decided at all, and decided accuracy the accuracy on those.

The confusion matrix and Cohen's kappa come from scikit-learn, imported when an agreement is
computed.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pytest_mllmtrust.core.errors import DataError

__all__ = [
    "HUMAN_LABELS",
    "JUDGE_LABELS",
    "Agreement",
    "LabelledCase",
    "agreement",
    "by_task",
    "format_agreement",
    "read_labelled",
]

#: what a person can say about an output (rows of the confusion matrix)
HUMAN_LABELS = ("pass", "fail")
#: what a judge can conclude (columns of the confusion matrix); Outcome's values, in this order
JUDGE_LABELS = ("pass", "fail", "unscored", "error")

#: the key by_task() gives the agreement over every case
ALL = "all"

_REQUIRED = ("task", "output", "human")
_OPTIONAL = ("variant", "uid", "prompt", "target", "extra")


@dataclass(frozen=True)
class LabelledCase:
    """One output of the model under test with a person's verdict on it."""

    task: str
    uid: str | None
    prompt: str
    output: str
    target: Any
    extra: dict[str, Any]
    human: str  # "pass" or "fail"
    line: int  # 1-based line of the labelled file
    variant: str = ""  # "": the task's first variant


@dataclass(frozen=True)
class Agreement:
    """A judge's agreement with human verdicts over ``n`` cases."""

    n: int
    #: column names of ``matrix`` (judge outcomes); its rows are :data:`HUMAN_LABELS`
    labels: tuple[str, ...]
    #: ``matrix[i][j]``: cases the human labelled ``HUMAN_LABELS[i]`` and the judge ``labels[j]``
    matrix: tuple[tuple[int, ...], ...]
    #: agreements / n (unscored and error count as disagreement)
    accuracy: float
    #: share of cases the judge decided (pass or fail)
    coverage: float
    #: Cohen's kappa over all four outcomes; NaN when undefined (one label used by both sides)
    kappa: float
    #: accuracy over the cases the judge decided; NaN when it decided none
    decided_accuracy: float


def read_labelled(path: Path) -> list[LabelledCase]:
    """The cases of a labelled JSONL file; any bad line is a DataError naming file and line."""
    try:
        raw_lines = Path(path).read_bytes().splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read the labelled file: {error}") from error
    cases: list[LabelledCase] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(raw_lines, start=1):
        where = f"{path}:{number}"
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{where}: not UTF-8 text: {error}") from error
        if not text.strip():
            continue
        case = _parse_case(text, number, where)
        if case.uid is not None:
            first = seen.setdefault((case.task, case.uid), number)
            if first != number:
                raise DataError(
                    f"{where}: task {case.task!r} uid {case.uid!r} was already labelled on "
                    f"line {first}"
                )
        cases.append(case)
    if not cases:
        raise DataError(f"{path}: the labelled file holds no cases (one JSON object per line)")
    return cases


def agreement(human: Sequence[str], judged: Sequence[str]) -> Agreement:
    """Agreement of the judge's outcomes ``judged`` with the ``human`` verdicts, case by case.

    ``judged`` may hold :class:`~pytest_mllmtrust.core.model.Outcome` members or their values.
    """
    humans = [str(label) for label in human]
    judges = [str(label) for label in judged]
    if len(humans) != len(judges):
        raise ValueError(f"{len(humans)} human verdicts but {len(judges)} judge outcomes")
    if not humans:
        raise ValueError("agreement needs at least one case")
    _check_labels(humans, HUMAN_LABELS, "human verdict")
    _check_labels(judges, JUDGE_LABELS, "judge outcome")

    # HUMAN_LABELS are the first JUDGE_LABELS, so the human rows are the square matrix's first
    # rows and the agreements its diagonal there.
    square = _sklearn_metrics().confusion_matrix(humans, judges, labels=list(JUDGE_LABELS))
    matrix = tuple(tuple(int(count) for count in row) for row in square[: len(HUMAN_LABELS)])
    n = len(humans)
    agreements = sum(matrix[index][index] for index in range(len(HUMAN_LABELS)))
    decided = sum(1 for j in judges if j in HUMAN_LABELS)
    return Agreement(
        n=n,
        labels=JUDGE_LABELS,
        matrix=matrix,
        accuracy=agreements / n,
        coverage=decided / n,
        kappa=_kappa(humans, judges),
        decided_accuracy=agreements / decided if decided else math.nan,
    )


def by_task(cases: Sequence[LabelledCase], judged: Sequence[str]) -> dict[str, Agreement]:
    """Agreement per task (sorted by name) and over all cases (key ``"all"``, last)."""
    if len(cases) != len(judged):
        raise ValueError(f"{len(cases)} labelled cases but {len(judged)} judge outcomes")
    if not cases:
        raise ValueError("by_task needs at least one case")
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for case, outcome in zip(cases, judged, strict=True):
        humans, judges = groups.setdefault(case.task, ([], []))
        humans.append(case.human)
        judges.append(outcome)
    if ALL in groups:
        raise ValueError(f"a task named {ALL!r} would hide the agreement over all cases")
    result = {task: agreement(*groups[task]) for task in sorted(groups)}
    result[ALL] = agreement([case.human for case in cases], judged)
    return result


def format_agreement(title: str, result: Agreement) -> str:
    """A plain-text report: the summary figures, then the confusion matrix."""
    decided = sum(result.matrix[row][column] for row in range(2) for column in range(2))
    summary = [
        ("accuracy", _number(result.accuracy), f"agreed on {_agreed(result)} of {result.n}"),
        ("kappa", _number(result.kappa), _kappa_note(result.kappa)),
        ("coverage", _number(result.coverage), f"judge decided {decided} of {result.n}"),
        ("decided accuracy", _number(result.decided_accuracy), "on the decided cases"),
    ]
    name_width = max(len(name) for name, _, _ in summary)
    lines = [f"{title} (n={result.n})"]
    lines += [f"  {name:<{name_width}}  {value:>6}  {note}" for name, value, note in summary]

    corner = "human \\ judge"
    header = [corner, *result.labels]
    rows = [
        [label, *(str(count) for count in counts)]
        for label, counts in zip(HUMAN_LABELS, result.matrix, strict=True)
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    lines.append("")
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


# -- internals ----------------------------------------------------------------------------


def _parse_case(text: str, number: int, where: str) -> LabelledCase:
    try:
        record = json.loads(text)
    except ValueError as error:
        raise DataError(f"{where}: not valid JSON: {error}") from error
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise DataError(f"{where}: missing required key(s) {', '.join(missing)}")
    unknown = sorted(set(record) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        allowed = ", ".join((*_REQUIRED, *_OPTIONAL))
        raise DataError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {allowed})")

    task = record["task"]
    if not isinstance(task, str) or not task.strip():
        raise DataError(f"{where}: 'task' must be a non-empty string, got {task!r}")
    uid = record.get("uid")
    if uid is not None and (not isinstance(uid, str) or not uid):
        raise DataError(f"{where}: 'uid' must be a non-empty string or null, got {uid!r}")
    for key in ("output", "prompt", "variant"):
        if key in record and not isinstance(record[key], str):
            raise DataError(f"{where}: {key!r} must be a string, got {record[key]!r:.80}")
    extra = record.get("extra", {})
    if not isinstance(extra, dict):
        raise DataError(f"{where}: 'extra' must be a JSON object, got {extra!r:.80}")
    return LabelledCase(
        task=task,
        uid=uid,
        prompt=record.get("prompt", ""),
        output=record["output"],
        target=record.get("target"),
        extra=extra,
        human=_human_label(record["human"], where),
        line=number,
        variant=record.get("variant", ""),
    )


def _human_label(value: Any, where: str) -> str:
    if value is True:
        return "pass"
    if value is False:
        return "fail"
    if isinstance(value, str) and value.strip().lower() in HUMAN_LABELS:
        return value.strip().lower()
    raise DataError(
        f'{where}: \'human\' must be "pass" or "fail" (or true/false), got {value!r:.80}'
    )


def _check_labels(labels: list[str], allowed: tuple[str, ...], what: str) -> None:
    for index, label in enumerate(labels):
        if label not in allowed:
            raise ValueError(f"{what} #{index} is {label!r}; expected one of {list(allowed)}")


def _kappa(humans: list[str], judges: list[str]) -> float:
    # Kappa = (p_o - p_e) / (1 - p_e) is undefined exactly when p_e = 1, i.e. when both sides
    # gave every case the same single label. scikit-learn would warn (UndefinedMetricWarning
    # since 1.6, a numpy division warning before) and return NaN; decide it here instead.
    if len(set(humans) | set(judges)) == 1:
        return math.nan
    return float(_sklearn_metrics().cohen_kappa_score(humans, judges, labels=list(JUDGE_LABELS)))


def _sklearn_metrics() -> ModuleType:
    # imported when used: scikit-learn takes most of a second to import
    try:
        return importlib.import_module("sklearn.metrics")
    except ImportError as error:
        raise ImportError(
            "judge agreement statistics need scikit-learn: pip install scikit-learn"
        ) from error


def _agreed(result: Agreement) -> int:
    return sum(result.matrix[index][index] for index in range(len(HUMAN_LABELS)))


def _kappa_note(kappa: float) -> str:
    if math.isnan(kappa):
        return "undefined: human and judge gave every case the same label"
    return "Cohen's, over pass/fail/unscored/error"


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
