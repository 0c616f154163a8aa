"""Image pools: the shared unrelated-image pool and plain image folders, with seeded draws.

Upstream pairs samples with unrelated images through an unseeded ``random.sample``, so a rerun
sees other images (spec §7, pitfall 8). Here every draw comes from an RNG seeded from
(global seed, task, variant, sample key), so the pairing is reproducible and does not depend on
the order samples are loaded in (spec §3.14). The realised image is part of each item's record
(its path and content hash), so the results file holds the pairing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef
from pytest_mllmtrust.datasets.common import inside, resolved_root

UNRELATED_DIR = "unrelated_images"
#: the three unrelated pools; a pool file's name contains its kind (spec §2.1)
UNRELATED_KINDS: tuple[str, ...] = ("color", "nature", "noise")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"})
T = TypeVar("T")


def image_files(root: Path, *parts: str) -> list[Path]:
    """The image files of a folder inside the data root, sorted by name (never listing order,
    which differs between file systems). DataError if the folder is missing or has none."""
    folder = inside(root, *parts)
    shown = "/".join(parts)
    if not folder.is_dir():
        raise DataError(f"{shown}: folder not found (is the data root right?)")
    try:
        files = sorted(
            p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES
            and p.is_file()
            and p.resolve().is_relative_to(folder)
        )
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
        raise DataError(f"{shown}: cannot be listed: {type(exc).__name__}: {exc}") from None
    if not files:
        raise DataError(f"{shown}: no images")
    return files


#: the generated "color" pool when a data root has none: eight well-separated solid colours
SOLID_COLOURS: tuple[tuple[int, int, int], ...] = (
    (220, 40, 40),
    (40, 160, 60),
    (40, 80, 200),
    (240, 200, 40),
    (40, 190, 200),
    (200, 60, 190),
    (128, 128, 128),
    (240, 140, 30),
)
#: the generated "noise" pool: this many seeds
NOISE_SEEDS = 8


def unrelated_pool(root: Path, kind: str) -> list[ImageRef]:
    """The unrelated images of one kind (``color``, ``nature`` or ``noise``), sorted by name.

    The colour and noise images are derived from nothing but a colour or a seed, so when the
    data root has none of them the project makes them (``ImageRef.render``); natural photos
    cannot be made, so a missing ``nature`` pool is a DataError."""
    if kind not in UNRELATED_KINDS:
        raise ValueError(f"unknown unrelated-image kind {kind!r}")
    try:
        files = [p for p in image_files(root, UNRELATED_DIR) if kind in p.name]
    except DataError as exc:
        if kind == "nature":
            raise DataError(f"{exc}: the 'nature' images are photos and cannot be made") from None
        files = []
    if files:
        real_root = resolved_root(root)
        return [ImageRef(path=p, root=real_root) for p in files]
    if kind == "color":
        return [ImageRef(render={"kind": "color", "rgb": list(rgb)}) for rgb in SOLID_COLOURS]
    if kind == "noise":
        return [ImageRef(render={"kind": "noise", "seed": n}) for n in range(NOISE_SEEDS)]
    raise DataError(f"{UNRELATED_DIR}: no 'nature' images, and photos cannot be made")


def seeded_rng(seed: int, task: str, variant: str, key: str) -> random.Random:
    """An RNG that depends on (seed, task, variant, sample key) only: an integer from the
    SHA-256 of that string, so Python's per-process string hashing plays no part."""
    digest = hashlib.sha256(f"{seed}/{task}/{variant}/{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def draw(pool: Sequence[T], k: int, *, seed: int, task: str, variant: str, key: str) -> list[T]:
    """``k`` distinct images of ``pool`` for one sample (all of them when the pool is smaller,
    as a small test pool is; the release's pools are far larger)."""
    rng = seeded_rng(seed, task, variant, key)
    return rng.sample(list(pool), min(k, len(pool)))
