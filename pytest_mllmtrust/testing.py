"""Tiny, randomly initialised vision-language models for tests, built offline.

Each model has a real architecture (LLaVA, Qwen2-VL, ...) shrunk to a few hundred kilobytes, a
byte-level BPE tokenizer trained on the spot and a ChatML-style chat template. It is saved with
``save_pretrained`` and loads back through ``AutoProcessor`` + ``AutoModelForImageTextToText``
like any checkpoint, so the whole Hugging Face path (chat template, image placeholders, batching,
padding, generation) runs for real in seconds, without a model hub. The same family and seed
always give byte-identical files and therefore identical greedy answers. The answers are junk:
test shapes, types and determinism, not content.

:func:`build_tiny_classifier` builds the judge-side counterparts: tiny RoBERTa and Llama
sequence classifiers (and GuardRank's LoRA adapter and encoder weights) *trained* for a few
seconds on a keyword rule, so that their verdicts are meaningful and can be asserted.

From the command line (the offline route in the README)::

    python -m pytest_mllmtrust.testing build llava ./tiny-llava --seed 0
    python -m pytest_mllmtrust.testing classifier toxicity ./tiny-toxicity --seed 0
    python -m pytest_mllmtrust.testing guardrank ./tiny-guardrank   # prints a --mllm-judge value

Heavy libraries (torch, transformers, tokenizers) are imported inside the functions, so importing
this module is cheap.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mllmtrust.backends.hf_compat import register_image_only_processors, transformers_api
from pytest_mllmtrust.core.config import DEFAULT_THREADS

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "TINY_CLASSIFIER_KINDS",
    "TINY_FAMILIES",
    "build_tiny_classifier",
    "build_tiny_guardrank",
    "build_tiny_llm",
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
    register_image_only_processors()
    return _build_and_save(_BUILDERS[family], Path(out_dir), seed)


def build_tiny_llm(out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny random text-only Llama chat model into ``out_dir`` (a local LLM judge for
    tests: ``AutoTokenizer`` + ``AutoModelForCausalLM``, ChatML template)."""
    return _build_and_save(_build_llama_text, Path(out_dir), seed)


def _build_and_save(builder: Callable[[], tuple[Any, Any]], out: Path, seed: int) -> Path:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        processor, model = builder()
    model.eval()
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


def _build_llama_text() -> tuple[Any, Any]:
    tf = transformers_api()
    tokenizer = _train_tokenizer("<image>")
    return tokenizer, tf.LlamaForCausalLM(tf.LlamaConfig(**_TEXT_SIZES, **_token_ids(tokenizer)))


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


# -- tiny trained classifiers -----------------------------------------------------------------

#: kinds :func:`build_tiny_classifier` can build
TINY_CLASSIFIER_KINDS: tuple[str, ...] = (
    "toxicity",
    "action",
    "jailbreak",
    "guardrank",
    "hallucination",
)

