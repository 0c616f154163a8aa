"""Backends behind one small interface; heavy libraries are imported only by the one in use."""

from __future__ import annotations

from pytest_mllmtrust.backends.base import DEFAULT_SHARD_SIZE, Backend
from pytest_mllmtrust.core.config import ModelSpec, RunConfig
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.registry import backend_class

__all__ = [
    "ALIAS_BACKEND",
    "DEFAULT_SHARD_SIZE",
    "Backend",
    "backend_for",
    "load_backend",
    "shard_size",
]

#: the backend that resolves a bare model name (``--mllm=llava-1.5-7b``, ModelSpec "alias")
ALIAS_BACKEND = "hf"


def shard_size(config: RunConfig) -> int:
    """Samples per shard: ``--mllm-shard-size``, else one full call of the backend under test.

    A batch never crosses a shard, so a shard smaller than what an API client keeps in flight
    (eight waves of its concurrency) or than vLLM's batch leaves the server idle at every
    shard's end; a transformers model takes its batches from a shard of the default size.
    Each backend class says its own (:meth:`Backend.shard_size`).
    """
    if config.shard_size is not None:
        return config.shard_size
    if config.model is None:
        return DEFAULT_SHARD_SIZE
    return backend_for(config.model).shard_size(config)


def load_backend(spec: ModelSpec, config: RunConfig, *, judge: bool = False) -> Backend:
    """Instantiate the backend a ``--mllm`` (or, with ``judge``, ``--mllm-judge``) spec names:
    the class registered under its prefix in the ``pytest_mllmtrust.backends`` entry-point
    group (pytest_mllmtrust.registry), built by its ``from_config``."""
    return backend_for(spec).from_config(spec, config, judge=judge)


def backend_for(spec: ModelSpec) -> type[Backend]:
    """The Backend class a spec names (its module imported, nothing built)."""
    name = ALIAS_BACKEND if spec.backend == "alias" else spec.backend
    try:
        return backend_class(name)
    except ConfigError as exc:
        raise ConfigError(f"no backend for {spec.text!r}: {exc}") from None
