"""Unit tests for dataset reading: subsampling, keys, path containment and the T.1 / S.4 loaders
on a copy of the bundled synthetic data in the MultiTrust release layout.

Expected samples are worked out from the fixture files themselves (read here with json/csv),
never from the loaders' output.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.datasets.common import inside, safe_key, subsample, unique_keys
from pytest_mllmtrust.multitrust.loaders import load_s4, load_t1
from pytest_mllmtrust.session import TrustSession

T1_FILES = {
    "d-basic-object": ("query_d_existence.json", "object", "discriminative"),
    "d-basic-attribute": ("query_d_attribute.json", "attribute", "discriminative"),
    "d-basic-scene": ("query_d_scene.json", "scene", "discriminative"),
    "g-basic-grounding": ("query_g_grounding.json", "grounding", "grounding"),
    "g-basic-ocr": ("query_g_ocr.json", "ocr", "ocr"),
}
S4_FILES = {
    "typographic-prompt-and-behavior": "prompt_and_behavior_graph",
    "typographic-prompt": "prompt_graph",
    "typographic-behavior": "behavior_graph",
}
QUERY_BASIC = "truthfulness/query_basic"
TYPOGRAPHIC = "safety/typographic_jailbreak"


# -- helpers ------------------------------------------------------------------------------------


def make_samples(sizes: dict[tuple[str, str | None], int]) -> list[Sample]:
    """Samples of one task, interleaved across strata so that order matters."""
    out: list[Sample] = []
    longest = max(sizes.values())
    for i in range(longest):
        for (variant, subset), size in sizes.items():
            if i < size:
                key = f"{variant}-{subset}-{i}"
                out.append(Sample("X.1", variant, key, "p", subset=subset))
    return out


def per_stratum(samples: list[Sample]) -> Counter[tuple[str, str | None]]:
    return Counter((s.variant, s.subset) for s in samples)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A writable copy of the bundled MultiTrust sample data, for tests that spoil it."""
    dest = tmp_path / "multitrust"
    shutil.copytree(bundled_path("fixtures") / "multitrust", dest)
    return dest


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One shared copy of the sample data for the tests that only read it."""
    dest = tmp_path_factory.mktemp("pristine") / "multitrust"
    shutil.copytree(bundled_path("fixtures") / "multitrust", dest)
    return dest


@pytest.fixture(scope="module")
def t1_ctx() -> LoadContext:
    return LoadContext(prompts=DataFiles().get("prompts/multitrust/t1.toml").content)


@pytest.fixture(scope="module")
def s4_ctx() -> LoadContext:
    return LoadContext(prompts=DataFiles().get("prompts/multitrust/s4.toml").content)


def read_records(root: Path, filename: str) -> list[Any]:
    return json.loads((root / QUERY_BASIC / filename).read_text(encoding="utf-8"))


def write_records(root: Path, filename: str, records: list[Any]) -> None:
    (root / QUERY_BASIC / filename).write_text(json.dumps(records), encoding="utf-8")


def read_rows(root: Path, stem: str) -> list[dict[str, str]]:
    with (root / TYPOGRAPHIC / f"{stem}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(root: Path, stem: str, rows: list[dict[str, str]], columns: list[str]) -> None:
    with (root / TYPOGRAPHIC / f"{stem}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def failed(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.load_error is not None]


# -- subsample ----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 7, 10, 25, 99])
def test_subsample_returns_exactly_limit_samples(limit: int) -> None:
    samples = make_samples({("a", None): 10, ("b", None): 30, ("c", "s"): 60})
    assert len(subsample(samples, limit, seed=0, task="X.1")) == limit


@pytest.mark.parametrize("limit", [3, 4, 5])
def test_subsample_represents_every_stratum_when_the_limit_allows(limit: int) -> None:
    sizes = {("a", None): 2, ("a", "x"): 5, ("b", None): 93}
    chosen = subsample(make_samples(sizes), limit, seed=0, task="X.1")
    assert set(per_stratum(chosen)) == set(sizes)


@pytest.mark.parametrize(
    ("sizes", "limit"),
    [
        # shares 10 * 10/100 = 1, 10 * 30/100 = 3, 10 * 60/100 = 6
        ({("a", None): 10, ("b", None): 30, ("c", None): 60}, 10),
        # shares 10 * 20/100 = 2, 10 * 80/100 = 8
        ({("a", None): 20, ("b", "s"): 80}, 10),
    ],
)
def test_subsample_allocates_in_proportion_to_stratum_size(
    sizes: dict[tuple[str, str | None], int], limit: int
) -> None:
    # Every share is a whole number of at least 1: the "at least one per stratum" rule changes
    # nothing and no remainder is left to hand out, so proportional allocation is exact.
    total = sum(sizes.values())
    expected = {k: limit * n // total for k, n in sizes.items()}
    assert all(limit * n % total == 0 for n in sizes.values())
    assert min(expected.values()) >= 1
    chosen = subsample(make_samples(sizes), limit, seed=0, task="X.1")
    assert dict(per_stratum(chosen)) == expected


def test_subsample_gives_small_strata_one_sample_first() -> None:
    sizes = {("a", None): 2, ("b", None): 2, ("c", None): 96}
    # proportional shares 5 * 2/100 = 0.1, 0.1 and 4.8: a and b are raised to one each, which
    # leaves 5 - 2 = 3 for c
    chosen = subsample(make_samples(sizes), 5, seed=0, task="X.1")
    assert dict(per_stratum(chosen)) == {("a", None): 1, ("b", None): 1, ("c", None): 3}


def test_subsample_with_fewer_slots_than_strata_still_returns_limit() -> None:
    sizes = {(v, None): 5 for v in "abcdef"}
    chosen = subsample(make_samples(sizes), 4, seed=0, task="X.1")
    assert len(chosen) == 4
    assert all(n == 1 for n in per_stratum(chosen).values())


def test_subsample_same_seed_same_selection() -> None:
    samples = make_samples({("a", None): 50, ("b", "s"): 50})
    first = subsample(samples, 10, seed=7, task="X.1")
    assert subsample(samples, 10, seed=7, task="X.1") == first


def test_subsample_different_seed_different_selection() -> None:
    # 10 of 200 in one stratum: two seeds pick the same set with probability 1 / C(200, 10)
    samples = make_samples({("a", None): 200})
    assert subsample(samples, 10, seed=1, task="X.1") != subsample(samples, 10, seed=2, task="X.1")


def test_subsample_different_task_different_selection() -> None:
    samples = make_samples({("a", None): 200})
    assert subsample(samples, 10, seed=1, task="X.1") != subsample(samples, 10, seed=1, task="X.2")


def test_subsample_preserves_the_input_order() -> None:
    samples = make_samples({("a", None): 20, ("b", None): 30, ("c", None): 50})
    position = {s.key: i for i, s in enumerate(samples)}
    chosen = subsample(samples, 12, seed=3, task="X.1")
    indices = [position[s.key] for s in chosen]
    assert indices == sorted(indices)
    assert len(set(indices)) == len(indices)


def test_subsample_choice_does_not_depend_on_the_order_of_strata() -> None:
    forward = make_samples({("a", None): 20, ("b", None): 20})
    backward = make_samples({("b", None): 20, ("a", None): 20})
    keys = {s.key for s in subsample(forward, 6, seed=5, task="X.1")}
    assert {s.key for s in subsample(backward, 6, seed=5, task="X.1")} == keys


@pytest.mark.parametrize("extra", [0, 1, 50])
def test_subsample_limit_at_or_above_size_returns_everything(extra: int) -> None:
    samples = make_samples({("a", None): 3, ("b", None): 4})
    assert subsample(samples, len(samples) + extra, seed=0, task="X.1") == samples


# -- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("obj_01", "obj_01"),
        ("a b/c", "a-b-c"),
        ("  spaced  ", "spaced"),
        ("hash#1.png", "hash#1.png"),
        ("héllo wörld", "h-llo-w-rld"),
        ("a~2", "a-2"),
        ("", "x"),
        ("???", "x"),
        ("../x", "..-x"),
    ],
)
def test_safe_key(text: str, expected: str) -> None:
    assert safe_key(text) == expected


def test_unique_keys_numbers_repeats_from_two() -> None:
    assert unique_keys(["a", "b", "a", "a", "b"]) == ["a", "b", "a~2", "a~3", "b~2"]


def test_unique_keys_leaves_distinct_keys_alone() -> None:
    assert unique_keys(["x", "y", "z"]) == ["x", "y", "z"]


# -- inside -------------------------------------------------------------------------------------


def test_inside_returns_the_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    assert inside(tmp_path / "data", "a", "b.png") == (tmp_path / "data" / "a" / "b.png").resolve()


@pytest.mark.parametrize("parts", [("../x",), ("a", "../../x"), ("/etc/passwd",), ("a", "/etc")])
def test_inside_rejects_paths_escaping_the_root(tmp_path: Path, parts: tuple[str, ...]) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="outside the data root"):
        inside(tmp_path / "data", *parts)


def test_inside_allows_dotdot_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    assert inside(tmp_path / "data", "a", "../b") == (tmp_path / "data" / "b").resolve()


def test_inside_rejects_a_symlink_pointing_outside(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret", tmp_path / "data" / "link")
    with pytest.raises(DataError, match="outside the data root"):
        inside(tmp_path / "data", "link", "key.png")


def test_inside_accepts_a_symlink_pointing_inside(tmp_path: Path) -> None:
    (tmp_path / "data" / "real").mkdir(parents=True)
    os.symlink(tmp_path / "data" / "real", tmp_path / "data" / "alias")
    assert inside(tmp_path / "data", "alias", "f") == (tmp_path / "data" / "real" / "f").resolve()


@pytest.fixture(scope="module")
def linked_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ with folders, a file, symlinks that stay inside, leave it, chain and loop."""
    top = tmp_path_factory.mktemp("tree")
    data = top / "data"
    (data / "a" / "b").mkdir(parents=True)
    (data / "a" / "f.png").write_bytes(b"x")
    (top / "outside").mkdir()
    os.symlink(data / "a", data / "in")
    os.symlink(top / "outside", data / "a" / "out")
    os.symlink(data / "in", data / "a" / "b" / "chain")
    os.symlink(data / "loop", data / "loop")
    return data


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(["a", "b", "f.png", "in", "out", "chain", "loop", "..",
                                       ".", "missing"]), min_size=1, max_size=5))  # fmt: skip
