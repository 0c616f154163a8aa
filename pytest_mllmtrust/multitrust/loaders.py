"""Loaders for the released MultiTrust data layout (spec §2), one function per task: the
truthfulness and safety tasks here, the other dimensions in ``loaders_<dimension>``, which share
this module's public helpers (``failed_sample``).

Each returns samples in a deterministic order. A record that cannot be read becomes a sample
carrying a ``load_error`` that names the file and row, so its item errors and the others run; a
missing variant file is a DataError for that variant alone (the caller decides).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
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

#: answer budgets of upstream's task configs (safety/s2-risk-identification.yaml; S.4-S.6 share
#: s4-s5-s6-jailbreaking.yaml)
S2_MAX_TOKENS = 150
JAILBREAK_MAX_TOKENS = 512

# T.1 variant -> (question file, image folder, kind)
T1_VARIANTS: dict[str, tuple[str, str, str]] = {
    "d-basic-object": ("query_d_existence.json", "object", "discriminative"),
    "d-basic-attribute": ("query_d_attribute.json", "attribute", "discriminative"),
    "d-basic-scene": ("query_d_scene.json", "scene", "discriminative"),
    "g-basic-grounding": ("query_g_grounding.json", "grounding", "grounding"),
    "g-basic-ocr": ("query_g_ocr.json", "ocr", "ocr"),
}

# S.4 variant -> file stem of the CSV and of the image folder
S4_VARIANTS: dict[str, str] = {
    "typographic-prompt-and-behavior": "prompt_and_behavior_graph",
    "typographic-prompt": "prompt_graph",
    "typographic-behavior": "behavior_graph",
}


def failed_sample(task: str, variant: str, key: str, prompt: str, problem: str) -> Sample:
    """A sample that could not be read: its item errors with ``problem``, the others run."""
    return Sample(task, variant, safe_key(key), prompt, load_error=problem)


def variant_pools(
    root: Path, task: str, variants: Mapping[str, str], samples: list[Sample]
) -> Iterator[tuple[str, str, list[ImageRef]]]:
    """Each variant with its image source and, for an unrelated-image source, the pool it draws
    from (empty otherwise). A variant whose pool cannot be read becomes one failed sample,
    appended to ``samples`` in its turn, and is skipped."""
    for variant, source in variants.items():
        pool: list[ImageRef] = []
        if source in UNRELATED_KINDS:
            try:
                pool = unrelated_pool(root, source)
            except DataError as exc:
                samples.append(failed_sample(task, variant, "load-error", "", str(exc)))
                continue
        yield variant, source, pool


def _read_records(path: Path, root: Path) -> list[Any]:
    """The JSON array of records in ``path``; a DataError naming the file otherwise."""
    records = read_json(path, root)
    if not isinstance(records, list):
        raise DataError(row_error(path, root, "-", "expected a JSON array of records"))
    return records


def _image_keys(records: list[Any]) -> list[str]:
    """Sample keys from each record's image file name (``row<n>`` without one), made unique."""
    return unique_keys(
        [
            safe_key(Path(str(r.get("image", f"row{i}"))).stem)
            if isinstance(r, dict)
            else f"row{i}"
            for i, r in enumerate(records, start=1)
        ]
    )


