"""GPUs under pytest-xdist: worker k gets its own GPU, or its own slice of N GPUs.

``pytest -n 4 --mllm=...`` on a 4-GPU machine starts four workers that would otherwise all see
(and load the model onto) GPU 0. Each worker instead narrows ``CUDA_VISIBLE_DEVICES`` to its
slice in ``pytest_configure``, before anything imports torch (a backend imports it only when it
loads), so the model is loaded once per worker on that worker's own GPUs.

The GPUs to share out are the parent's ``CUDA_VISIBLE_DEVICES`` when it is set (workers inherit
the controller's environment), otherwise every GPU the NVIDIA driver lists, counted without
importing torch. Where there are none (a CPU machine) nothing changes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.config import RunConfig
from pytest_mllmtrust.core.errors import ConfigError

__all__ = ["configure_gpus", "gpu_slice", "needs_local_gpu", "visible_gpus"]

#: where the NVIDIA driver lists one directory per GPU (Linux)
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
GPUS_OPTION = "--mllm-gpus-per-worker"


def gpu_slice(worker_index: int, gpus_per_worker: int, visible: Sequence[str]) -> list[str]:
    """The GPUs of xdist worker ``worker_index`` (0 for gw0): ``visible[k*N:(k+1)*N]``.

    Device names are kept as given (indices or ``GPU-<uuid>`` / ``MIG-...`` names). Raises
    :class:`ConfigError` when there are not enough GPUs for this worker's whole slice.
    """
    if worker_index < 0:
        raise ConfigError(f"xdist worker index {worker_index}: must be >= 0")
    if gpus_per_worker < 1:
        raise ConfigError(f"{GPUS_OPTION}={gpus_per_worker}: must be > 0")
    start = worker_index * gpus_per_worker
    chosen = list(visible[start : start + gpus_per_worker])
    if len(chosen) < gpus_per_worker:
        raise ConfigError(
            f"not enough GPUs: worker gw{worker_index} needs {gpus_per_worker} GPU(s) "
            f"({GPUS_OPTION}={gpus_per_worker}), GPUs number {start} to "
            f"{start + gpus_per_worker - 1}, but {len(visible)} are visible "
            f"({_listing(visible)}): at most "
            f"{len(visible) // gpus_per_worker} worker(s) fit; lower -n or {GPUS_OPTION}"
        )
    return chosen


def check_fits(workers: int, gpus_per_worker: int, visible: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless ``workers`` slices of ``gpus_per_worker`` GPUs fit."""
    needed = workers * gpus_per_worker
    if needed > len(visible):
        raise ConfigError(
            f"not enough GPUs: {workers} xdist workers x {gpus_per_worker} GPU(s) per worker "
            f"({GPUS_OPTION}) need {needed} GPUs, but {len(visible)} are visible "
            f"({_listing(visible)}): use -n {len(visible) // gpus_per_worker} or fewer, or "
            f"lower {GPUS_OPTION}"
        )


def visible_gpus(
    environ: Mapping[str, str] | None = None, driver_dir: Path = NVIDIA_GPUS
) -> list[str]:
    """The GPUs this process may use, without importing torch.

    ``CUDA_VISIBLE_DEVICES`` when set (``""`` or ``-1`` hide every GPU), else one index per GPU
    the NVIDIA driver lists, else none.
    """
    env = os.environ if environ is None else environ
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        names = [name.strip() for name in value.split(",")]
        # CUDA stops at the first invalid entry; "-1" is the usual way to hide every GPU
        kept: list[str] = []
        for name in names:
            if not name or name.startswith("-"):
                break
            kept.append(name)
        return kept
    try:
        count = sum(1 for _ in driver_dir.iterdir()) if driver_dir.is_dir() else 0
    except OSError:
        count = 0
    return [str(index) for index in range(count)]


def needs_local_gpu(config: RunConfig) -> bool:
    """Whether the model or judge runs in this process on a GPU (hf on a non-CPU device, vllm):
    each backend class says (Backend.runs_on_local_gpu); its module imports no torch."""
    from pytest_mllmtrust.backends import backend_for

    specs = [spec for spec in (config.model, config.judge) if spec is not None]
    return any(backend_for(spec).runs_on_local_gpu(config) for spec in specs)


def worker_index(workerid: str) -> int:
    """``3`` for xdist's ``"gw3"``."""
    match = re.fullmatch(r"[a-z]*(\d+)", workerid.strip())
    if match is None:
        raise ConfigError(f"cannot tell the worker number from xdist worker id {workerid!r}")
    return int(match.group(1))


def configure_gpus(
    config: RunConfig,
    *,
    workerinput: Mapping[str, Any] | None,
    numprocesses: Any = None,
    explicit: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> list[str] | None:
    """Pin this xdist worker to its GPUs; check on the controller that the workers fit.

    On a worker (``workerinput`` given) sets ``CUDA_VISIBLE_DEVICES`` to the worker's slice and
    returns it; returns None (and changes nothing) when no GPU is visible. On the controller
    with an integer ``-n`` it only checks that every worker will get its slice.

    A slice that does not fit is an error when a GPU is really needed here (``explicit``: the
    user gave --mllm-gpus-per-worker; or the model or judge runs locally on a GPU). A run that
    only replays answers or calls an API uses no GPU: its workers are then left as they are.
    """
    env = os.environ if environ is None else environ
    visible = visible_gpus(env)
    if not visible:
        return None
    strict = explicit or needs_local_gpu(config)
    per_worker = config.gpus_per_worker
    if workerinput is None:
        if isinstance(numprocesses, int) and numprocesses > 0 and strict:
            check_fits(numprocesses, per_worker, visible)
        return None
    workers = workerinput.get("workercount")
    try:
        if isinstance(workers, int):
            check_fits(workers, per_worker, visible)
        chosen = gpu_slice(worker_index(str(workerinput["workerid"])), per_worker, visible)
    except ConfigError:
        if strict:
            raise
        return None
    env["CUDA_VISIBLE_DEVICES"] = ",".join(chosen)
    return chosen


def _listing(visible: Sequence[str]) -> str:
    return "GPUs " + ",".join(visible) if visible else "no GPU"
