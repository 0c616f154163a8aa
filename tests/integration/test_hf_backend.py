"""TransformersBackend on tiny random LLaVA and Qwen2-VL models built offline.

The weights are random, so answers are junk: these tests check batching, padding, ordering,
determinism and identity, never content. ``min_new_tokens`` keeps a random model from stopping
at its first token.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_mllmtrust.backends.hf import TransformersBackend
from pytest_mllmtrust.backends.hf_compat import (
    register_image_only_processors,
    torchvision_usable,
)
from pytest_mllmtrust.backends.model_files import ALIASES, resolve_alias
from pytest_mllmtrust.core.errors import BackendError
from pytest_mllmtrust.core.hashing import HASH_CACHE_ENV
from pytest_mllmtrust.core.model import GenerationRequest
from pytest_mllmtrust.testing import TINY_FAMILIES, build_tiny_vlm, main, make_test_image

# Never reach for the hub, whichever test runs first.
os.environ["HF_HUB_OFFLINE"] = "1"

FAMILIES = ["llava", "qwen2_vl"]
MIN_NEW_TOKENS = 4


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-vlms")
    return {family: build_tiny_vlm(family, root / family) for family in FAMILIES}


@pytest.fixture(autouse=True)
def private_hash_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HASH_CACHE_ENV, str(tmp_path / "hashes.json"))


@pytest.fixture(params=FAMILIES)
def model_dir(request: pytest.FixtureRequest, tiny_models: dict[str, Path]) -> Path:
    return tiny_models[request.param]


@pytest.fixture
def load() -> Iterator[Callable[..., TransformersBackend]]:
    """Build backends the way the plugin does; closes them all afterwards."""
    opened: list[TransformersBackend] = []

    def open_backend(model: str | Path, **options: Any) -> TransformersBackend:
        options.setdefault("min_new_tokens", MIN_NEW_TOKENS)
        options.setdefault("device", "cpu")  # same numbers on every machine
        backend = TransformersBackend(str(model), **options)
        opened.append(backend)
        return backend

    yield open_backend
    for backend in opened:
        backend.close()


def mixed_batch() -> list[GenerationRequest]:
    """Five requests: prompts of different lengths, three with images, two text-only."""
    return [
        GenerationRequest("What is in this picture? Describe it fully.", make_test_image(1), 12),
        GenerationRequest("Hi", None, 6),  # the shortest prompt: the most padded row
        GenerationRequest("Is it safe?", make_test_image(2), 3),
        GenerationRequest("Please answer the question about the road sign " * 3, None, 10),
        GenerationRequest("Color?", make_test_image(3, size=(30, 70)), 8),
    ]


def count_generate_calls(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Batch sizes of every model.generate call the backend makes."""
    sizes: list[int] = []
    backend.load()
    real_generate = backend._model.generate

    def spy(**inputs: Any) -> Any:
        sizes.append(int(inputs["input_ids"].shape[0]))
        return real_generate(**inputs)

    monkeypatch.setattr(backend._model, "generate", spy)
    return sizes