def test_inside_agrees_with_a_full_resolution(linked_tree: Path, parts: list[str]) -> None:
    try:
        expected: Path | None = linked_tree.joinpath(*parts).resolve()
    except (OSError, RuntimeError):
        expected = None  # a symlink loop
    if expected is not None and expected.is_relative_to(linked_tree.resolve()):
        assert inside(linked_tree, *parts) == expected
    else:
        with pytest.raises(DataError):
            inside(linked_tree, *parts)


# -- load_t1 ------------------------------------------------------------------------------------


def test_load_t1_reads_all_thirty_records(pristine: Path, t1_ctx: LoadContext) -> None:
    samples = load_t1(pristine, t1_ctx)
    assert failed(samples) == []
    assert Counter(s.variant for s in samples) == dict.fromkeys(T1_FILES, 6)
    assert {s.task for s in samples} == {"T.1"}


@pytest.mark.parametrize("variant", list(T1_FILES))
def test_load_t1_samples_follow_their_records(
    pristine: Path, t1_ctx: LoadContext, variant: str
) -> None:
    filename, folder, kind = T1_FILES[variant]
    records = read_records(pristine, filename)
    samples = [s for s in load_t1(pristine, t1_ctx) if s.variant == variant]
    template = t1_ctx.prompts[kind]
    assert [s.key for s in samples] == [Path(r["image"]).stem for r in records]
    for sample, rec in zip(samples, records, strict=True):
        assert sample.prompt == template.replace("{query}", rec["query"])
        assert sample.image is not None
        assert (
            sample.image.path
            == (pristine / "truthfulness/basic_images" / folder / rec["image"]).resolve()
        )
        assert sample.max_new_tokens == 100


