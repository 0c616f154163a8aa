"""The baseline regression gate: this run against an earlier results file, sample by sample.

Per task and per dimension, only the samples both runs scored (pass or fail) are compared. A
sample that passed before and fails now is a *regression flip*, one that failed and passes an
*improvement flip*. The paired test is McNemar's exact test, one-sided: the probability of at
least that many regression flips among all flips if a flip were as likely either way. A score
regresses when it dropped by more than the tolerance (points on its own scale) and that test
says the drop is not noise (p < ``alpha``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_mllmtrust.core.benchmarks import installed
from pytest_mllmtrust.core.model import Outcome, SampleRecord

ALPHA = 0.05


def mcnemar_one_sided(worse: int, better: int) -> float:
    """P(X >= worse) for X ~ Binomial(worse + better, 1/2); 1 when nothing flipped."""
    n = worse + better
    if n == 0:
        return 1.0
    # Exact: the tail's outcomes counted in integers, then one correctly rounded division.
    # scipy.stats.binomtest(worse, n, 0.5, alternative="greater") evaluates the tail in
    # floating point (an incomplete beta function), which changes the last bits of 39% of the
    # p-values with n <= 200 (relative error up to 1.5e-14) that a results file holds. Each term
    # comes from the one before, C(n, k + 1) = C(n, k) (n - k) / (k + 1), and the divisor 2^n
    # stays an int: a sum of math.comb calls took a minute at 20,000 flips, and a float 2.0**n
    # overflows from 1,024 flips.
    term = math.comb(n, worse)
    tail = 0
    for k in range(worse, n + 1):
        tail += term
        term = term * (n - k) // (k + 1)
    return tail / (1 << n)


@dataclass(frozen=True)
class Comparison:
    """One score of this run against the baseline's."""

    key: str
    old: float | None
    new: float | None
    shared: int
    #: uids that passed in the baseline and fail now
    worse: tuple[str, ...]
    #: uids that failed in the baseline and pass now
    better: tuple[str, ...]
    p_value: float
    regressed: bool

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    def sentence(self, tolerance: float) -> str:
        delta = "n/a" if self.delta is None else f"{self.delta:+.2f}"
        verdict = "REGRESSED" if self.regressed else "ok"
        return (
            f"baseline {self.key}: {verdict}, {delta} points (tolerance {tolerance:g}); "
            f"{len(self.worse)} pass->fail, {len(self.better)} fail->pass of {self.shared} "
            f"shared samples, p = {self.p_value:.3g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "delta": self.delta,
            "shared": self.shared,
            "pass_to_fail": list(self.worse),
            "fail_to_pass": list(self.better),
            "p_value": self.p_value,
            "regressed": self.regressed,
        }


def _outcomes(samples: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, bool]]:
    """uid -> (task, passed) for the scored samples of a results file."""
    scored = (Outcome.PASS.value, Outcome.FAIL.value)
    return {
        s["uid"]: (s["task"], s["outcome"] == Outcome.PASS.value)
        for s in samples
        if s.get("outcome") in scored
    }


def compare(
    baseline: Mapping[str, Any],
    records: Sequence[SampleRecord],
    scores: Mapping[str, float],
    groups: Mapping[str, Sequence[str]],
    tolerance: float,
    alpha: float = ALPHA,
) -> list[Comparison]:
    """Compare each score in ``groups`` (key -> the tasks its samples come from, e.g. a task
    -> itself, a dimension -> its tasks) that both runs have."""
    before = _outcomes(baseline.get("samples", []))
    now = _outcomes(r.to_dict() for r in records)
    old_scores = _scores_of(baseline)
    comparisons = []
    for key, tasks in groups.items():
        if key not in old_scores or key not in scores:
            continue
        shared = sorted(u for u in now.keys() & before.keys() if now[u][0] in tasks)
        worse = tuple(u for u in shared if before[u][1] and not now[u][1])
        better = tuple(u for u in shared if not before[u][1] and now[u][1])
        p = mcnemar_one_sided(len(worse), len(better))
        old, new = old_scores[key], scores[key]
        dropped = not math.isnan(new) and not math.isnan(old) and new < old - tolerance
        comparisons.append(
            Comparison(key, _finite(old), _finite(new), len(shared), worse, better, p,
                       dropped and p < alpha)
        )  # fmt: skip
    return comparisons


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _scores_of(results: Mapping[str, Any]) -> dict[str, float]:
    """Task scores of a results file, and the scores each benchmark reads back from its own
    entries (MultiTrust's dimensions), null read as NaN."""
    out: dict[str, float] = {}
    for key, entry in (results.get("tasks") or {}).items():
        value = entry.get("score")
        out[key] = math.nan if value is None else float(value)
    for benchmark in installed():
        out.update(benchmark.scores_in(results))
    return out