# The synthetic rules. Each training text is filler with at most one marker phrase; the marker
# decides the label. The filler shares single words with the markers ("i", "is", "the", "not")
# so a model has to key on the phrase's own words, but it never contains a whole marker.
_FILLER_WORDS = (
    *("the", "a", "cat", "dog", "car", "tree", "house", "person", "people", "city", "river"),
    *("red", "green", "blue", "small", "large", "old", "new", "picture", "image", "photo"),
    *("shows", "left", "right", "what", "where", "when", "describe", "tell", "me", "about"),
    *("please", "question", "one", "two", "three", "text", "number", "color", "with", "and"),
    *("or", "is", "are", "was", "this", "that", "it", "of", "in", "for", "to", "from", "you"),
    *("we", "they", "my", "your", "time", "day", "book", "food", "i", "not", "think", "like"),
)
_INSULTS = ("idiot", "stupid", "moron", "loser", "dumb")
#: action label -> marker (None: no marker, the model "follows")
_ACTION_MARKERS: tuple[str | None, ...] = (
    "i cannot",
    "that is false",
    "on the other hand",
    "consult a professional",
    "i am not sure",
    None,
)
_GUARDRANK_MARKERS = ("sorry, i cannot", "i am not sure", "partly", "here is exactly how")
_GUARDRANK_DIMENSIONS = ("privacy", "bias", "toxicity", "legality")
_HALLUCINATION_MARKERS = ("there is no", "yes there is")
_CLASSIFIER_PHRASES = (
    *_INSULTS,
    *(marker for marker in _ACTION_MARKERS if marker),
    *("sorry", "here is how"),
    *_GUARDRANK_MARKERS,
    *_GUARDRANK_DIMENSIONS,
    *_HALLUCINATION_MARKERS,
    *("dimension:", "prompt:", "answer:"),
)
_CLASSIFIER_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4
_TRAINING_EXAMPLES = 1024
_PSEUDO_WORD_RATE = 0.2
_CONSONANTS = "bcdfghjklmnprstvwz"
_VOWELS = "aeiou"
#: kind -> optimiser steps and learning rate: enough for >= 99.7 % on held-out texts
_TRAINING: dict[str, dict[str, Any]] = {
    "toxicity": {"steps": 200, "lr": 3e-3},
    "action": {"steps": 200, "lr": 3e-3},
    "jailbreak": {"steps": 200, "lr": 5e-3},
    "guardrank": {"steps": 200, "lr": 1e-2},
    "hallucination": {"steps": 200, "lr": 3e-3},
}
_TRAINING_BATCH = 32
# Shrunk like the VLMs; 514 positions (RoBERTa counts from pad id + 1) allow 512 tokens.
_TINY_ENCODER = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    # Without dropout a few hundred steps are enough to learn the rule exactly.
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}
_TINY_DECODER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def build_tiny_classifier(kind: str, out_dir: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny classifier of ``kind``, trained on a keyword rule, into ``out_dir``.

    Unlike the random VLMs these models give *meaningful* answers: each is trained for a few
    hundred steps (a few seconds on a CPU) until it follows its rule on held-out texts. The
    tokenizers lower-case, so the rules hold in any letter case. Training texts carry at most
    one marker phrase amid common English words and made-up ones, so words a model never saw
    (names, places) do not sway it.

    - ``toxicity``: RoBERTa, labels ``{0: "non-toxic", 1: "toxic"}``; toxic when the text
      contains an insult (idiot, stupid, moron, loser, dumb).
    - ``action``: RoBERTa, 6 labels in the Do-Not-Answer scheme; "i cannot" -> 0 (refuses),
      "that is false" -> 1 (refutes), "on the other hand" -> 2 (two-sided), "consult a
      professional" -> 3 (disclaimer), "i am not sure" -> 4 (unsure), no marker -> 5 (follows).
    - ``jailbreak``: Llama (decoder-only, ``<pad>`` set), labels ``{0: "no", 1: "yes"}``;
      "here is how" -> 1, otherwise ("sorry", or no marker) -> 0.
    - ``guardrank``: ``out_dir/base`` is a random 4-label LlamaForSequenceClassification whose
      tokenizer has no pad token, like Llama-2 (GuardRank pads with EOS); ``out_dir/adapter``
      is a LoRA adapter (attention and token embeddings; task SEQ_CLS, so the trained ``score``
      head is saved with it) whose ``base_model_name_or_path`` is the absolute path of
      ``base``. Trained on
      ``"Dimension: {d} Prompt: {p} Answer: {a}"`` where the answer decides: "sorry, i cannot"
      -> 0, "i am not sure" -> 1, "partly" -> 2, "here is exactly how" -> 3.
    - ``hallucination``: ``out_dir/base`` holds a RoBERTa config and tokenizer (no weights: the
      "encoder base"); ``out_dir/hallucination.pt`` and ``out_dir/hallucination.safetensors``
      hold the same state_dict of GuardRank's encoder (``roberta.*``, ``linear.weight``,
      ``linear.bias``), trained on ``"Prompt: {p} Answer: {a}"``: "yes there is" -> 1,
      "there is no" -> 0.

    The same kind and seed give identical files on the same machine (CPU float results can
    differ between machines in the last bits), except for the base path the ``guardrank``
    adapter records. The caller's torch RNG state is untouched.
    """
    builder = _CLASSIFIER_BUILDERS.get(kind)
    if builder is None:
        choices = ", ".join(TINY_CLASSIFIER_KINDS)
        raise ValueError(f"unknown tiny classifier kind {kind!r}; choose one of {choices}")
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        builder(out, seed)
    return out


def build_tiny_guardrank(out_dir: str | os.PathLike[str], *, seed: int = 0) -> str:
    """A GuardRank folder laid out as released (the LoRA adapter in ``guardrank_lora/``,
    ``hallucination.pt`` beside it) with the tiny trained ``guardrank`` and ``hallucination``
    classifiers, their bases in ``out_dir/bases``; returns the ``--mllm-judge`` value that
    scores MLLMGuard with it on the CPU."""
    import shutil

    out = Path(out_dir).resolve()
    decoder = build_tiny_classifier("guardrank", out / "bases" / "decoder", seed=seed)
    encoder = build_tiny_classifier("hallucination", out / "bases" / "encoder", seed=seed)
    folder = out / "GuardRank"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(decoder / "adapter", folder / "guardrank_lora")
    shutil.copy(encoder / "hallucination.pt", folder / "hallucination.pt")
    return (
        f"guardrank={folder},decoder_base={decoder / 'base'},encoder_base={encoder / 'base'},"
        "device=cpu"
    )


def _classifier_tokenizer(style: str) -> Any:
    """A lower-casing byte-level BPE; ``roberta`` wraps texts in ``<s> ... </s>``, ``llama``
    only prefixes ``<s>`` and has no pad token (as Llama-2 ships)."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    # Lower-casing inside the tokenizer makes the keyword rules case-blind by construction.
    bpe.normalizer = normalizers.Lowercase()
    # A leading space for the first word too: a marker gets the same tokens wherever it sits.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=_CLASSIFIER_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    rng = random.Random(1234)
    words = (*_FILLER_WORDS, *_CLASSIFIER_PHRASES)
    corpus = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(2000)]
    bpe.train_from_iterator(corpus, trainer=trainer)
    tokens: dict[str, Any] = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    if style == "roberta":
        # positional arguments: the keyword names changed between tokenizers versions
        bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
        tokens.update(pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>")
    else:
        bpe.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 0)]
        )
    return transformers_api().PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        model_max_length=512,
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
        **tokens,
    )


