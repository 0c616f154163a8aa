"""Backends behind one small interface; heavy libraries are imported only by the one in use."""

from __future__ import annotations

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.core.config import ModelSpec, RunConfig

__all__ = ["Backend", "load_backend"]


def load_backend(spec: ModelSpec, config: RunConfig) -> Backend:
    """Instantiate the backend a ``--mllm`` (or ``--mllm-judge``) spec names."""
    if spec.backend == "replay":
        from pytest_mllmtrust.backends.replay import ReplayBackend

        return ReplayBackend(spec.target)
    from pytest_mllmtrust.backends.hf import TransformersBackend

    # TransformersBackend resolves aliases itself (and refuses one that needs remote code
    # unless --mllm-trust-remote-code was given).
    return TransformersBackend(
        spec.target,
        dtype=config.dtype,
        device=config.device,
        trust_remote_code=config.trust_remote_code,
    )
