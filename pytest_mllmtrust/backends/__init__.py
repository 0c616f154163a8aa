"""Backends behind one small interface; heavy libraries are imported only by the one in use."""

from __future__ import annotations

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.core.config import ModelSpec, RunConfig
from pytest_mllmtrust.core.errors import ConfigError

__all__ = ["DEFAULT_SHARD_SIZE", "Backend", "load_backend", "shard_size"]

#: samples per shard unless the backend takes more in one call or --mllm-shard-size is given
DEFAULT_SHARD_SIZE = 64


def shard_size(config: RunConfig) -> int:
    """Samples per shard: ``--mllm-shard-size``, else one full call of the backend under test.

    A batch never crosses a shard, so a shard smaller than what an API client keeps in flight
    (eight waves of its concurrency) or than vLLM's batch leaves the server idle at every
    shard's end; a transformers model takes its batches from a shard of the default size.
    """
    if config.shard_size is not None:
        return config.shard_size
    backend = config.model.backend if config.model is not None else None
    if backend == "openai":
        from pytest_mllmtrust.backends.openai_api import batch_for

        return max(DEFAULT_SHARD_SIZE, batch_for(config.concurrency))
    if backend == "vllm":
        from pytest_mllmtrust.backends.vllm_engine import VLLMBackend

        return max(DEFAULT_SHARD_SIZE, VLLMBackend.preferred_batch_size)
    return DEFAULT_SHARD_SIZE


def load_backend(spec: ModelSpec, config: RunConfig, *, judge: bool = False) -> Backend:
    """Instantiate the backend a ``--mllm`` (or, with ``judge``, ``--mllm-judge``) spec names."""
    if spec.backend == "replay":
        from pytest_mllmtrust.backends.replay import ReplayBackend

        return ReplayBackend(spec.target)
    if spec.backend == "openai":
        from pytest_mllmtrust.backends.openai_api import OpenAIBackend

        return OpenAIBackend(
            spec.target,
            base_url=config.judge_base_url if judge else config.base_url,
            concurrency=config.concurrency,
            timeout=config.timeout,
            retries=config.retries,
            max_image_side=config.max_image_side,
        )
    if spec.backend == "vllm":
        from pytest_mllmtrust.backends.vllm_engine import VLLMBackend

        return VLLMBackend(
            spec.target,
            dtype=config.dtype,
            tensor_parallel=config.tensor_parallel,
            trust_remote_code=config.trust_remote_code,
        )
    if spec.backend not in ("hf", "alias"):
        raise ConfigError(f"no backend for {spec.text!r}")
    from pytest_mllmtrust.backends.hf import TransformersBackend

    # TransformersBackend resolves aliases itself (and refuses one that needs remote code
    # unless --mllm-trust-remote-code was given).
    return TransformersBackend(
        spec.target,
        dtype=config.dtype,
        device=config.device,
        trust_remote_code=config.trust_remote_code,
    )
