"""Torch threads per process (--mllm-threads): the number, where it comes from, its effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mllmtrust.core.config import DEFAULT_THREADS, parse_config
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.cpus import apply_threads, threads_for


def test_the_default_is_one_thread_whatever_the_machine() -> None:
    config = parse_config({"model": "replay:x"}, Path.cwd())
    assert config.threads == DEFAULT_THREADS == 1
    env = {"OMP_NUM_THREADS": "8"}
    assert threads_for(config.threads, workers=1, cores=64, environ=env) == (1, "--mllm-threads")


@pytest.mark.parametrize(
    ("environ", "workers", "cores", "expected"),
    [
        ({}, 1, 16, (16, "auto: 16 cores / 1 process(es)")),
        ({}, 4, 16, (4, "auto: 16 cores / 4 process(es)")),
        ({}, 4, 2, (1, "auto: 2 cores / 4 process(es)")),  # never below one
        ({"OMP_NUM_THREADS": "3"}, 4, 16, (3, "auto: OMP_NUM_THREADS")),
        ({"OMP_NUM_THREADS": "zero"}, 2, 8, (4, "auto: 8 cores / 2 process(es)")),
    ],
)
def test_auto_shares_the_cores_among_xdist_workers_unless_omp_says(
    environ: dict[str, str], workers: int, cores: int, expected: tuple[int, str]
) -> None:
    config = parse_config({"model": "replay:x", "threads": "auto"}, Path.cwd())
    assert config.threads is None
    assert threads_for(config.threads, workers=workers, cores=cores, environ=environ) == expected


@pytest.mark.parametrize("raw", ["0", "-2", "many"])
def test_a_bad_thread_count_is_a_usage_error_quoting_it(raw: str) -> None:
    with pytest.raises(ConfigError, match=f"--mllm-threads={raw!r}"):
        parse_config({"model": "replay:x", "threads": raw}, Path.cwd())


def test_applying_sets_the_environment_torch_reads_and_torch_itself_when_loaded() -> None:
    import torch

    before = torch.get_num_threads()
    env: dict[str, str] = {}
    try:
        apply_threads(before + 1, env)
        assert env == {"OMP_NUM_THREADS": str(before + 1), "MKL_NUM_THREADS": str(before + 1)}
        assert torch.get_num_threads() == before + 1
    finally:
        torch.set_num_threads(before)
