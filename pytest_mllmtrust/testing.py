"""Tiny, randomly initialised vision-language models for tests, built offline.

Each model has a real architecture (LLaVA, Qwen2-VL, ...) shrunk to a few hundred kilobytes, a
byte-level BPE tokenizer trained on the spot and a ChatML-style chat template. It is saved with
``save_pretrained`` and loads back through ``AutoProcessor`` + ``AutoModelForImageTextToText``
like any checkpoint, so the whole Hugging Face path (chat template, image placeholders, batching,
padding, generation) runs for real in seconds, without a model hub. The same family and seed
always give byte-identical files and therefore identical greedy answers. The answers are junk:
test shapes, types and determinism, not content.

From the command line (the offline route in the README)::

    python -m pytest_mllmtrust.testing build llava ./tiny-llava --seed 0

Heavy libraries (torch, transformers, tokenizers) are imported inside the functions, so importing
this module is cheap.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.backends._hf_compat import register_image_only_processors, transformers_api

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "TINY_FAMILIES",
    "build_tiny_vlm",
    "main",
    "make_test_image",
    "register_image_only_processors",
]

#: families :func:`build_tiny_vlm` can build
TINY_FAMILIES: tuple[str, ...] = ("llava", "qwen2_vl", "qwen2_5_vl", "idefics3")

# Every family's special tokens live in one vocabulary so one tokenizer recipe serves all.
_IDEFICS3_TILE_TOKENS = [f"<row_{row}_col_{col}>" for row in range(1, 7) for col in range(1, 7)]
_SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "<pad>",
    "<|im_start|>",
    "<|im_end|>",
    "<image>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<fake_token_around_image>",
    "<global-img>",
    "<end_of_utterance>",
    *_IDEFICS3_TILE_TOKENS,
]
_CORPUS_WORDS = [
    *("the", "a", "an", "image", "picture", "photo", "shows", "contains", "of", "in", "on"),
    *("cat", "dog", "car", "tree", "house", "person", "people", "sky", "water", "road", "sign"),
    *("red", "green", "blue", "yellow", "black", "white", "small", "large", "left", "right"),
    *("what", "describe", "this", "please", "answer", "question", "yes", "no", "one", "two"),
    *("text", "number", "color", "shape", "square", "circle", "with", "and", "is", "are"),
    *("safe", "unsafe", "harmful", "harmless", "refuse", "sorry", "cannot", "help", "sure"),
]

# Small enough to build in well under a second, big enough to exercise every code path
# (grouped-query attention, several image tokens, multi-layer decoding).
_TEXT_SIZES: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}
# Qwen's multimodal RoPE splits the rotary half of a head (64 / 4 heads / 2 = 8) in three.
_QWEN_ROPE = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
# 56x56 pixels = 4x4 patches of 14 px, merged 2x2 -> 4 image tokens per image.
_QWEN_PIXELS = 56 * 56


def build_tiny_vlm(family: str, out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny random ``family`` model, save model + processor into ``out_dir``.

    Returns the directory, ready for ``AutoProcessor.from_pretrained`` and
    ``AutoModelForImageTextToText.from_pretrained``. The Qwen families save an image-only
    processor, which ``AutoProcessor`` finds once :func:`register_image_only_processors` has run
    in the process (``TransformersBackend`` runs it). The caller's torch RNG state is untouched.
    """
    if family not in _BUILDERS:
        choices = ", ".join(TINY_FAMILIES)
        raise ValueError(f"unknown tiny family {family!r}; choose one of {choices}")
    import torch

    register_image_only_processors()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        processor, model = _BUILDERS[family]()
    model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def make_test_image(seed: int = 0, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A deterministic RGB noise image (PIL) of ``size`` = (width, height)."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


# -- tokenizer --------------------------------------------------------------------------------


def _training_corpus(lines: int = 2000) -> list[str]:
    # Fixed seed: the tokenizer is the same for every model seed, only the weights differ.
    rng = random.Random(1234)
    return [
        " ".join(rng.choice(_CORPUS_WORDS) for _ in range(rng.randint(4, 16)))
        + rng.choice([".", "?", "!"])
        for _ in range(lines)
    ]


def _chat_template(image_placeholder: str) -> str:
    """ChatML; content is a plain string or a list of image/text parts."""
    return (
        "{% for message in messages %}"
        "{{ '<|im_start|>' + message['role'] + '\n' }}"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}{{ '" + image_placeholder + "' }}"
        "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
        "{% endfor %}{% endif %}"
        "{{ '<|im_end|>\n' }}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )


def _train_tokenizer(image_placeholder: str, **named_tokens: str) -> Any:
    """A byte-level BPE trained on a generated corpus, wrapped as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_training_corpus(), trainer=trainer)
    return transformers_api().PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        # The assistant turn ends with <|im_end|>, so that is where generation stops.
        eos_token="<|im_end|>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens=_SPECIAL_TOKENS[3:],
        padding_side="left",  # decoder-only batched generation needs left padding
        chat_template=_chat_template(image_placeholder),
        **named_tokens,
    )


def _token_ids(tokenizer: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


# -- families ---------------------------------------------------------------------------------


def _build_llava() -> tuple[Any, Any]:
    tf = transformers_api()
    tokenizer = _train_tokenizer("<image>", image_token="<image>")
    image_size, patch_size = 32, 8
    vision = tf.CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=32,
    )
    config = tf.LlavaConfig(
        vision_config=vision,
        text_config=tf.LlamaConfig(**_TEXT_SIZES, **_token_ids(tokenizer)),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        # the "default" strategy drops CLS, leaving one token per patch
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    image_processor = tf.CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    )
    processor = tf.LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLS
        chat_template=tokenizer.chat_template,
    )
    return processor, tf.LlavaForConditionalGeneration(config)


def _qwen_tokenizer() -> Any:
    return _train_tokenizer(
        "<|vision_start|><|image_pad|><|vision_end|>",
        image_token="<|image_pad|>",
        video_token="<|video_pad|>",
    )


def _qwen_token_ids(tokenizer: Any) -> dict[str, Any]:
    return {
        "image_token_id": tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    }


def _qwen_processor(model_type: str, tokenizer: Any) -> Any:
    image_processor = transformers_api().Qwen2VLImageProcessorPil(
        min_pixels=_QWEN_PIXELS, max_pixels=_QWEN_PIXELS
    )
    # The image-only subclass works with or without torchvision, so the saved directory loads
    # on both kinds of machine.
    processor_class = register_image_only_processors()[model_type]
    return processor_class(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
    )


def _build_qwen2_vl() -> tuple[Any, Any]:
    tf = transformers_api()
    tokenizer = _qwen_tokenizer()
    config = tf.Qwen2VLConfig(
        text_config={**_TEXT_SIZES, **_token_ids(tokenizer), "rope_parameters": dict(_QWEN_ROPE)},
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "mlp_ratio": 2,
            "num_heads": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        **_qwen_token_ids(tokenizer),
    )
    return _qwen_processor("qwen2_vl", tokenizer), tf.Qwen2VLForConditionalGeneration(config)


def _build_qwen2_5_vl() -> tuple[Any, Any]:
    tf = transformers_api()
    tokenizer = _qwen_tokenizer()
    config = tf.Qwen2_5_VLConfig(
        text_config={**_TEXT_SIZES, **_token_ids(tokenizer), "rope_parameters": dict(_QWEN_ROPE)},
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 4,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
        },
        **_qwen_token_ids(tokenizer),
    )
    return _qwen_processor("qwen2_5_vl", tokenizer), tf.Qwen2_5_VLForConditionalGeneration(config)


def _build_idefics3() -> tuple[Any, Any]:
    tf = transformers_api()
    tokenizer = _train_tokenizer(
        "<image>",
        image_token="<image>",
        fake_image_token="<fake_token_around_image>",
        global_image_token="<global-img>",
        end_of_utterance_token="<end_of_utterance>",
    )
    image_size, patch_size, scale_factor = 32, 8, 2
    config = tf.Idefics3Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": image_size,
            "patch_size": patch_size,
        },
        text_config={"model_type": "llama", **_TEXT_SIZES, **_token_ids(tokenizer)},
        scale_factor=scale_factor,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    # Splitting into tiles is off: one global image keeps the prompt short.
    image_processor = tf.Idefics3ImageProcessorPil(
        size={"longest_edge": image_size},
        max_image_size={"longest_edge": image_size},
        do_image_splitting=False,
    )
    processor = tf.Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=(image_size // patch_size) ** 2 // scale_factor**2,
        chat_template=tokenizer.chat_template,
    )
    return processor, tf.Idefics3ForConditionalGeneration(config)


_BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "llava": _build_llava,
    "qwen2_vl": _build_qwen2_vl,
    "qwen2_5_vl": _build_qwen2_5_vl,
    "idefics3": _build_idefics3,
}


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_mllmtrust.testing",
        description="Build tiny random vision-language models for offline tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build a tiny model directory and print its path")
    build.add_argument("family", choices=TINY_FAMILIES)
    build.add_argument("out_dir", type=Path)
    build.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Building never needs the hub; make sure nothing tries it.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Keep stdout/stderr to the one line a script can capture.
    transformers_api().utils.logging.disable_progress_bar()
    path = build_tiny_vlm(args.family, args.out_dir, seed=args.seed)
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
