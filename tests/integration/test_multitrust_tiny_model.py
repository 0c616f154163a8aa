"""Every MultiTrust truthfulness and safety task beyond T.1 and S.4 through pytest with a tiny
real-architecture LLaVA (random weights), on the bundled samples.

The answers are noise, so this asserts what must hold whatever the model says: every variant of
every task yields one record per bundled sample, none of them an error, and the task's metrics
and score are well formed (a score in 0-100 or none with its reason). T.1 and S.4 have the same
proof in test_models_end_to_end.py; the scores from known answers are in the replay tests.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import ignore_other_suites

pytestmark = pytest.mark.slow

#: text only, the sample's own image, one image of each unrelated kind
FIVE = ("text", "image", "unrelated-image-color", "unrelated-image-nature", "unrelated-image-noise")
#: samples per variant in the bundled data, counted from the fixture files' layout
BUNDLED = {
    # nine advanced skills, three records each
    "T.2": {
        f"advanced-{skill}": 3
        for skill in (
            "spatial",
            "temporal",
            "compare",
            "daily",
            "traffic",
            "causality",
            "math",
            "code",
            "translate",
        )
    },
    # three records per kind, each asked with three prompt versions
    "T.3": {"instruction-enhancement-factual": 9, "instruction-enhancement-logic": 9},
    # four questions: text only, own image, one drawn image of each unrelated kind
    "T.4": {
        f"visual-assistance-{v}": 4
        for v in (
            "text",
            "image",
            "unrelated-image-color",
            "unrelated-image-nature",
            "unrelated-image-noise",
        )
    },
    "T.5": {"g-text-misleading": 4},
    "T.6": {"d-mis-visual-confusion": 10},
    "T.7": {
        f"g-text-{v}": 4
        for v in (
            "none",
            "misvisual",
            "assistance",
            "unrelated-image-color",
            "unrelated-image-nature",
            "unrelated-image-noise",
        )
    },
    # four images, each with a plain and a leading request
    "S.1": {"nsfw-image-description": 8},
    # five classes: three detection and two risk questions of each class's images
    "S.2": {"object-detection": 15, "risk-analysis": 10},
    # four prompts: alone, with each of three unrelated kinds, with their own image
    "S.3": {
        "toxicity-prompt-text": 4,
        "toxicity-prompt-unrelated": 12,
        "toxicity-prompt-image": 4,
    },
    "S.5": {"optimized-jailbreak-graphic": 4, "mm-safety-bench": 3, "safebench": 3},
    # four rows: text, 3 kinds x 2 unrelated images, 2 related and 2 contrary images
    "S.6": {
        "crossmodal-jailbreak-text": 4,
        "crossmodal-jailbreak-unrelated": 24,
        "crossmodal-jailbreak-pos": 8,
        "crossmodal-jailbreak-neg": 8,
    },
    # six styles: cartoon 2, handmake 2, painting 1, sketch 2, tattoo 1, weather 2 images
    "R.1": {
        f"coco-o-{s}": n
        for s, n in (
            ("cartoon", 2),
            ("handmake", 2),
            ("painting", 1),
            ("sketch", 2),
            ("tattoo", 1),
            ("weather", 2),
        )
    },
    # three attacked pictures, and their clean originals (informational)
    "R.4": {"adv-untarget": 3, "adv-clean": 3},
    "R.5": {"adv-target": 3},
    # seven sensors, two questions each
    "R.2": {
        f"benchlmm-{s}": 2 for s in ("infrared", "lxray", "hxray", "mri", "ct", "remote", "driving")
    },
    # ten styles, one sentence each
    "R.3": {f"dt-{v}": 10 for v in ("text", "related-image", *FIVE[2:])},
    # six GLUE tasks, one record each, in both sets
    "R.6": {
        f"{s}-{v}": 6
        for s in ("advglue", "advglue-plus")
        for v in ("text", "related-image", *FIVE[2:])
    },
    "F.1": {"stereo-generation": 4},
    # six statements (one per Type), six classification sentences
    "F.2": {f"stereo-agreement-{v}": 6 for v in FIVE},
    "F.3": {
        **{f"stereo-classification-{v}": 6 for v in FIVE},
        **{f"stereo-topic-classification-{v}": 6 for v in FIVE},
    },
    "F.4": {f"stereo-query-{v}": 4 for v in FIVE},
    # three plain and three force preference records
    "F.5": {"vision-preference": 3},
    "F.7": {f"subjective-preference-{m}-{v}": 3 for m in ("plain", "force") for v in FIVE},
    # twelve rows, each asked without and with a description of the person
    "F.6": {"profession-pred": 12, "profession-pred-with-description": 12},
    "P.1": {"vispr-recognition": 4, "vizwiz-recognition": 3},
    "P.2": {"vispr-recognition-pri-query": 5},
    # six vignettes
    "P.3": {f"confaide-{v}": 6 for v in ("text", "image", *FIVE[2:])},
    # two people, each asked in 12 ways
    "P.4": {
        f"personal-{q}-{n}-{o}": 2
        for q in ("email", "phone", "address")
        for n in ("name", "wo-name")
        for o in ("occupation", "wo-occupation")
    },
    "P.5": {"vispr-leakage": 3, "vispr-leakage-protected": 3},
    # ten PII types x two five-person entries
    "P.6": {
        f"enron-email-{v}": 20
        for v in ("text", "image-typeinfo", "image-allinfo", "image-oneinfo", *FIVE[2:])
    },
}
#: F.6 reports chi-square statistics and counts beside its p-values, R.2 ratings on 0-100 and
#: counts; P.3 correlations
NOT_RATES = ("chi2_", "n_", "excluded_", "significant", "mean_rating", "rating_parse")
CORRELATIONS = ("r",)


@pytest.fixture(scope="module")
def tiny_run(tiny_llava: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of all the tasks above, every variant included (informational ones too): the
    model loads once, as it would for a user."""
    where = tmp_path_factory.mktemp("tiny-run")
    out = where / "results.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *ignore_other_suites(BUNDLED),
        "-p",
        "no:cacheprovider",
        f"--mllm=hf:{tiny_llava}",
        "--mllm-batch-size=8",
        "--mllm-informational",
        f"--mllm-json={out}",
        "-q",
    ]
    done = subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("task", sorted(BUNDLED))
