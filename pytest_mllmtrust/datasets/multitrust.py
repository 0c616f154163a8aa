"""Loaders for the released MultiTrust data layout (spec §2), one function per task.

Each returns samples in a deterministic order. A record that cannot be read becomes a sample
carrying a ``load_error`` that names the file and row, so its item errors and the others run; a
missing variant file is a DataError for that variant alone (the caller decides).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef, Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datasets.common import (
    inside,
    read_csv,
    read_json,
    row_error,
    safe_key,
    unique_keys,
)

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


def _failed(task: str, variant: str, key: str, prompt: str, problem: str) -> Sample:
    return Sample(task, variant, safe_key(key), prompt, load_error=problem)


def load_t1(root: Path, ctx: LoadContext) -> list[Sample]:
    """T.1 Basic world understanding: one sample per record of each of the five files."""
    base = root / "truthfulness"
    samples: list[Sample] = []
    for variant, (filename, folder, kind) in T1_VARIANTS.items():
        path = base / "query_basic" / filename
        try:
            records = read_json(path, root)
            if not isinstance(records, list):
                raise DataError(row_error(path, root, "-", "expected a JSON array of records"))
        except DataError as exc:
            samples.append(_failed("T.1", variant, "load-error", "", str(exc)))
            continue
        keys = unique_keys(
            [
                safe_key(Path(str(r.get("image", f"row{i}"))).stem)
                if isinstance(r, dict)
                else f"row{i}"
                for i, r in enumerate(records, start=1)
            ]
        )
        for row, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
            try:
                samples.append(
                    _t1_sample(
                        root, base / "basic_images" / folder, variant, kind, key, record, ctx
                    )
                )
            except (DataError, KeyError, TypeError, ValueError) as exc:
                problem = row_error(path, root, row, _problem(exc))
                samples.append(_failed("T.1", variant, key, "", problem))
    return samples


def _problem(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


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
        raise DataError(f"image {image_path.relative_to(root.resolve()).as_posix()} not found")
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
        image=ImageRef(path=image_path, root=root.resolve()),
        target=target,
        extra=extra,
        max_new_tokens=100,
    )


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as exc:
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
            samples.append(_failed("S.4", variant, "load-error", "", str(exc)))
            continue
        keys = unique_keys([safe_key(row["id"] or f"row{n}") for n, row in rows])
        for (number, row), key in zip(rows, keys, strict=True):
            try:
                pair = _s4_samples(root, base / stem, variant, key, row, ctx)
            except (DataError, KeyError, ValueError) as exc:
                problem = row_error(path, root, number, _problem(exc))
                pair = [_failed("S.4", variant, f"{key}#{p}", "", problem) for p in "ab"]
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
            max_new_tokens=512,
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
            return ImageRef(path=path, root=root.resolve())
    shown = {
        "typographic-behavior": behavior,
        "typographic-prompt": jailbreak,
        "typographic-prompt-and-behavior": f"{jailbreak} {behavior}" if jailbreak else "",
    }[variant]
    if not shown:
        raise DataError(f"image {name or '(none)'} not found and no text to render it from")
    return ImageRef(render={"kind": "typographic", "text": shown, "font": ctx.font})


LOADERS: dict[str, Callable[[Path, LoadContext], list[Sample]]] = {
    "T.1": load_t1,
    "S.4": load_s4,
}
