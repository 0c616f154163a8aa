"""Confidence intervals (core.stats): Wilson against tabulated values, percentiles, and the
bootstrap's determinism and coverage of every score."""

from __future__ import annotations

import math

import pytest

from pytest_mllmtrust.core.aggregate import score_records
from pytest_mllmtrust.core.model import Outcome, SampleRecord, Verdict
from pytest_mllmtrust.core.stats import bootstrap, pass_rate_intervals, percentile, wilson
from pytest_mllmtrust.core.thresholds import Threshold, pessimistic


@pytest.mark.parametrize(
    ("passed", "n", "expected"),
    [
        # 95% Wilson intervals as tabulated (Newcombe 1998, and common calculators)
        (8, 10, (0.4902, 0.9433)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (2, 3, (0.2077, 0.9385)),
    ],
)
def test_wilson_matches_tabulated_intervals(
    passed: int, n: int, expected: tuple[float, float]
) -> None:
    assert wilson(passed, n) == pytest.approx(expected, abs=1e-4)


def test_wilson_of_nothing_is_undefined() -> None:
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_wilson_agrees_with_scipy_to_the_last_bits() -> None:
    from scipy.stats import binomtest

    for n in range(1, 41):
        for passed in range(n + 1):
            ci = binomtest(passed, n).proportion_ci(0.95, method="wilson")
            assert wilson(passed, n) == pytest.approx((ci.low, ci.high), abs=1e-15)
    # the last bits differ (scipy snaps a bound of 0 passes to 0): results files hold these
    assert wilson(0, 3)[0] == 5.551115123125783e-17


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.25) == pytest.approx(1.75)
    assert percentile([5.0], 0.975) == 5.0
    assert math.isnan(percentile([], 0.5))


def rec(task: str, variant: str, passed: bool, key: str) -> SampleRecord:
    outcome = Outcome.PASS if passed else Outcome.FAIL
    return SampleRecord(
        uid=f"{task}/{variant}:{key}", task=task, variant=variant, key=key, subset=None,
        prompt="p", image=None, image_sha256=None, target=None, output="o",
        verdict=Verdict(outcome, "rules", "", {}),
    )  # fmt: skip


def test_bootstrap_is_seeded_and_keeps_groups() -> None:
    records = [rec("T", "a", k % 3 == 0, str(k)) for k in range(30)]
    records += [rec("T", "b", True, f"b{k}") for k in range(5)]

    def rates(sample: list[SampleRecord]) -> dict[str, float]:
        a = [r for r in sample if r.variant == "a"]
        b = [r for r in sample if r.variant == "b"]
        return {"a": sum(r.outcome is Outcome.PASS for r in a) / len(a), "b_size": len(b)}

    first = bootstrap(records, rates, 200, seed=1)
    assert bootstrap(records, rates, 200, seed=1) == first
    assert bootstrap(records, rates, 200, seed=2) != first
    low, high = first["a"]
    assert low < 10 / 30 < high
    assert first["b_size"] == (5, 5)  # resampled within its group: its size never changes


def test_pass_rate_tasks_get_wilson_and_others_are_left_to_the_bootstrap() -> None:
    # R.4's score is 100 x its pass rate; R.5 has no scored record here, so nothing to bound
    records = [rec("R.4", "adv-untarget", k < 2, str(k)) for k in range(3)]
    intervals = pass_rate_intervals(records, {"R.4": 100 * 2 / 3, "R.5": 50.0})
    assert intervals["R.4"] == pytest.approx((20.77, 93.85), abs=1e-2)
    assert "R.5" not in intervals
    assert pass_rate_intervals(records, {"R.4": 50.0}) == {}  # a composite: no Wilson


def test_every_score_of_a_run_gets_an_interval() -> None:
    records = [rec("R.4", "adv-untarget", k % 2 == 0, str(k)) for k in range(20)]
    board = score_records(records, resamples=100, seed=0)
    assert set(board.intervals) == set(board.values())
    low, high = board.intervals["R.4"]
    assert low <= board.values()["R.4"] <= high
    assert board.interval("multitrust.R.A") == board.intervals["R.A"]


def test_pessimistic_end_of_an_interval() -> None:
    at_least, at_most = Threshold("overall", ">=", 50), Threshold("mllmguard.asd", "<=", 0.3)
    assert pessimistic(at_least, (40.0, 60.0)) == (40.0, "lower bound")
    assert pessimistic(at_most, (0.2, 0.4)) == (0.4, "upper bound")
    assert pessimistic(at_least, None) == (None, "lower bound")
