"""Loaders for the MultiTrust robustness tasks (spec §4.3) in the release's layout.

A record that cannot be read becomes a sample with a ``load_error`` naming the file and the
record (``<list>[<n>]``, counted from 1), so its item errors and the others run; a missing file
is one load-error sample per variant.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef, Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datasets.common import inside, read_json, row_error, safe_key
from pytest_mllmtrust.datasets.multitrust import _failed
from pytest_mllmtrust.datasets.pools import UNRELATED_KINDS, draw, unrelated_pool

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
    real_root = root.resolve()
    for variant, source in variants.items():
        pool: list[ImageRef] = []
        if source in UNRELATED_KINDS:
            try:
                pool = unrelated_pool(root, source)
            except DataError as exc:
                samples.append(_failed(task, variant, "load-error", "", str(exc)))
                continue
        for record in records:
            if isinstance(record[2], DataError):
                samples.append(_failed(task, variant, record[0], "", str(record[2])))
                continue
            key, subset, prompt, target, related = record
            image: ImageRef | None = None
            if source == "related":
                picture = inside(root, *related)
                if not picture.is_file():
                    problem = f"related image {'/'.join(related)} not found"
                    samples.append(_failed(task, variant, key, prompt, problem))
                    continue
                image = ImageRef(path=picture, root=real_root)
            elif pool:
                image = draw(pool, 1, seed=ctx.seed, task=task, variant=variant, key=key)[0]
            samples.append(Sample(task, variant, key, prompt, image, target, subset=subset))
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
            except (KeyError, TypeError, ValueError) as exc:
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
        return [_failed("R.3", v, "load-error", "", str(exc)) for v in R3_VARIANTS]
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
#: the upstream profile asks only the first records of each task, as upstream's loader does
R6_UPSTREAM_CAP = 2


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
            samples.extend(_failed("R.6", v, "load-error", "", str(exc)) for v in variants)
            continue
        if ctx.profile == "upstream":
            records = _upstream_cap(records)
        samples.extend(_samples(root, ctx, "R.6", variants, records))
    return samples


def _upstream_cap(records: list[Any]) -> list[Any]:
    kept: dict[str, int] = {}
    out = []
    for record in records:
        kept[record[1]] = kept.get(record[1], 0) + 1
        if kept[record[1]] <= R6_UPSTREAM_CAP:
            out.append(record)
    return out


# -- R.2 VQA on sensor-style images -----------------------------------------------------------

R2_SENSORS = ("infrared", "lxray", "hxray", "mri", "ct", "remote", "driving")
R2_VARIANTS: dict[str, str] = {f"benchlmm-{sensor}": sensor for sensor in R2_SENSORS}
R2_MAX_TOKENS = 200


def load_r2(root: Path, ctx: LoadContext) -> list[Sample]:
    """R.2: per sensor, the JSON lines of robustness/ood-sensor/label/<sensor>.json
    (`{image_name, question, answer}`), the image ood-sensor/source/<image_name> asked the
    question as it is; the target is the standard answer; the question (for the rater) and the
    passing rating (`pass_rating` of the prompts file) ride in ``extra``."""
    samples: list[Sample] = []
    passing = int(ctx.prompts.get("pass_rating", 50))
    for variant, sensor in R2_VARIANTS.items():
        path = root / ROBUSTNESS / "ood-sensor" / "label" / f"{sensor}.json"
        try:
            text = inside(root, ROBUSTNESS, "ood-sensor", "label", f"{sensor}.json")
            lines = [ln for ln in text.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except FileNotFoundError:
            problem = f"robustness/ood-sensor/label/{sensor}.json: file not found"
            samples.append(_failed("R.2", variant, "load-error", "", problem))
            continue
        except (DataError, UnicodeDecodeError) as exc:
            samples.append(_failed("R.2", variant, "load-error", "", str(exc)))
            continue
        keys: set[str] = set()
        for row, line in enumerate(lines, start=1):
            key = f"row{row}"
            try:
                record = json.loads(line)
                name = str(record["image_name"]).strip()
                question, answer = str(record["question"]).strip(), str(record["answer"]).strip()
                if not (name and question and answer):
                    raise ValueError("empty 'image_name', 'question' or 'answer'")
                key = safe_key(Path(name).stem)
                key = key if key not in keys else f"{key}#{row}"
                keys.add(key)
                image = inside(root, ROBUSTNESS, "ood-sensor", "source", name)
                if not image.is_file():
                    raise DataError(f"image ood-sensor/source/{name} not found")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, DataError) as exc:
                why = f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
                samples.append(_failed("R.2", variant, key, "", row_error(path, root, row, why)))
                continue
            samples.append(
                Sample("R.2", variant, key, question, ImageRef(path=image, root=root.resolve()),
                       target=answer, extra={"question": question, "pass_rating": passing},
                       max_new_tokens=R2_MAX_TOKENS)
            )  # fmt: skip
        if ctx.profile == "upstream":  # upstream's loader asked the first two of each sensor
            mine = [s for s in samples if s.variant == variant]
            samples = [s for s in samples if s.variant != variant] + mine[:2]
    return samples
