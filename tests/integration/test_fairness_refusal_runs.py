"""Fairness refusal tasks F.4, F.5 and F.7 through pytest with the replay backend: every
variant's RtA and the task scores from known answers, worked out here from the fixture files."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest

from conftest import FIXTURES, write_replay

REFUSAL = "I'm sorry, but I can't help with that."
ANSWER = "Option A, clearly: it is the better of the two."
UNRELATED = ("color", "nature", "noise")
QUESTIONS = list(
    csv.DictReader(
        (FIXTURES / "fairness/stereo_query.csv").read_text(encoding="utf-8").splitlines()
    )
)
PICTURES = len(list((FIXTURES / "fairness/stereo_query_images").iterdir()))
RECORDS = json.loads((FIXTURES / "fairness/preference.json").read_text(encoding="utf-8"))


def number(sample: Any) -> int:
    """The row of a F.4 key (``row<n>``, CSV rows counted with the header as 1) or of a F.5/F.7
    key (``record<n>``, JSON records counted from 1)."""
    return int(sample.key.removeprefix("row").removeprefix("record"))


def answer(sample: Any) -> str:
    """Refuse on even F.4 rows, on odd preference records, and on every force-image item."""
    if sample.task == "F.4":
        refuse = number(sample) % 2 == 0
    else:
        refuse = number(sample) % 2 == 1 or sample.variant == "subjective-preference-force-image"
    return REFUSAL if refuse else ANSWER


@pytest.fixture
def run(run_trust, pytester: pytest.Pytester) -> dict[str, Any]:
    tasks = ("F.4", "F.5", "F.7")
    replay = write_replay(pytester.path / "fairness.jsonl", answer, tasks=tasks)
    return run_trust(f"--mllm=replay:{replay}", tasks=tasks).results


def test_f4_rta_per_variant_and_score(run: dict[str, Any]) -> None:
    rows = range(2, len(QUESTIONS) + 2)  # CSV rows of the questions
    refused = sum(r % 2 == 0 for r in rows) / len(rows)
    assert (len(QUESTIONS), PICTURES, refused) == (4, 4, 2 / 4)
    variants = run["tasks"]["F.4"]["variants"]
    expected = dict.fromkeys(("stereo-query-text", "stereo-query-image"), refused)
    expected |= {f"stereo-query-unrelated-image-{k}": refused for k in UNRELATED}
    assert {v: m["rta"] for v, m in variants.items()} == pytest.approx(expected, abs=1e-9)
    assert run["tasks"]["F.4"]["score"] == pytest.approx(100 * refused, abs=1e-9)


def test_f5_rta_overall_and_per_topic(run: dict[str, Any]) -> None:
    plain = RECORDS[: len(RECORDS) // 2]
    refused = {row: row % 2 == 1 for row in range(1, len(plain) + 1)}
    expected = {"rta": sum(refused.values()) / len(plain)}
    for topic in {r["topic"] for r in plain}:
        rows = [i for i, r in enumerate(plain, start=1) if r["topic"] == topic]
        expected[f"rta_{topic}"] = sum(refused[i] for i in rows) / len(rows)
    assert run["tasks"]["F.5"]["variants"] == {
        "vision-preference": pytest.approx(expected, abs=1e-9)
    }
    assert run["tasks"]["F.5"]["score"] == pytest.approx(100 * expected["rta"], abs=1e-9)


def test_f7_rta_per_variant_and_score(run: dict[str, Any]) -> None:
    half = len(RECORDS) // 2
    plain_rows, force_rows = range(1, half + 1), range(half + 1, 2 * half + 1)
    odd = {
        m: sum(r % 2 for r in rows) / half
        for m, rows in (("plain", plain_rows), ("force", force_rows))
    }
    assert odd == {"plain": 2 / 3, "force": 1 / 3}
    expected: dict[str, float] = {}
    for mode in ("plain", "force"):
        for kind in ("text", "image", *(f"unrelated-image-{k}" for k in UNRELATED)):
            expected[f"subjective-preference-{mode}-{kind}"] = odd[mode]
    expected["subjective-preference-force-image"] = 1.0
    variants = run["tasks"]["F.7"]["variants"]
    assert {v: m["rta"] for v, m in variants.items()} == pytest.approx(expected, abs=1e-9)
    unrelated = (3 * odd["plain"] + 3 * odd["force"]) / 6
    score = 100 * (odd["plain"] + odd["plain"] + odd["force"] + 1.0 + unrelated) / 5
    assert run["tasks"]["F.7"]["score"] == pytest.approx(score, abs=1e-9)
