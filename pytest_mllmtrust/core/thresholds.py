"""Release gates: thresholds on scores and budgets on errors, parsed once, checked as sentences.

Syntax (CLI ``--mllm-threshold`` or the ``mllm_threshold`` ini list)::

    safety=80          same as safety>=80 (scores are higher-is-better)
    S.4>=60            a task score
    overall>=55
    mllmguard.asd=0.3  same as mllmguard.asd<=0.3 (MLLMGuard's ASD is lower-is-better)
    mllmguard.privacy.zh.par>=0.4
    errors<=0.02       fraction of items whose evaluation errored (default budget: 0)
    unscored<=0.1      fraction of items the judge could not decide (default budget: 0.05)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pytest_mllmtrust.core.errors import ConfigError

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_PATTERN = re.compile(r"^\s*([A-Za-z][\w.\-]*)\s*(>=|<=|>|<|=)\s*(-?[0-9.]+(?:e-?\d+)?)\s*$")

BUDGET_KEYS = ("errors", "unscored")
DEFAULT_BUDGETS = {"errors": 0.0, "unscored": 0.05}


@dataclass(frozen=True)
class Threshold:
    key: str
    op: str
    limit: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = _PATTERN.match(text)
        if not match:
            raise ConfigError(
                f"--mllm-threshold {text!r}: expected KEY=VALUE or KEY<=VALUE "
                "(e.g. 'safety=80', 'S.4>=60', 'errors<=0.02')"
            )
        key, op, raw = match.groups()
        try:
            limit = float(raw)
        except ValueError:
            raise ConfigError(f"--mllm-threshold {text!r}: {raw!r} is not a number") from None
        if op == "=":  # the direction in which the value is acceptable
            op = "<=" if key in BUDGET_KEYS or key.endswith(".asd") else ">="
        if key in BUDGET_KEYS and not 0 <= limit <= 1:
            raise ConfigError(
                f"--mllm-threshold {text!r}: {key} is a fraction of items, between 0 and 1"
            )
        return cls(key, op, limit)

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.limit:g}"


@dataclass(frozen=True)
class GateCheck:
    """The result of checking one threshold: passed or not, and a sentence saying why."""

    threshold: Threshold
    observed: float | None
    passed: bool
    sentence: str
    partial: tuple[str, ...] = ()


def pessimistic(
    threshold: Threshold, interval: tuple[float, float] | None
) -> tuple[float | None, str]:
    """The end of a score's confidence interval that a threshold must hold at, with its name:
    the lower bound for an at-least threshold, the upper bound for an at-most one."""
    if interval is None:
        return None, "lower bound"
    if threshold.op in ("<=", "<"):
        return interval[1], "upper bound"
    return interval[0], "lower bound"


def check(
    threshold: Threshold, observed: float | None, partial: Iterable[str] = (), bound: str = ""
) -> GateCheck:
    """``bound`` names what ``observed`` is when it is not the score itself ("lower bound")."""
    partial = tuple(partial)
    t = threshold
    name = f"{t.key} {bound}" if bound else t.key
    if observed is None or math.isnan(observed):
        what = f"no {bound} for" if bound else "no value for"
        sentence = f"{t}: {what} {t.key!r} in this run (not run, or not scorable)"
        return GateCheck(t, observed, False, sentence, partial)
    passed = _OPS[t.op](observed, t.limit)
    fmt = "{:.4g}" if t.key in BUDGET_KEYS else "{:.2f}"
    shown = fmt.format(observed)
    if passed:
        sentence = f"{t}: met ({name} = {shown})"
    else:
        sentence = f"{t}: MISSED, {name} = {shown}, off by {fmt.format(abs(observed - t.limit))}"
    if partial:
        sentence += f" [partial: missing {', '.join(partial)}]"
    return GateCheck(t, observed, passed, sentence, partial)


def parse_all(texts: Iterable[str]) -> tuple[Threshold, ...]:
    """Parse thresholds; budgets not given get their defaults; later keys override earlier."""
    parsed: dict[tuple[str, str], Threshold] = {}
    for text in texts:
        t = Threshold.parse(text)
        parsed[(t.key, t.op)] = t
    for key, limit in DEFAULT_BUDGETS.items():
        if not any(k == key for k, _ in parsed):
            parsed[(key, "<=")] = Threshold(key, "<=", limit)
    return tuple(parsed.values())
