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

from pytest_mllmtrust.core.aggregate import Aggregate, Scoreboard
from pytest_mllmtrust.core.model import SampleRecord
from pytest_mllmtrust.core.thresholds import GateCheck

SCHEMA_VERSION = 2


def number(value: float | None) -> float | None:
    """A JSON-safe number: NaN and infinities become null."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _aggregate(agg: Aggregate) -> dict[str, Any]:
    return {
        "score": number(agg.value),
        "parts": list(agg.parts),
        "complete": agg.complete,
        "missing": list(agg.missing),
    }


def build_results(
    *,
    run: dict[str, Any],
    scoreboard: Scoreboard,
    gate: Sequence[GateCheck],
    records: Sequence[SampleRecord],
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "overall": None if scoreboard.overall is None else _aggregate(scoreboard.overall),
        "dimensions": {k: _aggregate(a) for k, a in scoreboard.dimensions.items()},
        "subaspects": {k: _aggregate(a) for k, a in scoreboard.subaspects.items()},
        "mllmguard": None if scoreboard.mllmguard is None else scoreboard.mllmguard.to_dict(),
        "tasks": {
            task_id: {
                "score": number(ts.score),
                "complete": ts.complete,
                "incomplete": list(ts.incomplete),
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
            "passed": all(c.passed for c in gate),
            "checks": [
                {
                    "threshold": str(c.threshold),
                    "key": c.threshold.key,
                    "op": c.threshold.op,
                    "limit": c.threshold.limit,
                    "observed": number(c.observed),
                    "passed": c.passed,
                    "partial": list(c.partial),
                    "message": c.sentence,
                }
                for c in gate
            ],
        },
        "samples": [r.to_dict() for r in records],
    }


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
