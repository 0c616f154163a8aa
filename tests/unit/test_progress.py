"""Progress of model loading and generation: the runner's steps and their terminal lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.core.cache import Cache, NullCache
from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.core.model import GenerationRequest, Outcome
from pytest_mllmtrust.core.runner import ImageSource, Progress, ShardRunner
from pytest_mllmtrust.core.tasks import get_task
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.judges import JudgeKit
from pytest_mllmtrust.reporting.terminal import progress_line
from pytest_mllmtrust.session import TrustSession


def test_a_shard_reports_loading_once_then_each_batch() -> None:
    backend = CountingBackend()
    steps: list[Progress] = []
    runner = make_runner(backend, steps, batch_size=3)
    records = runner.run(get_task("R.3"), samples(7))
    assert all(r.outcome is not Outcome.ERROR for r in records.values())
    assert [(s.label, s.done, s.total, s.final) for s in steps] == [
        ("loading the model", 0, 0, False),
        ("loading the model", 0, 0, True),
        ("R.3 dt-text", 3, 7, False),
        ("R.3 dt-text", 6, 7, False),
        ("R.3 dt-text", 7, 7, True),
    ]
    assert backend.loads == 1
    steps.clear()
    runner.run(get_task("R.3"), samples(2, start=10))  # the next shard: the model is loaded
    assert [(s.label, s.done, s.final) for s in steps] == [("R.3 dt-text", 2, True)]
    assert backend.loads == 1


def test_a_model_that_cannot_load_errors_every_sample_without_retrying() -> None:
    backend = CountingBackend(fail_load=True)
    runner = make_runner(backend, [], batch_size=2)
    first = runner.run(get_task("R.3"), samples(5))
    second = runner.run(get_task("R.3"), samples(3, start=5))
    assert backend.loads == 1  # one attempt for the whole run, not one per batch or sample
    assert backend.generated == 0
    for record in [*first.values(), *second.values()]:
        assert record.outcome is Outcome.ERROR
        assert "weights are corrupt" in record.verdict.rationale


def test_a_session_whose_model_cannot_load_says_so_once(tmp_path: Path) -> None:
    config = parse_config({"model": "hf:" + str(tmp_path / "empty"), "cache": "none"}, tmp_path)
    (tmp_path / "empty").mkdir()
    trust = TrustSession(config, tmp_path)
    sample = trust.samples_for("T.1")[0]
    trust.select([("t.py::t[x:1]", sample)])
    record = trust.record_for(sample)
    assert record.outcome is Outcome.ERROR
    assert trust.load_failure is not None
    assert "could not load the model" in trust.load_failure


def test_a_cached_shard_reports_nothing(tmp_path: Path) -> None:
    steps: list[Progress] = []
    for _ in range(2):
        cache = Cache(tmp_path / "cache.sqlite")
        make_runner(CountingBackend(), steps, batch_size=4, cache=cache).run(
            get_task("R.3"), samples(4)
        )
        cache.close()
    generated = [s for s in steps if s.total]
    assert [(s.done, s.total, s.final) for s in generated] == [(4, 4, True)]  # first run only
    assert sum(s.label == "loading the model" for s in steps) == 2  # first run only, 2 steps


@pytest.mark.parametrize(
    ("step", "line"),
    [
        (Progress("loading the model", 0, 0, 0.0, False), "mllmtrust: loading the model ..."),
        (Progress("loading the model", 0, 0, 12.34, True), "mllmtrust: loading the model: 12.3 s"),
        (
            Progress("T.1 d-basic-object", 16, 64, 4.0, False),
            "mllmtrust: T.1 d-basic-object: 16/64 generated, 4.0 samples/s, ETA 12 s",
        ),
        (
            Progress("T.1 d-basic-object", 64, 64, 8.0, True),
            "mllmtrust: T.1 d-basic-object: 64 samples generated in 8.0 s (8.0 samples/s)",
        ),
        (
            Progress("S.4 x", 8, 64, 0.0, False),
            "mllmtrust: S.4 x: 8/64 generated, 0.0 samples/s, ETA ?",
        ),
    ],
)
def test_progress_lines(step: Progress, line: str) -> None:
    # ETA: 48 samples left at 16 / 4 s = 4 samples/s -> 12 s
    assert progress_line(step) == line


class CountingBackend(Backend):
    kind = "counting"

    def __init__(self, *, fail_load: bool = False) -> None:
        self.fail_load = fail_load
        self.loads = 0
        self.generated = 0

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.kind}

    def load(self) -> None:
        self.loads += 1
        if self.fail_load:
            raise OSError("the weights are corrupt")

    def generate(self, batch: Sequence[GenerationRequest]) -> list[str]:
        self.generated += len(batch)
        return ["It is positive." for _ in batch]


def make_runner(
    backend: Backend, steps: list[Progress], batch_size: int, cache: Cache | None = None
) -> ShardRunner:
    images = ImageSource(load=lambda ref: None, identity=lambda ref: "none")  # type: ignore[arg-type,return-value]
    return ShardRunner(
        backend, JudgeKit(DataFiles()), cache or NullCache(), images, batch_size=batch_size,
        progress=steps.append,
    )  # fmt: skip


def samples(n: int, start: int = 0) -> list[Any]:
    from pytest_mllmtrust.core.model import Sample

    return [
        Sample("R.3", "dt-text", f"k{k}", f"question {k}", target=1)
        for k in range(start, start + n)
    ]
