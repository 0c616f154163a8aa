"""Robustness tasks R.3 and R.6 through pytest with the replay backend: every variant's
accuracy and the task scores from known answers, worked out here from the fixture files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import FIXTURES, write_replay

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
