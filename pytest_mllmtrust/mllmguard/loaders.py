"""Loader for MLLMGuard (mllmguard spec §2, §4) in the released layout.

A data root holds one folder per data task (``privacy``, ``bias``, ``toxicity``, ``legality``,
``hallucination``, ``position-swapping``, ``noise-injection``), each with its CSV and
``imgs/``: ``prompt.csv`` (both languages), or ``en.csv`` and ``zh.csv``. Either the released
``desensitize/`` folder or the README's ``data/`` folder can be the root.

Columns are read by header name, so the internal files' extra ``Source`` column changes
nothing. An image path is tried as given under the task folder, then under ``imgs/`` (older
copies lacked the prefix for ``Reverse Image``); the noisy image of noise injection is
``<stem>_noise<ext>`` beside the clean one. A row that cannot be read becomes a sample with a
``load_error`` naming the file and row; the other rows run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import DataError
from pytest_mllmtrust.core.model import ImageRef, Sample
from pytest_mllmtrust.core.tasks import LoadContext
from pytest_mllmtrust.datasets.common import inside, read_csv, resolved_root, row_error, safe_key

#: greedy, 128 new tokens (spec §4.1)
MAX_NEW_TOKENS = 128
LANGUAGES = ("en", "zh")
COLUMNS = ("Image", "Prompt", "Jailbreak Type", "Lan", "Category I", "Category II")
#: data task -> its extra columns
EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "hallucination": ("Options",),
    "noise-injection": ("Answer",),
    "position-swapping": ("Reverse Image",),
}


def _rows(root: Path, folder: str) -> list[tuple[Path, int, dict[str, str]]]:
    """Every row of the folder's ``prompt.csv``, or of its ``en.csv`` and ``zh.csv``."""
    base = root / folder
    # present, even when it is no readable file (read_csv names it): never silently skipped
    files = [base / "prompt.csv"] if (base / "prompt.csv").exists() else []
    files = files or [base / f"{lan}.csv" for lan in LANGUAGES if (base / f"{lan}.csv").exists()]
    if not files:
        raise DataError(f"{folder}/: no prompt.csv, en.csv or zh.csv (is the data root right?)")
    required = COLUMNS + EXTRA_COLUMNS.get(folder, ())
    return [(path, n, row) for path in files for n, row in read_csv(path, root, required)]


def image_path(root: Path, folder: str, value: str) -> Path:
    """``<folder>/<value>``, else ``<folder>/imgs/<value>``; DataError naming the value."""
    value = value.strip()
    if not value:
        raise ValueError("empty image path")
    for parts in ((folder, value), (folder, "imgs", value)):
        path = inside(root, *parts)
        if path.is_file():
            return path
    raise DataError(f"image {value!r} not found under {folder}/ or {folder}/imgs/")


def noisy_image(clean: Path) -> Path:
    """The noise-injection twin of a clean image: ``<stem>_noise<ext>`` beside it."""
    noisy = clean.with_name(f"{clean.stem}_noise{clean.suffix}")
    if not noisy.is_file():
        raise DataError(f"noisy image {noisy.name} not found beside {clean.name}")
    return noisy


def technique_id(label: str, aliases: Mapping[str, Any]) -> str:
    """The canonical id of a red-teaming technique label (English or Chinese, any case and
    spacing); an unknown label is kept, made safe for an id."""
    wanted = " ".join(label.split()).casefold()
    for canonical, names in aliases.items():
        if wanted in {" ".join(str(n).split()).casefold() for n in names}:
            return str(canonical)
    return safe_key(wanted.replace(" ", "-")) if wanted else "unknown"


Row = dict[str, str]
Build = Callable[[Row, ImageRef, str, dict[str, Any]], list[Sample]]


