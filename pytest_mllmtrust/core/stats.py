"""Confidence intervals for every score a run reports (pure: no pytest, no numpy, no scipy).

A task score that is its pass rate over all scored samples gets the Wilson score interval;
every other score (composite task scores, sub-aspects, dimensions, the overall scores,
MLLMGuard's ASD and PAR) a percentile bootstrap over samples: the records are resampled with
replacement within each (task, variant), the whole aggregation is recomputed, and the 2.5th and
97.5th percentiles of each score are kept. The resampling is drawn from the run's seed, so a
rerun reports the same intervals.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence

from pytest_mllmtrust.core.model import Outcome, SampleRecord

#: the normal quantile of a two-sided 95% interval
Z95 = 1.959963984540054
Interval = tuple[float, float]


def wilson(passed: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of a proportion ``passed / n`` (NaN bounds when n = 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    # By hand, not scipy.stats.binomtest(passed, n).proportion_ci(method="wilson"): scipy
    # arranges the formula differently and snaps a bound to 0 or 1 when passed is 0 or n, which
    # moves 47% of the intervals with n <= 400 in the last bits (by up to 3.3e-16) and 19 of
    # the intervals a run of the bundled suites writes. Results files must not change.
    p = passed / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation between order
    statistics (numpy's default method); NaN for no values."""
    # By hand, not numpy.quantile: numpy interpolates down from the upper order statistic when
    # the fraction is >= 0.5, which changes the last bits of 129 in 40,000 random 2.5th/97.5th
    # percentiles, and with them the bootstrap intervals a results file holds.
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap(
    records: Sequence[SampleRecord],
    values: Callable[[Sequence[SampleRecord]], Mapping[str, float]],
    resamples: int,
    seed: int,
) -> dict[str, Interval]:
    """Percentile intervals of every value ``values`` computes, over ``resamples`` resamplings
    of ``records`` within their (task, variant) groups. A value that is NaN in a resample is left
    out of that resample; a value with no defined resample has no interval."""
    groups: dict[tuple[str, str], list[SampleRecord]] = {}
    for record in records:
        groups.setdefault((record.task, record.variant), []).append(record)
    rng = random.Random(f"bootstrap:{seed}")
    drawn: dict[str, list[float]] = {}
    for _ in range(resamples):
        sample = [r for group in groups.values() for r in rng.choices(group, k=len(group))]
        for key, value in values(sample).items():
            if not math.isnan(value):
                drawn.setdefault(key, []).append(value)
    return {k: (percentile(v, 0.025), percentile(v, 0.975)) for k, v in drawn.items()}


def pass_counts(records: Iterable[SampleRecord]) -> dict[str, tuple[int, int]]:
    """Per task: its passed samples and its scored (passed or failed) samples."""
    counts: dict[str, list[int]] = {}
    for record in records:
        if record.outcome in (Outcome.PASS, Outcome.FAIL):
            tally = counts.setdefault(record.task, [0, 0])
            tally[0] += record.outcome is Outcome.PASS
            tally[1] += 1
    return {task: (passed, n) for task, (passed, n) in counts.items()}


def is_pass_rate(score: float, passed: int, n: int) -> bool:
    """Whether a task score is 100 x its pass rate over its scored samples."""
    return n > 0 and not math.isnan(score) and math.isclose(score, 100 * passed / n, abs_tol=1e-9)


def pass_rate_intervals(
    records: Iterable[SampleRecord], scores: Mapping[str, float]
) -> dict[str, Interval]:
    """Wilson intervals (x 100) for the task scores that equal 100 x the task's pass rate over
    its scored samples."""
    intervals = {}
    for task, (passed, n) in pass_counts(records).items():
        if is_pass_rate(scores.get(task, math.nan), passed, n):
            low, high = wilson(passed, n)
            intervals[task] = (100 * low, 100 * high)
    return intervals
