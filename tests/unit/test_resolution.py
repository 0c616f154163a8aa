"""What a gate can see (core.resolution): the smallest drop the baseline gate flags and the score
a lower-bound threshold needs, each checked against the gate's own test at its boundary and
against simulated runs with known true drops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_mllmtrust.core.baseline import compare
from pytest_mllmtrust.core.model import Outcome, SampleRecord, Verdict
from pytest_mllmtrust.core.resolution import (
    bound_resolution,
    flip_resolution,
    flips_data,
    flips_line,
    min_flips,
)
from pytest_mllmtrust.core.stats import wilson
from pytest_mllmtrust.core.thresholds import Threshold, check, pessimistic

# -- the baseline gate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "flips"),
    [
        (0.05, 5),  # 2^-5 = 0.031 < 0.05 <= 2^-4 = 0.0625
        (0.01, 7),  # 2^-7 = 0.0078 < 0.01 <= 2^-6 = 0.0156
        (0.1, 4),  # 2^-4 = 0.0625 < 0.1 <= 2^-3 = 0.125
    ],
)
def test_the_fewest_flips_the_paired_test_flags(alpha: float, flips: int) -> None:
    assert min_flips(alpha) == flips


@pytest.mark.parametrize(
    ("shared", "tolerance", "flips", "drop"),
    [
        (50, 2.0, 5, 10.0),  # --mllm-limit=50: five flips are 10 points, far over 2
        (24, 1.0, 5, 500 / 24),
        (200, 3.0, 7, 3.5),  # five flips are 2.5 points, six 3.0: not more than 3
        (300, 2.0, 7, 700 / 300),  # six flips are exactly 2.0: the drop must exceed it
    ],
)
def test_the_smallest_drop_the_baseline_gate_flags(
    shared: int, tolerance: float, flips: int, drop: float
) -> None:
    found = flip_resolution("S.4", shared, tolerance)
    assert (found.flips, found.drop) == (flips, pytest.approx(drop))
    assert found.to_dict() == {"min_flips": flips, "min_drop": pytest.approx(drop)}


def test_a_key_with_too_few_shared_samples_can_never_be_flagged() -> None:
    found = flip_resolution("S.4", 4, 1.0)  # even four of four flipping: p = 1/16
    assert (found.flips, found.drop) == (None, None)
    assert found.sentence() == "S.4: no drop can be flagged over 4 shared samples"


def test_the_baseline_line_names_the_finest_and_the_coarsest_key_and_the_blind_ones() -> None:
    floors = [flip_resolution("S.4", 24, 2.0), flip_resolution("safety", 360, 2.0),
              flip_resolution("T.2", 4, 2.0)]  # fmt: skip
    # 360 samples: five flips are 1.39 points, seven 1.94, eight 2.22 > 2
    assert flips_line(floors, 2.0) == (
        "resolution: a regression needs 5 or more pass->fail flips (p < 0.05) and a drop of "
        "more than 2 points, so the smallest drop it can flag is safety 2.22 points (8 of 360) "
        "to S.4 20.83 points (5 of 24); none on T.2"
    )
    assert flips_data(floors, 2.0)["keys"]["T.2"] == {"shared": 4, "min_flips": None,
                                                      "min_drop": None}  # fmt: skip
    assert flips_line([], 2.0) == ""


def _record(uid: str, passed: bool) -> SampleRecord:
    return SampleRecord(
        uid=uid, task="A", variant="v", key=uid, subset=None, prompt="p", image=None,
        image_sha256=None, target=None, output="o",
        verdict=Verdict(Outcome.PASS if passed else Outcome.FAIL, "rules", "", {}),
    )  # fmt: skip


def _flagged(before: list[bool], after: list[bool], tolerance: float) -> tuple[bool, float]:
    """Run the gate's own comparison on one paired task; its verdict and the observed drop."""
    uids = [f"A/v:{k}" for k in range(len(before))]
    old = {
        "samples": [{"uid": u, "task": "A", "outcome": "pass" if p else "fail"}
                    for u, p in zip(uids, before, strict=True)],
        "tasks": {"A": {"score": 100 * sum(before) / len(before)}},
    }  # fmt: skip
    new_score = 100 * sum(after) / len(after)
    records = [_record(u, p) for u, p in zip(uids, after, strict=True)]
    [result] = compare(old, records, {"A": new_score}, {"A": ("A",)}, tolerance)
    return result.regressed, old["tasks"]["A"]["score"] - new_score