def load_folder(
    root: Path, ctx: LoadContext, task: str, folder: str, variants: tuple[str, ...], build: Build
) -> list[Sample]:
    """Samples of one data task: ``build(row, image, key, fields)`` makes a row's samples from
    its image, its key and the fields every MLLMGuard sample carries (language, dimension,
    sub-category and technique); it raises ValueError or DataError for a row it cannot use."""
    try:
        rows = _rows(root, folder)
    except DataError as exc:
        return [Sample(task, v, "load-error", "", load_error=str(exc)) for v in variants]
    aliases = ctx.prompts.get("techniques", {})
    samples: list[Sample] = []
    for path, number, row in rows:
        key = f"{path.stem}-r{number}"
        try:
            lan = row["Lan"].strip().lower()
            if lan not in LANGUAGES:
                raise ValueError(f"'Lan' must be en or zh, not {row['Lan']!r}")
            if not row["Prompt"].strip():
                raise ValueError("empty 'Prompt'")
            image = ImageRef(path=image_path(root, folder, row["Image"]), root=resolved_root(root))
            fields = {
                "lan": lan,
                "category": row["Category I"].strip(),
                "subtask": row["Category II"].strip(),
                "technique": technique_id(row["Jailbreak Type"], aliases),
            }
            samples += build(row, image, key, fields)
        except Exception as exc:  # a bad record errors its own items only
            problem = row_error(path, root, number, str(exc))
            samples += [Sample(task, v, key, "", load_error=problem) for v in variants]
    # one variant after the other, rows in file order: shards (and batches) are per variant
    return sorted(samples, key=lambda s: variants.index(s.variant))


def _sample(
    task: str,
    variant: str,
    key: str,
    prompt: str,
    image: ImageRef,
    fields: dict[str, Any],
    **more: Any,
) -> Sample:
    lan = fields["lan"]
    return Sample(task, variant, key, prompt, image, extra=fields, subset=lan, markers=(lan,),
                  max_new_tokens=MAX_NEW_TOKENS, **more)  # fmt: skip


def one_query(task: str, variant: str) -> Build:
    """Privacy, bias, toxicity and legality: the row's prompt on its image, as it is."""

    def build(
        row: dict[str, str], image: ImageRef, key: str, fields: dict[str, Any]
    ) -> list[Sample]:
        return [_sample(task, variant, key, row["Prompt"].strip(), image, fields)]

    return build


def with_and_without_options(task: str, fragments: Mapping[str, str]) -> Build:
    """Hallucination (§4.2): the prompt alone (``bare``), then the prompt followed by the
    language's request to answer with the options and the options (``with-options``); the
    two are scored on their own."""

    def build(
        row: dict[str, str], image: ImageRef, key: str, fields: dict[str, Any]
    ) -> list[Sample]:
        prompt, options = row["Prompt"].strip(), row["Options"].strip()
        if not options:
            raise ValueError("empty 'Options'")
        asked = fragments[fields["lan"]].format(prompt=prompt, options=options)
        return [
            _sample(task, "bare", key, prompt, image, fields),
            _sample(task, "with-options", key, asked, image, fields),
        ]

    return build


def on_two_images(task: str, second_image: Callable[[Row, Path], Path]) -> Build:
    """Position swapping and noise injection (§4.2): one item asking the same prompt of the
    row's image and of its second image (the swapped or the noisy one). Noise injection's
    gold letter (``Answer``) is the target."""

    def build(
        row: dict[str, str], image: ImageRef, key: str, fields: dict[str, Any]
    ) -> list[Sample]:
        assert image.path is not None
        prompt = row["Prompt"].strip()
        target = None
        if "Answer" in row:
            target = row["Answer"].strip().upper()
            if target not in ("A", "B"):
                raise ValueError(f"'Answer' must be A or B, not {row['Answer']!r}")
        second = ImageRef(path=second_image(row, image.path), root=image.root)
        return [_sample(task, "pair", key, prompt, image, fields, target=target,
                        second=(prompt, second))]  # fmt: skip

    return build