def load_t1(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.1 Basic world understanding: one sample per record of each of the five files."""
    base = root / "truthfulness"
    samples: list[Sample] = []
    for variant, (filename, folder, kind) in T1_VARIANTS.items():
        path = base / "query_basic" / filename
        try:
            records = _read_records(path, root)
        except DataError as exc:
            samples.append(failed_sample("T.1", variant, "load-error", "", str(exc)))
            continue
        keys = _image_keys(records)
        for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
            try:
                samples.append(
                    _t1_sample(
                        root, base / "basic_images" / folder, variant, kind, key, record, ctx
                    )
                )
            except Exception as exc:  # a bad record errors its own items only
                problem = row_error(path, root, row, _problem(exc))
                samples.append(failed_sample("T.1", variant, key, "", problem))
    return samples


def _problem(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    if isinstance(exc, DataError | TypeError | ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"  # what a bad file can raise beyond these


def _t1_sample(
    root: Path, images: Path, variant: str, kind: str, key: str, record: Any, ctx: LoadContext
) -> Sample:
    if not isinstance(record, dict):
        raise TypeError("record is not an object")
    query, truth, image_name = record["query"], record["truth"], record["image"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("empty 'query'")
    image_path = inside(root, str(images.relative_to(root)), str(image_name))
    if not image_path.is_file():
        raise DataError(f"image {image_path.relative_to(resolved_root(root)).as_posix()} not found")
    extra: dict[str, Any] = {}
    target: Any
    if kind == "discriminative":
        if str(truth).strip().lower() not in ("yes", "no"):
            raise ValueError(f"'truth' must be Yes or No, not {truth!r}")
        target = int(str(truth).strip().lower() == "yes")
    elif kind == "grounding":
        box = json.loads(truth) if isinstance(truth, str) else truth
        if not (
            isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)
        ):
            raise ValueError(f"'truth' must be a box [xmin, ymin, xmax, ymax], not {truth!r}")
        target = [float(v) for v in box]
        extra = dict(zip(("width", "height"), _image_size(image_path), strict=True))
    else:
        target = str(truth)
    prompt = ctx.prompts[kind].format(query=query)
    return Sample(
        task="T.1",
        variant=variant,
        key=key,
        prompt=prompt,
        image=ImageRef(path=image_path, root=resolved_root(root)),
        target=target,
        extra=extra,
        max_new_tokens=100,
    )


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # a decompression bomb fails here, never decoded
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except (OSError, UnidentifiedImageError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:  # fmt: skip
        raise DataError(f"image {path.name} cannot be read: {exc}") from None


def load_s4(root: Path, ctx: LoadContext) -> list[Sample]:
    """S.4 Plain typographic jailbreaking: two prompts (a, b) per CSV row, three variants."""
    base = root / "safety" / "typographic_jailbreak"
    samples: list[Sample] = []
    for variant, stem in S4_VARIANTS.items():
        path = base / f"{stem}.csv"
        try:
            rows = list(read_csv(path, root, ("id", "image_path", "question")))
        except DataError as exc:
            samples.append(failed_sample("S.4", variant, "load-error", "", str(exc)))
            continue
        keys = unique_keys([safe_key(row["id"] or f"row{n}") for n, row in rows])
        for (number, row), key in zip(rows, keys, strict=True):
            try:
                pair = _s4_samples(root, base / stem, variant, key, row, ctx)
            except Exception as exc:  # a bad record errors its own items only
                problem = row_error(path, root, number, _problem(exc))
                pair = [failed_sample("S.4", variant, f"{key}#{p}", "", problem) for p in "ab"]
            samples.extend(pair)
    return samples


def _s4_samples(
    root: Path, images: Path, variant: str, key: str, row: dict[str, str], ctx: LoadContext
) -> list[Sample]:
    behavior = row["question"].strip()
    if not behavior:
        raise ValueError("empty 'question'")
    jailbreak = row.get("jailbreak_prompt", "").strip()
    if variant == "typographic-behavior" and not jailbreak:
        raise ValueError("empty 'jailbreak_prompt'")
    image = _s4_image(root, images, variant, row, behavior, jailbreak, ctx)
    templates = ctx.prompts[variant]
    return [
        Sample(
            task="S.4",
            variant=variant,
            key=f"{key}#{part}",
            prompt=templates[part].format(behavior=behavior, jailbreak=jailbreak),
            image=image,
            target=behavior,
            max_new_tokens=JAILBREAK_MAX_TOKENS,
        )
        for part in ("a", "b")
    ]


def _s4_image(
    root: Path,
    images: Path,
    variant: str,
    row: dict[str, str],
    behavior: str,
    jailbreak: str,
    ctx: LoadContext,
) -> ImageRef:
    """The row's image file, or, where the release lacks it, the typographic rendering of the
    text that variant shows (spec §3.14), made by the project's own renderer."""
    name = row["image_path"].strip()
    if name:
        path = inside(root, str(images.relative_to(root)), name)
        if path.is_file():
            return ImageRef(path=path, root=resolved_root(root))
    shown = {
        "typographic-behavior": behavior,
        "typographic-prompt": jailbreak,
        "typographic-prompt-and-behavior": f"{jailbreak} {behavior}" if jailbreak else "",
    }[variant]
    if not shown:
        raise DataError(f"image {name or '(none)'} not found and no text to render it from")
    return ImageRef(render={"kind": "typographic", "text": shown, "font": ctx.font})


# S.6 variant -> image folder under safety/crossmodal-jailbreak/ ("" = none, "*" = unrelated)
S6_VARIANTS: dict[str, str] = {
    "crossmodal-jailbreak-text": "",
    "crossmodal-jailbreak-unrelated": "*",
    "crossmodal-jailbreak-pos": "jailbreak_pos",
    "crossmodal-jailbreak-neg": "jailbreak_neg",
}
#: images drawn from each unrelated pool per S.6 prompt (3 pools x 3 = 9 items per prompt)
S6_UNRELATED_PER_KIND = 3
#: upstream keeps the first 10 *items* of each S.6 variant (``dataset[:10]`` after expanding
#: rows into items; spec §7 pitfall 4); the upstream profile reproduces it
S6_UPSTREAM_CAP = 10


def load_s6(root: Path, ctx: LoadContext) -> list[Sample]:
    """S.6 Cross-modal influence on jailbreaking: every row of text_jailbreak.csv, sent alone,
    with 3 seeded images from each unrelated pool, and with every positive and negative image.
    """
    base = root / "safety" / "crossmodal-jailbreak"
    path = base / "text_jailbreak.csv"
    try:
        rows = list(read_csv(path, root, ("id", "question", "jailbreak")))
    except DataError as exc:
        return [failed_sample("S.6", v, "load-error", "", str(exc)) for v in S6_VARIANTS]
    keys = unique_keys([safe_key(row["id"] or f"row{n}") for n, row in rows])
    samples: list[Sample] = []
    for variant, folder in S6_VARIANTS.items():
        try:
            images = _s6_images(root, folder)
        except DataError as exc:
            samples.append(failed_sample("S.6", variant, "load-error", "", str(exc)))
            continue
        made: list[Sample] = []
        for (number, row), key in zip(rows, keys, strict=True):
            jailbreak, behavior = row["jailbreak"].strip(), row["question"].strip()
            if not jailbreak or not behavior:
                empty = "jailbreak" if not jailbreak else "question"
                problem = row_error(path, root, number, f"empty {empty!r}")
                made.append(failed_sample("S.6", variant, key, "", problem))
                continue
            for suffix, image in _s6_pairs(images, ctx, variant, key):
                made.append(
                    Sample(
                        task="S.6",
                        variant=variant,
                        key=f"{key}{suffix}",
                        prompt=jailbreak,
                        image=image,
                        target=behavior,
                        max_new_tokens=JAILBREAK_MAX_TOKENS,
                    )
                )
        samples.extend(made[:S6_UPSTREAM_CAP] if ctx.profile == "upstream" else made)
    return samples


def _s6_images(root: Path, folder: str) -> dict[str, list[ImageRef]]:
    """The variant's images by pool: none, the three unrelated pools, or one folder."""
    if not folder:
        return {}
    if folder == "*":
        return {kind: unrelated_pool(root, kind) for kind in UNRELATED_KINDS}
    files = image_files(root, "safety", "crossmodal-jailbreak", folder)
    return {"": [ImageRef(path=p, root=resolved_root(root)) for p in files]}


def _s6_pairs(
    images: dict[str, list[ImageRef]], ctx: LoadContext, variant: str, key: str
) -> list[tuple[str, ImageRef | None]]:
    """(key suffix, image) per item of one row. Unrelated items are keyed by pool and draw slot
    (the drawn image is in the record), folder items by the image's file name."""
    if not images:
        return [("", None)]
    if "" in images:
        return [(f"#{safe_key(ref.path.name)}", ref) for ref in images[""] if ref.path]
    pairs: list[tuple[str, ImageRef | None]] = []
    for kind, pool in images.items():
        drawn = draw(
            pool,
            S6_UNRELATED_PER_KIND,
            seed=ctx.seed,
            task="S.6",
            variant=variant,
            key=f"{key}/{kind}",
        )
        pairs.extend((f"#{kind}{slot}", p) for slot, p in enumerate(drawn, start=1))
    return pairs


# S.5 variants. The upstream id of the first is misspelt; it is accepted as an alias.
S5_VARIANTS: tuple[str, ...] = ("optimized-jailbreak-graphic", "mm-safety-bench", "safebench")
S5_ALIASES: dict[str, str] = {"opimized-jailbreak-graphic": "optimized-jailbreak-graphic"}
#: where the optimised variant looks for its CSV and image folder, first match wins. Upstream's
#: config points it at S.4's behaviour files (spec §7 pitfall 5); a release or copy that holds
#: dedicated optimised images is read from the project's own folder instead. Which was read is
#: in every item's image path.
S5_OPTIMIZED_DIRS: tuple[str, ...] = ("optimized_jailbreak", "typographic_jailbreak")


def load_s5(root: Path, ctx: LoadContext) -> list[Sample]:
    """S.5 Optimised multimodal jailbreaking: one item per record of each of three sets."""
    loaders: dict[str, Callable[[Path, LoadContext], list[Sample]]] = {
        "optimized-jailbreak-graphic": _s5_optimized,
        "mm-safety-bench": _s5_mm_safety_bench,
        "safebench": _s5_safebench,
    }
    samples: list[Sample] = []
    for variant, load in loaders.items():
        try:
            samples.extend(load(root, ctx))
        except DataError as exc:
            samples.append(failed_sample("S.5", variant, "load-error", "", str(exc)))
    return samples


def _s5_sample(
    root: Path, folder: Path, variant: str, key: str, image_name: str, prompt: str, target: str
) -> Sample:
    if not prompt.strip():
        raise ValueError("empty prompt")
    if not target.strip():
        raise ValueError("empty behaviour")
    image = inside(root, str(folder.relative_to(root)), image_name.strip())
    if not image_name.strip() or not image.is_file():
        raise DataError(f"image {image_name.strip() or '(none)'!r} not found")
    return Sample(
        task="S.5",
        variant=variant,
        key=key,
        prompt=prompt,
        image=ImageRef(path=image, root=resolved_root(root)),
        target=target.strip(),
        max_new_tokens=JAILBREAK_MAX_TOKENS,
    )


def _s5_rows(
    root: Path,
    path: Path,
    variant: str,
    required: tuple[str, ...],
    make: Callable[[str, dict[str, str]], Sample],
) -> list[Sample]:
    rows = list(read_csv(path, root, required))
    keys = unique_keys([safe_key(row["id"] or f"row{n}") for n, row in rows])
    samples = []
    for (number, row), key in zip(rows, keys, strict=True):
        try:
            samples.append(make(key, row))
        except Exception as exc:  # a bad record errors its own items only
            problem = row_error(path, root, number, _problem(exc))
            samples.append(failed_sample("S.5", variant, key, "", problem))
    return samples


def _s5_optimized(root: Path, ctx: LoadContext) -> list[Sample]:
    variant = "optimized-jailbreak-graphic"
    base = next(
        (
            root / "safety" / d
            for d in S5_OPTIMIZED_DIRS
            if (root / "safety" / d / "behavior_graph.csv").is_file()
        ),
        root / "safety" / S5_OPTIMIZED_DIRS[-1],
    )
    prompt = str(ctx.prompts[variant])

    def make(key: str, row: dict[str, str]) -> Sample:
        folder = base / "behavior_graph"
        return _s5_sample(root, folder, variant, key, row["image_path"], prompt, row["question"])

    path = base / "behavior_graph.csv"
    return _s5_rows(root, path, variant, ("id", "image_path", "question"), make)


def _s5_safebench(root: Path, ctx: LoadContext) -> list[Sample]:
    variant = "safebench"
    base = root / "safety" / "SafeBench_selected"
    prompt = str(ctx.prompts[variant])

    def make(key: str, row: dict[str, str]) -> Sample:
        return _s5_sample(root, base, variant, key, row["image_path"], prompt, row["question"])

    path = base / "safebench_selected.csv"
    return _s5_rows(root, path, variant, ("id", "question", "image_path"), make)


def _s5_mm_safety_bench(root: Path, ctx: LoadContext) -> list[Sample]:
    variant = "mm-safety-bench"
    base = root / "safety" / "mm-safety-bench-selected"
    path = base / "mm-safety-bench-selected.json"
    records = read_json(path, root)
    if not isinstance(records, dict):
        raise DataError(row_error(path, root, "-", "expected a JSON object of records"))
    keys = unique_keys([safe_key(str(k)) for k in records])
    samples = []
    for (name, record), key in zip(records.items(), keys, strict=True):
        try:
            if not isinstance(record, dict):
                raise ValueError("record is not an object")
            fields = {f: record[f] for f in ("Question", "Prompt", "Image")}
            if not all(isinstance(v, str) for v in fields.values()):
                raise ValueError("'Question', 'Prompt' and 'Image' must be strings")
            samples.append(
                _s5_sample(
                    root, base, variant, key, fields["Image"], fields["Prompt"], fields["Question"]
                )
            )
        except Exception as exc:  # a bad record errors its own items only
            problem = row_error(path, root, repr(name), _problem(exc))
            samples.append(failed_sample("S.5", variant, key, "", problem))
    return samples


# S.2 classes (folders under safety/risk_identification/) and the questions of each variant
S2_CLASSES: tuple[str, ...] = ("alcohol", "cigarette", "gun", "insulting_gesture", "knife")
S2_VARIANTS: dict[str, tuple[str, ...]] = {
    "object-detection": ("q1", "q2", "q3"),
    "risk-analysis": ("q4", "q5"),
}


def load_s2(root: Path, ctx: LoadContext) -> list[Sample]:
    """S.2 Risk identification: every image of each class folder, asked q1-q3
    (object-detection) and q4-q5 (risk-analysis), one item per question."""
    samples: list[Sample] = []
    for variant, questions in S2_VARIANTS.items():
        for cls in S2_CLASSES:
            try:
                images = image_files(root, "safety", "risk_identification", cls)
            except DataError as exc:
                samples.append(failed_sample("S.2", variant, f"{cls}-load-error", "", str(exc)))
                continue
            for image in images:
                key = safe_key(f"{cls}/{image.name}")
                ref = ImageRef(path=image, root=resolved_root(root))
                samples.extend(_s2_sample(variant, cls, key, ref, q, ctx) for q in questions)
    return samples


def _s2_sample(
    variant: str, cls: str, key: str, image: ImageRef, question: str, ctx: LoadContext
) -> Sample:
    info = ctx.prompts["classes"][cls]
    text = str(info.get(question) or ctx.prompts["questions"][question])
    prompt = text.format(object=info["object"], group=info["group"])
    # q1/q2 expect the class's keywords; q3-q5 what the prompts file says (a class may override)
    expected = info["keywords"] if question in ("q1", "q2") else None
    expected = expected or info.get(f"{question}_expected") or ctx.prompts["expected"][question]
    return Sample(
        task="S.2",
        variant=variant,
        key=f"{key}#{question}",
        prompt=prompt,
        image=image,
        target=[str(k) for k in expected],
        extra={"question": question, "class": cls},
        max_new_tokens=S2_MAX_TOKENS,
    )


def load_s1(root: Path, ctx: LoadContext) -> list[Sample]:
    """S.1 NSFW image description: every image of each category folder under safety/nsfw/,
    asked twice (a: describe it; b: describe it, setting ethical limits aside)."""
    variant = "nsfw-image-description"
    try:
        base = inside(root, "safety", "nsfw")
        if not base.is_dir():
            raise DataError("safety/nsfw: folder not found (is the data root right?)")
        categories = sorted(p.name for p in base.iterdir() if p.is_dir())
        if not categories:
            raise DataError("safety/nsfw: no category folders")
    except DataError as exc:
        return [failed_sample("S.1", variant, "load-error", "", str(exc))]
    templates = ctx.prompts[variant]
    samples: list[Sample] = []
    for category in categories:
        try:
            images = image_files(root, "safety", "nsfw", category)
        except DataError as exc:
            samples.append(failed_sample("S.1", variant, f"{category}-load-error", "", str(exc)))
            continue
        for image in images:
            key = safe_key(f"{category}/{image.name}")
            ref = ImageRef(path=image, root=resolved_root(root))
            samples.extend(
                Sample("S.1", variant, f"{key}#{p}", str(templates[p]), ref, max_new_tokens=150)
                for p in ("a", "b")
            )
    return samples


S3_VARIANTS: tuple[str, ...] = (
    "toxicity-prompt-text",
    "toxicity-prompt-unrelated",
    "toxicity-prompt-image",
)


def load_s3(root: Path, ctx: LoadContext) -> list[Sample]:
    """S.3 Toxic content generation: each prompt prefix of prompts_select.json, sent alone, with
    one seeded image from each unrelated pool (3 items), and with its own pre-built image."""
    base = root / "safety" / "real_toxicity_prompt"
    path = base / "prompts_select.json"
    try:
        data = read_json(path, root)
        if not isinstance(data, dict):
            raise DataError(row_error(path, root, "-", "expected a JSON object of categories"))
    except DataError as exc:
        return [failed_sample("S.3", v, "load-error", "", str(exc)) for v in S3_VARIANTS]
    template = str(ctx.prompts["template"])
    pools: dict[str, list[ImageRef]] | DataError
    try:
        pools = {kind: unrelated_pool(root, kind) for kind in UNRELATED_KINDS}
    except DataError as exc:
        pools = exc
    samples: dict[str, list[Sample]] = {v: [] for v in S3_VARIANTS}
    if isinstance(pools, DataError):
        samples["toxicity-prompt-unrelated"].append(
            failed_sample("S.3", "toxicity-prompt-unrelated", "load-error", "", str(pools))
        )
    for category, prefixes in data.items():
        items = prefixes if isinstance(prefixes, list) else [prefixes]
        for number, prefix in enumerate(items, start=1):
            key = safe_key(f"{category}-{number}")
            where = f"{category!r}[{number}]"
            for variant in S3_VARIANTS:
                if variant == "toxicity-prompt-unrelated" and isinstance(pools, DataError):
                    continue
                try:
                    if not isinstance(prefixes, list):
                        raise ValueError(f"category {category!r} is not a list of prompts")
                    if not isinstance(prefix, str) or not prefix.strip():
                        raise ValueError("prompt is not a non-empty string")
                    made = _s3_samples(
                        root, base, variant, key, category, prefix, template, pools, ctx
                    )
                except Exception as exc:  # a bad record errors its own items only
                    problem = row_error(path, root, where, _problem(exc))
                    made = [failed_sample("S.3", variant, key, "", problem)]
                samples[variant].extend(made)
    return [s for v in S3_VARIANTS for s in samples[v]]


def _s3_samples(
    root: Path,
    base: Path,
    variant: str,
    key: str,
    category: str,
    prefix: str,
    template: str,
    pools: dict[str, list[ImageRef]] | DataError,
    ctx: LoadContext,
) -> list[Sample]:
    prompt = template.format(prompt=prefix)

    def sample(suffix: str, image: ImageRef | None) -> Sample:
        return Sample("S.3", variant, f"{key}{suffix}", prompt, image, prefix, max_new_tokens=512)

    if variant == "toxicity-prompt-text":
        return [sample("", None)]
    if variant == "toxicity-prompt-image":
        # the release names each image by category and the MD5 of the prompt (spec §2.1)
        digest = hashlib.md5(prefix.encode("utf-8"), usedforsecurity=False).hexdigest()
        name = f"{category}_{digest}.png"
        image = inside(root, str(base.relative_to(root)), "images", name)
        if not image.is_file():
            raise DataError(f"image images/{name} not found")
        return [sample("", ImageRef(path=image, root=resolved_root(root)))]
    assert not isinstance(pools, DataError)
    # one draw per pool, each seeded by the item's own key (sample key plus pool)
    return [
        sample(
            f"#{kind}",
            draw(pool, 1, seed=ctx.seed, task="S.3", variant=variant, key=f"{key}#{kind}")[0],
        )
        for kind, pool in pools.items()
    ]


# T.2 variant -> skill name; the file is query_advanced/query_d_<name>.json and the images are
# in advanced_images/<name>/ (spec §4.1).
T2_VARIANTS: dict[str, str] = {
    f"advanced-{name}": name
    for name in (
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
}


def load_t2(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.2 Advanced cognitive inference: one Yes/No sample per record of each of the nine files.
    Records with an empty query are skipped, as upstream does (spec §2.2)."""
    base = root / "truthfulness"
    samples: list[Sample] = []
    for variant, name in T2_VARIANTS.items():
        path = base / "query_advanced" / f"query_d_{name}.json"
        try:
            records = _read_records(path, root)
        except DataError as exc:
            samples.append(failed_sample("T.2", variant, "load-error", "", str(exc)))
            continue
        keys = _image_keys(records)
        for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
            if isinstance(record, dict) and str(record.get("query", "x")).strip() == "":
                continue
            try:
                samples.append(
                    _yes_no_sample(
                        root,
                        base / "advanced_images" / name,
                        ("T.2", variant, key),
                        record,
                        ctx.prompts["advanced"],
                    )
                )
            except Exception as exc:  # a bad record errors its own items only
                problem = row_error(path, root, row, _problem(exc))
                samples.append(failed_sample("T.2", variant, key, "", problem))
    return samples


def _yes_no_sample(
    root: Path, images: Path, ident: tuple[str, str, str], record: Any, template: str
) -> Sample:
    """A record with image, query and a Yes/No truth (T.2, T.6): target 1 for Yes, 0 for No."""
    if not isinstance(record, dict):
        raise TypeError("record is not an object")
    query, truth, image_name = record["query"], record["truth"], record["image"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("empty 'query'")
    if str(truth).strip().lower() not in ("yes", "no"):
        raise ValueError(f"'truth' must be Yes or No, not {truth!r}")
    image_path = inside(root, str(images.relative_to(root)), str(image_name))
    if not image_path.is_file():
        raise DataError(f"image {image_path.relative_to(resolved_root(root)).as_posix()} not found")
    task, variant, key = ident
    return Sample(
        task=task,
        variant=variant,
        key=key,
        prompt=template.format(query=query),
        image=ImageRef(path=image_path, root=resolved_root(root)),
        target=int(str(truth).strip().lower() == "yes"),
        max_new_tokens=100,
    )


# T.6 confusion kinds (spec §4.1); each record names its kind, which becomes the sample's subset.
T6_VARIANT = "d-mis-visual-confusion"
T6_KINDS = ("semantic", "contrast", "painting", "mirror", "dislocation")


def load_t6(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.6 Visual-confusion VQA: one Yes/No sample per record of query_d_confusion.json, in the
    subset of its ``kind``; images are under misleading_images/ at the record's own path."""
    base = root / "truthfulness"
    path = base / "query_misleading" / "query_d_confusion.json"
    try:
        records = _read_records(path, root)
    except DataError as exc:
        return [failed_sample("T.6", T6_VARIANT, "load-error", "", str(exc))]
    # the record path may include a folder, which keeps same-named images of two kinds apart
    keys = unique_keys(
        [
            safe_key(str(Path(str(r.get("image", f"row{i}"))).with_suffix("")))
            if isinstance(r, dict)
            else f"row{i}"
            for i, r in enumerate(records, start=1)
        ]
    )
    samples: list[Sample] = []
    for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
        try:
            kind = record["kind"] if isinstance(record, dict) else None
            if kind not in T6_KINDS:
                raise ValueError(f"'kind' must be one of {', '.join(T6_KINDS)}, not {kind!r}")
            sample = _yes_no_sample(
                root,
                base / "misleading_images",
                ("T.6", T6_VARIANT, key),
                record,
                ctx.prompts["confusion"],
            )
            samples.append(replace(sample, subset=kind))
        except Exception as exc:  # a bad record errors its own items only
            problem = row_error(path, root, row, _problem(exc))
            samples.append(failed_sample("T.6", T6_VARIANT, key, "", problem))
    return samples


T5_VARIANT = "g-text-misleading"


def load_t5(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.5 Text-misleading VQA: one sample per record of query_g_mistext.json (the question
    carries the misleading text); the target is the free-text truth."""
    base = root / "truthfulness"
    path = base / "query_misleading" / "query_g_mistext.json"
    try:
        records = _read_records(path, root)
    except DataError as exc:
        return [failed_sample("T.5", T5_VARIANT, "load-error", "", str(exc))]
    keys = _image_keys(records)
    samples: list[Sample] = []
    for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
        try:
            samples.append(
                _free_text_sample(
                    root,
                    base / "misleading_images" / "mistext",
                    ("T.5", T5_VARIANT, key),
                    record,
                    ctx.prompts["misleading"],
                )
            )
        except Exception as exc:  # a bad record errors its own items only
            problem = row_error(path, root, row, _problem(exc))
            samples.append(failed_sample("T.5", T5_VARIANT, key, "", problem))
    return samples


def _free_text_sample(
    root: Path, images: Path | None, ident: tuple[str, str, str], record: Any, template: str
) -> Sample:
    """A record with a query, a free-text truth and (unless ``images`` is None) an image."""
    if not isinstance(record, dict):
        raise TypeError("record is not an object")
    query, truth = record["query"], record["truth"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError("empty 'query'")
    if not isinstance(truth, str) or not truth.strip():
        raise ValueError("empty 'truth'")
    image = None
    if images is not None:
        image_path = inside(root, str(images.relative_to(root)), str(record["image"]))
        if not image_path.is_file():
            shown = image_path.relative_to(resolved_root(root)).as_posix()
            raise DataError(f"image {shown} not found")
        image = ImageRef(path=image_path, root=resolved_root(root))
    task, variant, key = ident
    return Sample(
        task=task,
        variant=variant,
        key=key,
        prompt=template.format(query=query),
        image=image,
        target=truth,
        max_new_tokens=100,
    )


# T.4 and T.7 share one question file; each variant names where its image comes from: "none"
# (text only), a folder of text_images/, or an unrelated-image kind (seeded draw, spec §3.14).
T4_VARIANTS: dict[str, str] = {
    "visual-assistance-text": "none",
    "visual-assistance-image": "assistance",
}
T4_INFORMATIONAL: dict[str, str] = {
    f"visual-assistance-unrelated-image-{kind}": kind for kind in UNRELATED_KINDS
}


def load_t4(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.4 QA under visual assistance: each question of query_g_assistance.json as text only,
    with its assistance image, and (informational) with one seeded unrelated image per kind."""
    return _assistance_samples(root, ctx, "T.4", {**T4_VARIANTS, **T4_INFORMATIONAL})


T7_VARIANTS: dict[str, str] = {"g-text-none": "none", "g-text-misvisual": "misvisual"}
T7_INFORMATIONAL: dict[str, str] = {
    "g-text-assistance": "assistance",
    **{f"g-text-unrelated-image-{kind}": kind for kind in UNRELATED_KINDS},
}


def load_t7(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.7 Visual-misleading QA: T.4's questions as text only and with a misleading picture
    (text_images/misvisual/), and (informational) with the assistance picture and one seeded
    unrelated image per kind. g-text-none sends exactly T.4's text-only prompt."""
    return _assistance_samples(root, ctx, "T.7", {**T7_VARIANTS, **T7_INFORMATIONAL})


def _assistance_samples(
    root: Path, ctx: LoadContext, task: str, plan: dict[str, str]
) -> list[Sample]:
    base = root / "truthfulness"
    path = base / "query_text" / "query_g_assistance.json"
    try:
        records = _read_records(path, root)
    except DataError as exc:
        return [failed_sample(task, variant, "load-error", "", str(exc)) for variant in plan]
    keys = _image_keys(records)
    samples: list[Sample] = []
    for variant, source, pool in variant_pools(root, task, plan, samples):
        for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
            # upstream skips questions left empty in this file (spec §2.2)
            if isinstance(record, dict) and str(record.get("query", "x")).strip() == "":
                continue
            try:
                images = None if source in ("none", *UNRELATED_KINDS) else base / "text_images"
                sample = _free_text_sample(
                    root,
                    images / source if images else None,
                    (task, variant, key),
                    record,
                    ctx.prompts["assistance"],
                )
                if pool:
                    image = draw(pool, 1, seed=ctx.seed, task=task, variant=variant, key=key)[0]
                    sample = replace(sample, image=image)
                samples.append(sample)
            except Exception as exc:  # a bad record errors its own items only
                problem = row_error(path, root, row, _problem(exc))
                samples.append(failed_sample(task, variant, key, "", problem))
    return samples


# T.3 variant -> data name (query_instruction/query_g_<name>.json, instruction_images/<name>/);
# every record is asked once per instruction version, each version a subset.
T3_VARIANTS: dict[str, str] = {
    "instruction-enhancement-factual": "factual",
    "instruction-enhancement-logic": "logic",
}
T3_PROMPTS: tuple[str, ...] = ("PROMPT_1", "PROMPT_2", "PROMPT_3")
# Upstream's logic judge is told to compare with the "[Correct Answer]" section of the truth, so
# that bracketed name marks the section (a colon after it is optional); plain "Correct answer:",
# "Final answer:" or "Answer:" are accepted too. The text after the last marker is taken, else
# the whole truth.
_ANSWER_MARKER = re.compile(
    r"\[\s*(?:correct|final)?\s*answer\s*\]\s*[:：]?"
    r"|(?:correct answer|final answer|answer)\s*(?:is)?\s*[:：]",
    re.I,
)


def logic_reference(truth: str) -> str:
    """The correct-answer part of a T.3 logic truth (the whole truth when no marker)."""
    matches = list(_ANSWER_MARKER.finditer(truth))
    if not matches:
        return truth.strip()
    return truth[matches[-1].end() :].strip() or truth.strip()


def load_t3(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.3 VQA under instruction enhancement: each record of the factual and logic files asked
    three times, once per instruction version (subset PROMPT_<n>, key suffix #p<n>)."""
    base = root / "truthfulness"
    samples: list[Sample] = []
    for variant, name in T3_VARIANTS.items():
        path = base / "query_instruction" / f"query_g_{name}.json"
        try:
            records = _read_records(path, root)
        except DataError as exc:
            samples.append(failed_sample("T.3", variant, "load-error", "", str(exc)))
            continue
        keys = _image_keys(records)
        for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
            if isinstance(record, dict) and str(record.get("query", "x")).strip() == "":
                continue
            for number, subset in enumerate(T3_PROMPTS, start=1):
                item = f"{key}#p{number}"
                try:
                    sample = _free_text_sample(
                        root,
                        base / "instruction_images" / name,
                        ("T.3", variant, item),
                        record,
                        ctx.prompts[f"{name}_{number}"],
                    )
                    reference = logic_reference(sample.target) if name == "logic" else sample.target
                    extra = {"template": "logic" if name == "logic" else "default"}
                    samples.append(
                        replace(
                            sample,
                            subset=subset,
                            max_new_tokens=500,
                            extra={**extra, "reference": reference},
                        )
                    )
                except Exception as exc:  # a bad record errors its own items only
                    problem = row_error(path, root, row, _problem(exc))
                    samples.append(failed_sample("T.3", variant, item, "", problem))
    return samples


LOADERS: dict[str, Callable[[Path, LoadContext], list[Sample]]] = {
    "T.1": load_t1,
    "T.2": load_t2,
    "T.3": load_t3,
    "T.4": load_t4,
    "T.5": load_t5,
    "T.6": load_t6,
    "T.7": load_t7,
    "S.1": load_s1,
    "S.2": load_s2,
    "S.4": load_s4,
    "S.3": load_s3,
    "S.5": load_s5,
    "S.6": load_s6,
}
