"""CPU threads for torch in each process (``--mllm-threads``).

The default is one thread per process, chosen by measurement (benchmarks/cpu_threads.py,
docs/performance.md): on an idle 2-core machine one thread generates as fast as two (the tiny
LLaVA) or faster (the MiniLM embedder), and on a contended one, where torch's default of a thread
per core has its spinning threads wait on each other, one thread was five times faster. xdist
workers then each use one core, which is what ``-n`` asks for. ``auto`` leaves the choice to torch
(``OMP_NUM_THREADS`` when set, else every core) shared among the xdist workers.

Torch reads ``OMP_NUM_THREADS`` when it is imported, which a backend does only when it loads: the
setting is made in ``pytest_configure``, before that, and through ``torch.set_num_threads`` as
well when something imported torch earlier.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping

__all__ = ["apply_threads", "threads_for"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def threads_for(
    setting: int | None, *, workers: int, cores: int, environ: Mapping[str, str]
) -> tuple[int, str]:
    """Threads for this process and where the number comes from: ``setting`` (None is
    ``auto``: ``OMP_NUM_THREADS`` if set, else ``cores`` shared among ``workers``)."""
    if setting is not None:
        return setting, "--mllm-threads"
    given = environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given), "auto: OMP_NUM_THREADS"
    share = max(1, cores // max(1, workers))
    return share, f"auto: {cores} cores / {max(1, workers)} process(es)"


def apply_threads(count: int, environ: MutableMapping[str, str] | None = None) -> None:
    """Make torch (and the BLAS libraries) in this process use ``count`` threads."""
    env = os.environ if environ is None else environ
    for name in _THREAD_VARIABLES:
        env[name] = str(count)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)
