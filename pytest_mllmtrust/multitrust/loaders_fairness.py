"""Loaders for the MultiTrust fairness tasks F.1-F.7 (spec §4.4) in the release's layout.

Each returns samples in a deterministic order. A row that cannot be read becomes a sample with a
``load_error`` naming the file and row, so its item errors and the others run; a missing file or
folder is one load-error sample per variant it feeds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef, Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datasets.common import (
    inside,
    read_csv,
    read_json,
    resolved_root,
    row_error,
    safe_key,
    unique_keys,
)
from pytest_mllmtrust.datasets.pools import UNRELATED_KINDS, draw, image_files, unrelated_pool
from pytest_mllmtrust.multitrust.loaders import failed_sample, variant_pools

#: every fairness task asks for at most 100 new tokens (spec §4.4)
FAIRNESS_MAX_TOKENS = 100

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
        return [failed_sample("F.1", F1_VARIANT, "load-error", "", str(exc))]
    keys = unique_keys([safe_key(p.stem) for p in files])
    real_root = resolved_root(root)
    return [
        Sample(
            task="F.1",
            variant=F1_VARIANT,
            key=key,
            prompt=ctx.prompts["generation"],
            image=ImageRef(path=path, root=real_root),
            target="no stereotype",
            max_new_tokens=FAIRNESS_MAX_TOKENS,
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
        except Exception as exc:  # a bad record errors its own items only
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
    return ImageRef(path=picture, root=resolved_root(root))


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
    for variant, source, pool in variant_pools(root, task, variants, samples):
        for row in rows:
            image: ImageRef | None = None
            try:
                if row.problem is not None:
                    raise DataError(row.problem)
                if source == "image":
                    image = _f23_picture(root, row)
            except DataError as exc:
                problem = row_error(path, root, row.number, str(exc))
                samples.append(failed_sample(task, variant, row.key, "", problem))
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
                    max_new_tokens=FAIRNESS_MAX_TOKENS,
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
        return [failed_sample("F.2", v, "load-error", "", str(exc)) for v in F2_VARIANTS]
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
            samples.extend(failed_sample("F.3", v, "load-error", "", str(exc)) for v in variants)
            continue
        rows = [replace(r, extra={"labels": labels}) for r in rows]
        samples.extend(
            _f23_samples(root, ctx, "F.3", variants, csv_name, rows, ctx.prompts[template])
        )
    return samples


def _numbered_images(root: Path, *parts: str) -> list[Path]:
    """A folder's images in natural order ("2.png" before "10.png"), the order the benchmark
    pairs them with records by position (upstream used the listing order for F.4)."""
    files = image_files(root, *parts)
    return sorted(
        files, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem)]
    )


def _by_position(
    root: Path, path: Path, texts: list[tuple[int, str]], images: list[Path], what: str
) -> list[tuple[int, str, ImageRef | DataError]]:
    """Pair the i-th text with the i-th image; a text without an image gets the reason."""
    real_root = resolved_root(root)
    paired: list[tuple[int, str, ImageRef | DataError]] = []
    for i, (number, text) in enumerate(texts):
        if i < len(images):
            paired.append((number, text, ImageRef(path=images[i], root=real_root)))
        else:
            problem = f"no picture at position {i + 1}: {what} has {len(images)}"
            paired.append((number, text, DataError(row_error(path, root, number, problem))))
    return paired


F4_VARIANTS: dict[str, str] = _f23_variants("stereo-query")


def load_f4(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.4 Stereotype query test: each question of stereo_query.csv as is, text only, with the
    picture at the same position of stereo_query_images/ (natural order), or with one seeded
    unrelated image. A question without a picture at its position is a load error of the image
    variant only (upstream silently dropped the extra questions from every variant)."""
    path = root / "fairness" / "stereo_query.csv"
    try:
        questions = [(n, row["question"].strip()) for n, row in read_csv(path, root, ("question",))]
        images = _numbered_images(root, "fairness", "stereo_query_images")
    except DataError as exc:
        return [failed_sample("F.4", v, "load-error", "", str(exc)) for v in F4_VARIANTS]
    questions = [(n, q) for n, q in questions if q]
    paired = _by_position(root, path, questions, images, "stereo_query_images/")
    samples: list[Sample] = []
    for variant, source in F4_VARIANTS.items():
        pool: list[ImageRef] = []
        if source in UNRELATED_KINDS:
            try:
                pool = unrelated_pool(root, source)
            except DataError as exc:
                samples.append(failed_sample("F.4", variant, "load-error", "", str(exc)))
                continue
        for number, question, picture in paired:
            key = f"row{number}"
            image: ImageRef | None = None
            if source == "image":
                if isinstance(picture, DataError):
                    samples.append(failed_sample("F.4", variant, key, question, str(picture)))
                    continue
                image = picture
            elif pool:
                image = draw(pool, 1, seed=ctx.seed, task="F.4", variant=variant, key=key)[0]
            samples.append(
                Sample("F.4", variant, key, question, image, target="refuse",
                       max_new_tokens=FAIRNESS_MAX_TOKENS)
            )  # fmt: skip
    return samples


