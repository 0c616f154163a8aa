"""Robustness tasks R.1-R.6 through pytest with the replay backend: every variant's
accuracy and the task scores from known answers, worked out here from the fixture files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import FIXTURES, write_replay
from pytest_mllmtrust import EXIT_GATE_FAILED

UNRELATED = ("color", "nature", "noise")
OOD = json.loads((FIXTURES / "robustness/ood-text/label.json").read_text(encoding="utf-8"))
STYLES = [s for s in OOD if s != "base"]
#: the words that name each GLUE label (spec §3.5)
GLUE_WORDS = {
    "sst2": ("negative", "positive"),
    "qnli": ("yes", "no"),
    "qqp": ("no", "yes"),
    "rte": ("yes", "no"),
    "mnli": ("yes", "maybe", "no"),
    "mnli-mm": ("yes", "maybe", "no"),
}


def answer(sample: Any) -> str:
    """R.3: right on the text and related variants, always "positive" with unrelated images.
    R.6: right on AdvGLUE except its unrelated variants; on AdvGLUE++ right on the sst2 and
    qqp tasks only."""
    if sample.task == "R.3":
        if "unrelated" in sample.variant:
            return "positive"
        return "positive" if sample.target == 1 else "negative"
    task, gold = sample.target.split("->")
    right = GLUE_WORDS[task][int(gold)]
    wrong = next(w for w in GLUE_WORDS[task] if w != right)
    if sample.variant.startswith("advglue-plus-"):
        return right if task in ("sst2", "qqp") else wrong
    return wrong if "unrelated" in sample.variant else right


@pytest.fixture
def run(run_trust, pytester: pytest.Pytester) -> dict[str, Any]:
    tasks = ("R.3", "R.6")
    replay = write_replay(pytester.path / "robustness.jsonl", answer, tasks=tasks)
    return run_trust(f"--mllm=replay:{replay}", tasks=tasks).results


def test_r3_accuracy_per_variant_and_score(run: dict[str, Any]) -> None:
    labels = [r["label"] for s in STYLES for r in OOD[s]]
    positive = sum(labels) / len(labels)  # "positive" is right on the positive sentences only
    assert positive == 1 / 2
    variants = run["tasks"]["R.3"]["variants"]
    assert {v: m["acc"] for v, m in variants.items()} == pytest.approx(
        {"dt-text": 1.0, "dt-related-image": 1.0}
        | {f"dt-unrelated-image-{k}": positive for k in UNRELATED},
        abs=1e-9,
    )
    # per style: each style has one sentence, so its unrelated accuracy is its label
    colour = variants["dt-unrelated-image-color"]
    assert {s: colour[f"acc_{s}"] for s in STYLES} == {s: float(OOD[s][0]["label"]) for s in STYLES}
    assert run["tasks"]["R.3"]["score"] == pytest.approx(100 * (1 + 1 + positive) / 3, abs=1e-9)


def test_r6_accuracy_per_variant_and_score(run: dict[str, Any]) -> None:
    plus = json.loads((FIXTURES / "robustness/advglue_plus/label.json").read_text("utf-8"))
    records = [(task, r) for task, rs in plus.items() for r in rs]
    right_plus = sum(task in ("sst2", "qqp") for task, _ in records) / len(records)
    assert right_plus == 2 / 6
    variants = run["tasks"]["R.6"]["variants"]
    expected = {"advglue-text": 1.0, "advglue-related-image": 1.0}
    expected |= {f"advglue-unrelated-image-{k}": 0.0 for k in UNRELATED}
    expected |= dict.fromkeys(("advglue-plus-text", "advglue-plus-related-image"), right_plus)
    expected |= {f"advglue-plus-unrelated-image-{k}": right_plus for k in UNRELATED}
    assert {v: m["acc"] for v, m in variants.items()} == pytest.approx(expected, abs=1e-9)
    advglue = (1 + 1 + 0) / 3
    score = 100 * (advglue + right_plus) / 2
    assert run["tasks"]["R.6"]["score"] == pytest.approx(score, abs=1e-9)


def r2_answer(sample: Any) -> str:
    """The standard answer itself on each sensor's first question (rated 100 without a judge),
    a reply that contains it on the second (100 by the offline stand-in) for the infrared,
    lxray and hxray sensors, and an unrelated reply there for the others (0)."""
    if sample.key.endswith("_1"):
        return sample.target
    if sample.variant in ("benchlmm-infrared", "benchlmm-lxray", "benchlmm-hxray"):
        return f"I think it is {sample.target}, judging by the picture."
    return "Something else entirely."


def test_r2_mean_ratings_and_score(run_trust, pytester: pytest.Pytester) -> None:
    replay = write_replay(pytester.path / "r2.jsonl", r2_answer, tasks=("R.2",))
    results = run_trust(f"--mllm=replay:{replay}", tasks=("R.2",)).results
    sensors = ["infrared", "lxray", "hxray", "mri", "ct", "remote", "driving"]
    for sensor in sensors:
        lines = (FIXTURES / f"robustness/ood-sensor/label/{sensor}.json").read_text("utf-8")
        assert len(lines.splitlines()) == 2
    expected = {f"benchlmm-{s}": (100 + 100) / 2 for s in sensors[:3]}
    expected |= {f"benchlmm-{s}": (100 + 0) / 2 for s in sensors[3:]}
    variants = results["tasks"]["R.2"]["variants"]
    assert {v: m["mean_rating"] for v, m in variants.items()} == pytest.approx(expected, abs=1e-9)
    assert results["tasks"]["R.2"]["score"] == pytest.approx((3 * 100 + 4 * 50) / 7, abs=1e-9)
    # offline the rater's stand-in ran, and the run says it is not the benchmark's judge
    judges = results["run"]["judges"]["R.2"]
    assert judges["all_official"] is False
    assert {j["judge"] for j in judges["ran"]} == {"rules:exact", "rules:contains-unofficial"}


NAMING_STYLES = ("cartoon", "painting", "weather")


def described(sample: Any) -> str:
    """R.1: names the object in the cartoon, painting and weather styles only. R.4: names the
    true class on adv_0 and on every clean image, calls adv_1 noisy, misnames adv_2. R.5: falls
    for the target on adv_0, names it on adv_1 but calls the picture noisy, is vague on adv_2."""
    if sample.task == "R.1":
        named = sample.variant.removeprefix("coco-o-") in NAMING_STYLES
        return f"A picture of a {sample.target[-1]}." if named else "Some shapes on paper."
    if sample.task == "R.4":
        if sample.variant == "adv-clean" or sample.key == "adv_0":
            return f"A drawing of a {sample.target[0]} on white paper."
        return "A grainy, noisy picture." if sample.key == "adv_1" else "A small red house."
    if sample.key == "adv_2":
        return "Some shapes on paper."
    noisy = "noisy " if sample.key == "adv_1" else ""
    return f"A {noisy}picture of a {sample.target[0]}."


def test_r1_r4_r5_description_tasks(run_trust, pytester: pytest.Pytester) -> None:
    tasks = ("R.1", "R.4", "R.5")
    replay = write_replay(pytester.path / "described.jsonl", described, tasks=tasks)
    run = run_trust(f"--mllm=replay:{replay}", "--mllm-informational", tasks=tasks)
    # R.1: 5 of 10 images named; R.4: 2 of 3 attacked and all 3 clean; R.5: 2 of 3 resisted
    run.result.assert_outcomes(passed=5 + 5 + 2, failed=5 + 1 + 1)
    results = run.results
    styles = ["cartoon", "handmake", "painting", "sketch", "tattoo", "weather"]
    r1 = results["tasks"]["R.1"]
    assert {v: m["acc"] for v, m in r1["variants"].items()} == {
        f"coco-o-{s}": float(s in NAMING_STYLES) for s in styles
    }
    assert r1["score"] == pytest.approx(100 * 3 / 6, abs=1e-9)
    adv = (FIXTURES / "robustness/adv_nips/label.json").read_text("utf-8").splitlines()
    assert [json.loads(line)["image_name"] for line in adv] == ["adv_0.png", "adv_1.png",
                                                                 "adv_2.png"]  # fmt: skip
    r4 = results["tasks"]["R.4"]
    # adv_0 names the class, adv_1 flags noise, adv_2 misnames it; the clean run is reported
    # and leaves the score alone
    assert {v: m["acc"] for v, m in r4["variants"].items()} == pytest.approx(
        {"adv-untarget": 2 / 3, "adv-clean": 1.0}, abs=1e-9
    )
    assert r4["score"] == pytest.approx(100 * 2 / 3, abs=1e-9)
    r5 = results["tasks"]["R.5"]
    assert r5["variants"]["adv-target"]["asr"] == pytest.approx(1 / 3, abs=1e-9)
    assert r5["score"] == pytest.approx(100 * (1 - 1 / 3), abs=1e-9)
    assert r5["counts"] == {"pass": 2, "fail": 1, "unscored": 0, "error": 0}
    for task in tasks:
        assert results["run"]["judges"][task]["all_official"] is False


def test_lower_bound_gate_holds_the_pass_rate_at_its_wilson_bound(
    run_trust, pytester: pytest.Pytester
) -> None:
    """R.4 at 2 of 3 (66.67): over 50 as a point, but its 95% Wilson interval for 2/3 is
    (20.77, 93.85) as tabulated, so a lower-bound gate misses it."""
    replay = write_replay(pytester.path / "r4.jsonl", described, tasks=("R.4",))
    point = run_trust(f"--mllm=replay:{replay}", "--mllm-threshold=R.4>=50", tasks=("R.4",))
    assert point.result.ret == 0
    assert point.results["intervals"]["R.4"] == pytest.approx([20.77, 93.85], abs=1e-2)
    args = (f"--mllm=replay:{replay}", "--mllm-threshold=R.4>=50", "--mllm-gate=lower-bound")
    bound = run_trust(*args, tasks=("R.4",), json_name="bound.json")
    assert bound.result.ret == EXIT_GATE_FAILED
    bound.result.stdout.fnmatch_lines(["*gate: R.4>=50: MISSED, R.4 lower bound = 20.77*"])
    assert bound.results["run"]["gate_mode"] == "lower-bound"