def test_every_variant_runs_through_a_tiny_model(tiny_run: dict[str, Any], task: str) -> None:
    samples = [s for s in tiny_run["samples"] if s["task"] == task]
    assert Counter(s["variant"] for s in samples) == BUNDLED[task]
    assert all(isinstance(s["output"], str) for s in samples)
    outcomes = Counter(s["outcome"] for s in samples)
    assert outcomes["error"] == 0, [s["rationale"] for s in samples if s["outcome"] == "error"]
    # F.6: a random answer is never a clear yes or no, so it enters no test and is unscored
    assert outcomes["pass"] + outcomes["fail"] > 0 or (task == "F.6" and outcomes["unscored"])
    assert all(s["judge"] for s in samples)

    result = tiny_run["tasks"][task]
    assert result["counts"] == {o: outcomes[o] for o in ("pass", "fail", "unscored", "error")}
    for variant, metrics in result["variants"].items():
        assert variant in BUNDLED[task]
        for name, value in metrics.items():
            low, high = (0.0, math.inf) if name.startswith(NOT_RATES) else (0.0, 1.0)
            if name in CORRELATIONS:
                low, high = -1.0, 1.0
            assert value is None or low <= value <= high, (variant, name, value)
    if result["complete"]:
        assert not result["incomplete"]
        lowest = -100.0 if task == "P.3" else 0.0  # a correlation score can be negative
        assert lowest <= result["score"] <= 100.0
        assert math.isfinite(result["score"])
    else:
        assert result["score"] is None
        assert result["incomplete"]
        assert all(isinstance(r, str) for r in result["incomplete"])
    ran = tiny_run["run"]["judges"][task]["ran"]
    assert sum(j["samples"] for j in ran) == len(samples)


def test_generation_is_batched_and_asks_each_distinct_request_once(
    tiny_run: dict[str, Any],
) -> None:
    stats = tiny_run["run"]["stats"]
    total = sum(sum(v.values()) for v in BUNDLED.values())
    # T.4 and T.7 ask the same questions: text alone, with the same helpful image, and with
    # unrelated images that the seeded draw may pick alike; one answer serves both
    distinct = {(s["prompt"], s["image_sha256"]) for s in tiny_run["samples"]}
    assert len(distinct) < total
    assert stats["outputs_generated"] == len(distinct)
    assert stats["outputs_cached"] == total - len(distinct)
    assert stats["errors"] == 0
    # at most eight samples a call, and never one call per sample
    assert math.ceil(len(distinct) / 8) <= stats["model_calls"] < len(distinct) / 2
