"""Where a model's files are, and reading its JSON configs: shared by the transformers backend
and the judges that load their own weights (classifiers, GuardRank).

A model is a local directory, an alias from :data:`ALIASES`, or a hub id looked up in the local
Hugging Face cache first, so an offline run without the weights fails at once with instructions
instead of hanging on the network.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mllmtrust.core.errors import BackendError

__all__ = [
    "ALIASES",
    "REMOTE_CODE_OPTION",
    "Alias",
    "locate",
    "read_json_config",
    "resolve_alias",
]

REMOTE_CODE_OPTION = "--mllm-trust-remote-code"


@dataclass(frozen=True)
class Alias:
    """A short model name: its hub id, and whether it only runs with the repository's code."""

    hub_id: str
    needs_remote_code: bool = False
    note: str = ""


_NEEDS_NUM2WORDS = "its processor needs `pip install num2words`"
_GATED = "gated: accept the licence on the hub page first"

ALIASES: dict[str, Alias] = {
    "llava-1.5-7b": Alias("llava-hf/llava-1.5-7b-hf"),
    "llava-1.5-13b": Alias("llava-hf/llava-1.5-13b-hf"),
    "llava-1.6-mistral-7b": Alias("llava-hf/llava-v1.6-mistral-7b-hf"),
    "llava-1.6-vicuna-7b": Alias("llava-hf/llava-v1.6-vicuna-7b-hf"),
    "qwen2-vl-2b": Alias("Qwen/Qwen2-VL-2B-Instruct"),
    "qwen2-vl-7b": Alias("Qwen/Qwen2-VL-7B-Instruct"),
    "qwen2.5-vl-3b": Alias("Qwen/Qwen2.5-VL-3B-Instruct"),
    "qwen2.5-vl-7b": Alias("Qwen/Qwen2.5-VL-7B-Instruct"),
    "internvl2-8b": Alias(
        "OpenGVLab/InternVL2-8B",
        needs_remote_code=True,
        note="original release, repository code only; internvl3-8b is the transformers-native one",
    ),
    "internvl3-1b": Alias("OpenGVLab/InternVL3-1B-hf"),
    "internvl3-8b": Alias("OpenGVLab/InternVL3-8B-hf"),
    "idefics3-8b": Alias("HuggingFaceM4/Idefics3-8B-Llama3"),
    "smolvlm-256m": Alias("HuggingFaceTB/SmolVLM-256M-Instruct", note=_NEEDS_NUM2WORDS),
    "smolvlm-2.2b": Alias("HuggingFaceTB/SmolVLM-Instruct", note=_NEEDS_NUM2WORDS),
    "llama-3.2-11b-vision": Alias("meta-llama/Llama-3.2-11B-Vision-Instruct", note=_GATED),
    "phi-3.5-vision": Alias("microsoft/Phi-3.5-vision-instruct", needs_remote_code=True),
}

# Formats transformers never loads for PyTorch; skipping them can save many gigabytes.
_NOT_FOR_TORCH = [
    "*.onnx", "*.onnx_data", "onnx/*", "*.msgpack", "*.h5", "*.tflite", "*.gguf", "*.ot",
    "coreml/*", "openvino/*",
]  # fmt: skip


def resolve_alias(name: str) -> tuple[str, bool]:
    """``(hub id, needs remote code)`` for a short model name such as ``qwen2-vl-2b``."""
    alias = ALIASES.get(name.strip().lower())
    if alias is None:
        known = ", ".join(sorted(ALIASES))
        raise BackendError(
            f"unknown model alias {name!r}. Known aliases: {known}. Any other model works as "
            f"'hf:<hub id or local directory>'."
        )
    return alias.hub_id, alias.needs_remote_code


def locate(model: str, revision: str | None, trust_remote_code: bool) -> tuple[str | None, Path]:
    """``(hub id or None, local directory)`` for a directory, an alias or a hub id."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return None, candidate.resolve()
    alias = ALIASES.get(model.strip().lower())
    hub_id = alias.hub_id if alias is not None else model
    needs_remote_code = any(
        known.needs_remote_code and known.hub_id.lower() == hub_id.lower()
        for known in ALIASES.values()
    )
    if _looks_like_path(model):
        raise BackendError(f"model directory {model!r} does not exist")
    if needs_remote_code and not trust_remote_code:
        raise BackendError(
            f"{model!r} ({hub_id}) only runs with code from its model repository. If you trust "
            f"it, add {REMOTE_CODE_OPTION}."
        )
    return hub_id, _local_snapshot(hub_id, revision)


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def _local_snapshot(hub_id: str, revision: str | None) -> Path:
    """The cached snapshot of ``hub_id``, downloading it only when the hub may be used."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(hub_id, revision=revision, local_files_only=True))
    except Exception as not_cached:  # any failure here means "not usable from the cache"
        if _hub_offline():
            raise BackendError(_fetch_instructions(hub_id, revision)) from not_cached
    try:
        return Path(snapshot_download(hub_id, revision=revision, ignore_patterns=_NOT_FOR_TORCH))
    except Exception as download_error:
        raise BackendError(
            f"{_fetch_instructions(hub_id, revision)}\nDownload failed: {download_error}"
        ) from download_error


def _hub_offline() -> bool:
    from huggingface_hub import constants

    # The constant is read once at import; the environment may have been set since.
    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    from_environment = any((flag or "").upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)
    return bool(constants.HF_HUB_OFFLINE) or from_environment


def _fetch_instructions(hub_id: str, revision: str | None) -> str:
    revision_option = f" --revision {revision}" if revision else ""
    local_name = hub_id.rsplit("/", 1)[-1]
    return (
        f"model {hub_id!r} is not in the local Hugging Face cache and the hub is offline "
        f"(HF_HUB_OFFLINE). Fetch it once where the hub is reachable:\n"
        f"    hf download {hub_id}{revision_option}\n"
        f"(or: huggingface-cli download {hub_id}{revision_option}), then run again; or download "
        f"it into a directory with `--local-dir ./{local_name}` and pass that directory as the "
        f"model; or unset HF_HUB_OFFLINE to let this run download it."
    )


def read_json_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
