"""Make transformers 5.x vision-language processors usable without torchvision.

transformers 5.x only exports its video processors when torchvision imports, and every processor
that declares a ``video_processor`` (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, InternVL, SmolVLM) then
refuses to be built or loaded, even for image-only work. torchvision is often missing or broken
beside a CPU torch, so we define image-only subclasses of those processors and register them with
``AutoProcessor``. Directories saved with them (the tiny test models) name the subclass in
``processor_config.json``; stock checkpoints name the stock class and are routed here by
:func:`image_only_processor_for`.

Everything imports transformers lazily: importing this module costs nothing.
"""

from __future__ import annotations

import functools
import importlib
import types
from typing import Any

#: model_type -> (config class name, stock processor class name), all in ``transformers``
_VIDEO_CAPABLE_PROCESSORS: dict[str, tuple[str, str]] = {
    "qwen2_vl": ("Qwen2VLConfig", "Qwen2VLProcessor"),
    "qwen2_5_vl": ("Qwen2_5_VLConfig", "Qwen2_5_VLProcessor"),
    "qwen3_vl": ("Qwen3VLConfig", "Qwen3VLProcessor"),
    "internvl": ("InternVLConfig", "InternVLProcessor"),
    "smolvlm": ("SmolVLMConfig", "SmolVLMProcessor"),
}


#: Keyword arguments for every ``from_pretrained`` that loads weights. Local files only: a run
#: never reaches the hub behind the user's back. No hub kernels: from transformers 5.25 on, a
#: model is "kernelized" by default, which swaps layers for compiled kernels downloaded from the
#: hub (code the user did not ask to run, and numbers that change with the kernel release) and,
#: with kernels 0.19, fails outright when the `kernels` module has been imported twice ("unsupported
#: operand type(s) for 'in': 'Mode' and 'Mode'"; pytester's in-process runs do that).
LOCAL_WEIGHTS: dict[str, Any] = {"local_files_only": True, "use_kernels": False}


def transformers_api() -> Any:
    """The ``transformers`` package, typed as Any.

    Many transformers callables carry no annotations or narrower ones than they accept
    (``mypy --strict`` rejects calls to them), so code here reaches them through this.
    """
    return importlib.import_module("transformers")


def register_image_only_processors() -> dict[str, type[Any]]:
    """Define and register the image-only processors; returns ``{model_type: class}``.

    Idempotent and cheap after the first call (the result is memoised). Families that this
    transformers version does not ship are skipped.
    """
    return dict(_registered_image_only_processors())


def image_only_processor_for(model_type: str) -> type[Any] | None:
    """The image-only processor for ``model_type``, or None when it needs none."""
    return _registered_image_only_processors().get(model_type)


@functools.lru_cache(maxsize=1)
def torchvision_usable() -> bool:
    """Whether transformers sees torchvision, and so can build the stock video processors."""
    return bool(transformers_api().utils.is_torchvision_available())


@functools.lru_cache(maxsize=1)
def _registered_image_only_processors() -> dict[str, type[Any]]:
    transformers = transformers_api()
    registered: dict[str, type[Any]] = {}
    for model_type, (config_name, processor_name) in _VIDEO_CAPABLE_PROCESSORS.items():
        config_class = getattr(transformers, config_name, None)
        stock_processor = getattr(transformers, processor_name, None)
        if config_class is None or stock_processor is None:
            continue
        if model_type == "smolvlm":
            image_only = _image_only_smolvlm(stock_processor)
        elif model_type == "internvl":
            image_only = _image_only_internvl(stock_processor)
        else:
            image_only = _image_only_qwen_like(stock_processor)
        # exist_ok: these configs already map to their stock processors. Registering by config
        # also lets AutoProcessor find the subclass by the name a saved directory records.
        transformers.AutoProcessor.register(config_class, image_only, exist_ok=True)
        registered[model_type] = image_only
    return registered


def _image_only_qwen_like(stock: type[Any]) -> type[Any]:
    # ProcessorMixin takes its sub-processor list from the __init__ signature, so leaving
    # video_processor out of the signature is what makes it image-only. The stock __init__
    # still receives a video_processor argument, which ProcessorMixin then ignores.
    def __init__(
        self: Any,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: Any = None,
        **kwargs: Any,
    ) -> None:
        stock.__init__(self, image_processor, tokenizer, None, chat_template=chat_template)

    return _named_subclass(stock, __init__)


def _image_only_internvl(stock: type[Any]) -> type[Any]:
    def __init__(
        self: Any,
        image_processor: Any = None,
        tokenizer: Any = None,
        image_seq_length: int = 256,
        chat_template: Any = None,
        **kwargs: Any,
    ) -> None:
        stock.__init__(
            self,
            image_processor,
            tokenizer,
            None,
            image_seq_length=image_seq_length,
            chat_template=chat_template,
        )

    return _named_subclass(stock, __init__)


def _image_only_smolvlm(stock: type[Any]) -> type[Any]:
    def __init__(
        self: Any,
        image_processor: Any = None,
        tokenizer: Any = None,
        image_seq_len: int = 169,
        chat_template: Any = None,
        **kwargs: Any,
    ) -> None:
        # The stock __init__ raises a clear ImportError when `num2words` is missing.
        stock.__init__(
            self,
            image_processor,
            tokenizer,
            None,
            image_seq_len=image_seq_len,
            chat_template=chat_template,
        )
        # SmolVLM's apply_chat_template reads these two video defaults even for images.
        self.video_processor = types.SimpleNamespace(num_frames=None, fps=None)

    return _named_subclass(stock, __init__)


def _named_subclass(stock: type[Any], init: Any) -> type[Any]:
    # The class name is what save_pretrained writes as processor_class, and what
    # AutoProcessor looks up again when loading, so it must be stable.
    name = "ImageOnly" + stock.__name__
    return type(name, (stock,), {"__init__": init, "__module__": __name__, "__qualname__": name})