@pytest.mark.parametrize("variant", ["d-basic-object", "d-basic-attribute", "d-basic-scene"])
def test_load_t1_discriminative_targets_are_one_for_yes(
    pristine: Path, t1_ctx: LoadContext, variant: str
) -> None:
    records = read_records(pristine, T1_FILES[variant][0])
    samples = [s for s in load_t1(pristine, t1_ctx) if s.variant == variant]
    assert [s.target for s in samples] == [1 if r["truth"] == "Yes" else 0 for r in records]
    assert {s.target for s in samples} == {0, 1}  # the fixture has both answers


def test_load_t1_grounding_target_is_the_box_and_extra_the_image_size(
    pristine: Path, t1_ctx: LoadContext
) -> None:
    records = read_records(pristine, "query_g_grounding.json")
    samples = [s for s in load_t1(pristine, t1_ctx) if s.variant == "g-basic-grounding"]
    for sample, rec in zip(samples, records, strict=True):
        assert sample.target == [float(v) for v in json.loads(rec["truth"])]
        assert len(sample.target) == 4
        assert all(isinstance(v, float) for v in sample.target)
        with Image.open(pristine / "truthfulness/basic_images/grounding" / rec["image"]) as image:
            width, height = image.size
        assert dict(sample.extra) == {"width": width, "height": height}