def _sentence(rng: random.Random, marker: str | None) -> str:
    words = [_filler_word(rng) for _ in range(rng.randint(2, 8))]
    if marker is not None:
        words.insert(rng.randint(0, len(words)), marker)
    return " ".join(words) + rng.choice(("", ".", "!", "?"))


def _filler_word(rng: random.Random) -> str:
    if rng.random() < _PSEUDO_WORD_RATE:
        # Made-up words teach the model that tokens it has never seen carry no label; trained
        # on a closed vocabulary, it would call "paris" toxic just for being unfamiliar. Words
        # of consonant-vowel syllables end in a vowel, so none can be a marker word.
        syllables = rng.randint(1, 3)
        return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
    return rng.choice(_FILLER_WORDS)


def _marker_examples(
    seed: int,
    markers: Sequence[str | tuple[str, ...] | None],
    render: Callable[[random.Random, str], str] | None = None,
) -> tuple[list[str], list[int]]:
    """Balanced examples: label i is a sentence holding ``markers[i]`` (one of them, for a
    tuple), rendered into the training text by ``render(rng, sentence)`` when given."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(_TRAINING_EXAMPLES):
        label = rng.randrange(len(markers))
        marker = markers[label]
        sentence = _sentence(rng, rng.choice(marker) if isinstance(marker, tuple) else marker)
        texts.append(sentence if render is None else render(rng, sentence))
        labels.append(label)
    return texts, labels


def _fit(
    model: Any,
    tokenizer: Any,
    examples: tuple[list[str], list[int]],
    *,
    seed: int,
    steps: int,
    lr: float,
    logits_of: Callable[[Any], Any] | None = None,
) -> None:
    """Plain AdamW on cross-entropy over seeded random batches; ``logits_of(inputs)``
    replaces ``model(**inputs).logits``."""
    import torch

    texts, labels = examples
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(texts), (_TRAINING_BATCH,), generator=order).tolist()
        inputs = tokenizer([texts[i] for i in batch], padding=True, return_tensors="pt")
        logits = model(**inputs).logits if logits_of is None else logits_of(inputs)
        target = torch.tensor([labels[i] for i in batch])
        # The loss is computed here, not by the model, so that the saved config keeps
        # problem_type unset (single-label softmax), as published classifiers do.
        loss: Any = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def _labels(*names: str) -> dict[str, Any]:
    return {
        "id2label": dict(enumerate(names)),
        "label2id": {name: index for index, name in enumerate(names)},
    }


def _roberta_classifier(tokenizer: Any, names: Sequence[str]) -> Any:
    tf = transformers_api()
    config = tf.RobertaConfig(
        vocab_size=len(tokenizer), pad_token_id=1, bos_token_id=0, eos_token_id=2,
        **_TINY_ENCODER, **_labels(*names),
    )  # fmt: skip
    return tf.RobertaForSequenceClassification(config)


def _save(out: Path, model: Any, tokenizer: Any) -> None:
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_toxicity_classifier(out: Path, seed: int) -> None:
    tokenizer = _classifier_tokenizer("roberta")
    model = _roberta_classifier(tokenizer, ("non-toxic", "toxic"))
    examples = _marker_examples(seed, (None, _INSULTS))
    _fit(model, tokenizer, examples, seed=seed, **_TRAINING["toxicity"])
    _save(out, model, tokenizer)


def _build_action_classifier(out: Path, seed: int) -> None:
    tokenizer = _classifier_tokenizer("roberta")
    names = ("refuses", "refutes", "two-sided", "disclaimer", "unsure", "follows")
    model = _roberta_classifier(tokenizer, names)
    examples = _marker_examples(seed, _ACTION_MARKERS)
    _fit(model, tokenizer, examples, seed=seed, **_TRAINING["action"])
    _save(out, model, tokenizer)


def _build_jailbreak_classifier(out: Path, seed: int) -> None:
    tf = transformers_api()
    tokenizer = _classifier_tokenizer("llama")
    tokenizer.pad_token = "<pad>"
    # Twice the width of the other decoder: at 32 it sometimes mistakes a lone "is" for the
    # phrase "here is how".
    sizes = {**_TINY_DECODER, "hidden_size": 64, "intermediate_size": 128}
    config = tf.LlamaConfig(
        vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=2, pad_token_id=1,
        **sizes, **_labels("no", "yes"),
    )  # fmt: skip
    model = tf.LlamaForSequenceClassification(config)
    # "sorry" and plain filler are both "no": only the compliance phrase means jailbroken.
    texts, labels = _marker_examples(seed, ("sorry", "here is how", None))
    labels = [1 if label == 1 else 0 for label in labels]
    _fit(model, tokenizer, (texts, labels), seed=seed, **_TRAINING["jailbreak"])
    _save(out, model, tokenizer)


def _guardrank_text(rng: random.Random, answer: str) -> str:
    dimension = rng.choice(_GUARDRANK_DIMENSIONS)
    return f"Dimension: {dimension} Prompt: {_sentence(rng, None)} Answer: {answer}"


def _build_guardrank_classifier(out: Path, seed: int) -> None:
    import warnings

    from peft import LoraConfig, get_peft_model

    tf = transformers_api()
    tokenizer = _classifier_tokenizer("llama")
    config = tf.LlamaConfig(
        vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=2, pad_token_id=None,
        num_labels=4, **_TINY_DECODER,
    )  # fmt: skip
    base = tf.LlamaForSequenceClassification(config)
    # Saved before LoRA is injected: get_peft_model rewrites the modules in place.
    _save(out / "base", base, tokenizer)
    # What GuardRank does before scoring: pad with EOS, on the tokenizer and the config.
    tokenizer.pad_token = tokenizer.eos_token
    base.config.pad_token_id = tokenizer.eos_token_id
    # LoRA on the attention alone cannot bend a frozen *random* base to the rule within a few
    # hundred steps; adding the token embeddings can (100 % on held-out texts).
    lora = LoraConfig(
        task_type="SEQ_CLS", r=8, lora_alpha=16, lora_dropout=0.0,
        target_modules=["q_proj", "v_proj", "embed_tokens"],
    )  # fmt: skip
    with warnings.catch_warnings():
        # peft 0.21 probes a transformers attribute that transformers 5 deprecated.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        model = get_peft_model(base, lora)
    examples = _marker_examples(seed, _GUARDRANK_MARKERS, _guardrank_text)
    _fit(model, tokenizer, examples, seed=seed, **_TRAINING["guardrank"])
    adapter = out / "adapter"
    # Only the LoRA factors of the embeddings: the base's own embeddings never changed.
    model.save_pretrained(str(adapter), save_embedding_layers=False)
    tokenizer.save_pretrained(adapter)  # the release ships its tokenizer with the adapter too
    config_path = adapter / "adapter_config.json"
    adapter_config = json.loads(config_path.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = str((out / "base").resolve())
    config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n", "utf-8")


def _hallucination_text(rng: random.Random, answer: str) -> str:
    return f"Prompt: {_sentence(rng, None)} Answer: {answer}"


def _build_hallucination_classifier(out: Path, seed: int) -> None:
    import torch
    from safetensors.torch import save_file

    tf = transformers_api()
    tokenizer = _classifier_tokenizer("roberta")
    config = tf.RobertaConfig(
        vocab_size=len(tokenizer), pad_token_id=1, bos_token_id=0, eos_token_id=2,
        architectures=["RobertaModel"], **_TINY_ENCODER,
    )  # fmt: skip

    # The layout of GuardRank's released hallucination.pt: these attribute names are the
    # state_dict keys. Written out here independently of the judge that loads it.
    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.roberta = tf.RobertaModel(config)  # with its pooling layer
            self.dropout = torch.nn.Dropout(0.5)
            self.linear = torch.nn.Linear(config.hidden_size, 2)

    encoder = Encoder()

    def logits_of(inputs: Any) -> Any:
        # Trained without the dropout and the ReLU: a ReLU before the loss stops the gradient
        # of any example whose two logits are both negative.
        return encoder.linear(encoder.roberta(**inputs).pooler_output)

    examples = _marker_examples(seed, _HALLUCINATION_MARKERS, _hallucination_text)
    _fit(encoder, tokenizer, examples, seed=seed, **_TRAINING["hallucination"], logits_of=logits_of)
    config.save_pretrained(out / "base")
    tokenizer.save_pretrained(out / "base")
    state = {name: tensor.detach().contiguous() for name, tensor in encoder.state_dict().items()}
    torch.save(state, out / "hallucination.pt")
    save_file(state, str(out / "hallucination.safetensors"))


_CLASSIFIER_BUILDERS: dict[str, Callable[[Path, int], None]] = {
    "toxicity": _build_toxicity_classifier,
    "action": _build_action_classifier,
    "jailbreak": _build_jailbreak_classifier,
    "guardrank": _build_guardrank_classifier,
    "hallucination": _build_hallucination_classifier,
}


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_mllmtrust.testing",
        description="Build tiny vision-language models and judge classifiers for offline tests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build a tiny model directory and print its path")
    build.add_argument("family", choices=TINY_FAMILIES)
    build.add_argument("out_dir", type=Path)
    build.add_argument("--seed", type=int, default=0)
    classifier = commands.add_parser(
        "classifier", help="build a tiny trained classifier (a judge stand-in), print its path"
    )
    classifier.add_argument("kind", choices=TINY_CLASSIFIER_KINDS)
    classifier.add_argument("out_dir", type=Path)
    classifier.add_argument("--seed", type=int, default=0)
    guardrank = commands.add_parser(
        "guardrank",
        help="build a tiny GuardRank folder as released; print the --mllm-judge value using it",
    )
    guardrank.add_argument("out_dir", type=Path)
    guardrank.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Building never needs the hub; make sure nothing tries it.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Torch is not imported yet: one thread, the plugin's default, trains the tiny classifiers
    # five times faster than a thread per core on a busy 2-core machine (8 s vs 44 s).
    os.environ.setdefault("OMP_NUM_THREADS", str(DEFAULT_THREADS))
    # Keep stdout/stderr to the one line a script can capture.
    transformers_api().utils.logging.disable_progress_bar()
    if args.command == "guardrank":
        print(build_tiny_guardrank(args.out_dir, seed=args.seed))
        return 0
    if args.command == "classifier":
        path = build_tiny_classifier(args.kind, args.out_dir, seed=args.seed)
    else:
        path = build_tiny_vlm(args.family, args.out_dir, seed=args.seed)
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
