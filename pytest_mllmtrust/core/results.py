"""The versioned results document (``--mllm-json``): run info, scores, gate, per-sample records.

``schema_version`` is an integer independent of the package version; it changes only when a
reader would have to change. NaN is never written as a bare number (JSON has none): a score
that could not be computed is ``null`` with its reasons listed beside it.
See docs/results-schema.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.aggregate import Scoreboard
from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import SampleRecord
from pytest_mllmtrust.core.tasks import get_task
from pytest_mllmtrust.core.thresholds import Gate, GateCheck

SCHEMA_VERSION = 3


def number(value: float | None) -> float | None:
    """A JSON-safe number: NaN and infinities become null."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def build_results(
    *,
    run: dict[str, Any],
    scoreboard: Scoreboard,
    gate: Gate,
    records: Sequence[SampleRecord],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        # each benchmark's own entries (Benchmark.results), in benchmark order
        **_benchmark_entries(scoreboard),
        "tasks": {
            task_id: {
                "description": get_task(task_id).description,
                "score": number(ts.score),
                "complete": ts.complete,
                "incomplete": [*ts.incomplete, *([ts.subset] if ts.subset else [])],
                "counts": ts.counts,
                "variants": {
                    v: {name: number(x) for name, x in metrics.items()}
                    for v, metrics in ts.metrics.items()
                },
            }
            for task_id, ts in scoreboard.tasks.items()
        },
        # 95% confidence intervals of every score, by the key a threshold would use
        "intervals": {
            key: [number(low), number(high)]
            for key, (low, high) in sorted(scoreboard.intervals.items())
        },
        "gate": {
            "passed": gate.passed,
            "verdict": gate.verdict,
            "score_thresholds_set": gate.on_scores,
            "checks": [_check_entry(c) for c in gate.checks],
        },
        "samples": [r.to_dict() for r in records],
    }


def _check_entry(c: GateCheck) -> dict[str, Any]:
    entry = {
        "threshold": str(c.threshold),
        "key": c.threshold.key,
        "op": c.threshold.op,
        "limit": c.threshold.limit,
        "observed": number(c.observed),
        "passed": c.passed,
        "partial": list(c.partial),
        "message": c.sentence,
    }
    if c.resolution_data is not None:  # only where worked out (docs/results-schema.md)
        entry["resolution"] = dict(c.resolution_data)
    return entry


_RESERVED = frozenset({"schema_version", "run", "tasks", "intervals", "gate", "samples"})


def _benchmark_entries(scoreboard: Scoreboard) -> dict[str, Any]:
    entries = scoreboard.results()
    clash = sorted(entries.keys() & _RESERVED)
    if clash:
        raise ValueError(f"a benchmark's results entries {clash} clash with the document's own")
    return entries


def write_results(path: Path, head: dict[str, Any], records: Iterable[SampleRecord]) -> None:
    """Write the results document with ``records`` as its ``samples``, one record at a time:
    a run of many thousands of samples never holds them a second time as one document or one
    string (``head`` is everything else)."""
    text = json.dumps({k: v for k, v in head.items() if k != "samples"}, indent=1,
                      ensure_ascii=False, allow_nan=False)  # fmt: skip
    with path.open("w", encoding="utf-8") as out:
        out.write(text[: text.rindex("}")].rstrip() + ',\n "samples": [')
        for index, record in enumerate(records):
            out.write(
                ("\n  " if index == 0 else ",\n  ")
                + json.dumps(record.to_dict(), ensure_ascii=False, allow_nan=False)
            )
        out.write("\n ]\n}\n")


_PARTS = (("run", dict, "an object"), ("tasks", dict, "an object"), ("gate", dict, "an object"),
          ("samples", list, "a list"))  # fmt: skip


def read_results(path: Path) -> dict[str, Any]:
    """A results document read back and checked: a JSON object of a schema this version
    reads, with its run, tasks, gate and samples. DataError names the file and the problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read a results file: {exc}") from None
    if not isinstance(document, dict):
        raise DataError(f"{path}: not a results file (a JSON object is expected)")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DataError(f"{path}: no valid schema_version ({version!r}): not a results file")
    if version > SCHEMA_VERSION:
        raise DataError(
            f"{path}: schema_version {version} is newer than this pytest-mllmtrust reads "
            f"({SCHEMA_VERSION}): upgrade pytest-mllmtrust to read it"
        )
    for key, kind, name in _PARTS:
        if not isinstance(document.get(key), kind):
            raise DataError(f"{path}: {key!r} is missing or not {name}: not a complete results "
                            "file")  # fmt: skip
    return document