F5_VARIANT = "vision-preference"
#: records of preference.json: the first half asks plainly, the second half demands a choice
#: (120 + 120 in the release); F.5 takes its topics from the plain half
PREFERENCE_TOPICS: tuple[str, ...] = ("ideology", "culture/lifestyle")


def _preference_records(root: Path) -> tuple[Path, list[tuple[int, str, str]]]:
    """(row, prompt, topic) of preference.json's records, rows counted from 1; DataError naming
    the file or the row."""
    path = root / "fairness" / "preference.json"
    records = read_json(path, root)
    if not isinstance(records, list) or len(records) % 2:
        raise DataError(
            row_error(path, root, "-", "expected a JSON array of plain then force records, "
                      "as many of each")
        )  # fmt: skip
    parsed = []
    for row, record in enumerate(records, start=1):
        prompt = record.get("prompt") if isinstance(record, dict) else None
        topic = record.get("topic") if isinstance(record, dict) else None
        if not isinstance(prompt, str) or topic not in PREFERENCE_TOPICS:
            problem = f"needs a 'prompt' string and a 'topic' in {', '.join(PREFERENCE_TOPICS)}"
            raise DataError(row_error(path, root, row, problem))
        parsed.append((row, prompt, str(topic)))
    return path, parsed


def load_f5(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.5 Preference selection in VQA: the i-th picture of vision_subjective_choice_images/
    (two options side by side, captioned A and B; numeric order) with the topic of the i-th
    plain record of preference.json, asked which option the model prefers and why."""
    try:
        path, records = _preference_records(root)
        images = _numbered_images(root, "fairness", "vision_subjective_choice_images")
    except DataError as exc:
        return [failed_sample("F.5", F5_VARIANT, "load-error", "", str(exc))]
    plain = records[: len(records) // 2]
    texts = [(row, topic) for row, _, topic in plain]
    samples: list[Sample] = []
    for row, topic, picture in _by_position(
        root, path, texts, images, "vision_subjective_choice_images/"
    ):
        key = f"record{row}"
        if isinstance(picture, DataError):
            samples.append(failed_sample("F.5", F5_VARIANT, key, "", str(picture)))
            continue
        samples.append(
            Sample("F.5", F5_VARIANT, key, ctx.prompts["plain"].format(topic=topic), picture,
                   target="refuse", subset=topic, max_new_tokens=FAIRNESS_MAX_TOKENS)
        )  # fmt: skip
    return samples


F7_VARIANTS: dict[str, str] = {
    **_f23_variants("subjective-preference-plain"),
    **_f23_variants("subjective-preference-force"),
}


def load_f7(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.7 Preference selection in QA: each record's prompt as is, the plain half in the plain
    variants and the force half in the force variants. The image variants show choice A and
    choice B of the record's position (subjective_choice_images/choice_{a,b}_images/<i>.png)
    side by side with A/B captions, made by the project in F.5's layout (upstream ran every
    variant text-only); unrelated variants draw one seeded pool image."""
    try:
        path, records = _preference_records(root)
    except DataError as exc:
        return [failed_sample("F.7", v, "load-error", "", str(exc)) for v in F7_VARIANTS]
    half = len(records) // 2
    real_root = resolved_root(root)
    samples: list[Sample] = []
    for variant, source in F7_VARIANTS.items():
        mode = "force" if "-force-" in variant else "plain"
        rows = records[half:] if mode == "force" else records[:half]
        pool: list[ImageRef] = []
        if source in UNRELATED_KINDS:
            try:
                pool = unrelated_pool(root, source)
            except DataError as exc:
                samples.append(failed_sample("F.7", variant, "load-error", "", str(exc)))
                continue
        for position, (row, prompt, topic) in enumerate(rows, start=1):
            key = f"record{row}"
            image: ImageRef | None = None
            if source == "image":
                try:
                    pair = [
                        inside(root, "fairness", "subjective_choice_images", f"choice_{c}_images",
                               f"{position}.png")
                        for c in ("a", "b")
                    ]  # fmt: skip
                    missing = [p for p in pair if not p.is_file()]
                    if missing:
                        raise DataError(f"choice picture {missing[0].name} of "
                                        f"{missing[0].parent.name}/ not found")  # fmt: skip
                except DataError as exc:
                    problem = row_error(path, root, row, str(exc))
                    samples.append(failed_sample("F.7", variant, key, prompt, problem))
                    continue
                files = [p.relative_to(real_root).as_posix() for p in pair]
                image = ImageRef(render={"kind": "choice-pair", "files": files}, root=real_root)
            elif pool:
                image = draw(pool, 1, seed=ctx.seed, task="F.7", variant=variant, key=key)[0]
            samples.append(
                Sample("F.7", variant, key, prompt, image, target="refuse", subset=topic,
                       max_new_tokens=FAIRNESS_MAX_TOKENS)
            )  # fmt: skip
    return samples


F6_CSV = "profess_prediction.csv"
F6_IMAGES = "profession_images"
F6_PLAIN = "profession-pred"
F6_DESCRIBED = "profession-pred-with-description"
F6_VARIANTS: tuple[str, ...] = (F6_PLAIN, F6_DESCRIBED)

#: attribute -> (FACET flag column, value) in table order (spec §4.4 attribute mapping)
F6_ATTRIBUTES: dict[str, tuple[tuple[str, str], ...]] = {
    "gender": (
        ("gender_presentation_masc", "male"),
        ("gender_presentation_fem", "female"),
    ),
    "age": (
        ("age_presentation_older", "older"),
        ("age_presentation_middle", "middle"),
        ("age_presentation_young", "young"),
    ),
    "skin_tone": (
        ("skin_tone_1_3", "light"),
        ("skin_tone_4_6", "medium"),
        ("skin_tone_7_10", "dark"),
    ),
}
F6_COLUMNS: tuple[str, ...] = (
    "filename",
    "class1",
    *(column for flags in F6_ATTRIBUTES.values() for column, _ in flags),
)


def _f6_attribute(row: Mapping[str, str], attribute: str) -> str | None:
    """The attribute's value when exactly one of its flags holds "1"; None for zero or several
    flags (upstream appended one value per set flag, which shifted every later row's
    attributes; here such a row is left out of that attribute's table and counted)."""
    values = []
    for column, value in F6_ATTRIBUTES[attribute]:
        flag = row[column].strip()
        if flag not in ("", "0", "1"):
            raise ValueError(f"{column!r} must be 0, 1 or empty, not {flag!r}")
        if flag == "1":
            values.append(value)
    return values[0] if len(values) == 1 else None


def _f6_description(phrases: Mapping[str, str], attributes: Mapping[str, str | None]) -> str:
    """The known attributes in words, in table order; an unknown one is left unsaid."""
    return ", ".join(phrases[v] for v in attributes.values() if v is not None)


def load_f6(root: Path, ctx: LoadContext) -> list[Sample]:
    """F.6: every row of profess_prediction.csv once per variant (the same rows, the same keys:
    the file name's stem). ``extra`` carries the row's gender, age and skin tone (None when the
    row has zero or several flags for it) and which parse feeds the tables (``strict`` in the
    corrected profile, ``substring`` in the upstream one)."""
    path = root / "fairness" / F6_CSV
    parse = "substring" if ctx.profile == "upstream" else "strict"
    try:
        rows = list(read_csv(path, root, F6_COLUMNS))
    except DataError as exc:
        return [failed_sample("F.6", v, "load-error", "", str(exc)) for v in F6_VARIANTS]
    keys = unique_keys([safe_key(Path(row["filename"].strip()).stem) for _, row in rows])
    real_root = resolved_root(root)
    samples: list[Sample] = []
    for variant in F6_VARIANTS:
        template = ctx.prompts["described" if variant == F6_DESCRIBED else "plain"]
        for (number, row), key in zip(rows, keys, strict=True):
            try:
                filename = row["filename"].strip()
                profession = row["class1"].strip()
                if not filename or not profession:
                    raise ValueError("empty 'filename' or 'class1'")
                attributes = {a: _f6_attribute(row, a) for a in F6_ATTRIBUTES}
                picture = inside(root, "fairness", F6_IMAGES, filename)
                if not picture.is_file():
                    raise ValueError(f"image {F6_IMAGES}/{filename} not found")
            except Exception as exc:  # a bad record errors its own items only
                problem = row_error(path, root, number, str(exc))
                samples.append(failed_sample("F.6", variant, key, "", problem))
                continue
            description = _f6_description(ctx.prompts["phrases"], attributes)
            samples.append(
                Sample(
                    task="F.6",
                    variant=variant,
                    key=key,
                    prompt=template.format(profession=profession, description=description),
                    image=ImageRef(path=picture, root=real_root),
                    target="a clear yes or no",
                    extra={**attributes, "profession": profession, "parse": parse},
                    max_new_tokens=FAIRNESS_MAX_TOKENS,
                )
            )
    return samples
