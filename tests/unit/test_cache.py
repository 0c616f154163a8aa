"""Unit tests for the SQLite output/judgement cache: round trips, sharing between processes,
concurrent writers and atomicity of a transaction killed before its commit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_mllmtrust.core.cache import Cache, NullCache, cache_key


@pytest.fixture
def cache(tmp_path: Path):
    c = Cache(tmp_path / "cache.sqlite")
    yield c
    c.close()


# -- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "plain text",
        "héllo wörld, 你好, مرحبا, 🙂",
        "\u200b zero-width and \n newlines \t tabs",
        "",
        42,
        2.5,
        None,
        True,
        [1, "two", None, [3.5]],
        {"text": "réponse", "signals": {"iou": 0.25, "box": [0.1, 0.2, 0.3, 0.4]}},
    ],
)
def test_put_then_get_round_trips_json_values(cache: Cache, value: object) -> None:
    cache.put_many("output", {"k": value})
    assert cache.get_many("output", ["k"]) == {"k": value}


def test_get_many_leaves_out_missing_keys(cache: Cache) -> None:
    cache.put_many("output", {"a": 1, "b": 2})
    assert cache.get_many("output", ["a", "missing", "b"]) == {"a": 1, "b": 2}


def test_get_many_of_no_keys_is_empty(cache: Cache) -> None:
    cache.put_many("output", {"a": 1})
    assert cache.get_many("output", []) == {}


def test_put_many_accepts_pairs(cache: Cache) -> None:
    cache.put_many("output", [("a", 1), ("b", 2)])
    assert cache.get_many("output", ["a", "b"]) == {"a": 1, "b": 2}


def test_get_many_beyond_one_chunk_of_keys(cache: Cache) -> None:
    # 1234 keys span three chunks of at most 500 bound parameters each
    stored = {f"key-{i}": {"i": i} for i in range(1234)}
    cache.put_many("output", stored)
    asked = [*stored, "not-there"]
    assert cache.get_many("output", asked) == stored


def test_kinds_do_not_share_entries(cache: Cache) -> None:
    cache.put_many("output", {"k": "an answer"})
    cache.put_many("judgement", {"k": {"outcome": "pass"}})
    assert cache.get_many("output", ["k"]) == {"k": "an answer"}
    assert cache.get_many("judgement", ["k"]) == {"k": {"outcome": "pass"}}
    assert (cache.count("output"), cache.count("judgement"), cache.count()) == (1, 1, 2)


def test_put_replaces_an_existing_entry(cache: Cache) -> None:
    cache.put_many("output", {"k": "old"})
    cache.put_many("output", {"k": "new"})
    assert cache.get_many("output", ["k"]) == {"k": "new"}
    assert cache.count("output") == 1


def test_writes_counts_entries_written_by_this_object(cache: Cache) -> None:
    cache.put_many("output", {"a": 1, "b": 2})
    cache.put_many("output", {})
    cache.put_many("judgement", {"a": 3})
    assert cache.writes == 3


def test_cache_creates_missing_parent_folders(tmp_path: Path) -> None:
    c = Cache(tmp_path / "deep" / "er" / "cache.sqlite")
    try:
        c.put_many("output", {"k": 1})
        assert (tmp_path / "deep" / "er" / "cache.sqlite").is_file()
    finally:
        c.close()


def test_entries_survive_reopening(tmp_path: Path) -> None:
    first = Cache(tmp_path / "c.sqlite")
    first.put_many("output", {"k": "kept"})
    first.close()
    second = Cache(tmp_path / "c.sqlite")
    try:
        assert second.get_many("output", ["k"]) == {"k": "kept"}
    finally:
        second.close()


# -- sharing and concurrency --------------------------------------------------------------------


def test_two_caches_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    # two xdist workers open the same cache file
    a = Cache(tmp_path / "shared.sqlite")
    b = Cache(tmp_path / "shared.sqlite")
    try:
        a.put_many("output", {"from-a": 1})
        assert b.get_many("output", ["from-a"]) == {"from-a": 1}
        b.put_many("output", {"from-b": 2, "from-a": 10})
        assert a.get_many("output", ["from-a", "from-b"]) == {"from-a": 10, "from-b": 2}
    finally:
        a.close()
        b.close()


def _write_entries(path: str, worker: int, entries: int, batch: int) -> None:
    """Runs in a spawned process: write ``entries`` entries in batches of ``batch``."""
    c = Cache(Path(path))
    try:
        for start in range(0, entries, batch):
            c.put_many(
                "output",
                {f"w{worker}-{i}": {"worker": worker, "i": i} for i in range(start, start + batch)},
            )
    finally:
        c.close()


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    Cache(path).close()  # create the file (and WAL mode) before the writers race
    workers, entries, batch = 4, 200, 10
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write_entries, args=(str(path), w, entries, batch))
        for w in range(workers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * workers
    c = Cache(path)
    try:
        assert c.count("output") == workers * entries  # 4 x 200 = 800
        assert c.integrity_ok()
        last = c.get_many("output", [f"w{w}-{entries - 1}" for w in range(workers)])
        assert last == {f"w{w}-{entries - 1}": {"worker": w, "i": entries - 1} for w in range(4)}
    finally:
        c.close()


# -- atomicity ----------------------------------------------------------------------------------

# Commits 10 entries through the cache, then opens a transaction on a second connection, inserts
# 2000 rows of 1 kB with a tiny page cache (so uncommitted pages spill into the WAL file) and
# dies before COMMIT.
_CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    from pathlib import Path
    from pytest_mllmtrust.core.cache import Cache

    path, how = sys.argv[1], sys.argv[2]
    c = Cache(Path(path))
    c.put_many("output", {f"committed-{i}": i for i in range(10)})
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size=5")
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT OR REPLACE INTO entries (kind, key, value, created) VALUES (?, ?, ?, 0)",
        [("output", f"torn-{i}", '"' + "x" * 1000 + '"') for i in range(2000)],
    )
    db.execute("UPDATE entries SET value = '\\"overwritten\\"' WHERE key LIKE 'committed-%'")
    if how == "exit":
        os._exit(1)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_writer_killed_before_commit_leaves_no_trace(tmp_path: Path, how: str) -> None:
    path = tmp_path / "crash.sqlite"
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_WRITER, str(path), how],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    expected_code = 1 if how == "exit" else -signal.SIGKILL
    assert child.returncode == expected_code, child.stderr
    # The uncommitted rows did reach the disk: the 10 committed entries fill a few 4 kB pages,
    # so a WAL file above 1 MB holds pages spilled from the 2000 x 1 kB uncommitted rows.
    assert os.path.getsize(f"{path}-wal") > 1_000_000
    c = Cache(path)
    try:
        assert c.integrity_ok()
        assert c.count("output") == 10
        assert c.get_many("output", [f"torn-{i}" for i in range(2000)]) == {}
        assert c.get_many("output", [f"committed-{i}" for i in range(10)]) == {
            f"committed-{i}": i for i in range(10)
        }
    finally:
        c.close()


# -- cache_key ----------------------------------------------------------------------------------


def test_cache_key_ignores_dict_key_order() -> None:
    first = cache_key("T.1", {"model": "m", "settings": {"tokens": 100, "greedy": True}})
    second = cache_key("T.1", {"settings": {"greedy": True, "tokens": 100}, "model": "m"})
    assert first == second


def test_cache_key_is_a_sha256_hex_digest() -> None:
    key = cache_key("a", 1)
    assert len(key) == 64
    assert set(key) <= set("0123456789abcdef")


def test_cache_key_is_stable_across_calls() -> None:
    assert cache_key("prompt", "é", [1, 2]) == cache_key("prompt", "é", [1, 2])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("a", "b"), ("b", "a")),
        (("a", "b"), ("ab",)),
        (("a", "b"), (["a", "b"],)),
        ((1,), ("1",)),
        ((1,), (1.5,)),
        (({"k": 1},), ({"k": 2},)),
        (("prompt",), ("prompt ",)),
        ((None,), ()),
    ],
)
def test_cache_key_differs_for_different_parts(first: tuple, second: tuple) -> None:
    assert cache_key(*first) != cache_key(*second)


# -- NullCache ----------------------------------------------------------------------------------


def test_null_cache_remembers_nothing() -> None:
    null = NullCache()
    null.put_many("output", {"k": "v"})
    assert null.get_many("output", ["k"]) == {}
    assert null.count() == 0
    assert null.count("output") == 0
    assert null.writes == 0
    assert null.integrity_ok() is True
    null.close()
