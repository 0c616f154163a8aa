"""The vLLM backend: an offline vLLM engine in this process (optional extra, CUDA GPUs only).

Each ``generate`` call submits its whole batch (a whole shard: :attr:`VLLMBackend.
preferred_batch_size` is large) in *one* ``LLM.chat`` call, so vLLM's continuous batching keeps
the GPU full. Every request is one user turn (an optional image as an OpenAI-style
``image_url`` data URL, then the text) rendered by the model's own chat template, decoded
greedily with its own ``max_tokens`` (vLLM takes one ``SamplingParams`` per request).

vllm is imported when the engine is built (first generate), never when this module is
imported; building a backend only checks that vllm is installed and that a CUDA GPU is visible,
so a machine without either stops the run with a clear message instead of a traceback.
"""

from __future__ import annotations

import base64
import importlib.metadata
import importlib.util
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.core.config import dtype_name
from pytest_mllmtrust.core.errors import BackendError, ConfigError
from pytest_mllmtrust.core.hashing import hash_directory
from pytest_mllmtrust.core.model import GenerationRequest

__all__ = ["INSTALL_HINT", "NO_GPU", "VLLMBackend", "conversation"]

INSTALL_HINT = "vLLM is not installed: pip install 'pytest-mllmtrust[vllm]'"
NO_GPU = "vllm: needs a CUDA GPU; none is visible"


def vllm_installed() -> bool:
    """Whether ``import vllm`` can work here (without importing it)."""
    return importlib.util.find_spec("vllm") is not None


def cuda_gpu_visible() -> bool:
    """A CUDA GPU this process may use, checked without importing torch when possible."""
    from pytest_mllmtrust.gpus import visible_gpus

    if not visible_gpus():
        return False
    if Path("/proc/driver/nvidia/gpus").is_dir():
        return True
    # CUDA_VISIBLE_DEVICES names GPUs but the driver is not listed (not Linux, or a container
    # without /proc/driver): ask torch, which vllm imports anyway.
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class VLLMBackend(Backend):
    """A vision-language model served by an in-process vLLM engine."""

    kind = "vllm"
    # vLLM's scheduler batches requests as it likes, which can change the numerics of a row
    batch_invariant = False
    # a whole shard (or more) per call: continuous batching fills the GPU with it
    preferred_batch_size = 512

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        tensor_parallel: int = 1,
        trust_remote_code: bool = False,
        revision: str | None = None,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
    ) -> None:
        """Check that vLLM and a GPU are here; the engine starts on the first generate()."""
        if not vllm_installed():
            raise BackendError(INSTALL_HINT)
        if not cuda_gpu_visible():
            raise BackendError(NO_GPU)
        if tensor_parallel < 1:
            raise ConfigError(f"--mllm-tensor-parallel={tensor_parallel}: must be > 0")
        self.model_id = model
        self.revision = revision
        self.dtype_name = dtype_name(dtype)
        self.tensor_parallel = tensor_parallel
        self.trust_remote_code = trust_remote_code
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization
        local = Path(model).expanduser()
        self.model_dir: Path | None = local.resolve() if local.is_dir() else None
        if self.model_dir is None and model.startswith((".", "/", "~")):
            raise BackendError(f"model directory {model!r} does not exist")
        self._llm: Any = None
        self._closed = False
        self._fingerprint: dict[str, Any] | None = None

    # -- Backend interface ----------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            identity: dict[str, Any]
            if self.model_dir is not None:
                # content, not location: the same weights answer the same wherever they live
                identity = {"weights_sha256": hash_directory(self.model_dir)}
            else:
                identity = {"hub_id": self.model_id, "revision": self.revision}
            self._fingerprint = {
                "backend": self.kind,
                **identity,
                "dtype": self.dtype_name,
                "tensor_parallel": self.tensor_parallel,
                "trust_remote_code": self.trust_remote_code,
                "max_model_len": self.max_model_len,
                "vllm": _version("vllm"),
            }
        return dict(self._fingerprint)

    def describe(self) -> dict[str, Any]:
        return {
            **self.fingerprint(),
            "model": self.model_id,
            "generation": {
                "temperature": 0.0,
                "max_tokens": "per request",
                "batching": "one LLM.chat call per batch (continuous batching)",
            },
        }

    def generate(self, batch: Sequence[GenerationRequest]) -> list[str]:
        requests = list(batch)
        if not requests:
            return []
        llm = self.load()
        from vllm import SamplingParams

        conversations = [conversation(request) for request in requests]
        # one SamplingParams per request: each answer stops at its own budget, exactly as if it
        # had been asked alone (greedy decoding is prefix-stable)
        params = [
            SamplingParams(temperature=0.0, max_tokens=max(request.max_new_tokens, 1))
            for request in requests
        ]
        try:
            outputs = llm.chat(conversations, sampling_params=params, use_tqdm=False)
        except Exception as error:
            raise BackendError(f"vllm generation failed: {type(error).__name__}: {error}") from (
                error
            )
        if len(outputs) != len(requests):
            raise BackendError(f"vllm answered {len(outputs)} of {len(requests)} requests")
        answers: list[str] = []
        for output, request in zip(outputs, requests, strict=True):
            text = str(output.outputs[0].text) if output.outputs else ""
            answers.append(text if request.max_new_tokens > 0 else "")
        return answers

    def load(self) -> Any:
        """Start the engine (done by the first generate() if not called before)."""
        if self._closed:
            raise BackendError("the vllm backend was closed")
        if self._llm is None:
            import vllm

            settings: dict[str, Any] = {
                "model": str(self.model_dir) if self.model_dir is not None else self.model_id,
                "dtype": self.dtype_name,
                "tensor_parallel_size": self.tensor_parallel,
                "trust_remote_code": self.trust_remote_code,
                "limit_mm_per_prompt": {"image": 1},
            }
            if self.revision is not None:
                settings["revision"] = self.revision
            if self.max_model_len is not None:
                settings["max_model_len"] = self.max_model_len
            if self.gpu_memory_utilization is not None:
                settings["gpu_memory_utilization"] = self.gpu_memory_utilization
            try:
                self._llm = vllm.LLM(**settings)
            except Exception as error:
                raise BackendError(
                    f"vllm could not start {self.model_id!r} "
                    f"(tensor_parallel_size={self.tensor_parallel}): "
                    f"{type(error).__name__}: {error}"
                ) from error
        return self._llm

    def close(self) -> None:
        self._closed = True
        if self._llm is None:
            return  # never started (every answer was cached): nothing to free
        self._llm = None
        import gc

        gc.collect()
        try:
            import torch
        except ImportError:
            return
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def conversation(request: GenerationRequest) -> list[dict[str, Any]]:
    """One user turn in OpenAI's message format, which ``LLM.chat`` accepts."""
    parts: list[dict[str, Any]] = []
    if request.image is not None:
        parts.append({"type": "image_url", "image_url": {"url": image_data_url(request.image)}})
    parts.append({"type": "text", "text": request.text})
    return [{"role": "user", "content": parts}]


def image_data_url(image: Any) -> str:
    """A PIL image as a lossless ``data:image/png;base64,...`` URL."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