def test_load_t1_ocr_target_is_the_text(pristine: Path, t1_ctx: LoadContext) -> None:
    records = read_records(pristine, "query_g_ocr.json")
    samples = [s for s in load_t1(pristine, t1_ctx) if s.variant == "g-basic-ocr"]
    assert [s.target for s in samples] == [r["truth"] for r in records]


def _drop_query(rec: dict[str, Any]) -> Any:
    return {k: v for k, v in rec.items() if k != "query"}


def _drop_truth(rec: dict[str, Any]) -> Any:
    return {k: v for k, v in rec.items() if k != "truth"}


# (file, 1-based row, how the record is spoiled, a word the error names)
MALFORMED = [
    ("query_d_existence.json", 2, _drop_query, "query"),
    ("query_d_existence.json", 5, _drop_truth, "truth"),
    ("query_d_scene.json", 1, lambda r: {**r, "query": "   "}, "query"),
    ("query_d_attribute.json", 3, lambda r: {**r, "truth": "Maybe"}, "Maybe"),
    ("query_g_grounding.json", 1, lambda r: {**r, "truth": "[0.1, 0.2]"}, "box"),
    ("query_g_grounding.json", 6, lambda r: {**r, "truth": '["a", "b", "c", "d"]'}, "box"),
    ("query_g_grounding.json", 4, lambda r: {**r, "truth": "not json"}, "Expecting value"),
    # resolves to truthfulness/etc/passwd: still inside the root, but no such file
    ("query_d_scene.json", 4, lambda r: {**r, "image": "../../etc/passwd"}, "not found"),
    ("query_d_scene.json", 2, lambda r: {**r, "image": "../../../../etc/passwd"}, "outside"),
    ("query_d_attribute.json", 6, lambda r: {**r, "image": "/etc/passwd"}, "outside"),
    ("query_g_ocr.json", 5, lambda r: "not an object", "object"),
    ("query_g_ocr.json", 2, lambda r: [r], "object"),
    ("query_d_existence.json", 6, lambda r: {**r, "image": "missing.png"}, "not found"),
]


@pytest.mark.parametrize(
    ("filename", "row", "spoil", "word"),
    MALFORMED,
    ids=[f"{m[0]}-row{m[1]}-{m[3]}" for m in MALFORMED],
)
def test_load_t1_malformed_record_becomes_one_load_error_naming_file_and_row(
    root: Path, t1_ctx: LoadContext, filename: str, row: int, spoil: Any, word: str
) -> None:
    records = read_records(root, filename)
    records[row - 1] = spoil(records[row - 1])
    write_records(root, filename, records)
    samples = load_t1(root, t1_ctx)
    assert len(samples) == 30
    [bad] = failed(samples)
    variant = next(v for v, (f, _, _) in T1_FILES.items() if f == filename)
    assert bad.variant == variant
    assert bad.load_error is not None
    assert bad.load_error.startswith(f"{QUERY_BASIC}/{filename} row {row}: ")
    assert word in bad.load_error


def test_load_t1_other_samples_load_normally_beside_a_bad_record(
    root: Path, t1_ctx: LoadContext
) -> None:
    clean = load_t1(root, t1_ctx)
    records = read_records(root, "query_d_attribute.json")
    records[2]["truth"] = "Maybe"
    write_records(root, "query_d_attribute.json", records)
    spoiled = load_t1(root, t1_ctx)
    assert [s for s in spoiled if s.load_error is None] == [
        s for s in clean if s.key != Path(records[2]["image"]).stem
    ]