@pytest.mark.parametrize("shared", [24, 50, 200])
@pytest.mark.parametrize("tolerance", [0.5, 1.0, 2.0, 3.0])
def test_the_reported_flips_are_exactly_where_the_gate_starts_to_flag(
    shared: int, tolerance: float
) -> None:
    found = flip_resolution("A", shared, tolerance)
    assert found.flips is not None
    for flips in (found.flips - 1, found.flips):
        after = [k >= flips for k in range(shared)]  # the first `flips` samples now fail
        regressed, _ = _flagged([True] * shared, after, tolerance)
        assert regressed is (flips == found.flips), (shared, tolerance, flips)


def test_simulated_drops_below_the_resolution_are_never_flagged_and_large_ones_mostly_are() -> None:
    """Paired runs of 50 samples (baseline pass rate 0.8) with a known true drop and some
    churn the other way (5% of failing samples now pass), 300 runs per drop."""
    rng = np.random.default_rng(2024)
    n, tolerance, runs = 50, 2.0, 300
    floor = flip_resolution("A", n, tolerance)
    assert floor.drop == 10.0  # 5 flips of 50

    def detection_rate(true_drop: float) -> float:
        flagged = 0
        for _ in range(runs):
            before = rng.random(n) < 0.8
            # each passing sample fails now with the chance that makes the expected drop
            # `true_drop` points net of the churn back
            churn = 0.05
            q = (true_drop / 100 + churn * (1 - 0.8)) / 0.8
            turned = np.where(before, rng.random(n) < q, rng.random(n) < churn)
            after = before ^ turned
            regressed, observed = _flagged(before.tolist(), after.tolist(), tolerance)
            # the guarantee: no drop under the resolution is ever flagged
            assert not (regressed and observed < floor.drop - 1e-9), observed
            flagged += regressed
        return flagged / runs

    assert detection_rate(2.0) < 0.05  # a 2-point drop is (nearly) invisible to 50 samples
    assert detection_rate(30.0) > 0.8  # three times the resolution is found in most runs


# -- the lower-bound gate -------------------------------------------------------------------------


def _passes_at(threshold: Threshold, passed: int, n: int) -> bool:
    """The gate's own check of a pass-rate score of ``passed`` of ``n`` at its Wilson bound."""
    low, high = wilson(passed, n)
    bound, name = pessimistic(threshold, (100 * low, 100 * high))
    return check(threshold, bound, bound=name).passed


def test_fifty_samples_pass_an_80_point_threshold_only_from_92_points() -> None:
    # by hand, z = 1.96: 46 of 50 has the Wilson lower bound 0.8116 >= 0.8, 45 of 50 has 0.7864
    found = bound_resolution(Threshold("S.4", ">=", 80.0), None, None, 50, pass_rate=True)
    assert found is not None
    assert (found.method, found.needs, found.margin) == ("wilson", 92.0, 12.0)
    assert found.to_dict() == {"method": "wilson", "samples": 50, "needs": 92.0, "margin": 12.0}
    assert "46 of 50 samples passing" in found.sentence()


@pytest.mark.parametrize("n", [24, 50, 100])
@pytest.mark.parametrize(("op", "limit"), [(">=", 50.0), (">=", 80.0), (">", 70.0), ("<=", 20.0)])
def test_the_needed_score_is_exactly_where_the_gate_starts_to_pass(
    n: int, op: str, limit: float
) -> None:
    threshold = Threshold("S.4", op, limit)
    found = bound_resolution(threshold, None, None, n, pass_rate=True)
    assert found is not None
    assert found.needs is not None
    passed = round(found.needs * n / 100)
    assert math.isclose(found.needs, 100 * passed / n)
    assert _passes_at(threshold, passed, n)
    beyond = passed - 1 if op.startswith(">") else passed + 1  # one sample worse
    assert not _passes_at(threshold, beyond, n)


def test_a_threshold_the_sample_count_can_never_pass_says_so() -> None:
    # 50 of 50: the Wilson lower bound is 1 / (1 + 1.96^2 / 50) = 0.9286, under 0.98
    found = bound_resolution(Threshold("S.4", ">=", 98.0), None, None, 50, pass_rate=True)
    assert found is not None
    assert found.needs is None
    assert found.margin is None
    assert "no S.4 score passes S.4>=98" in found.sentence()


def test_a_bootstrap_score_needs_the_threshold_plus_its_observed_half_width() -> None:
    found = bound_resolution(Threshold("safety", ">=", 80.0), 85.0, (78.0, 90.0), 120, False)
    assert found is not None
    assert (found.method, found.needs, found.margin) == ("bootstrap", 87.0, 7.0)
    upper = bound_resolution(Threshold("mllmguard.asd", "<=", 0.3), 0.2, (0.1, 0.28), 40, False)
    assert upper is not None
    assert (upper.needs, upper.margin) == (pytest.approx(0.22), pytest.approx(0.08))
    assert "<= 0.220 to pass, 0.080 below the limit" in upper.sentence()
    assert bound_resolution(Threshold("safety", ">=", 80.0), None, None, 0, False) is None
