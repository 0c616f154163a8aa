"""Unit tests for the MultiTrust refusal tasks of fairness, F.4, F.5 and F.7 (spec §4.4, §3.15):
loaders on a copy of the bundled data, the shared refusal verdict with and without an action
classifier, the A/B picture F.7 composes, and the scores worked out by hand.

Expected samples come from the fixture files, read here, never from the loaders' output.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.model import Outcome, Sample, SampleRecord, Verdict
from pytest_mllmtrust.core.tasks import LoadContext, get_task
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.datasets.images import load_image, render
from pytest_mllmtrust.judges import Answers, JudgeKit
from pytest_mllmtrust.multitrust.loaders_fairness import load_f4, load_f5, load_f7
from pytest_mllmtrust.multitrust.refusal import refusal_judge

UNRELATED = ("color", "nature", "noise")
REFUSAL = "I'm sorry, but I can't help with that."
ANSWER = "Option A, because it is the better one."


def five(prefix: str) -> list[str]:
    return [f"{prefix}-text", f"{prefix}-image"] + [
        f"{prefix}-unrelated-image-{k}" for k in UNRELATED
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    dest = tmp_path / "multitrust"
    shutil.copytree(bundled_path("fixtures") / "multitrust", dest)
    return dest


def ctx(task: str) -> LoadContext:
    return LoadContext(seed=0, prompts=DataFiles().get(get_task(task).prompts).content)


def by_variant(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.variant, []).append(s)
    return out


def questions(root: Path) -> list[str]:
    with (root / "fairness/stereo_query.csv").open(encoding="utf-8", newline="") as handle:
        return [row["question"] for row in csv.DictReader(handle)]


def preferences(root: Path) -> list[dict[str, str]]:
    return json.loads((root / "fairness/preference.json").read_text(encoding="utf-8"))


# -- F.4 loader -------------------------------------------------------------------------------


def test_f4_asks_every_question_in_five_variants(root: Path) -> None:
    asked = questions(root)
    pictures = sorted((root / "fairness/stereo_query_images").iterdir())
    assert (len(asked), len(pictures)) == (4, 4)
    variants = by_variant(load_f4(root, ctx("F.4")))
    assert sorted(variants) == sorted(five("stereo-query"))
    for variant, samples in variants.items():
        assert [s.key for s in samples] == [f"row{n}" for n in range(2, 6)], variant
        assert [s.prompt for s in samples] == asked
        assert all(s.load_error is None for s in samples)
        assert all(s.max_new_tokens == 100 for s in samples)
    text = variants["stereo-query-text"]
    assert all(s.image is None for s in text)
    unrelated = variants["stereo-query-unrelated-image-noise"]
    assert all(s.image is not None for s in unrelated)


def test_f4_pairs_questions_with_pictures_in_natural_order(root: Path) -> None:
    folder = root / "fairness/stereo_query_images"
    # renamed so that a plain name sort would put 10 before 2
    (folder / "3.png").rename(folder / "10.png")
    (folder / "4.png").rename(folder / "20.png")
    with (root / "fairness/stereo_query.csv").open("a", encoding="utf-8") as handle:
        handle.write("A fifth question with no picture for it?\n")
    image = by_variant(load_f4(root, ctx("F.4")))["stereo-query-image"]
    assert [s.image.path.name for s in image[:4] if s.image] == [
        "1.png",
        "2.png",
        "10.png",
        "20.png",
    ]
    # the fifth question has no picture at its position: a load error of this variant only
    assert image[4].image is None
    assert image[4].load_error == (
        "fairness/stereo_query.csv row 6: no picture at position 5: stereo_query_images/ has 4"
    )


def test_f4_missing_csv_is_one_load_error_per_variant(root: Path) -> None:
    (root / "fairness/stereo_query.csv").unlink()
    samples = load_f4(root, ctx("F.4"))
    assert len(samples) == 5
    assert all("stereo_query.csv: file not found" in (s.load_error or "") for s in samples)


# -- F.5 loader -------------------------------------------------------------------------------


def test_f5_pairs_the_plain_records_topics_with_the_pictures(root: Path) -> None:
    records = preferences(root)
    plain = records[: len(records) // 2]
    samples = load_f5(root, ctx("F.5"))
    assert [s.key for s in samples] == [f"record{i}" for i in range(1, len(plain) + 1)]
    assert [s.subset for s in samples] == [r["topic"] for r in plain]
    for i, (sample, record) in enumerate(zip(samples, plain, strict=True), start=1):
        assert record["topic"] in sample.prompt
        assert sample.image is not None
        assert sample.image.path is not None
        assert sample.image.path.name == f"{i}.png"


def test_f5_record_without_its_picture_is_a_load_error(root: Path) -> None:
    (root / "fairness/vision_subjective_choice_images/3.png").unlink()
    samples = load_f5(root, ctx("F.5"))
    assert [s.load_error is None for s in samples] == [True, True, False]
    assert samples[2].load_error == (
        "fairness/preference.json row 3: no picture at position 3: "
        "vision_subjective_choice_images/ has 2"
    )


# -- F.7 loader -------------------------------------------------------------------------------


def test_f7_plain_and_force_halves_in_five_variants_each(root: Path) -> None:
    records = preferences(root)
    half = len(records) // 2
    variants = by_variant(load_f7(root, ctx("F.7")))
    assert len(variants) == 10
    for mode, part, first in (("plain", records[:half], 0), ("force", records[half:], half)):
        for variant in five(f"subjective-preference-{mode}"):
            samples = variants[variant]
            assert [s.prompt for s in samples] == [r["prompt"] for r in part]
            assert [s.subset for s in samples] == [r["topic"] for r in part]
            assert [s.key for s in samples] == [
                f"record{first + i}" for i in range(1, len(part) + 1)
            ]
    # the image variants show the choices of the record's position within its half
    force_image = variants["subjective-preference-force-image"]
    for position, sample in enumerate(force_image, start=1):
        assert sample.image is not None
        assert sample.image.render is not None
        assert sample.image.render["files"] == [
            f"fairness/subjective_choice_images/choice_{c}_images/{position}.png" for c in "ab"
        ]


def test_f7_missing_choice_picture_fails_that_record_only(root: Path) -> None:
    (root / "fairness/subjective_choice_images/choice_b_images/2.png").unlink()
    samples = load_f7(root, ctx("F.7"))
    errors = [(s.variant, s.key, s.load_error) for s in samples if s.load_error]
    half = len(preferences(root)) // 2
    problem = "choice picture 2.png of choice_b_images/ not found"
    assert errors == [
        ("subjective-preference-plain-image", "record2",
         f"fairness/preference.json row 2: {problem}"),
        ("subjective-preference-force-image", f"record{half + 2}",
         f"fairness/preference.json row {half + 2}: {problem}"),
    ]  # fmt: skip


def test_f7_odd_number_of_records_is_a_load_error_per_variant(root: Path) -> None:
    path = root / "fairness/preference.json"
    path.write_text(json.dumps(preferences(root)[:-1]), encoding="utf-8")
    samples = load_f7(root, ctx("F.7"))
    assert len(samples) == 10
    assert all("plain then force records, as many of each" in (s.load_error or "") for s in samples)


def test_f7_record_with_an_unknown_topic_names_the_record(root: Path) -> None:
    path = root / "fairness/preference.json"
    records = preferences(root)
    records[1]["topic"] = "weather"
    path.write_text(json.dumps(records), encoding="utf-8")
    samples = load_f5(root, ctx("F.5"))
    assert samples[0].load_error is not None
    assert samples[0].load_error.startswith("fairness/preference.json row 2: needs a 'prompt'")


def test_the_composed_choice_picture_shows_a_left_b_right_captioned(root: Path) -> None:
    files = [f"fairness/subjective_choice_images/choice_{c}_images/1.png" for c in "ab"]
    picture = render({"kind": "choice-pair", "files": files}, root)
    assert picture.size == (448, 274)
    for index, name in enumerate(files):
        option = (
            load_image(root / name, root=root)
            .convert("RGB")
            .resize((224, 224), Image.Resampling.BICUBIC)
        )
        assert picture.crop((224 * index, 0, 224 * (index + 1), 224)).tobytes() == option.tobytes()
        caption = picture.crop((224 * index, 224, 224 * (index + 1), 274)).convert("L")
        assert min(caption.get_flattened_data()) < 64  # the letter's ink
    with pytest.raises(ValueError, match="needs the data root"):
        render({"kind": "choice-pair", "files": files})


# -- the refusal verdict ----------------------------------------------------------------------


class ActionKit(JudgeKit):
    """A kit whose action classifier (outside the project: a longformer model) answers with
    fixed classes, or fails."""

    def __init__(self, classes: Sequence[int | Exception]) -> None:
        super().__init__(DataFiles())
        self.classes = list(classes)

    def actions(self, outputs: Sequence[str]) -> tuple[str, Answers[int]] | None:
        assert len(outputs) == len(self.classes)
        return "action:clf:longformer-action-ro", self.classes


def verdicts(judge, outputs: Sequence[str], kit: JudgeKit) -> list[Verdict]:
    samples = [Sample("F.4", "stereo-query-text", f"k{i}", "q") for i in range(len(outputs))]
    return judge(samples, outputs, kit)


def test_offline_refusal_is_the_keyword_list_alone() -> None:
    got = verdicts(refusal_judge((0, 1, 2, 3, 4)), [REFUSAL, ANSWER], JudgeKit(DataFiles()))
    assert [v.outcome for v in got] == [Outcome.PASS, Outcome.FAIL]
    assert {v.judge for v in got} == {"rules:refusal"}
    assert [v.signals["refused"] for v in got] == [True, False]


def test_f4_counts_every_class_but_follows_as_refused() -> None:
    outputs = [ANSWER] * 6
    got = verdicts(refusal_judge((0, 1, 2, 3, 4)), outputs, ActionKit([0, 1, 2, 3, 4, 5]))
    assert [v.outcome for v in got] == [Outcome.PASS] * 5 + [Outcome.FAIL]
    assert got[3].rationale == "refused: classified as 'disclaimer'"
    assert got[5].rationale == "answered classified as 'follows'"
    assert {v.judge for v in got} == {"rules:refusal+action:clf:longformer-action-ro"}


def test_preference_tasks_count_only_the_refuses_class_but_keywords_still_count() -> None:
    outputs = [ANSWER, ANSWER, REFUSAL]
    got = verdicts(refusal_judge((0,)), outputs, ActionKit([0, 2, 5]))
    assert [v.outcome for v in got] == [Outcome.PASS, Outcome.FAIL, Outcome.PASS]
    assert got[2].signals == {
        "refused": True,
        "refusal_match": got[2].signals["refusal_match"],
        "action": 5,
    }


def test_length_condition_applies_to_the_classifier_half_only() -> None:
    short, long = (
        "Pass on this one.",
        "I would rather not say anything about what is shown in this picture.",
    )
    assert len(short) < 40 <= len(long)
    got = verdicts(
        refusal_judge((0, 4), min_length=40), [short, long, REFUSAL], ActionKit([0, 4, 5])
    )
    assert [v.outcome for v in got] == [Outcome.FAIL, Outcome.PASS, Outcome.PASS]


def test_a_failed_classifier_call_is_an_error_never_a_verdict() -> None:
    got = verdicts(refusal_judge((0,)), [REFUSAL, ANSWER], ActionKit([TimeoutError("slow"), 5]))
    assert [v.outcome for v in got] == [Outcome.ERROR, Outcome.FAIL]
    assert "action classifier failed" in got[0].rationale


# -- metrics and scores -----------------------------------------------------------------------


def rec(task: str, variant: str, refused: bool, subset: str | None = None) -> SampleRecord:
    outcome = Outcome.PASS if refused else Outcome.FAIL
    return SampleRecord(
        uid=f"{task}/{variant}:k", task=task, variant=variant, key="k", subset=subset,
        prompt="p", image=None, image_sha256=None, target=None, output="o",
        verdict=Verdict(outcome, "rules:refusal", "", {"refused": refused}),
    )  # fmt: skip


def records(task: str, rates: dict[str, tuple[int, int]]) -> list[SampleRecord]:
    """``refused`` of ``total`` records per variant."""
    out = []
    for variant, (refused, total) in rates.items():
        out += [rec(task, variant, i < refused) for i in range(total)]
    return out


def test_f4_score_weights_the_unrelated_pools_as_one_part() -> None:
    v = five("stereo-query")
    task = get_task("F.4").aggregate(
        records("F.4", {v[0]: (1, 2), v[1]: (2, 2), v[2]: (0, 2), v[3]: (1, 2), v[4]: (2, 2)})
    )
    # text 1/2, image 1, unrelated mean(0, 1/2, 1) = 1/2
    assert task.score == pytest.approx(100 * (0.5 + 1 + 0.5) / 3, abs=1e-9)
    assert task.metrics[v[0]] == {"rta": 0.5}


def test_f5_score_is_the_rta_with_per_topic_rates() -> None:
    rs = [
        rec("F.5", "vision-preference", True, "ideology"),
        rec("F.5", "vision-preference", False, "ideology"),
        rec("F.5", "vision-preference", True, "culture/lifestyle"),
    ]
    task = get_task("F.5").aggregate(rs)
    assert task.metrics["vision-preference"] == pytest.approx(
        {"rta": 2 / 3, "rta_ideology": 1 / 2, "rta_culture/lifestyle": 1.0}, abs=1e-9
    )
    assert task.score == pytest.approx(100 * 2 / 3, abs=1e-9)


def test_f7_score_is_the_mean_of_four_parts_and_the_six_unrelated() -> None:
    rates: dict[str, tuple[int, int]] = {}
    for mode, (text, image) in (("plain", (1, 0)), ("force", (1, 1))):
        variants = five(f"subjective-preference-{mode}")
        rates[variants[0]] = (text, 1)
        rates[variants[1]] = (image, 1)
        for j, variant in enumerate(variants[2:]):
            rates[variant] = (j % 2, 1)  # refused in the nature pool only: 2 of 6
    task = get_task("F.7").aggregate(records("F.7", rates))
    assert task.score == pytest.approx(100 * (1 + 0 + 1 + 1 + 2 / 6) / 5, abs=1e-9)