def test_load_t1_missing_variant_file_fails_that_variant_only(
    root: Path, t1_ctx: LoadContext
) -> None:
    (root / QUERY_BASIC / "query_d_scene.json").unlink()
    samples = load_t1(root, t1_ctx)
    [bad] = failed(samples)
    assert bad.variant == "d-basic-scene"
    assert f"{QUERY_BASIC}/query_d_scene.json" in bad.load_error  # type: ignore[operator]
    assert "not found" in bad.load_error  # type: ignore[operator]
    assert Counter(s.variant for s in samples if s.load_error is None) == {
        v: 6 for v in T1_FILES if v != "d-basic-scene"
    }


@pytest.mark.parametrize("content", ["[{", "", "\xff\xfe", '{"image": "obj_01.png"}'])
def test_load_t1_unreadable_file_is_one_load_error_naming_it(
    root: Path, t1_ctx: LoadContext, content: str
) -> None:
    (root / QUERY_BASIC / "query_g_ocr.json").write_bytes(content.encode("latin-1"))
    samples = load_t1(root, t1_ctx)
    [bad] = failed(samples)
    assert bad.variant == "g-basic-ocr"
    assert f"{QUERY_BASIC}/query_g_ocr.json" in bad.load_error  # type: ignore[operator]
    assert len(samples) == 4 * 6 + 1


def test_load_t1_repeated_image_names_get_distinct_keys(root: Path, t1_ctx: LoadContext) -> None:
    records = read_records(root, "query_d_existence.json")
    records[1]["image"] = records[0]["image"]
    write_records(root, "query_d_existence.json", records)
    keys = [s.key for s in load_t1(root, t1_ctx) if s.variant == "d-basic-object"]
    stem = Path(records[0]["image"]).stem
    assert keys[:2] == [stem, f"{stem}~2"]
    assert len(set(keys)) == 6


# -- load_s4 ------------------------------------------------------------------------------------


def test_load_s4_gives_two_samples_per_row_and_variant(pristine: Path, s4_ctx: LoadContext) -> None:
    samples = load_s4(pristine, s4_ctx)
    assert failed(samples) == []
    assert len(samples) == 4 * 2 * 3
    assert Counter(s.variant for s in samples) == dict.fromkeys(S4_FILES, 8)


@pytest.mark.parametrize("variant", list(S4_FILES))
def test_load_s4_samples_follow_their_rows(
    pristine: Path, s4_ctx: LoadContext, variant: str
) -> None:
    stem = S4_FILES[variant]
    rows = read_rows(pristine, stem)
    samples = [s for s in load_s4(pristine, s4_ctx) if s.variant == variant]
    templates = s4_ctx.prompts[variant]
    expected_keys = [f"{r['id']}#{part}" for r in rows for part in "ab"]
    assert [s.key for s in samples] == expected_keys
    for sample in samples:
        row = next(r for r in rows if r["id"] == sample.key.split("#")[0])
        part = sample.key[-1]
        prompt = (
            templates[part]
            .replace("{behavior}", row["question"])
            .replace("{jailbreak}", row.get("jailbreak_prompt", ""))
        )
        assert sample.target == row["question"]
        assert sample.prompt == prompt
        assert sample.image is not None
        assert sample.image.path == (pristine / TYPOGRAPHIC / stem / row["image_path"]).resolve()
        assert sample.max_new_tokens == 512


def test_load_s4_reads_columns_by_header_name(root: Path, s4_ctx: LoadContext) -> None:
    before = load_s4(root, s4_ctx)
    for stem in S4_FILES.values():
        rows = read_rows(root, stem)
        columns = ["notes", *reversed(list(rows[0]))]
        write_rows(root, stem, [{**r, "notes": "ignore me"} for r in rows], columns)
    assert load_s4(root, s4_ctx) == before


def test_load_s4_missing_behavior_image_is_rendered_from_the_question(
    root: Path, s4_ctx: LoadContext
) -> None:
    rows = read_rows(root, "behavior_graph")
    (root / TYPOGRAPHIC / "behavior_graph" / rows[0]["image_path"]).unlink()
    samples = load_s4(root, s4_ctx)
    assert failed(samples) == []
    first = [s for s in samples if s.variant == "typographic-behavior" and s.key.startswith("0#")]
    assert len(first) == 2
    for sample in first:
        assert sample.image is not None
        assert sample.image.path is None
        assert sample.image.render is not None
        assert sample.image.render["kind"] == "typographic"
        assert sample.image.render["text"] == rows[0]["question"]


