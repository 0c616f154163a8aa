"""Loaders for the MultiTrust robustness tasks (spec §4.3) in the release's layout.

A record that cannot be read becomes a sample with a ``load_error`` naming the file and the
record (``<list>[<n>]``, counted from 1), so its item errors and the others run; a missing file
is one load-error sample per variant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef, Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datasets.common import (
    inside,
    read_json,
    read_json_lines,
    resolved_root,
    row_error,
    safe_key,
)
from pytest_mllmtrust.datasets.pools import UNRELATED_KINDS, draw
from pytest_mllmtrust.multitrust.loaders import failed_sample, variant_pools

ROBUSTNESS = "robustness"


def _with_images(prefix: str) -> dict[str, str]:
    """variant -> image source: "none", "related" (the record's own picture) or an unrelated
    pool kind."""
    return {
        f"{prefix}-text": "none",
        f"{prefix}-related-image": "related",
        **{f"{prefix}-unrelated-image-{kind}": kind for kind in UNRELATED_KINDS},
    }


#: a text record, ready to become one sample per variant: key, subset, prompt, target, the
#: related picture's path parts, or the reason it cannot be read
_Record = tuple[str, str, str, Any, tuple[str, ...]]


def _samples(
    root: Path,
    ctx: LoadContext,
    task: str,
    variants: Mapping[str, str],
    records: list[_Record | tuple[str, str, DataError]],
) -> list[Sample]:
    """Every record once per variant: text only, with its related picture, or with one image of
    an unrelated pool drawn by an RNG seeded from (seed, task, variant, key)."""
    samples: list[Sample] = []
    real_root = resolved_root(root)
    for variant, source, pool in variant_pools(root, task, variants, samples):
        for record in records:
            if isinstance(record[2], DataError):
                samples.append(failed_sample(task, variant, record[0], "", str(record[2])))
                continue
            key, subset, prompt, target, related = record
            image: ImageRef | None = None
            if source == "related":
                picture = inside(root, *related)
                if not picture.is_file():
                    problem = f"related image {'/'.join(related)} not found"
                    samples.append(failed_sample(task, variant, key, prompt, problem))
                    continue
                image = ImageRef(path=picture, root=real_root)
            elif pool:
                image = draw(pool, 1, seed=ctx.seed, task=task, variant=variant, key=key)[0]
            samples.append(Sample(task, variant, key, prompt, image, target, subset=subset,
                                  max_new_tokens=TEXT_MAX_TOKENS))  # fmt: skip
    return samples


def _lists(
    path: Path, root: Path, names: tuple[str, ...], read: Callable[[str, int, Any], _Record]
) -> list[_Record | tuple[str, str, DataError]]:
    """The records of ``names`` in a JSON object of lists, in that order; a list that is
    missing, or a record that ``read`` cannot take, keeps its reason."""
    data = read_json(path, root)
    if not isinstance(data, dict):
        raise DataError(row_error(path, root, "-", "expected an object of record lists"))
    out: list[_Record | tuple[str, str, DataError]] = []
    for name in names:
        records = data.get(name)
        if not isinstance(records, list):
            problem = row_error(path, root, name, "missing (or not a list of records)")
            out.append((safe_key(f"{name}#missing"), name, DataError(problem)))
            continue
        for n, record in enumerate(records, start=1):
            try:
                if not isinstance(record, dict):
                    raise TypeError("not a JSON object")
                out.append(read(name, n, record))
            except Exception as exc:  # a bad record errors its own items only
                why = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
                problem = row_error(path, root, f"{name}[{n}]", why)
                out.append((safe_key(f"{name}#{n}"), name, DataError(problem)))
    return out


# -- R.3 Sentiment analysis on OOD-style text -------------------------------------------------

R3_VARIANTS: dict[str, str] = _with_images("dt")
#: DecodingTrust's OOD-style SST-2 styles (the file's `base` list only made the related images)
R3_STYLES: tuple[str, ...] = (
    "augment",
    "bible_p0.6",
    "bible_p0",
    "romantic_p0.6",
    "romantic_p0",
    "shake_p0.6",
    "shake_p0",
    "shake_w",
    "tweet_p0.6",
    "tweet_p0",
)


def load_r3(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.3: every sentence of robustness/ood-text/label.json (style -> `{sentence, label,
    id}`), text only, with its related picture ood-text/related/<id>.png, and with one seeded
    image of each unrelated pool. The style is the subset; the target the gold label, 1
    positive or 0 negative."""
    path = root / ROBUSTNESS / "ood-text" / "label.json"
    template = ctx.prompts["sentiment"]

    def read(style: str, n: int, record: Any) -> _Record:
        sentence, label, ident = str(record["sentence"]).strip(), record["label"], record["id"]
        if str(label).strip() not in ("0", "1"):
            raise ValueError(f"'label' must be 0 or 1, not {label!r}")
        if not sentence:
            raise ValueError("empty 'sentence'")
        related = (ROBUSTNESS, "ood-text", "related", f"{ident}.png")
        key = safe_key(f"{style}#{ident}")
        return key, style, template.format(sentence=sentence), int(label), related

    try:
        records = _lists(path, root, R3_STYLES, read)
    except DataError as exc:
        return [failed_sample("R.3", v, "load-error", "", str(exc)) for v in R3_VARIANTS]
    return _samples(root, ctx, "R.3", R3_VARIANTS, records)


# -- R.6 Textual adversarial attack -----------------------------------------------------------

#: set -> its folder under robustness/
R6_SETS: dict[str, str] = {"advglue": "advglue", "advglue-plus": "advglue_plus"}
R6_VARIANTS: dict[str, str] = {v: s for prefix in R6_SETS for v, s in _with_images(prefix).items()}
#: GLUE task -> the fields its prompt shows (spec §4.3)
R6_FIELDS: dict[str, tuple[str, ...]] = {
    "mnli": ("premise", "hypothesis"),
    "mnli-mm": ("premise", "hypothesis"),
    "qnli": ("question", "sentence"),
    "qqp": ("question1", "question2"),
    "rte": ("sentence1", "sentence2"),
    "sst2": ("sentence",),
}


def load_r6(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.6: for AdvGLUE and AdvGLUE++ (robustness/advglue/label.json,
    robustness/advglue_plus/label.json: task -> records with `idx`, `label` and the task's
    fields), every record text only, with its related picture <set>/related/<task>/<idx>.png
    (made from the sentence before the attack), and with one seeded image of each unrelated
    pool. The task is the subset; the target is ``task->label`` (rule E5)."""
    samples: list[Sample] = []
    for prefix, folder in R6_SETS.items():
        variants = _with_images(prefix)
        path = root / ROBUSTNESS / folder / "label.json"

        def read(task: str, n: int, record: Any, folder: str = folder) -> _Record:
            fields = {f: str(record[f]).strip() for f in R6_FIELDS[task]}
            if not all(fields.values()):
                raise ValueError(f"empty field among {', '.join(fields)}")
            gold = int(record["label"])
            ident = record["idx"]
            related = (ROBUSTNESS, folder, "related", task, f"{ident}.png")
            prompt = ctx.prompts[task].format(**fields)
            return safe_key(f"{task}#{ident}"), task, prompt, f"{task}->{gold}", related

        try:
            records = _lists(path, root, tuple(R6_FIELDS), read)
        except DataError as exc:
            samples.extend(failed_sample("R.6", v, "load-error", "", str(exc)) for v in variants)
            continue
        samples.extend(_samples(root, ctx, "R.6", variants, records))
    return samples


# -- R.2 VQA on sensor-style images -----------------------------------------------------------

R2_SENSORS = ("infrared", "lxray", "hxray", "mri", "ct", "remote", "driving")
R2_VARIANTS: dict[str, str] = {f"benchlmm-{sensor}": sensor for sensor in R2_SENSORS}
R2_MAX_TOKENS = 200
#: R.3 and R.6 (robustness/r3-ood-text.yaml, r6-adversarial-text.yaml)
TEXT_MAX_TOKENS = 200


def load_r2(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.2: per sensor, the JSON lines of robustness/ood-sensor/label/<sensor>.json
    (`{image_name, question, answer}`), the image ood-sensor/source/<image_name> asked the
    question as it is; the target is the standard answer; the question (for the rater) and the
    passing rating (`pass_rating` of the prompts file) ride in ``extra``."""
    samples: list[Sample] = []
    passing = int(ctx.prompts.get("pass_rating", 50))
    folder = (ROBUSTNESS, "ood-sensor", "source")

    def ask(variant: str, record: dict[str, Any], key: str, image: ImageRef) -> Sample:
        question, answer = str(record["question"]).strip(), str(record["answer"]).strip()
        if not (question and answer):
            raise ValueError("empty 'question' or 'answer'")
        return Sample("R.2", variant, key, question, image, target=answer,
                      extra={"question": question, "pass_rating": passing},
                      max_new_tokens=R2_MAX_TOKENS)  # fmt: skip

    for variant, sensor in R2_VARIANTS.items():
        path = root / ROBUSTNESS / "ood-sensor" / "label" / f"{sensor}.json"
        mine = _image_lines(root, "R.2", variant, path, folder, partial(ask, variant))
        samples += mine
    return samples


# -- R.1, R.4, R.5: describing images -------------------------------------------------------

R1_STYLES = ("cartoon", "handmake", "painting", "sketch", "tattoo", "weather")
R1_VARIANTS: dict[str, str] = {f"coco-o-{style}": style for style in R1_STYLES}
#: R.4's untargeted attack is scored; its clean images are reported only (informational)
R4_VARIANTS: dict[str, str] = {"adv-untarget": "untarget", "adv-clean": "clean"}
R5_VARIANT = "adv-target"
DESCRIBE_MAX_TOKENS = 300


def _image_lines(
    root: Path,
    task: str,
    variant: str,
    path: Path,
    folder: tuple[str, ...],
    build: Callable[[dict[str, Any], str, ImageRef], Sample],
) -> list[Sample]:
    """One sample per JSON line of ``path`` about the image ``folder/<image_name>``, keyed by
    the image's stem; ``build`` makes it from the record. A line that cannot be read is a load
    error naming its row, a missing file one load error for the variant."""
    try:
        records = read_json_lines(path, root)
    except DataError as exc:
        return [failed_sample(task, variant, "load-error", "", str(exc))]
    samples: list[Sample] = []
    keys: set[str] = set()
    for row, record in enumerate(records, start=1):
        key = f"row{row}"
        try:
            if isinstance(record, Exception):
                raise record
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            name = str(record["image_name"]).strip()
            if not name:
                raise ValueError("empty 'image_name'")
            key = safe_key(Path(name).stem)
            key = key if key not in keys else f"{key}#{row}"
            keys.add(key)
            image = inside(root, *folder, name)
            if not image.is_file():
                raise DataError(f"image {'/'.join(folder[1:])}/{name} not found")
            samples.append(build(record, key, ImageRef(path=image, root=resolved_root(root))))
        except (KeyError, TypeError, ValueError, DataError) as exc:
            why = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            samples.append(failed_sample(task, variant, key, "", row_error(path, root, row, why)))
    return samples


def _described(
    root: Path,
    ctx: LoadContext,
    task: str,
    variant: str,
    path: Path,
    folder: tuple[str, ...],
    field: str,
) -> list[Sample]:
    """A description request per line of ``path``; the target is the class names listed in
    ``field`` (the labels the description should, or for R.5 should not, mention)."""

    def describe(record: dict[str, Any], key: str, image: ImageRef) -> Sample:
        value = record[field]
        if not isinstance(value, list):
            raise TypeError(f"{field!r} must be a list of class names")
        labels = [str(v).strip() for v in value if str(v).strip()]
        if not labels:
            raise ValueError(f"no class name in {field!r}")
        return Sample(task, variant, key, ctx.prompts["describe"], image, target=labels,
                      max_new_tokens=DESCRIBE_MAX_TOKENS)  # fmt: skip

    return _image_lines(root, task, variant, path, folder, describe)


def load_r1(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.1: per style, the JSON lines of robustness/ood-artistic/label/<style>.json
    (`{image_name, gt_label: [...]}`), the image ood-artistic/source/<image_name>, asked for a
    detailed description; the target is every label (upstream used the first only)."""
    samples: list[Sample] = []
    for variant, style in R1_VARIANTS.items():
        path = root / ROBUSTNESS / "ood-artistic" / "label" / f"{style}.json"
        folder = (ROBUSTNESS, "ood-artistic", "source")
        samples += _described(root, ctx, "R.1", variant, path, folder, "gt_label")
    return samples


def load_r4(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.4: each record of robustness/adv_nips/label.json (JSON lines `{image_name, untarget,
    target}`) with its untargeted adversarial image (adv_nips/source/untarget/) and, for the
    informational variant, its clean image (source/clean/); the target is the true class."""
    path = root / ROBUSTNESS / "adv_nips" / "label.json"
    samples: list[Sample] = []
    for variant, kind in R4_VARIANTS.items():
        folder = (ROBUSTNESS, "adv_nips", "source", kind)
        samples += _described(root, ctx, "R.4", variant, path, folder, "untarget")
    return samples


def load_r5(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.5: each record of robustness/adv_nips/label.json with its targeted adversarial image
    (adv_nips/source/target/); the target is the attack's target class, the one the
    description should not fall for."""
    path = root / ROBUSTNESS / "adv_nips" / "label.json"
    folder = (ROBUSTNESS, "adv_nips", "source", "target")
    return _described(root, ctx, "R.5", R5_VARIANT, path, folder, "target")
