"""Loaders for the MultiTrust fairness tasks F.1-F.3 (spec §4.4) in the release's layout.

Each returns samples in a deterministic order. A row that cannot be read becomes a sample with a
``load_error`` naming the file and row, so its item errors and the others run; a missing file or
folder is one load-error sample per variant it feeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef, Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datasets.common import inside, read_csv, row_error, safe_key, unique_keys
from pytest_mllmtrust.datasets.multitrust import _failed
from pytest_mllmtrust.datasets.pools import UNRELATED_KINDS, draw, image_files, unrelated_pool

#: every fairness task asks for at most 100 new tokens (spec §4.4)
FAIRNESS_A_MAX_TOKENS = 100

F1_VARIANT = "stereo-generation"

#: the six stereotype topics of stereo_statement.csv's `Type` column (F.2 subsets, F.3 topics)
STEREO_TYPES: tuple[str, ...] = (
    "Age",
    "Gender",
    "Nationality",
    "Race",
    "Religion",
    "Socioeconomic",
)
#: the three gold labels of stereo_classification.csv's `Label` column (F.3 sub-task A)
STEREO_LABELS: tuple[str, ...] = ("stereotype", "anti-stereotype", "unrelated")


def _f23_variants(prefix: str) -> dict[str, str]:
    """variant -> image source: "none" (text only), "image" (the row's own picture) or an
    unrelated-pool kind (one seeded image per item)."""
    return {
        f"{prefix}-text": "none",
        f"{prefix}-image": "image",
        **{f"{prefix}-unrelated-image-{kind}": kind for kind in UNRELATED_KINDS},
    }


F2_VARIANTS: dict[str, str] = _f23_variants("stereo-agreement")
F3_CLASS_VARIANTS: dict[str, str] = _f23_variants("stereo-classification")
F3_TOPIC_VARIANTS: dict[str, str] = _f23_variants("stereo-topic-classification")
F3_VARIANTS: dict[str, str] = {**F3_CLASS_VARIANTS, **F3_TOPIC_VARIANTS}


def load_f1(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.1 Stereotypical content generation: one sample per picture of
    fairness/stereo_generation_images/, sorted by file name (upstream used the directory
    listing order, which differs between file systems)."""
    try:
        files = image_files(root, "fairness", "stereo_generation_images")
    except DataError as exc:
        return [_failed("F.1", F1_VARIANT, "load-error", "", str(exc))]
    keys = unique_keys([safe_key(p.stem) for p in files])
    real_root = root.resolve()
    return [
        Sample(
            task="F.1",
            variant=F1_VARIANT,
            key=key,
            prompt=ctx.prompts["generation"],
            image=ImageRef(path=path, root=real_root),
            target="no stereotype",
            max_new_tokens=FAIRNESS_A_MAX_TOKENS,
        )
        for path, key in zip(files, keys, strict=True)
    ]


@dataclass(frozen=True)
class _F23Row:
    """One usable CSV row of F.2/F.3: its text, subset, the picture it goes with and target."""

    number: int
    key: str
    text: str
    subset: str
    image: tuple[str, ...]
    target: Any
    extra: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None


def _f23_canonical(value: str, allowed: tuple[str, ...], column: str) -> str:
    """The allowed spelling of ``value`` (case and surrounding spaces ignored)."""
    by_lower = {a.lower(): a for a in allowed}
    found = by_lower.get(value.strip().lower())
    if found is None:
        raise ValueError(f"{column!r} must be one of {', '.join(allowed)}, not {value!r}")
    return found


def _f23_number(row: dict[str, str]) -> str:
    number = row["Number"].strip()
    if not number:
        raise ValueError("empty 'Number'")
    return number


def _f23_statement_row(number: int, row: dict[str, str]) -> _F23Row | None:
    """A stereo_statement.csv row (F.2, F.3 topics); None for a row with an empty statement,
    which upstream skips too."""
    text = row["Stereo Statement"].strip()
    if not text:
        return None
    topic = _f23_canonical(row["Type"], STEREO_TYPES, "Type")
    picture = _f23_number(row)
    return _F23Row(
        number=number,
        key=safe_key(f"{topic.lower()}-{picture}"),
        text=text,
        subset=topic,
        image=("fairness", "stereo_images", topic.lower(), f"{picture}.png"),
        target=topic,
    )


def _f3_classification_row(number: int, row: dict[str, str]) -> _F23Row | None:
    """A stereo_classification.csv row (F.3 sub-task A); None for an empty sentence."""
    text = row["Sentence"].strip()
    if not text:
        return None
    label = _f23_canonical(row["Label"], STEREO_LABELS, "Label")
    picture = _f23_number(row)
    return _F23Row(
        number=number,
        key=safe_key(picture),
        text=text,
        subset=label,
        image=("fairness", "stereo_classification_images", f"{picture}.png"),
        target=label,
    )


def _f23_rows(
    path: Path,
    root: Path,
    columns: tuple[str, ...],
    parse: Callable[[int, dict[str, str]], _F23Row | None],
) -> list[_F23Row]:
    """The file's usable rows with unique keys; a malformed row keeps its problem."""
    rows: list[_F23Row] = []
    for number, row in read_csv(path, root, columns):
        try:
            parsed = parse(number, row)
        except (KeyError, ValueError) as exc:
            rows.append(_F23Row(number, f"row{number}", "", "", (), None, problem=str(exc)))
            continue
        if parsed is not None:
            rows.append(parsed)
    keys = unique_keys([r.key for r in rows])
    return [replace(r, key=k) for r, k in zip(rows, keys, strict=True)]


def _f23_picture(root: Path, row: _F23Row) -> ImageRef:
    """The row's own picture; DataError when it is missing or points outside the data root."""
    picture = inside(root, *row.image)
    if not picture.is_file():
        raise DataError(f"image {'/'.join(row.image)} not found")
    return ImageRef(path=picture, root=root.resolve())


def _f23_samples(
    root: Path,
    ctx: LoadContext,
    task: str,
    variants: Mapping[str, str],
    csv_name: str,
    rows: list[_F23Row],
    template: str,
) -> list[Sample]:
    """Every row once per variant: text only, with its own picture, or with one image of an
    unrelated pool drawn by an RNG seeded from (seed, task, variant, key) (spec §3.14)."""
    path = root / "fairness" / csv_name
    samples: list[Sample] = []
    for variant, source in variants.items():
        pool: list[ImageRef] = []
        if source in UNRELATED_KINDS:
            try:
                pool = unrelated_pool(root, source)
            except DataError as exc:
                samples.append(_failed(task, variant, "load-error", "", str(exc)))
                continue
        for row in rows:
            image: ImageRef | None = None
            try:
                if row.problem is not None:
                    raise DataError(row.problem)
                if source == "image":
                    image = _f23_picture(root, row)
            except DataError as exc:
                problem = row_error(path, root, row.number, str(exc))
                samples.append(_failed(task, variant, row.key, "", problem))
                continue
            if pool:
                image = draw(pool, 1, seed=ctx.seed, task=task, variant=variant, key=row.key)[0]
            samples.append(
                Sample(
                    task=task,
                    variant=variant,
                    key=row.key,
                    prompt=template.format(statement=row.text),
                    image=image,
                    target=row.target,
                    extra=row.extra,
                    subset=row.subset,
                    max_new_tokens=FAIRNESS_A_MAX_TOKENS,
                )
            )
    return samples


F23_STATEMENT_COLUMNS = ("Stereo Statement", "Type", "Number")
F3_CLASSIFICATION_COLUMNS = ("Sentence", "Label", "Number")


def load_f2(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.2 Agreement on stereotypes: each statement of stereo_statement.csv as text only, with
    stereo_images/<type lower-cased>/<Number>.png, and with one seeded image per unrelated pool;
    the row's `Type` is the subset. The target 0 is the answer wanted: not agreeing."""
    path = root / "fairness" / "stereo_statement.csv"
    try:
        rows = _f23_rows(path, root, F23_STATEMENT_COLUMNS, _f23_statement_row)
    except DataError as exc:
        return [_failed("F.2", v, "load-error", "", str(exc)) for v in F2_VARIANTS]
    rows = [replace(r, target=0) for r in rows]
    return _f23_samples(root, ctx, "F.2", F2_VARIANTS, path.name, rows, ctx.prompts["agreement"])


def load_f3(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.3 Classification of stereotypes, two sub-tasks of five variants each: A classifies each
    sentence of stereo_classification.csv (target and subset = its `Label`; pictures in
    stereo_classification_images/<Number>.png); B names the topic of each statement of
    stereo_statement.csv (target and subset = its `Type`; pictures as in F.2). ``extra["labels"]``
    names the table of accepted substrings the judge uses ("classes" or "topics")."""
    base = root / "fairness"
    samples: list[Sample] = []
    subtasks = (
        ("stereo_classification.csv", F3_CLASSIFICATION_COLUMNS, _f3_classification_row,
         F3_CLASS_VARIANTS, "classification", "classes"),
        ("stereo_statement.csv", F23_STATEMENT_COLUMNS, _f23_statement_row,
         F3_TOPIC_VARIANTS, "topic", "topics"),
    )  # fmt: skip
    for csv_name, columns, parse, variants, template, labels in subtasks:
        try:
            rows = _f23_rows(base / csv_name, root, columns, parse)
        except DataError as exc:
            samples.extend(_failed("F.3", v, "load-error", "", str(exc)) for v in variants)
            continue
        rows = [replace(r, extra={"labels": labels}) for r in rows]
        samples.extend(
            _f23_samples(root, ctx, "F.3", variants, csv_name, rows, ctx.prompts[template])
        )
    return samples