@pytest.mark.parametrize(
    ("stem", "variant"),
    [
        ("prompt_graph", "typographic-prompt"),
        ("prompt_and_behavior_graph", "typographic-prompt-and-behavior"),
    ],
)
def test_load_s4_missing_image_without_text_to_render_is_a_load_error(
    root: Path, s4_ctx: LoadContext, stem: str, variant: str
) -> None:
    rows = read_rows(root, stem)
    (root / TYPOGRAPHIC / stem / rows[1]["image_path"]).unlink()
    samples = load_s4(root, s4_ctx)
    bad = failed(samples)
    assert [s.key for s in bad] == [f"{rows[1]['id']}#a", f"{rows[1]['id']}#b"]
    assert {s.variant for s in bad} == {variant}
    # rows are numbered as a spreadsheet shows them: the header is row 1, rows[1] is row 3
    for sample in bad:
        assert sample.load_error.startswith(f"{TYPOGRAPHIC}/{stem}.csv row 3: ")  # type: ignore[union-attr]
    assert len(samples) == 24


def test_load_s4_empty_question_is_a_load_error(root: Path, s4_ctx: LoadContext) -> None:
    rows = read_rows(root, "prompt_graph")
    rows[2]["question"] = "  "
    write_rows(root, "prompt_graph", rows, list(rows[0]))
    bad = failed(load_s4(root, s4_ctx))
    assert [s.key for s in bad] == [f"{rows[2]['id']}#a", f"{rows[2]['id']}#b"]
    for sample in bad:
        # rows[2] is the fourth line of the file
        assert sample.load_error.startswith(f"{TYPOGRAPHIC}/prompt_graph.csv row 4: ")  # type: ignore[union-attr]
        assert "question" in sample.load_error  # type: ignore[operator]


def test_load_s4_missing_csv_fails_that_variant_only(root: Path, s4_ctx: LoadContext) -> None:
    (root / TYPOGRAPHIC / "prompt_graph.csv").unlink()
    samples = load_s4(root, s4_ctx)
    [bad] = failed(samples)
    assert bad.variant == "typographic-prompt"
    assert f"{TYPOGRAPHIC}/prompt_graph.csv" in bad.load_error  # type: ignore[operator]
    assert len(samples) == 2 * 8 + 1


def test_load_s4_csv_missing_a_required_column_names_it(root: Path, s4_ctx: LoadContext) -> None:
    rows = read_rows(root, "behavior_graph")
    columns = [c for c in rows[0] if c != "question"]
    write_rows(root, "behavior_graph", [{c: r[c] for c in columns} for r in rows], columns)
    [bad] = failed(load_s4(root, s4_ctx))
    assert bad.variant == "typographic-behavior"
    assert "'question'" in bad.load_error  # type: ignore[operator]


@pytest.mark.parametrize("task", ["F.2", "F.3", "R.3", "R.6"])
def test_a_variant_whose_unrelated_pool_cannot_be_read_fails_alone(
    task: str, root: Path, pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the unrelated_images folder the colour and noise pools are drawn, but photos
    cannot be: each 'nature' variant becomes one failed sample, the other variants load."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def samples_from(data_root: Path) -> list[Sample]:
        config = parse_config(
            {"model": "openai:m", "cache": "none", "data": [f"multitrust={data_root}"]}, tmp_path
        )
        return TrustSession(config, tmp_path).samples_for(task)

    whole = samples_from(pristine)
    shutil.rmtree(root / "unrelated_images")
    spoilt = samples_from(root)
    nature = {s.variant for s in whole if s.variant.endswith("unrelated-image-nature")}
    assert nature  # the task has such a variant
    failures = [s for s in spoilt if s.load_error is not None]
    assert sorted(s.variant for s in failures) == sorted(nature)  # one failed sample each
    assert all("unrelated_images" in str(s.load_error) for s in failures)
    assert [s.uid for s in spoilt if s.variant not in nature] == [
        s.uid for s in whole if s.variant not in nature
    ]
