"""No single bad input stops, escapes or leaks a run: a hostile data file (generated) errors only
the items it feeds, naming the file; nothing outside the data roots is read, which an audit hook
proves; duplicate ids are warned about; huge answers are cut; control characters are escaped."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, write_replay
from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.core.errors import DataWarning
from pytest_mllmtrust.core.tasks import all_tasks
from pytest_mllmtrust.session import TrustSession

BUNDLED = FIXTURES.parent
#: every text data file of the bundled samples, relative to fixtures/
DATA_FILES = sorted(
    p.relative_to(BUNDLED).as_posix()
    for p in BUNDLED.rglob("*")
    if p.suffix in (".json", ".jsonl", ".csv", ".txt")
)
SECRET = "THE-SECRET-TEXT-OUTSIDE-THE-DATA-ROOT"


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none: what a decompression
    bomb looks like to a reader that checks the size first."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def summary(samples: list[Any]) -> tuple[tuple[str, bool], ...]:
    return tuple((s.uid, bool(s.load_error)) for s in samples)


def session(root: Path, tmp: Path) -> TrustSession:
    data = [f"multitrust={root / 'multitrust'}", f"mllmguard={root / 'mllmguard'}"]
    config = parse_config({"model": "replay:x", "data": data, "cache": "none",
                           "informational": "1"}, tmp)  # fmt: skip
    return TrustSession(config, tmp)


def all_samples(root: Path, tmp: Path) -> dict[str, list[Any]]:
    trust = session(root, tmp)
    return {task: trust.samples_for(task) for task in all_tasks()}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the bundled data, a secret file outside it, and every task's samples."""
    base = tmp_path_factory.mktemp("hostile")
    root = base / "data"
    shutil.copytree(BUNDLED / "multitrust", root / "multitrust")
    shutil.copytree(BUNDLED / "mllmguard", root / "mllmguard")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    pristine = all_samples(root, base)
    return {"root": root, "outside": outside, "pristine": pristine, "tmp": base}


# what a data file can be turned into; each must error the items the file feeds
HOSTILE: dict[str, Callable[[Path, Path], None]] = {
    "not UTF-8": lambda path, outside: path.write_bytes(b"\xff\xfe\xfd" + os.urandom(64)),
    "nested too deeply": lambda path, outside: path.write_text("[" * 200_000),
    "a field over the csv limit": lambda path, outside: path.write_text(
        'a,b\n"' + "x" * 300_000 + '",y\n'
    ),
    "a directory": lambda path, outside: (path.unlink(), path.mkdir()),  # type: ignore[func-returns-value]
    "a symlink out of the root": lambda path, outside: (
        path.unlink(),
        path.symlink_to(outside / "secret.txt"),  # type: ignore[func-returns-value]
    ),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(relpath=st.sampled_from(DATA_FILES), kind=st.sampled_from(sorted(HOSTILE)))
def test_a_hostile_data_file_errors_only_the_items_it_feeds(
    world: dict[str, Any], relpath: str, kind: str
) -> None:
    root: Path = world["root"]
    path = root / relpath
    original = path.read_bytes()
    try:
        HOSTILE[kind](path, world["outside"])
        if kind == "a field over the csv limit" and path.suffix != ".csv":
            return  # only a CSV has fields
        now = all_samples(root, world["tmp"])  # never raises, whatever the file holds
    finally:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
        path.write_bytes(original)
    pristine = world["pristine"]
    changed = [t for t in now if summary(now[t]) != summary(pristine[t])]
    assert changed, f"{relpath} feeds no task?"
    for task in changed:
        errors = [s.load_error for s in now[task] if s.load_error]
        assert errors, (task, relpath, kind)
        assert any(Path(relpath).name in e for e in errors), (task, errors[:2])
    for samples in now.values():  # the secret was never read into a prompt or a target
        assert not any(SECRET in s.prompt or SECRET in str(s.target) for s in samples)


def test_bad_files_through_pytest_leave_the_rest_of_the_run_scored(
    pytester: pytest.Pytester, run_trust
) -> None:
    data = pytester.path / "data"
    shutil.copytree(FIXTURES, data)
    basic = data / "truthfulness/query_basic"
    (basic / "query_d_scene.json").write_text("[" * 100_000)  # nested too deeply
    records = json.loads((basic / "query_d_existence.json").read_text())
    records[0]["image"] = "x" * 400 + ".png"  # a name too long for the file system
    (basic / "query_d_existence.json").write_text(json.dumps(records))
    (basic / "query_d_attribute.json").unlink()
    (basic / "query_d_attribute.json").mkdir()  # a directory where the file should be
    grounding = sorted((data / "truthfulness/basic_images/grounding").glob("*.png"))[0]
    grounding.write_bytes(png_header(40_000, 40_000))  # a bomb where sizes are probed
    replay = write_replay(pytester.path / "a.jsonl", lambda s: "Yes.", tasks=("T.1",))
    run = run_trust(f"--mllm=replay:{replay}", f"--mllm-data=multitrust={data}", tasks=("T.1",),
                    json_name="r.json")  # fmt: skip
    assert run.result.ret != pytest.ExitCode.INTERRUPTED
    errors = {s["uid"]: s["rationale"] for s in run.results["samples"] if s["outcome"] == "error"}
    text = "\n".join(errors.values())
    assert "query_d_scene.json: JSON nested too deeply to read" in text
    assert "query_d_attribute.json: cannot be read: IsADirectoryError" in text
    assert "query_d_existence.json row 1:" in text
    assert f"image {grounding.name} cannot be read" in text  # the bomb, refused unread
    scored = [s for s in run.results["samples"] if s["outcome"] in ("pass", "fail")]
    assert len(scored) >= 5 + 5 + 5  # the other object rows, OCR and the other grounding rows


AUDIT = """
import os, sys
OUTSIDE = os.path.realpath(os.environ["MLLMTRUST_OUTSIDE"])
LOG = os.environ["MLLMTRUST_AUDIT_LOG"]

def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        real = os.path.realpath(path)
        if real.startswith(OUTSIDE + os.sep) and not path.startswith(LOG):
            with open(LOG, "a") as log:
                log.write(real + "\\n")
            raise PermissionError(f"audit: opened outside the data roots: {real}")

sys.addaudithook(hook)
"""


def test_nothing_outside_the_data_roots_is_opened(pytester: pytest.Pytester, run_trust) -> None:
    outside = pytester.path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps([{"query": SECRET, "truth": "Yes",
                                                      "image": "obj_01.png"}]))  # fmt: skip
    shutil.copy(FIXTURES / "truthfulness/basic_images/object/obj_01.png", outside / "photo.png")
    data = pytester.path / "data"
    shutil.copytree(FIXTURES.parent, data)
    # a data file, an image and an MLLMGuard noisy twin, each a symlink out of its root
    scene = data / "multitrust/truthfulness/query_basic/query_d_scene.json"
    scene.unlink()
    scene.symlink_to(outside / "secret.json")
    image = sorted((data / "multitrust/truthfulness/basic_images/object").glob("*.png"))[0]
    image.unlink()
    image.symlink_to(outside / "photo.png")
    noisy = sorted((data / "mllmguard/noise-injection").rglob("*.png"))[-1]
    noisy.unlink()
    noisy.symlink_to(outside / "photo.png")
    log = pytester.path / "audit.log"
    pytester.makeconftest(AUDIT)
    replay = write_replay(pytester.path / "a.jsonl",
                          lambda s: ("A", "A") if s.second else "Yes.",
                          tasks=("T.1", "MG.noise-injection"))  # fmt: skip
    os.environ["MLLMTRUST_OUTSIDE"] = str(outside)
    os.environ["MLLMTRUST_AUDIT_LOG"] = str(log)
    try:
        run = run_trust(f"--mllm=replay:{replay}", f"--mllm-data=multitrust={data / 'multitrust'}",
                        f"--mllm-data=mllmguard={data / 'mllmguard'}", subprocess=True,
                        tasks=("T.1", "MG.noise-injection"))  # fmt: skip
    finally:
        del os.environ["MLLMTRUST_OUTSIDE"], os.environ["MLLMTRUST_AUDIT_LOG"]
    assert run.result.ret in (0, 16), run.result.stdout.str()[-2000:]
    assert not log.exists(), log.read_text()  # bytes read outside the roots: 0
    errors = [s["rationale"] for s in run.results["samples"] if s["outcome"] == "error"]
    assert any("query_d_scene.json: resolves outside the data root" in e for e in errors)
    assert any(image.name in e and "outside the data root" in e for e in errors)
    guard = [s["rationale"] for s in run.results["samples"] if s["task"] == "MG.noise-injection"]
    assert any("outside the data root" in e for e in guard)
    assert SECRET not in run.results_path.read_text(encoding="utf-8")


