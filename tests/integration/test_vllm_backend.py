"""The vllm: backend.

Everywhere: a machine without vLLM or without a GPU stops the run with a clear message, and the
backend drives vLLM's API as intended (checked against a stand-in ``vllm`` module that records
the calls). With vLLM *and* a CUDA GPU: a real end-to-end generation (skipped otherwise, saying
why). The model for that run is ``$MLLMTRUST_VLLM_MODEL`` (a local directory or a hub id in the
local cache), else Qwen/Qwen2-VL-2B-Instruct when it is in the local Hugging Face cache.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from pytest_mllmtrust import EXIT_GATE_FAILED
from pytest_mllmtrust.backends import vllm_engine
from pytest_mllmtrust.backends.vllm_engine import INSTALL_HINT, NO_GPU, VLLMBackend
from pytest_mllmtrust.core.errors import BackendError
from pytest_mllmtrust.core.model import GenerationRequest

HAS_VLLM = vllm_engine.vllm_installed()
HAS_GPU = vllm_engine.cuda_gpu_visible()
DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"


def _missing() -> str | None:
    """Why a real vLLM run cannot happen here, or None when it can."""
    if not HAS_VLLM:
        return INSTALL_HINT
    if not HAS_GPU:
        return NO_GPU
    return None


# -- everywhere ---------------------------------------------------------------------------


@pytest.mark.skipif(_missing() is None, reason="vLLM and a GPU are both here")
def test_without_vllm_or_a_gpu_the_backend_says_what_is_missing() -> None:
    with pytest.raises(BackendError) as info:
        VLLMBackend("some/model")
    assert str(info.value) == _missing()
    if not HAS_VLLM:
        assert "pip install 'pytest-mllmtrust[vllm]'" in str(info.value)


def test_without_a_visible_gpu_the_backend_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_engine, "vllm_installed", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    with pytest.raises(BackendError, match="vllm: needs a CUDA GPU; none is visible"):
        VLLMBackend("some/model")


@pytest.mark.skipif(_missing() is None, reason="vLLM and a GPU are both here")
def test_a_run_without_vllm_or_a_gpu_stops_with_the_message(
    pytester: pytest.Pytester, run_trust
) -> None:
    run = run_trust("--mllm=vllm:some/model")
    assert run.result.ret == pytest.ExitCode.INTERRUPTED
    text = run.result.stdout.str()
    assert str(_missing()) in text
    assert run.result.parseoutcomes().get("errors") == 1  # stopped after the first item


class _FakeVLLM:
    """Stands in for the ``vllm`` module: records how the backend drives it."""

    def __init__(self) -> None:
        self.engines: list[dict[str, Any]] = []
        self.chats: list[tuple[list[Any], list[Any], dict[str, Any]]] = []

    def module(self) -> types.ModuleType:
        fake = self
        module = types.ModuleType("vllm")

        class SamplingParams:
            def __init__(self, **settings: Any) -> None:
                self.settings = settings

        class LLM:
            def __init__(self, **settings: Any) -> None:
                fake.engines.append(settings)

            def chat(self, messages: list[Any], sampling_params: Any, **kw: Any) -> list[Any]:
                fake.chats.append((messages, sampling_params, kw))
                outputs = []
                for conversation, params in zip(messages, sampling_params, strict=True):
                    words = ["w"] * 100
                    has_image = any(p["type"] == "image_url" for p in conversation[0]["content"])
                    text = ("img " if has_image else "") + " ".join(
                        words[: params.settings["max_tokens"]]
                    )
                    completion = types.SimpleNamespace(text=text)
                    outputs.append(types.SimpleNamespace(outputs=[completion]))
                return outputs

        module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
        module.LLM = LLM  # type: ignore[attr-defined]
        return module


def test_a_whole_batch_goes_to_vllm_in_one_chat_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _FakeVLLM()
    monkeypatch.setitem(sys.modules, "vllm", fake.module())
    monkeypatch.setattr(vllm_engine, "vllm_installed", lambda: True)
    monkeypatch.setattr(vllm_engine, "cuda_gpu_visible", lambda: True)
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    backend = VLLMBackend(str(tmp_path), dtype="bf16", tensor_parallel=2)
    assert (backend.preferred_batch_size or 0) >= 256
    assert not backend.batch_invariant

    fingerprint = backend.fingerprint()
    assert fingerprint["backend"] == "vllm"
    assert len(fingerprint["weights_sha256"]) == 64
    assert (fingerprint["dtype"], fingerprint["tensor_parallel"]) == ("bfloat16", 2)
    assert (
        fingerprint == VLLMBackend(str(tmp_path), dtype="bfloat16", tensor_parallel=2).fingerprint()
    )
    assert fingerprint != VLLMBackend(str(tmp_path), dtype="bf16").fingerprint()
    assert fake.engines == []  # building a backend (or fingerprinting it) starts no engine

    image = Image.new("L", (8, 8), 200)  # not RGB: converted before encoding
    batch = [
        GenerationRequest("Is there a cat?", image=image, max_new_tokens=3),
        GenerationRequest("Say hello.", max_new_tokens=5),
        GenerationRequest("Nothing at all.", max_new_tokens=0),
    ]
    answers = backend.generate(batch)
    assert answers == ["img w w w", "w w w w w", ""]
    assert len(fake.chats) == 1  # one call for the whole batch: continuous batching
    messages, params, extra = fake.chats[0]
    assert [p.settings for p in params] == [
        {"temperature": 0.0, "max_tokens": 3},
        {"temperature": 0.0, "max_tokens": 5},
        {"temperature": 0.0, "max_tokens": 1},
    ]
    assert extra == {"use_tqdm": False}
    first = messages[0][0]
    assert first["role"] == "user"
    assert first["content"][0]["type"] == "image_url"
    assert first["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert first["content"][1] == {"type": "text", "text": "Is there a cat?"}
    assert messages[1][0]["content"] == [{"type": "text", "text": "Say hello."}]

    assert len(fake.engines) == 1
    engine = fake.engines[0]
    assert engine["model"] == str(tmp_path.resolve())
    assert engine["dtype"] == "bfloat16"
    assert engine["tensor_parallel_size"] == 2
    assert engine["limit_mm_per_prompt"] == {"image": 1}
    assert engine["trust_remote_code"] is False

    backend.generate(batch[:1])
    assert len(fake.engines) == 1  # the engine is started once
    backend.close()
    with pytest.raises(BackendError, match="closed"):
        backend.generate(batch[:1])


def test_a_hub_id_is_identified_by_name_and_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_engine, "vllm_installed", lambda: True)
    monkeypatch.setattr(vllm_engine, "cuda_gpu_visible", lambda: True)
    fingerprint = VLLMBackend("org/model", revision="abc123").fingerprint()
    assert (fingerprint["hub_id"], fingerprint["revision"]) == ("org/model", "abc123")
    with pytest.raises(BackendError, match="does not exist"):
        VLLMBackend("./no-such-dir")


# -- with vLLM and a GPU --------------------------------------------------------------------


def _real_model() -> str:
    chosen = os.environ.get("MLLMTRUST_VLLM_MODEL")
    if chosen:
        return chosen
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(DEFAULT_MODEL, local_files_only=True)
    except Exception:
        pytest.skip(
            f"no model for a real vLLM run: set MLLMTRUST_VLLM_MODEL, or fetch {DEFAULT_MODEL} "
            f"into the local Hugging Face cache (hf download {DEFAULT_MODEL})"
        )


# Runs before the in-process engine below (which would hold GPU memory), in its own process.
@pytest.mark.slow
def test_a_trust_run_on_vllm_scores_every_sample(pytester: pytest.Pytester, run_trust) -> None:
    reason = _missing()
    if reason is not None:
        pytest.skip(f"real vLLM run skipped: {reason}")
    model = _real_model()
    run = run_trust(f"--mllm=vllm:{model}", "--mllm-limit=4", subprocess=True)
    assert run.result.ret in (0, EXIT_GATE_FAILED), run.result.stdout.str()
    outcomes = set(run.outcomes.values())
    assert outcomes
    assert "error" not in outcomes


@pytest.fixture
def real_backend() -> Any:
    reason = _missing()
    if reason is not None:
        pytest.skip(f"real vLLM run skipped: {reason}")
    backend = VLLMBackend(_real_model(), max_model_len=4096, gpu_memory_utilization=0.5)
    yield backend
    backend.close()


@pytest.mark.slow
def test_vllm_answers_a_mixed_batch_greedily_and_repeatably(real_backend: Any) -> None:
    red = Image.new("RGB", (224, 224), (220, 20, 20))
    batch = [
        GenerationRequest("What colour is this image? Answer in one word.", red, 8),
        GenerationRequest("What is 2 + 2? Answer with a number.", None, 8),
        GenerationRequest("Describe the image.", red, 2),
    ]
    answers = real_backend.generate(batch)
    assert len(answers) == 3
    assert all(isinstance(answer, str) for answer in answers)
    assert "red" in answers[0].lower()
    assert "4" in answers[1]
    assert len(answers[2].split()) <= 2  # its own budget, not the batch's largest
    assert real_backend.generate(batch) == answers  # greedy: the same answers again
    assert real_backend.fingerprint()["vllm"]
