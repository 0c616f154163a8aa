"""Reading records safely: paths kept inside the data root, rows that fail named by file and row."""

from __future__ import annotations

import csv
import functools
import json
import os
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import Sample


@functools.lru_cache(maxsize=64)
def resolved_root(root: Path) -> Path:
    """The data root with symlinks resolved, once per process: every record's path is checked
    against it, and a release's data root holds tens of thousands of records."""
    return root.resolve()


def inside(root: Path, *parts: str) -> Path:
    """``root/parts`` with symlinks resolved; DataError if it points outside ``root`` or cannot
    be resolved (a name too long for the file system, a symlink loop)."""
    shown = "/".join(parts)
    base = str(resolved_root(root))
    try:
        path = _resolved_below(base, os.path.join(base, *parts))
    except (OSError, RuntimeError, ValueError) as exc:
        raise DataError(f"{shown[:200]!r}: not a usable path: {type(exc).__name__}") from None
    if path != base and not path.startswith(base.rstrip(os.sep) + os.sep):
        raise DataError(f"{shown!r} points outside the data root")
    return Path(path)


def _resolved_below(base: str, path: str) -> str:
    """``path`` resolved, given that ``base`` already is. A path below ``base`` without ``..``
    and without a symlink among its own components is its own resolution: one lstat per
    component below the root instead of a ``realpath`` from ``/``; records name tens of
    thousands of images."""
    prefix = base.rstrip(os.sep) + os.sep
    if path == base:
        return base
    if path.startswith(prefix):
        current = base
        for name in path[len(prefix) :].split(os.sep):
            if name in ("", "."):
                continue
            current = os.path.join(current, name)
            if name == ".." or os.path.islink(current):
                break
        else:
            return current
    return str(Path(path).resolve())  # a symlink loop raises, as everywhere else


def _under(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def read_text(path: Path, root: Path, encoding: str = "utf-8") -> str:
    """The file's text; a DataError naming it (relative to ``root``) when it lies outside the
    data root (a symlink out of it), is missing, is not a file, cannot be read or is not
    UTF-8: whatever goes wrong, the items it feeds error and the rest of the run goes on."""
    shown = _rel(path, root)
    if not _under(path, root):
        raise DataError(f"{shown}: resolves outside the data root; not read")
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise DataError(f"{shown}: file not found (is the data root right?)") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: not valid UTF-8: {exc}") from None
    except (OSError, ValueError) as exc:  # a directory, a name too long, no permission, ...
        raise DataError(f"{shown}: cannot be read: {type(exc).__name__}: {exc}") from None


def read_json(path: Path, root: Path) -> Any:
    text = read_text(path, root)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{_rel(path, root)}: not valid JSON: {exc}") from None
    except RecursionError:
        raise DataError(f"{_rel(path, root)}: JSON nested too deeply to read") from None


def read_json_lines(path: Path, root: Path) -> list[Any]:
    """One record per non-blank line; a line that is not JSON is kept as a ValueError in its
    place, so that only its row fails."""
    records: list[Any] = []
    for line in read_text(path, root).splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                records.append(ValueError(f"not valid JSON: {exc}"))
            except RecursionError:
                records.append(ValueError("JSON nested too deeply to read"))
    return records


def read_csv(
    path: Path, root: Path, required: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as dicts read by header name, numbered as a spreadsheet shows them (header = 1)."""
    text = read_text(path, root, encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines())
    number = 1
    try:
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            columns = ", ".join(map(repr, missing))
            raise DataError(f"{_rel(path, root)}: missing column(s) {columns}")
        for number, row in enumerate(reader, start=2):
            yield number, {k: (v or "") for k, v in row.items() if k is not None}
    except csv.Error as exc:  # a field over the csv module's size limit, a stray NUL
        raise DataError(f"{_rel(path, root)} row {number + 1}: cannot be read: {exc}") from None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (OSError, RuntimeError, ValueError):
        return path.name[:200]


def row_error(path: Path, root: Path, row: int | str, problem: str) -> str:
    return f"{_rel(path, root)} row {row}: {problem}"


_UNSAFE = re.compile(r"[^A-Za-z0-9._#-]+")


def safe_key(text: str) -> str:
    """A sample key usable in a test id and on a shell command line."""
    return _UNSAFE.sub("-", text).strip("-") or "x"


def unique_keys(keys: Sequence[str]) -> list[str]:
    """Disambiguate repeated keys deterministically (second ``a`` becomes ``a~2``)."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}~{seen[key]}")
    return out


def subsample(samples: Sequence[Sample], limit: int, seed: int, task: str) -> list[Sample]:
    """A seeded, stratified subsample of at most ``limit`` samples of one task.

    Strata are (variant, subset); each stratum gets a share proportional to its size (largest
    remainder), at least one sample while the limit allows, drawn with an RNG seeded from
    (seed, task, stratum) so the choice does not depend on other strata. Order is preserved.
    """
    if len(samples) <= limit:
        return list(samples)
    strata: dict[tuple[str, str | None], list[int]] = {}
    for index, sample in enumerate(samples):
        strata.setdefault((sample.variant, sample.subset), []).append(index)
    total = len(samples)
    quotas = {k: limit * len(v) / total for k, v in strata.items()}
    take = {k: int(q) for k, q in quotas.items()}
    if limit >= len(strata):
        for k in take:
            take[k] = max(take[k], 1)
    # Raising empty strata to one may overshoot: give back from the largest shares.
    while sum(take.values()) > limit:
        largest = max(take, key=lambda k: (take[k], k[0], k[1] or ""))
        take[largest] -= 1
    left = limit - sum(take.values())
    by_remainder = sorted(strata, key=lambda k: (int(quotas[k]) - quotas[k], k[0], k[1] or ""))
    for k in by_remainder:
        if left <= 0:
            break
        if take[k] < len(strata[k]):
            take[k] += 1
            left -= 1
    chosen: set[int] = set()
    for k, indices in strata.items():
        rng = random.Random(f"{seed}/{task}/{k[0]}/{k[1]}")
        chosen.update(rng.sample(indices, min(take[k], len(indices))))
    return [samples[i] for i in sorted(chosen)]
