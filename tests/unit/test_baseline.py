"""The baseline regression gate (core.baseline): McNemar's exact one-sided test by hand, and
which scores count as regressed."""

from __future__ import annotations

import math

import pytest

from pytest_mllmtrust.core.baseline import compare, mcnemar_one_sided
from pytest_mllmtrust.core.model import Outcome, SampleRecord, Verdict


@pytest.mark.parametrize(
    ("worse", "better", "expected"),
    [
        (4, 0, 1 / 16),  # all four flips the bad way: (1/2)^4
        (5, 0, 1 / 32),
        (3, 1, (4 + 1) / 16),  # C(4,3) + C(4,4) of 2^4
        (1, 3, (4 + 6 + 4 + 1) / 16),  # at least one of four
        (0, 0, 1.0),
    ],
)
def test_mcnemar_one_sided(worse: int, better: int, expected: float) -> None:
    assert mcnemar_one_sided(worse, better) == pytest.approx(expected)


def test_mcnemar_one_sided_is_the_exact_tail_rounded_once() -> None:
    for n in range(1, 61):
        for worse in range(n + 1):
            tail = sum(math.comb(n, k) for k in range(worse, n + 1))
            assert mcnemar_one_sided(worse, n - worse) == tail / 2**n


@pytest.mark.parametrize(("worse", "better"), [(600, 600), (560, 464), (10_200, 9_800)])
def test_mcnemar_one_sided_holds_past_a_thousand_flips(worse: int, better: int) -> None:
    from scipy.stats import binomtest

    expected = binomtest(worse, worse + better, 0.5, alternative="greater").pvalue
    assert mcnemar_one_sided(worse, better) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_one_sided_underflows_to_zero_rather_than_raising() -> None:
    assert mcnemar_one_sided(2_000, 0) == 0.0  # 2^-2000 is below the smallest float


def rec(uid: str, passed: bool) -> SampleRecord:
    return SampleRecord(
        uid=uid, task=uid.split("/")[0], variant="v", key=uid, subset=None, prompt="p",
        image=None, image_sha256=None, target=None, output="o",
        verdict=Verdict(Outcome.PASS if passed else Outcome.FAIL, "rules", "", {}),
    )  # fmt: skip


def baseline(outcomes: dict[str, bool], scores: dict[str, float]) -> dict:
    return {
        "samples": [{"uid": u, "task": u.split("/")[0], "outcome": "pass" if p else "fail"}
                    for u, p in outcomes.items()],
        "tasks": {t: {"score": s} for t, s in scores.items()},
    }  # fmt: skip


def test_a_significant_drop_beyond_the_tolerance_regresses() -> None:
    uids = [f"A/v:{k}" for k in range(10)]
    old = baseline(dict.fromkeys(uids, True), {"A": 100.0})
    # six of ten now fail: 6 pass->fail, 0 fail->pass, p = 1/64; 40 points down
    now = [rec(u, k >= 6) for k, u in enumerate(uids)]
    [result] = compare(old, now, {"A": 40.0}, {"A": ("A",)}, tolerance=1.0)
    assert result.regressed
    assert (result.delta, len(result.worse), len(result.better)) == (-60.0, 6, 0)
    assert result.p_value == pytest.approx(1 / 64)
    assert result.worse == tuple(sorted(uids[:6]))


def test_noise_and_small_drops_do_not_regress() -> None:
    uids = [f"A/v:{k}" for k in range(10)]
    old = baseline({u: k % 2 == 0 for k, u in enumerate(uids)}, {"A": 50.0})
    # two flips each way: the score is unchanged, p = 11/16
    swapped = {0: False, 2: False, 1: True, 3: True}
    now = [rec(u, swapped.get(k, k % 2 == 0)) for k, u in enumerate(uids)]
    [noise] = compare(old, now, {"A": 50.0}, {"A": ("A",)}, tolerance=1.0)
    assert not noise.regressed
    assert noise.p_value == pytest.approx(11 / 16)
    # a significant drop within the tolerance is not a regression either
    drop = [rec(u, False) for u in uids[:1]] + [rec(u, True) for u in uids[1:]]
    old_all_pass = baseline(dict.fromkeys(uids, True), {"A": 100.0})
    [small] = compare(old_all_pass, drop, {"A": 90.0}, {"A": ("A",)}, tolerance=15.0)
    assert not small.regressed


def test_only_shared_scored_samples_are_paired_and_unknown_scores_are_skipped() -> None:
    old = baseline({"A/v:1": True, "A/v:2": True}, {"A": 100.0})
    now = [rec("A/v:1", False), rec("A/v:3", False)]
    results = compare(old, now, {"A": 0.0, "B": 10.0}, {"A": ("A",), "B": ("B",)}, 1.0)
    assert [(c.key, c.shared, c.worse) for c in results] == [("A", 1, ("A/v:1",))]
