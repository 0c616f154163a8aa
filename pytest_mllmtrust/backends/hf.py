"""The transformers backend: any image-text-to-text checkpoint, batched greedy generation.

One ``model.generate`` call answers a whole batch: each request becomes a single user turn
(an optional image part, then the text) rendered by the processor's own chat template, rows
are left-padded so every prompt ends where generation starts, and decoding is greedy. A model
is always loaded from a local directory; a hub id is first looked up in the local Hugging Face
cache, so an offline run without the weights fails at once with instructions instead of
hanging on the network.

torch and transformers are imported when a backend is built, not when this module is imported.
"""

from __future__ import annotations

import gc
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.backends.devices import dtype_for, resolve_device, torch_device
from pytest_mllmtrust.backends.hf_compat import (
    LOCAL_WEIGHTS,
    image_only_processor_for,
    register_image_only_processors,
    torchvision_usable,
    transformers_api,
)
from pytest_mllmtrust.backends.model_files import REMOTE_CODE_OPTION, locate, read_json_config
from pytest_mllmtrust.core.errors import BackendError
from pytest_mllmtrust.core.hashing import hash_directory
from pytest_mllmtrust.core.model import GenerationRequest

__all__ = ["TransformersBackend"]


class TransformersBackend(Backend):
    """A vision-language model run in-process with transformers."""

    kind = "hf"

    def __init__(
        self,
        model: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        trust_remote_code: bool = False,
        revision: str | None = None,
        min_new_tokens: int = 0,
    ) -> None:
        """Find ``model`` (a local directory, a hub id or an alias: ``model_files.ALIASES``); the
        weights load on first use (:meth:`load`).

        ``min_new_tokens`` forbids stopping before that many tokens. Real runs keep the
        default 0; tests set it so a random model does not stop at its first token.
        """
        self.model_id = model
        self.revision = revision
        self.trust_remote_code = trust_remote_code
        self.min_new_tokens = min_new_tokens
        self.hub_id, self.model_dir = locate(model, revision, trust_remote_code)
        #: a text-only chat model (an LLM judge such as Qwen2.5-7B-Instruct): tokenizer and
        #: causal LM instead of processor and image-text-to-text model
        self.text_only = _is_text_only(self.model_dir)

        # Names, not torch objects: the cache key needs them, torch does not. A rerun whose
        # answers are all cached never imports torch (2 s, plus per-item costs of its loggers
        # under pytest's log capture: docs/performance.md).
        self.device_name = resolve_device(device)
        self.dtype_name = dtype_for(dtype, self.device_name)
        self.device: Any = None
        self.dtype: Any = None
        # Loaded on the first generate(): a rerun whose answers are all cached never pays for
        # loading the weights (minutes for a large checkpoint), only for hashing them once.
        self._model: Any = None
        self._processor: Any = None
        self._tokenizer: Any = None
        self._closed = False
        # Some processors (Mllama) refuse a batch mixing rows with and without an image;
        # learnt on the first such batch, then those batches are split by modality.
        self._mixes_modalities = True
        self._classes: dict[str, str] = {}
        self._fingerprint: dict[str, Any] | None = None

    # -- Backend interface ----------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            # Content, not location: the same weights answer the same wherever they live.
            self._fingerprint = {
                "backend": self.kind,
                "weights_sha256": hash_directory(self.model_dir),
                "dtype": self.dtype_name,
                "padding_side": "left",
                "min_new_tokens": self.min_new_tokens,
                "trust_remote_code": self.trust_remote_code,
                "revision": self.revision,
                "transformers": importlib.metadata.version("transformers"),
            }
        return dict(self._fingerprint)

    def describe(self) -> dict[str, Any]:
        generation_config = getattr(self._model, "generation_config", None)
        return {
            **self.fingerprint(),
            "model": self.model_id,
            "hub_id": self.hub_id,
            "device": self.device_name,
            "torch": importlib.metadata.version("torch"),
            **self._classes,
            "generation": {
                "do_sample": False,
                "num_beams": 1,
                "padding_side": "left",
                "min_new_tokens": self.min_new_tokens,
                "max_new_tokens": "per request",
                "repetition_penalty": getattr(generation_config, "repetition_penalty", None),
                "mixed_image_and_text_batches": self._mixes_modalities,
            },
        }

    def generate(self, batch: Sequence[GenerationRequest]) -> list[str]:
        requests = list(batch)
        if not requests:
            return []
        groups = _modality_groups(requests)
        if len(groups) > 1 and self._mixes_modalities:
            try:
                return self._generate_together(requests)
            except _CannotEncodeError:
                self._mixes_modalities = False
        answers = [""] * len(requests)
        for indices in groups:
            texts = self._generate_together([requests[index] for index in indices])
            for index, text in zip(indices, texts, strict=True):
                answers[index] = text
        return answers

    def load(self) -> None:
        """Load processor and weights (done by the first generate() if not called before)."""
        if self._closed:
            raise BackendError("the transformers backend was closed")
        if self._model is not None:
            return
        import torch

        self.device = torch_device(self.device_name, torch)
        self.dtype = getattr(torch, self.dtype_name)
        register_image_only_processors()
        if self.text_only:
            self._processor = _load_tokenizer(self.model_dir, self.trust_remote_code)
            self._tokenizer = self._processor
        else:
            self._processor = _load_processor(self.model_dir, self.trust_remote_code)
            self._tokenizer = self._processor.tokenizer
        self._model = _load_model(
            self.model_dir, self.dtype, self.device, self.trust_remote_code, self.text_only
        )
        # Decoder-only batches must be padded on the left so that every row's prompt ends
        # where generation begins.
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._classes = {
            "model_class": type(self._model).__name__,
            "processor_class": type(self._processor).__name__,
            "image_processor_class": type(
                getattr(self._processor, "image_processor", None)
            ).__name__,
            "tokenizer_class": type(self._tokenizer).__name__,
        }

    def close(self) -> None:
        self._closed = True
        if self._model is None:
            return  # never loaded (every answer was cached): nothing to free
        self._model = None
        self._processor = None
        self._tokenizer = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- internals ------------------------------------------------------------------------

    def _generate_together(self, requests: list[GenerationRequest]) -> list[str]:
        """One ``generate`` call for all of ``requests``; each row cut to its own budget."""
        self.load()
        import torch

        inputs = self._encode(requests)
        longest = max(request.max_new_tokens for request in requests)
        settings: dict[str, Any] = {
            "do_sample": False,
            "num_beams": 1,
            "max_new_tokens": max(longest, 1),
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        if self.min_new_tokens > 0:
            settings["min_new_tokens"] = min(self.min_new_tokens, max(longest, 1))
        with torch.inference_mode():
            output = self._model.generate(**inputs, **settings)
        sequences = getattr(output, "sequences", output)
        new_tokens = sequences[:, inputs["input_ids"].shape[1] :]
        # Greedy decoding is prefix-stable, so cutting a row at its own max_new_tokens gives
        # exactly what a call with that budget alone would have produced.
        return [
            self._tokenizer.decode(row[: max(request.max_new_tokens, 0)], skip_special_tokens=True)
            for row, request in zip(new_tokens, requests, strict=True)
        ]

    def _encode(self, requests: list[GenerationRequest]) -> Any:
        if self.text_only:
            if any(request.image is not None for request in requests):
                raise BackendError(f"{self.model_id} is a text-only model: it cannot see images")
            return self._tokenizer.apply_chat_template(
                [[{"role": "user", "content": request.text}] for request in requests],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                padding=True,
            ).to(self.device)
        conversations = [_conversation(request) for request in requests]
        try:
            inputs = self._processor.apply_chat_template(
                conversations,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                processor_kwargs={"padding": True},
            )
        except (ValueError, TypeError, IndexError, KeyError) as error:
            raise _CannotEncodeError(
                f"{type(self._processor).__name__} could not encode the batch: {error}"
            ) from error
        # Only floating tensors (pixel values) are cast to the model's dtype.
        return inputs.to(self.device, dtype=self.dtype)


class _CannotEncodeError(BackendError):
    """The processor rejected a batch (for instance one mixing image and text-only rows)."""


def _conversation(request: GenerationRequest) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if request.image is not None:
        image = request.image if request.image.mode == "RGB" else request.image.convert("RGB")
        parts.append({"type": "image", "image": image})
    parts.append({"type": "text", "text": request.text})
    return [{"role": "user", "content": parts}]


def _modality_groups(requests: list[GenerationRequest]) -> list[list[int]]:
    with_image = [index for index, request in enumerate(requests) if request.image is not None]
    text_only = [index for index, request in enumerate(requests) if request.image is None]
    return [group for group in (with_image, text_only) if group]


# -- loading ------------------------------------------------------------------------------


def _is_text_only(model_dir: Path) -> bool:
    """A transformers-native causal LM without a vision part (no repository code: remote-code
    VLMs such as Phi-3.5-vision also call themselves causal LMs)."""
    config = read_json_config(model_dir / "config.json")
    architectures = config.get("architectures") or []
    return (
        bool(architectures)
        and all(str(a).endswith("ForCausalLM") for a in architectures)
        and "auto_map" not in config
        and not any("vision" in key for key in config)
    )


def _load_tokenizer(model_dir: Path, trust_remote_code: bool) -> Any:
    try:
        return transformers_api().AutoTokenizer.from_pretrained(
            str(model_dir), trust_remote_code=trust_remote_code, local_files_only=True
        )
    except Exception as error:
        raise _load_error("tokenizer", model_dir, error) from error


def _load_processor(model_dir: Path, trust_remote_code: bool) -> Any:
    model_type = str(read_json_config(model_dir / "config.json").get("model_type", ""))
    # Without a working torchvision, the stock processor of a video-capable family cannot be
    # built at all, so its image-only subclass loads the same files instead.
    image_only = None if torchvision_usable() else image_only_processor_for(model_type)
    try:
        if image_only is not None:
            processor = image_only.from_pretrained(str(model_dir), local_files_only=True)
        else:
            processor = transformers_api().AutoProcessor.from_pretrained(
                str(model_dir), trust_remote_code=trust_remote_code, local_files_only=True
            )
    except Exception as error:
        raise _load_error("processor", model_dir, error) from error
    if getattr(processor, "image_processor", None) is None:
        raise BackendError(_missing_image_processor_message(model_dir, processor))
    return processor


def _missing_image_processor_message(model_dir: Path, processor: Any) -> str:
    declared = None
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        declared = declared or read_json_config(model_dir / name).get("processor_class")
    named = f" names processor class {declared!r}, which" if declared else ""
    return (
        f"AutoProcessor loaded only a {type(processor).__name__} (no image processor) from "
        f"{model_dir}: the directory{named} could not be found by this transformers version, "
        f"so images would be silently dropped. Custom processors must be registered with "
        f"AutoProcessor.register before loading (or need {REMOTE_CODE_OPTION}), and the "
        f"directory needs a processor or preprocessor config."
    )


def _load_model(
    model_dir: Path, dtype: Any, device: Any, trust_remote_code: bool, text_only: bool = False
) -> Any:
    transformers = transformers_api()
    auto_map = read_json_config(model_dir / "config.json").get("auto_map", {})
    auto_class = transformers.AutoModelForImageTextToText
    if text_only or (
        trust_remote_code
        and "AutoModelForImageTextToText" not in auto_map
        and "AutoModelForCausalLM" in auto_map
    ):
        # Remote-code VLMs such as Phi-3.5-vision register themselves only as causal LMs.
        auto_class = transformers.AutoModelForCausalLM
    try:
        model = auto_class.from_pretrained(
            str(model_dir),
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            **LOCAL_WEIGHTS,
            # straight onto the target device: a 7B model need not pass through host memory
            device_map=str(device),
        )
    except Exception as error:
        raise _load_error("model", model_dir, error) from error
    model.eval()
    return model


def _load_error(what: str, model_dir: Path, error: Exception) -> BackendError:
    hint = ""
    if "trust_remote_code" in str(error):
        hint = (
            f"\nThis model needs code from its repository: if you trust it, add "
            f"{REMOTE_CODE_OPTION}."
        )
    return BackendError(f"could not load the {what} from {model_dir}: {error}{hint}")
