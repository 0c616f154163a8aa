"""Content hashes of model directories, memoised so a large checkpoint is read only once.

A backend's fingerprint must change whenever its answers could change, so it hashes every file
of the model directory (weights, configs, processor, chat template), not just a name. Reading
14 GB on every run would be slow, so each file's digest is remembered in a small JSON sidecar,
keyed by the file's real path and trusted while its size and modification time are unchanged.

Pure standard library: importing this module never pulls in torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

#: environment variable naming the memo file (default: ~/.cache/pytest-mllmtrust/hashes.json)
HASH_CACHE_ENV = "MLLMTRUST_HASH_CACHE"

_MEMO_VERSION = 1
_CHUNK_BYTES = 4 * 1024 * 1024
# File timestamps on Linux advance in coarse ticks, so a file rewritten with the same size
# right after being hashed can keep its old mtime. Like git's "racy clean" rule, a digest is
# only remembered once the file has been left alone for longer than that uncertainty.
_RACY_WINDOW_NS = 2_000_000_000


def default_memo_path() -> Path:
    """Where digests are remembered: ``$MLLMTRUST_HASH_CACHE`` or the user cache directory."""
    configured = os.environ.get(HASH_CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "pytest-mllmtrust" / "hashes.json"


def hash_directory(path: str | os.PathLike[str], *, memo_path: Path | None = None) -> str:
    """SHA-256 over every file under ``path``: sorted relative names and file contents.

    Renaming, adding, removing or changing any file changes the result; the order in which
    files were created does not. Hidden entries (``.git``, the ``.cache`` folder that
    ``hf download --local-dir`` writes) are skipped: they change without changing the model.
    Symlinks are followed, so a Hugging Face cache snapshot hashes like a plain copy.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"not a directory: {root}")
    memo = DigestMemo(memo_path if memo_path is not None else default_memo_path())
    combined = hashlib.sha256()
    for relative in _relative_file_names(root):
        # NUL and newline cannot appear in a relative name, so the framing is unambiguous.
        combined.update(relative.encode("utf-8", "surrogateescape") + b"\0")
        combined.update(memo.digest(root / relative).encode("ascii") + b"\n")
    memo.save()
    return combined.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of one file's bytes, streamed in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _relative_file_names(root: Path) -> list[str]:
    names = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        for name in files:
            full = Path(directory) / name
            if not name.startswith(".") and full.is_file():
                names.append(full.relative_to(root).as_posix())
    return sorted(names)


def is_settled(status: os.stat_result) -> bool:
    """Whether a file was left alone long enough for its (size, mtime) to stand for its content."""
    return time.time_ns() - status.st_mtime_ns > _RACY_WINDOW_NS


class DigestMemo:
    """File digests remembered across runs, keyed by real path, valid for one (size, mtime)."""

    def __init__(self, memo_path: Path) -> None:
        self.memo_path = memo_path
        self.entries = _read_memo(memo_path)
        self.new_entries: dict[str, dict[str, Any]] = {}

    def digest(self, file: Path) -> str:
        real_path = os.path.realpath(file)
        status = os.stat(real_path)
        known = self.entries.get(real_path)
        if (
            isinstance(known, dict)
            and known.get("size") == status.st_size
            and known.get("mtime_ns") == status.st_mtime_ns
        ):
            return str(known["sha256"])
        digest = sha256_file(Path(real_path))
        if is_settled(status):
            entry = {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "sha256": digest}
            self.entries[real_path] = self.new_entries[real_path] = entry
        return digest

    def save(self) -> None:
        if not self.new_entries:
            return
        # Re-read first: another process (an xdist worker) may have added entries meanwhile.
        merged = _read_memo(self.memo_path)
        merged.update(self.new_entries)
        merged = {name: entry for name, entry in merged.items() if os.path.exists(name)}
        # The memo only saves time; a read-only or full disk must not fail the run.
        with contextlib.suppress(OSError):
            _write_atomically(self.memo_path, {"version": _MEMO_VERSION, "files": merged})
        self.new_entries.clear()


def _read_memo(memo_path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _MEMO_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _write_atomically(target: Path, data: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=0, sort_keys=True)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
