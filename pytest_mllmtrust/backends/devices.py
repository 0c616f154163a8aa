"""Which device and dtype a model runs on: shared by the transformers backend and the judges
that run their own weights (classifiers, GuardRank, the sentence embedder).

Device names are resolved without importing torch: a run whose answers are all cached never
pays for it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.config import dtype_name
from pytest_mllmtrust.core.errors import BackendError, ConfigError

__all__ = ["dtype_for", "resolve_device", "torch_device"]


def resolve_device(device: str) -> str:
    """The device a run uses, resolved without importing torch."""
    if device != "auto":
        return device
    if "torch" in sys.modules:  # already paid for: ask it
        return "cuda" if sys.modules["torch"].cuda.is_available() else "cpu"
    return "cuda" if _nvidia_gpu_visible() else "cpu"


def _nvidia_gpu_visible() -> bool:
    """An NVIDIA GPU the driver exposes and CUDA_VISIBLE_DEVICES does not hide."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def torch_device(name: str, torch: Any) -> Any:
    """``torch.device(name)``, or an error that says why this machine cannot use it."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"device {name!r} is not a torch device: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(
            f"device {name!r}: torch cannot use CUDA here (torch {torch.__version__}); "
            "pass --mllm-device=cpu or install a CUDA build of torch"
        )
    return device


def dtype_for(dtype: str, device_name: str) -> str:
    """The torch name of the dtype a model loads in; "auto" picks by device."""
    if dtype == "auto":
        # bfloat16 halves GPU memory at no cost in quality; CPUs are fastest and exact in float32.
        return "bfloat16" if device_name.startswith("cuda") else "float32"
    return dtype_name(dtype)