def test_a_mixed_batch_is_one_generate_call_answered_in_order(
    model_dir: Path, load: Callable[..., TransformersBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = load(model_dir)
    calls = count_generate_calls(backend, monkeypatch)
    answers = backend.generate(mixed_batch())
    assert calls == [5]
    assert len(answers) == 5
    assert all(isinstance(answer, str) for answer in answers)
    assert any(answers), "a random model with min_new_tokens should say something"


def test_every_row_of_a_batch_equals_its_unbatched_answer(
    model_dir: Path, load: Callable[..., TransformersBackend]
) -> None:
    # Covers left padding (row 1 is padded the most) and the per-row max_new_tokens cut
    # (row 2 stops at 3 tokens inside a 12-token batch).
    backend = load(model_dir)
    batch = mixed_batch()
    batched = backend.generate(batch)
    alone = [backend.generate([request])[0] for request in batch]
    assert batched == alone


def test_answers_are_identical_on_repeat_and_after_a_reload(
    model_dir: Path, load: Callable[..., TransformersBackend]
) -> None:
    first = load(model_dir).generate(mixed_batch())
    backend = load(model_dir)
    assert backend.generate(mixed_batch()) == first
    assert backend.generate(mixed_batch()) == first


def test_the_answer_depends_on_the_image(
    model_dir: Path, load: Callable[..., TransformersBackend]
) -> None:
    backend = load(model_dir)
    question = "What is in this picture?"
    answers = backend.generate(
        [
            GenerationRequest(question, make_test_image(10), 8),
            GenerationRequest(question, make_test_image(11), 8),
            GenerationRequest(question, None, 8),
        ]
    )
    assert len(set(answers)) == 3, answers


def test_text_only_batches_work(model_dir: Path, load: Callable[..., TransformersBackend]) -> None:
    answers = load(model_dir).generate(
        [GenerationRequest("Hello there", None, 5), GenerationRequest("Why?", None, 5)]
    )
    assert len(answers) == 2


def test_an_empty_batch_needs_no_model_call(
    model_dir: Path, load: Callable[..., TransformersBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = load(model_dir)
    calls = count_generate_calls(backend, monkeypatch)
    assert backend.generate([]) == []
    assert calls == []


def test_a_processor_that_cannot_mix_modalities_gets_one_call_per_modality(
    model_dir: Path, load: Callable[..., TransformersBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = load(model_dir).generate(mixed_batch())
    backend = load(model_dir)
    backend.load()
    processor = backend._processor
    real_apply = processor.apply_chat_template

    def refuse_mixed(conversations: list[Any], **options: Any) -> Any:
        # Mllama's processor behaves like this: an image in every row or in none.
        with_image = {
            any(part["type"] == "image" for part in conversation[0]["content"])
            for conversation in conversations
        }
        if len(with_image) > 1:
            raise ValueError("either no images or at least one image per sample")
        return real_apply(conversations, **options)

    monkeypatch.setattr(processor, "apply_chat_template", refuse_mixed)
    calls = count_generate_calls(backend, monkeypatch)
    assert backend.generate(mixed_batch()) == expected
    assert calls == [3, 2]
    calls.clear()
    backend.generate(mixed_batch())
    assert calls == [3, 2], "the split should be remembered, not retried"


@pytest.mark.parametrize("family", sorted(set(TINY_FAMILIES) - set(FAMILIES)))
def test_the_other_tiny_families_answer_a_mixed_batch_like_unbatched(
    family: str, tmp_path: Path, load: Callable[..., TransformersBackend]
) -> None:
    backend = load(build_tiny_vlm(family, tmp_path / family))
    batch = mixed_batch()
    assert backend.generate(batch) == [backend.generate([request])[0] for request in batch]


def test_fingerprint_is_stable_across_reloads(
    model_dir: Path, load: Callable[..., TransformersBackend]
) -> None:
    first = load(model_dir).fingerprint()
    again = load(model_dir).fingerprint()
    assert first == again
    assert json.loads(json.dumps(first)) == first
    assert first["backend"] == "hf"
    # content-addressed: where the model lives and how it was named are not part of it
    assert "path" not in first
    assert "model" not in first
    assert first["dtype"] == "float32"
    assert first["padding_side"] == "left"
    assert first["trust_remote_code"] is False
    assert len(first["weights_sha256"]) == 64


def test_a_moved_copy_of_the_model_has_the_same_fingerprint(
    tiny_models: dict[str, Path], load: Callable[..., TransformersBackend], tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(tiny_models["llava"], tmp_path / "elsewhere"))
    assert load(copy).fingerprint() == load(tiny_models["llava"]).fingerprint()


def test_weights_load_only_when_something_must_be_generated(
    tiny_models: dict[str, Path], load: Callable[..., TransformersBackend]
) -> None:
    backend = load(tiny_models["llava"])
    backend.fingerprint()
    assert backend._model is None  # a fully cached rerun never loads the weights
    backend.generate(mixed_batch()[:1])
    assert backend._model is not None


def test_hub_kernels_stay_off_even_when_the_kernels_module_is_imported_anew(
    model_dir: Path, load: Callable[..., TransformersBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    # transformers >= 5.25 swaps layers for kernels fetched from the hub unless told not to.
    # An in-process pytest run that imports `kernels` again used to make the next load fail
    # with "unsupported operand type(s) for 'in': 'Mode' and 'Mode'".
    load(model_dir).load()
    for name in [m for m in sys.modules if m.split(".")[0] == "kernels"]:
        monkeypatch.delitem(sys.modules, name)
    backend = load(model_dir)
    backend.load()
    assert getattr(backend._model, "use_kernels", False) is False
    assert len(backend.generate(mixed_batch()[:2])) == 2


def test_the_same_seed_rebuilds_byte_identical_weights_and_another_seed_does_not(
    tmp_path: Path, tiny_models: dict[str, Path], load: Callable[..., TransformersBackend]
) -> None:
    original = load(tiny_models["llava"]).fingerprint()["weights_sha256"]
    rebuilt = build_tiny_vlm("llava", tmp_path / "same-seed", seed=0)
    reseeded = build_tiny_vlm("llava", tmp_path / "other-seed", seed=1)
    assert load(rebuilt).fingerprint()["weights_sha256"] == original
    assert load(reseeded).fingerprint()["weights_sha256"] != original


def test_fingerprint_follows_settings_that_change_answers(
    tiny_models: dict[str, Path], load: Callable[..., TransformersBackend]
) -> None:
    model = tiny_models["llava"]
    float32 = load(model).fingerprint()
    bfloat16 = load(model, dtype="bfloat16").fingerprint()
    assert bfloat16["dtype"] == "bfloat16"
    assert bfloat16["weights_sha256"] == float32["weights_sha256"]
    assert bfloat16 != float32


def test_describe_reports_generation_and_image_preprocessing(
    tiny_models: dict[str, Path], load: Callable[..., TransformersBackend]
) -> None:
    backend = load(tiny_models["qwen2_vl"])
    backend.load()
    described = backend.describe()
    assert described["weights_sha256"] == backend.fingerprint()["weights_sha256"]
    assert described["generation"]["do_sample"] is False
    assert described["generation"]["padding_side"] == "left"
    assert described["model_class"] == "Qwen2VLForConditionalGeneration"
    assert described["image_processor_class"].startswith("Qwen2VLImageProcessor")
    assert "Qwen2VLProcessor" in described["processor_class"]


def test_auto_settings_on_a_gpu(
    tiny_models: dict[str, Path], load: Callable[..., TransformersBackend]
) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    backend = load(tiny_models["qwen2_vl"], device="auto")
    assert backend.device_name == "cuda"
    assert backend.fingerprint()["dtype"] == "bfloat16"
    assert len(backend.generate(mixed_batch())) == 5


def test_a_hub_id_missing_offline_fails_at_once_with_fetch_instructions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(BackendError) as raised:
        TransformersBackend("no-such-org/no-such-vlm")
    assert time.perf_counter() - started < 5
    message = str(raised.value)
    assert "hf download no-such-org/no-such-vlm" in message
    assert "HF_HUB_OFFLINE" in message


def test_a_missing_local_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        TransformersBackend(str(tmp_path / "no-model-here"))


def test_remote_code_is_never_trusted_unless_asked(
    tiny_models: dict[str, Path],
    load: Callable[..., TransformersBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import transformers

    seen: list[Any] = []
    for auto_class in (transformers.AutoProcessor, transformers.AutoModelForImageTextToText):
        real = auto_class.from_pretrained

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.append(kwargs.get("trust_remote_code", "not passed"))
            return _real(*args, **kwargs)

        monkeypatch.setattr(auto_class, "from_pretrained", spy)

    load(tiny_models["llava"]).load()
    assert seen == [False, False]
    seen.clear()
    load(tiny_models["llava"], trust_remote_code=True).load()
    assert seen == [True, True]


def test_an_alias_that_needs_remote_code_asks_for_the_option() -> None:
    assert resolve_alias("phi-3.5-vision") == ("microsoft/Phi-3.5-vision-instruct", True)
    with pytest.raises(BackendError, match="--mllm-trust-remote-code"):
        TransformersBackend("phi-3.5-vision")
    with pytest.raises(BackendError, match="--mllm-trust-remote-code"):
        TransformersBackend("microsoft/Phi-3.5-vision-instruct")


def test_aliases_resolve_to_hub_ids() -> None:
    assert resolve_alias("qwen2-vl-2b") == ("Qwen/Qwen2-VL-2B-Instruct", False)
    assert resolve_alias("LLaVA-1.5-7B") == ("llava-hf/llava-1.5-7b-hf", False)
    assert all(alias.hub_id.count("/") == 1 for alias in ALIASES.values())
    with pytest.raises(BackendError, match="unknown model alias"):
        resolve_alias("gpt-17-vision")


def test_a_processor_without_image_processor_is_refused(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    # A directory naming a processor class transformers cannot find makes AutoProcessor
    # quietly return the bare tokenizer: images would then be dropped without a word.
    broken = Path(shutil.copytree(tiny_models["llava"], tmp_path / "broken"))
    config_path = broken / "processor_config.json"
    config = json.loads(config_path.read_text())
    config["processor_class"] = "UnregisteredProcessor"
    config_path.write_text(json.dumps(config))
    with pytest.raises(BackendError, match="UnregisteredProcessor"):
        TransformersBackend(str(broken)).load()


@pytest.mark.skipif(torchvision_usable(), reason="the stock processor loads with torchvision")
def test_a_stock_qwen2_vl_layout_loads_without_torchvision(
    tiny_models: dict[str, Path], tmp_path: Path, load: Callable[..., TransformersBackend]
) -> None:
    # Hub checkpoints name the stock Qwen2VLProcessor, which needs torchvision's video support.
    stock = Path(shutil.copytree(tiny_models["qwen2_vl"], tmp_path / "stock"))
    processor_config = json.loads((stock / "processor_config.json").read_text())
    image_config = {**processor_config["image_processor"], "processor_class": "Qwen2VLProcessor"}
    (stock / "preprocessor_config.json").write_text(json.dumps(image_config))
    (stock / "processor_config.json").unlink()
    answers = load(stock).generate(mixed_batch())
    assert answers == load(tiny_models["qwen2_vl"]).generate(mixed_batch())


def test_a_closed_backend_refuses_to_generate(
    tiny_models: dict[str, Path], load: Callable[..., TransformersBackend]
) -> None:
    backend = load(tiny_models["llava"])
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.generate(mixed_batch()[:1])


def test_the_command_line_builds_a_loadable_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], load: Callable[..., TransformersBackend]
) -> None:
    assert main(["build", "qwen2_vl", str(tmp_path / "cli-qwen"), "--seed", "3"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == (tmp_path / "cli-qwen").resolve()
    assert len(load(printed).generate(mixed_batch()[:2])) == 2


def test_registering_the_image_only_processors_is_idempotent() -> None:
    first = register_image_only_processors()
    assert {"qwen2_vl", "qwen2_5_vl"} <= set(first)
    assert register_image_only_processors() == first


def test_importing_the_helpers_loads_no_heavy_library() -> None:
    code = (
        "import sys, pytest_mllmtrust.testing, pytest_mllmtrust.backends.hf; "
        "print(sorted({'torch', 'transformers', 'tokenizers'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],  # the checkout, in case it is not installed
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "[]"


# -- text-only chat models (local LLM judges) ------------------------------------------------


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_mllmtrust.testing import build_tiny_llm

    return build_tiny_llm(tmp_path_factory.mktemp("tiny-llm") / "llama")


def test_a_text_only_chat_model_answers_batches_like_single_prompts(tiny_llm: Path) -> None:
    backend = TransformersBackend(str(tiny_llm), device="cpu", min_new_tokens=MIN_NEW_TOKENS)
    assert backend.text_only
    prompts = ["is the answer right", "a much longer question about the red car on the road"]
    batched = backend.generate([GenerationRequest(p, None, 6) for p in prompts])
    alone = [backend.generate([GenerationRequest(p, None, 6)])[0] for p in prompts]
    assert batched == alone  # left padding: the shorter prompt is unaffected by the longer
    assert all(isinstance(a, str) and a for a in batched)
    assert backend.describe()["model_class"] == "LlamaForCausalLM"
    with pytest.raises(BackendError, match="text-only model: it cannot see images"):
        backend.generate([GenerationRequest("look", make_test_image(), 4)])


def test_vision_models_are_not_mistaken_for_text_only(model_dir: Path) -> None:
    assert not TransformersBackend(str(model_dir)).text_only