# -- duplicate ids, huge answers, control characters ----------------------------------------------


def test_a_repeated_sample_id_is_warned_about_and_counted_once_per_occurrence(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data"
    shutil.copytree(FIXTURES, root / "multitrust")
    path = root / "multitrust/robustness/ood-text/label.json"
    labels = json.loads(path.read_text())
    style = next(iter(k for k in labels if k != "base"))
    labels[style].append(dict(labels[style][0]))  # the same id twice
    path.write_text(json.dumps(labels))
    config = parse_config({"model": "replay:x", "data": [f"multitrust={root / 'multitrust'}"]},
                          tmp_path)  # fmt: skip
    with pytest.warns(DataWarning, match=r"R\.3: \d+ sample id\(s\) occur more than once"):
        samples = TrustSession(config, tmp_path).samples_for("R.3")
    uids = [s.uid for s in samples]
    assert len(uids) == len(set(uids))
    assert any(uid.endswith("~2") for uid in uids)


def test_a_huge_answer_is_cut_marked_and_still_judged(pytester: pytest.Pytester, run_trust) -> None:
    huge = "No. " + "blah " * 2_000_000  # 10 MB
    replay = write_replay(pytester.path / "a.jsonl", lambda s: huge, tasks=("S.4",))
    run = run_trust(f"--mllm=replay:{replay}", "--mllm-max-answer-chars=1000", tasks=("S.4",))
    samples = run.results["samples"]
    assert len(samples) == 24  # every S.4 sample of the bundled data
    assert all(len(s["output"]) == 1000 for s in samples)
    assert all(s["output_chars"] == len(huge) for s in samples)
    assert all(s["outcome"] in ("pass", "fail") for s in samples)  # judged on what was kept
    assert run.results_path.stat().st_size < 24 * (1000 + 3000)


def test_control_characters_from_data_and_servers_are_escaped_on_the_console(
    pytester: pytest.Pytester, run_trust
) -> None:
    evil = "\x1b[2J\x1b]0;owned\x07\x1b[31mRED\u202e"
    replay = write_replay(pytester.path / "a.jsonl", lambda s: f"Sure. {evil}", tasks=("S.4",))
    run = run_trust(f"--mllm=replay:{replay}", "-rA", tasks=("S.4",))
    console = run.result.stdout.str() + run.result.stderr.str()
    assert "\x1b" not in console
    assert "\u202e" not in console
    assert "\\x1b[2J" in console  # shown as text
