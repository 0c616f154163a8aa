"""Content-addressed cache of model outputs and judge results in one SQLite file.

Why SQLite: every write is an atomic transaction (a SIGKILL mid-run leaves the last committed
batch, never a torn file), WAL mode lets several xdist workers read and write one cache at once,
and it is in the standard library. Values are JSON text: no pickle, ever.

The cache is not trusted as stored: each entry carries a checksum over its kind, key and value,
so an answer edited in the file, a torn value or a row moved to another key reads as damaged,
which the runner counts and treats as a miss (generated again, and the entry replaced).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import CacheError
from pytest_mllmtrust.core.hashing import is_settled, sha256_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL,
    checksum TEXT,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"""

# SQLite's default limit on bound parameters is 999 in old builds; stay well below it.
_CHUNK = 500


def checksum(kind: str, key: str, value: str) -> str:
    """What binds a stored value to its entry."""
    return hashlib.sha256(f"{kind}\0{key}\0{value}".encode()).hexdigest()


def cache_key(*parts: Any) -> str:
    """A stable hex key over JSON-able parts (dict order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cache:
    """Kinds of entries share one table: ``output`` (model answers), ``judgement`` and
    ``digest`` (image files' SHA-256, see :class:`FileDigests`)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves so a batch is one transaction
            # check_same_thread=False: the session may run the next shard in a thread of its
            # own, one thread at a time (TrustSession._start_next_shard)
            self._db = sqlite3.connect(
                str(path), timeout=60.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout=60000")
            _retry_while_locked(lambda: self._setup())
        except sqlite3.DatabaseError as exc:
            raise damaged(path, exc) from exc
        #: entries written by this process (for run statistics)
        self.writes = 0
        #: entries read by this process whose checksum did not match (treated as misses)
        self.damaged = 0

    def _setup(self) -> None:
        # Switching to WAL needs a moment alone with the file and fails at once (no busy
        # wait) while another xdist worker opens it too: hence the retry around this.
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(entries)")]
        if "checksum" not in columns:  # a cache written before checksums: its rows read damaged
            self._db.execute("ALTER TABLE entries ADD COLUMN checksum TEXT")

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]:
        """The stored values of ``keys`` that are intact; a damaged entry is left out (a miss)
        and counted in :attr:`damaged`."""
        found: dict[str, Any] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            try:
                rows = self._db.execute(
                    f"SELECT key, value, checksum FROM entries WHERE kind = ? AND key IN ({marks})",
                    [kind, *chunk],
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise damaged(self.path, exc) from exc
            for key, value, stored in rows:
                try:
                    if stored != checksum(kind, key, value):
                        raise ValueError("checksum mismatch")
                    found[key] = json.loads(value)
                except (TypeError, ValueError):
                    self.damaged += 1
        return found

    def put_many(self, kind: str, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        if not pairs:
            return
        now = time.time()
        rows = []
        for key, value in pairs:
            text = json.dumps(value, ensure_ascii=False)
            rows.append((kind, key, text, now, checksum(kind, key, text)))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO entries (kind, key, value, created, checksum) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self.writes += len(rows)

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        query = "SELECT COUNT(*) FROM entries WHERE kind = ?"
        return int(self._db.execute(query, [kind]).fetchone()[0])

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def close(self) -> None:
        self._db.close()


class FileDigests:
    """Image files' SHA-256 kept in the cache under their path, size and modification time, so a
    rerun over 20,000 images reads none of them and holds none of their digests in memory. A
    file changed since (its size or mtime) is a miss and read again."""

    #: digests written to the cache together, in one transaction
    BATCH = 500

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._pending: dict[str, str] = {}

    def digest(self, path: Path) -> str:
        """The SHA-256 of ``path``, a file whose symlinks are resolved."""
        status = os.stat(path)
        key = cache_key("file", str(path), status.st_size, status.st_mtime_ns)
        known = self._pending.get(key) or self.cache.get_many("digest", [key]).get(key)
        if isinstance(known, str):
            return known
        digest = sha256_file(path)
        if is_settled(status):
            self._pending[key] = digest
            if len(self._pending) >= self.BATCH:
                self.flush()
        return digest

    def flush(self) -> None:
        self.cache.put_many("digest", self._pending)
        self._pending.clear()


def damaged(path: Path, exc: BaseException) -> CacheError:
    return CacheError(
        f"the cache file {path} is damaged ({type(exc).__name__}: {exc}): run with "
        "--mllm-cache-rebuild to set it aside and start a new one (answers are generated again), "
        "or --mllm-cache=none to run without a cache"
    )


def set_aside(path: Path) -> Path | None:
    """Move a cache file (and its WAL files) aside as ``<name>.old-<time>``, so the next run
    starts a new one; returns where the old file went, or None when there was none."""
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.old-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(target.with_name(target.name + suffix))
    return target


def _retry_while_locked(action: Callable[[], None], *, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            locked = "locked" in str(exc) or "busy" in str(exc)
            if not locked or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class NullCache(Cache):
    """``--mllm-cache=none``: remember nothing."""

    def __init__(self) -> None:
        self.path = Path("/dev/null")
        self.writes = 0
        self.damaged = 0

    def get_many(self, kind: str, keys: Sequence[str]) -> dict[str, Any]:
        return {}

    def put_many(self, kind: str, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        return None

    def count(self, kind: str | None = None) -> int:
        return 0

    def integrity_ok(self) -> bool:
        return True

    def close(self) -> None:
        return None
