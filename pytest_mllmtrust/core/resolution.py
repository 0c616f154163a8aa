"""What a gate could see: the smallest change in a score that this run's sample count lets the
baseline gate flag, and the score a lower-bound threshold needs before it can pass.

A gate on 50 samples cannot protect a 2-point threshold, however the model behaves: a drop of
2 points is one flipped sample, which no test tells from noise. These figures say so before a
team trusts the gate (docs/reports.md, "What the gate can see").

- **Baseline gate.** McNemar's one-sided exact test (core.baseline) is most sensitive when every
  flip goes one way: ``b`` pass->fail flips and none back have p = 2^-b. The smallest ``b`` it
  flags at ``alpha`` is the least number of flips of any regression the gate can find; the gate
  also asks for a drop of more than the tolerance, and over ``n`` shared samples of a pass-rate
  score ``b`` flips are a drop of 100 b / n points. No smaller drop can ever be flagged; fail->pass
  flips beside them only raise the figure.
- **Lower-bound gate.** A threshold holds at its score's interval bound. For a score that is a
  pass rate (Wilson interval) the smallest passing score over ``n`` samples is found exactly, by
  counting passes; for a bootstrap interval, the observed distance between the score and its
  bound is added to the threshold (the interval's width changes little near the score).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_mllmtrust.core.baseline import ALPHA, mcnemar_one_sided
from pytest_mllmtrust.core.stats import Interval, wilson
from pytest_mllmtrust.core.thresholds import Threshold, passes

__all__ = [
    "BoundResolution",
    "FlipResolution",
    "bound_resolution",
    "flip_resolution",
    "flips_data",
    "flips_line",
    "min_flips",
]


def min_flips(alpha: float = ALPHA) -> int:
    """The fewest pass->fail flips (and no flip back) that the paired test flags at ``alpha``."""
    flips = 1
    while mcnemar_one_sided(flips, 0) >= alpha:
        flips += 1
    return flips


@dataclass(frozen=True)
class FlipResolution:
    """The smallest regression the baseline gate can flag on one key."""

    key: str
    #: samples both runs scored under the key
    shared: int
    #: the fewest pass->fail flips it flags; None when not even every shared sample flipping is
    flips: int | None
    #: those flips as a drop in points, as if each shared sample weighed the same
    drop: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"min_flips": self.flips, "min_drop": self.drop}

    def sentence(self) -> str:
        if self.flips is None or self.drop is None:
            return f"{self.key}: no drop can be flagged over {self.shared} shared samples"
        return f"{self.key} {self.drop:.2f} points ({self.flips} of {self.shared})"


def flip_resolution(
    key: str, shared: int, tolerance: float, alpha: float = ALPHA
) -> FlipResolution:
    """The smallest drop the baseline gate flags on a key over ``shared`` paired samples: at
    least :func:`min_flips` flips, and a drop of more than ``tolerance`` points."""
    flips = min_flips(alpha)
    while shared and 100 * flips / shared <= tolerance:
        flips += 1
    if flips > shared:
        return FlipResolution(key, shared, None, None)
    return FlipResolution(key, shared, flips, 100 * flips / shared)


def flips_line(floors: Sequence[FlipResolution], tolerance: float) -> str:
    """The baseline gate's resolution in one line: its finest and its coarsest key."""
    if not floors:
        return ""
    head = (f"resolution: a regression needs {min_flips()} or more pass->fail flips "
            f"(p < {ALPHA:g}) and a drop of more than {tolerance:g} points, ")  # fmt: skip
    seen = sorted((f for f in floors if f.drop is not None), key=lambda f: (f.drop, f.key))
    blind = [f.key for f in floors if f.drop is None]
    if not seen:
        return head + f"which none of {', '.join(blind)} has samples enough to show"
    finest, coarsest = seen[0], seen[-1]
    if f"{finest.drop:.2f}" == f"{coarsest.drop:.2f}" and len(seen) > 1:
        span = f"{finest.drop:.2f} points on each of {len(seen)} scores"
    elif finest is coarsest:
        span = finest.sentence()
    else:
        span = f"{finest.sentence()} to {coarsest.sentence()}"
    none = f"; none on {', '.join(blind)}" if blind else ""
    return f"{head}so the smallest drop it can flag is {span}{none}"


def flips_data(floors: Sequence[FlipResolution], tolerance: float) -> dict[str, Any]:
    """The baseline gate's resolution per compared key, for the results document."""
    return {
        "alpha": ALPHA,
        "tolerance": tolerance,
        "keys": {f.key: {"shared": f.shared, **f.to_dict()} for f in floors},
    }


@dataclass(frozen=True)
class BoundResolution:
    """The score a threshold on an interval's bound needs before it can pass."""

    threshold: Threshold
    #: "wilson" (exact, by pass count) or "bootstrap" (the observed half-width added)
    method: str
    #: scored samples under the key
    samples: int
    #: the least (at most: the greatest) score that passes; None when none can
    needs: float | None

    @property
    def margin(self) -> float | None:
        """How far past the limit the score must lie to pass."""
        if self.needs is None:
            return None
        return abs(self.needs - self.threshold.limit)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "samples": self.samples, "needs": self.needs,
                "margin": self.margin}  # fmt: skip

    def sentence(self) -> str:
        t = self.threshold
        at_least = t.op in (">=", ">")
        bound = "lower bound" if at_least else "upper bound"
        if self.needs is None or self.margin is None:
            return (f"resolution: with {self.samples} samples no {t.key} score passes {t}: its "
                    f"{bound} never reaches the limit")  # fmt: skip
        number = "{:.2f}" if t.limit > 1 else "{:.3f}"
        needs, margin = number.format(self.needs), number.format(self.margin)
        if self.method == "wilson":
            passing = round(self.needs * self.samples / 100)
            how = f"{passing} of {self.samples} samples passing, by the Wilson bound"
        else:
            how = f"about, by the {bound}'s observed distance over {self.samples} samples"
        return (
            f"resolution: {t.key} must be {'>=' if at_least else '<='} {needs} to pass, "
            f"{margin} {'above' if at_least else 'below'} the limit ({how})"
        )


def bound_resolution(
    threshold: Threshold,
    value: float | None,
    interval: Interval | None,
    samples: int,
    pass_rate: bool,
) -> BoundResolution | None:
    """The resolution of a lower-bound threshold: ``pass_rate`` when the key's score is its
    pass rate over ``samples`` scored samples (its interval a Wilson one); otherwise from the
    observed score and its bootstrap interval. None when neither is known."""
    if pass_rate and samples > 0:
        return BoundResolution(threshold, "wilson", samples, _wilson_needs(threshold, samples))
    if value is None or interval is None or math.isnan(value) or any(map(math.isnan, interval)):
        return None
    low, high = interval
    if threshold.op in (">=", ">"):
        needs = threshold.limit + max(0.0, value - low)
    else:
        needs = threshold.limit - max(0.0, high - value)
    return BoundResolution(threshold, "bootstrap", samples, needs)


def _wilson_needs(threshold: Threshold, n: int) -> float | None:
    """The least pass rate (x 100) over ``n`` samples whose Wilson bound meets an at-least
    threshold, or the greatest that meets an at-most one: the gate's own comparison."""
    at_least = threshold.op in (">=", ">")
    counts = range(n + 1) if at_least else range(n, -1, -1)
    for passed in counts:
        low, high = wilson(passed, n)
        if passes(threshold, 100 * (low if at_least else high)):
            return 100 * passed / n
    return None
