"""hash_directory: what changes the hash, what must not, and that the memo spares re-reading."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from pytest_mllmtrust.core import hashing
from pytest_mllmtrust.core.hashing import HASH_CACHE_ENV, default_memo_path, hash_directory

FILES = {
    "model.safetensors": b"\x00\x01weights" * 100,
    "config.json": b'{"model_type": "llava"}',
    "processor/chat_template.jinja": b"{{ messages }}",
}


def write_files(root: Path, files: dict[str, bytes], order: list[str] | None = None) -> Path:
    for name in order or list(files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    return root


def age(root: Path, seconds: float = 3600) -> None:
    """Backdate every file so its digest is old enough to be memoised."""
    then = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


@pytest.fixture
def memo(tmp_path: Path) -> Path:
    return tmp_path / "memo" / "hashes.json"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return write_files(tmp_path / "model", FILES)


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file whose bytes hash_directory reads, in order."""
    reads: list[Path] = []
    real_sha256_file = hashing.sha256_file

    def counting(path: Path) -> str:
        reads.append(path)
        return real_sha256_file(path)

    monkeypatch.setattr(hashing, "sha256_file", counting)
    return reads


def test_the_hash_is_a_sha256_hex_digest(model_dir: Path, memo: Path) -> None:
    digest = hash_directory(model_dir, memo_path=memo)
    assert len(digest) == 64
    int(digest, 16)


def test_changing_one_byte_changes_the_hash(model_dir: Path, memo: Path) -> None:
    age(model_dir)
    before = hash_directory(model_dir, memo_path=memo)
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # same size: only the content differs
    weights.write_bytes(bytes(data))
    assert hash_directory(model_dir, memo_path=memo) != before


def test_renaming_a_file_changes_the_hash(model_dir: Path, memo: Path) -> None:
    before = hash_directory(model_dir, memo_path=memo)
    (model_dir / "config.json").rename(model_dir / "config2.json")
    assert hash_directory(model_dir, memo_path=memo) != before


def test_moving_a_file_to_another_folder_changes_the_hash(model_dir: Path, memo: Path) -> None:
    before = hash_directory(model_dir, memo_path=memo)
    (model_dir / "processor" / "chat_template.jinja").rename(model_dir / "chat_template.jinja")
    assert hash_directory(model_dir, memo_path=memo) != before


def test_adding_or_removing_a_file_changes_the_hash(model_dir: Path, memo: Path) -> None:
    before = hash_directory(model_dir, memo_path=memo)
    (model_dir / "generation_config.json").write_text("{}")
    added = hash_directory(model_dir, memo_path=memo)
    (model_dir / "generation_config.json").unlink()
    (model_dir / "config.json").unlink()
    removed = hash_directory(model_dir, memo_path=memo)
    assert len({before, added, removed}) == 3


def test_creation_order_and_location_do_not_matter(tmp_path: Path, memo: Path) -> None:
    names = list(FILES)
    first = write_files(tmp_path / "first", FILES, order=names)
    second = write_files(tmp_path / "elsewhere" / "second", FILES, order=names[::-1])
    assert hash_directory(first, memo_path=memo) == hash_directory(second, memo_path=memo)


def test_a_symlinked_file_hashes_like_a_copy(tmp_path: Path, memo: Path) -> None:
    # Hugging Face cache snapshots are folders of symlinks into a blob store.
    copy = write_files(tmp_path / "copy", FILES)
    blobs = write_files(tmp_path / "blobs", FILES)
    linked = tmp_path / "linked"
    for name in FILES:
        (linked / name).parent.mkdir(parents=True, exist_ok=True)
        (linked / name).symlink_to(blobs / name)
    assert hash_directory(linked, memo_path=memo) == hash_directory(copy, memo_path=memo)


def test_hidden_bookkeeping_folders_are_ignored(model_dir: Path, memo: Path) -> None:
    before = hash_directory(model_dir, memo_path=memo)
    (model_dir / ".cache" / "huggingface").mkdir(parents=True)
    (model_dir / ".cache" / "huggingface" / "download.metadata").write_text("etag, timestamp")
    assert hash_directory(model_dir, memo_path=memo) == before


def test_a_missing_directory_is_an_error(tmp_path: Path, memo: Path) -> None:
    with pytest.raises(NotADirectoryError):
        hash_directory(tmp_path / "absent", memo_path=memo)


def test_the_memo_spares_reading_unchanged_files(
    model_dir: Path, memo: Path, count_reads: list[Path]
) -> None:
    age(model_dir)
    first = hash_directory(model_dir, memo_path=memo)
    assert len(count_reads) == len(FILES)
    remembered = json.loads(memo.read_text())["files"]
    assert set(remembered) == {os.path.realpath(model_dir / name) for name in FILES}

    count_reads.clear()
    assert hash_directory(model_dir, memo_path=memo) == first
    assert count_reads == []


def test_the_memo_rereads_a_file_whose_mtime_changed(
    model_dir: Path, memo: Path, count_reads: list[Path]
) -> None:
    age(model_dir)
    hash_directory(model_dir, memo_path=memo)
    count_reads.clear()
    weights = model_dir / "model.safetensors"
    then = time.time() - 60
    os.utime(weights, (then, then))
    hash_directory(model_dir, memo_path=memo)
    assert count_reads == [Path(os.path.realpath(weights))]


def test_freshly_written_files_are_not_memoised(
    model_dir: Path, memo: Path, count_reads: list[Path]
) -> None:
    # Their mtime could still change without changing (racy timestamps), so no trust yet.
    hash_directory(model_dir, memo_path=memo)
    hash_directory(model_dir, memo_path=memo)
    assert len(count_reads) == 2 * len(FILES)
    assert not memo.exists()


def test_the_memo_location_comes_from_the_environment(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = tmp_path / "configured" / "memo.json"
    monkeypatch.setenv(HASH_CACHE_ENV, str(configured))
    assert default_memo_path() == configured
    age(model_dir)
    hash_directory(model_dir)
    assert len(json.loads(configured.read_text())["files"]) == len(FILES)


def test_an_unwritable_memo_does_not_fail_the_hash(model_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the memo folder should be")
    age(model_dir)
    expected = hash_directory(model_dir, memo_path=tmp_path / "memo.json")
    assert hash_directory(model_dir, memo_path=blocker / "hashes.json") == expected


def test_a_corrupt_memo_is_ignored(model_dir: Path, memo: Path) -> None:
    age(model_dir)
    expected = hash_directory(model_dir, memo_path=memo)
    memo.write_text("{ not json")
    assert hash_directory(model_dir, memo_path=memo) == expected
    assert json.loads(memo.read_text())["version"] == 1


def test_sha256_file_streams_the_whole_file(tmp_path: Path) -> None:
    payload = os.urandom(9 << 20)  # more than two read chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(payload)
    assert hashing.sha256_file(path) == hashlib.sha256(payload).hexdigest()
