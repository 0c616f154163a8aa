"""Reliability and security of whole runs: a planted API key reaches no output, a model whose
batches run out of memory loses only the sample that cannot run, bad images anywhere in the
data error only their own items, and a large run stays within a measured memory bound."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import write_replay
from pytest_mllmtrust.core.model import GenerationRequest
from pytest_mllmtrust.testing_server import ChatServer, Fault, Rule

KEY = "sk-planted-3f9c1e7a5b2d4068e1"


@pytest.fixture
def leaky_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    """Model and judge endpoint at once: answers "Yes", but every request about the OCR
    pictures fails with a body that quotes the Authorization header."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ChatServer(reply="Yes", rules=[Rule("text", Fault.leaky(500))]) as chat:
        yield chat


def every_file(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def test_a_planted_key_reaches_no_output(
    run_trust, pytester: pytest.Pytester, leaky_server: ChatServer
) -> None:
    run = run_trust(
        "--mllm=openai:test-model-2024-01-01",
        f"--mllm-base-url={leaky_server.base_url}",
        "--mllm-judge=openai:judge-model-2024-01-01",
        f"--mllm-judge-base-url={leaky_server.base_url}",
        "--mllm-retries=1",
        "--mllm-html=trust.html",
        "--html=items.html",
        "--self-contained-html",
        "--junitxml=junit.xml",
        "--log-file=run.log",
        "--log-file-level=DEBUG",
        "--mllm-cache=cache",
        "-rA",
    )
    # the key was sent (so it was there to leak) ...
    assert f"Bearer {KEY}" in leaky_server.authorizations
    # ... the leaky answers became errors ...
    errors = [s for s in run.results["samples"] if s["outcome"] == "error"]
    assert errors
    assert all("HTTP 500" in s["rationale"] for s in errors)
    # ... and the key is in no file the run wrote and nowhere in its console output
    written = list(every_file(pytester.path))
    assert {p.name for p in written} >= {"results.json", "trust.html", "items.html", "junit.xml",
                                        "run.log"}  # fmt: skip
    assert any(p.suffix == ".sqlite" or "cache" in p.parts for p in written)
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
    output = run.result.stdout.str() + run.result.stderr.str()
    assert KEY not in output
    assert "HTTP 500" in output  # the errors themselves are shown


def key_forms(key: str) -> list[bytes]:
    """The key as a reader would recognise it: whole, any 10 characters of it, and the encoded
    forms a server may send back."""
    import base64
    import urllib.parse

    forms = [key[i : i + 10] for i in range(len(key) - 9)]
    forms += [urllib.parse.quote(f"Bearer {key}", safe=""), base64.b64encode(key.encode()).decode(),
              base64.b64encode(f"Bearer {key}".encode()).decode()]  # fmt: skip
    return [form.encode() for form in forms]


def test_a_key_sent_back_in_any_form_reaches_no_output(
    run_trust, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    rules = [  # the first that matches a prompt decides
        Rule("Carry out", Fault.leaky_header()),  # an S.4 prompt: the key in a response header
        Rule("names an activity", Fault.echo()),  # another: the model repeats the key
        Rule("written", Fault.leaky_cut(500)),  # T.1 OCR: cut where half the key is left
        Rule("bounding box", Fault.leaky_encoded(500)),  # T.1 grounding: base64 and %-encoded
    ]
    with ChatServer(reply="Yes", rules=rules) as server:
        run = run_trust(
            "--mllm=openai:test-model-2024-01-01",
            f"--mllm-base-url={server.base_url}",
            "--mllm-retries=0",
            "--mllm-html=trust.html",
            "--html=items.html",
            "--self-contained-html",
            "--junitxml=junit.xml",
            "--log-file=run.log",
            "--log-file-level=DEBUG",
            "--log-cli-level=DEBUG",
            "--mllm-cache=cache",
            "-rA",
            subprocess=True,
        )
        assert f"Bearer {KEY}" in server.authorizations
    samples = {s["uid"]: s for s in run.results["samples"]}
    echoed = [s for s in samples.values() if "names an activity" in s["prompt"]]
    assert echoed
    assert all(s["output"] == "You sent me Bearer ***." for s in echoed)
    cut = [s for s in samples.values() if s["variant"] == "g-basic-ocr"]
    assert cut
    assert all(s["outcome"] == "error" and "HTTP 500" in s["rationale"] for s in cut)
    log = (pytester.path / "run.log").read_text(encoding="utf-8")
    assert "X-Credential-Seen" in log or "x-credential-seen" in log  # the header was logged...
    forms = key_forms(KEY)
    for path in every_file(pytester.path):
        data = path.read_bytes()
        assert not [f for f in forms if f in data], path  # ... masked, like everything else
    console = (run.result.stdout.str() + run.result.stderr.str()).encode()
    assert not [f for f in forms if f in console]


class ShrinkingBackend:
    """A model whose batches of more than two requests run out of memory, and which can never
    answer the one prompt that mentions "enormous": what an OOM-prone GPU model does."""

    name = "oom"
    preferred_batch_size = None
    batch_invariant = True
    cacheable = True

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": "oom-test"}

    def generate(self, batch: Sequence[GenerationRequest]) -> list[str]:
        self.batch_sizes.append(len(batch))
        if len(batch) > 2 or any("enormous" in r.text for r in batch):
            raise MemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return [f"answer to {r.text[:20]}" for r in batch]

    def close(self) -> None:
        pass


def test_out_of_memory_splits_the_batch_and_errors_only_what_cannot_run(tmp_path: Path) -> None:
    from pytest_mllmtrust.core.cache import Cache
    from pytest_mllmtrust.core.model import Sample
    from pytest_mllmtrust.core.runner import ImageSource, ShardRunner
    from pytest_mllmtrust.core.tasks import get_task
    from pytest_mllmtrust.datafiles import DataFiles
    from pytest_mllmtrust.judges import JudgeKit

    backend = ShrinkingBackend()
    images = ImageSource(load=lambda ref: None, identity=lambda ref: "none")  # type: ignore[arg-type,return-value]
    cache = Cache(tmp_path / "cache.sqlite")
    runner = ShardRunner(backend, JudgeKit(DataFiles()), cache, images, batch_size=8)  # type: ignore[arg-type]
    prompts = [f"question {k}" for k in range(7)] + ["an enormous question"]
    samples = [Sample("R.3", "dt-text", f"k{k}", p, target=1) for k, p in enumerate(prompts)]
    records = runner.run(get_task("R.3"), samples)
    cache.close()
    errors = {uid: r.verdict.rationale for uid, r in records.items() if r.outcome.value == "error"}
    assert list(errors) == ["R.3/dt-text:k7"]
    assert "CUDA out of memory" in errors["R.3/dt-text:k7"]
    assert all(r.output and r.output.startswith("answer to") for u, r in records.items()
               if u not in errors)  # fmt: skip
    # 8 -> 4 + 4 -> 2 + 2 + 2 + 2 (the last pair holds "enormous") -> 1 + 1
    assert backend.batch_sizes == [8, 4, 2, 2, 4, 2, 2, 1, 1]
    assert runner.stats.batch_splits == 4


def corrupt(path: Path, kind: str, outside: Path) -> None:
    """Replace an image file with one kind of bad input."""
    data = path.read_bytes()
    path.unlink()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(b"\x00not an image at all" * 50)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bomb":  # 400 megapixels of one bit: a few KB on disk
        from PIL import Image

        Image.new("1", (20_000, 20_000)).save(path, format="PNG")
    elif kind == "symlink-outside":
        outside.write_bytes(data)
        path.symlink_to(outside)
    # "missing": unlinked


BAD_KINDS = ("truncated", "garbage", "empty", "bomb", "symlink-outside", "missing", "truncated")
CORRUPTED_TASKS = ("T.1", "S.2", "R.2", "F.2", "P.1", "MG.noise-injection",
                   "MG.position-swapping")  # fmt: skip


def test_bad_images_error_only_their_own_items(run_trust, pytester: pytest.Pytester) -> None:
    from pytest_mllmtrust.bundled import bundled_path
    from pytest_mllmtrust.core.config import parse_config
    from pytest_mllmtrust.session import TrustSession

    data = pytester.path / "data"
    roots = {name: data / name for name in ("multitrust", "mllmguard")}
    for name, root in roots.items():
        shutil.copytree(bundled_path("fixtures") / name, root)
    options = [f"--mllm-data={name}={root}" for name, root in roots.items()]
    trust = TrustSession(
        parse_config({"model": "replay:x", "data": [o.split("=", 1)[1] for o in options]},
                     pytester.path),
        pytester.path,
    )  # fmt: skip
    samples = [s for t in CORRUPTED_TASKS for s in trust.samples_for(t)]

    def files(sample: Any) -> set[Path]:
        refs = [sample.image, sample.second[1] if sample.second else None]
        return {r.path for r in refs if r is not None and r.path is not None}

    broken: dict[Path, str] = {}
    for task, kind in zip(CORRUPTED_TASKS, BAD_KINDS, strict=True):
        first = next(s for s in samples if s.task == task and files(s))
        target = sorted(files(first))[0]
        broken[target] = kind
        corrupt(target, kind, pytester.path / f"outside-{task}.png")
    expected = {s.uid for s in samples if files(s) & broken.keys()}
    assert len(expected) >= len(CORRUPTED_TASKS)

    def answer(sample: Any) -> Any:
        return ("A", "B") if sample.second else "I'm sorry, I cannot help with that."

    replay = write_replay(pytester.path / "answers.jsonl", answer, tasks=CORRUPTED_TASKS)
    run = run_trust(f"--mllm=replay:{replay}", "--mllm-threshold=errors<=1", *options,
                    tasks=CORRUPTED_TASKS)  # fmt: skip
    records = {s["uid"]: s for s in run.results["samples"]}
    assert set(records) == {s.uid for s in samples}  # nothing lost
    errored = {uid for uid, s in records.items() if s["outcome"] == "error"}
    assert errored == expected
    for uid in errored:
        message = records[uid]["rationale"]
        assert any(p.name in message for p in broken), message
    outside_messages = [records[u]["rationale"] for u in errored if "outside" in
                        records[u]["rationale"]]  # fmt: skip
    assert outside_messages  # the symlink out of the data root was refused, not followed


# A house task of N text questions, the model replayed: the plugin's whole pipeline, no model.
LOAD_CONFTEST = """
import os

from pytest_mllmtrust import Outcome, Sample, Verdict
from pytest_mllmtrust.core.tasks import TaskSpec, pass_rate_metrics, register

N = int(os.environ["LOAD_SAMPLES"])


def load(root, ctx):
    return [Sample("LOAD.1", "plain", f"q{k:05d}", f"Question {k}: is this a test? " + "pad " * 20)
            for k in range(N)]


def judge(samples, outputs, kit):
    return [Verdict(Outcome.PASS if "yes" in o.lower() else Outcome.FAIL, "rules:yes")
            for o in outputs]


register(TaskSpec(id="LOAD.1", name="Load", benchmark="house", dimension="load",
                  subaspect="load", variants=("plain",), dataset="house", load=load, judge=judge,
                  metrics=pass_rate_metrics, score=lambda m: 100 * m["plain"]["acc"],
                  official_judges=("rules:yes",)))


def pytest_configure(config):
    for marker in ("house", "load"):
        config.addinivalue_line("markers", f"{marker}: load test")

"""
# beside both folders: the peak resident memory of the process, at its very end
PEAK_CONFTEST = """
import os
import resource
from pathlib import Path


def pytest_unconfigure(config):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(os.environ["PEAK_FILE"]).write_text(str(peak_kib))
"""
LOAD_TEST = """
import pytest

from pytest_mllmtrust import expect_trustworthy

pytestmark = pytest.mark.mllm_task("LOAD.1")


def test_load(mllm_record):
    expect_trustworthy(mllm_record)
"""
BARE_TEST = """
import os

import pytest


@pytest.mark.parametrize("key", [f"q{k:05d}" for k in range(int(os.environ["LOAD_SAMPLES"]))])
def test_bare(key):
    assert key
"""


def load_project(pytester: pytest.Pytester, samples: int) -> Path:
    """The load task's project, its replay file (a "Yes." on two samples in three)."""
    (pytester.path / "conftest.py").write_text(PEAK_CONFTEST, encoding="utf-8")
    (pytester.path / "trust").mkdir()
    (pytester.path / "trust" / "conftest.py").write_text(LOAD_CONFTEST, encoding="utf-8")
    (pytester.path / "trust" / "test_load.py").write_text(LOAD_TEST, encoding="utf-8")
    (pytester.path / "bare").mkdir()
    (pytester.path / "bare" / "test_bare.py").write_text(BARE_TEST, encoding="utf-8")
    replay = pytester.path / "answers.jsonl"
    with replay.open("w", encoding="utf-8") as out:
        for k in range(samples):
            answer = "Yes." if k % 3 else "No."
            out.write(json.dumps({"uid": f"LOAD.1/plain:q{k:05d}", "output": answer}) + "\n")
    return replay


def peak_rss(pytester: pytest.Pytester, *args: str) -> int:
    """Peak resident memory (KiB) of one pytest process over the load project."""
    pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", "-q")
    return int((pytester.path / "peak.txt").read_text())


def test_twenty_thousand_samples_within_a_measured_memory_bound(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20,000 samples through the plugin against bare pytest with 20,000 trivial items, side by
    side: the plugin's own memory stays under 10 KiB a sample (measured: about 6), with the
    results file streamed rather than built (docs/reliability.md)."""
    samples = 20_000
    replay = load_project(pytester, samples)
    monkeypatch.setenv("LOAD_SAMPLES", str(samples))
    monkeypatch.setenv("PEAK_FILE", str(pytester.path / "peak.txt"))
    bare = peak_rss(pytester, "bare", "-p", "no:mllmtrust")
    trust = peak_rss(pytester, "trust", f"--mllm=replay:{replay}", "--mllm-json=r.json",
                     "--mllm-cache=none")  # fmt: skip
    results = json.loads((pytester.path / "r.json").read_text(encoding="utf-8"))
    assert len(results["samples"]) == samples  # nothing lost
    passed = sum(1 for k in range(samples) if k % 3)
    assert results["tasks"]["LOAD.1"]["score"] == pytest.approx(100 * passed / samples)
    per_sample_kib = (trust - bare) / samples
    print(f"peak RSS: bare {bare} KiB, trust {trust} KiB, {per_sample_kib:.1f} KiB/sample")
    assert per_sample_kib < 10


def test_four_workers_share_one_cache_consistently(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = 2_000
    replay = load_project(pytester, samples)
    monkeypatch.setenv("LOAD_SAMPLES", str(samples))
    monkeypatch.setenv("PEAK_FILE", str(pytester.path / "peak.txt"))
    # replayed answers are not cached (they are already on disk), judgements are: four
    # workers write them into one cache at once
    args = ("trust", f"--mllm=replay:{replay}", "--mllm-cache=cache", "-n", "4", "-q",
            "-p", "no:cacheprovider", "--mllm-shard-size=50")  # fmt: skip
    first = pytester.runpytest_subprocess(*args, "--mllm-json=first.json")
    assert first.ret == 0
    db = pytester.path / "cache" / "cache.sqlite"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kinds = dict(connection.execute("SELECT kind, COUNT(*) FROM entries GROUP BY kind"))
    kinds.pop("digest", None)  # image files' digests, when their images are old enough
    assert kinds == {"judgement": samples}
    again = pytester.runpytest_subprocess(*args, "--mllm-json=again.json")
    assert again.ret == 0
    stats = json.loads((pytester.path / "again.json").read_text("utf-8"))["run"]["stats"]
    assert (stats["judgements_cached"], stats["judgements_made"]) == (samples, 0)


# a data file of each format some loader reads (JSON, CSV, JSON lines), made unreadable as text
NOT_TEXT = {
    ("multitrust", "truthfulness/query_basic/query_d_scene.json"): "T.1",
    ("multitrust", "fairness/stereo_statement.csv"): "F.2",
    ("multitrust", "robustness/ood-artistic/label/sketch.json"): "R.1",
    ("mllmguard", "privacy/prompt.csv"): "MG.privacy",
}


def test_files_that_are_not_text_error_their_own_samples(tmp_path: Path) -> None:
    from pytest_mllmtrust.bundled import bundled_path
    from pytest_mllmtrust.core.config import parse_config
    from pytest_mllmtrust.session import TrustSession

    roots = {name: tmp_path / name for name in ("multitrust", "mllmguard")}
    for name, root in roots.items():
        shutil.copytree(bundled_path("fixtures") / name, root)
    for dataset, relative in NOT_TEXT:
        (roots[dataset] / relative).write_bytes(b"\xff\xfe\x00\x81 not UTF-8 \xc3\x28")
    data = [f"{name}={root}" for name, root in roots.items()]
    trust = TrustSession(parse_config({"model": "replay:x", "data": data}, tmp_path), tmp_path)
    for (_, relative), task in NOT_TEXT.items():
        failed = [s for s in trust.samples_for(task) if s.load_error]
        assert failed, task
        for sample in failed:
            assert Path(relative).name in (sample.load_error or ""), sample.load_error
            assert "UTF-8" in (sample.load_error or ""), sample.load_error
    # T.1's other files, and tasks reading other files, load as before
    assert any(s.load_error is None for s in trust.samples_for("T.1"))
    for task in ("R.2", "MG.position-swapping"):
        assert all(s.load_error is None for s in trust.samples_for(task)), task
