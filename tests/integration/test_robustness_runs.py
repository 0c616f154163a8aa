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
