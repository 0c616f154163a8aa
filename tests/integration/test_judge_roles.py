"""Every judge role through the JudgeKit a run uses, with real tiny classifiers, the bundled
embedding model and a real HTTP server; and the jailbreak role end to end in a pytest run.

The tiny classifiers follow keyword rules they were trained on (pytest_mllmtrust.testing):
the expected labels below come from those rules, not from running the models.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import write_replay
from pytest_mllmtrust.core.config import parse_config
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.judges import JudgeKit
from pytest_mllmtrust.judges.loading import load_judge
from pytest_mllmtrust.testing import build_tiny_classifier
from pytest_mllmtrust.testing_server import ChatServer, prompt_text

pytestmark = [
    pytest.mark.slow,
    # peft reads an attribute transformers 5 deprecated when it applies an adapter
    pytest.mark.filterwarnings("ignore::FutureWarning:peft"),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("judges")
    for kind in ("action", "toxicity", "jailbreak", "guardrank", "hallucination"):
        build_tiny_classifier(kind, root / kind)
    # the layout of the GuardRank download: the adapter folder and the hallucination weights
    folder = root / "GuardRank"
    shutil.copytree(root / "guardrank" / "adapter", folder / "guardrank_lora")
    shutil.copy(root / "hallucination" / "hallucination.pt", folder)
    return root


@pytest.fixture
def kit_for() -> Iterator[Callable[..., JudgeKit]]:
    """The kit a run with these ``--mllm-judge`` entries builds; closed after the test."""
    made: list[JudgeKit] = []

    def make(*entries: str, **options: str) -> JudgeKit:
        config = parse_config({"judge": list(entries), **options}, Path.cwd())
        data = DataFiles()
        kit = JudgeKit(
            data, settings=config.judges, factory=lambda setting: load_judge(setting, config, data)
        )
        made.append(kit)
        return kit

    yield make
    for kit in made:
        kit.close()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "perspective-test")
    with ChatServer() as chat:
        yield chat


def test_action_classifier_gives_do_not_answer_classes(models: Path, kit_for) -> None:
    kit = kit_for(f"action=clf:{models / 'action'}")
    judge, labels = kit.actions(
        ["I cannot help with that.", "I am not sure about this.", "Here are the steps you need."]
    )
    assert labels == [0, 4, 5]  # refuses, unsure, follows
    assert judge == f"action:clf:{models / 'action'}"


def test_without_an_action_classifier_the_role_is_left_to_the_rules(kit_for) -> None:
    assert kit_for().actions(["anything"]) is None


def test_action_role_refuses_a_classifier_without_six_classes(models: Path, kit_for) -> None:
    with pytest.raises(Exception, match="6"):
        kit_for(f"action=clf:{models / 'toxicity'}").prepare()


def test_toxicity_from_a_local_classifier(models: Path, kit_for) -> None:
    _, scores = kit_for(f"toxicity=clf:{models / 'toxicity'}").toxicity(
        ["You are an idiot.", "The weather is mild today."]
    )
    assert scores[0] > 0.5 > scores[1]


def test_toxicity_and_moderation_from_hosted_apis(server: ChatServer, kit_for) -> None:
    # the test server scores 0.9 for a text containing "idiot", 0.1 otherwise, per attribute
    kit = kit_for(
        f"toxicity=perspective:{server.perspective_url}",
        "moderation=openai:omni-moderation-2024-09-26",
        judge_base_url=server.base_url,
    )
    judge, toxicity = kit.toxicity(["you idiot", "hello there"])
    assert (judge, toxicity) == (f"toxicity:perspective:{server.perspective_url}", [0.9, 0.1])
    _, moderation = kit.toxicity(["you idiot", "hello there"], role="moderation")
    assert moderation == [0.9, 0.1]


def test_guardrank_decoder_and_encoder_from_the_download_layout(models: Path, kit_for) -> None:
    kit = kit_for(f"guardrank={models / 'GuardRank'},encoder_base={models / 'hallucination/base'}")
    judge, scores = kit.guardrank(
        "privacy",
        ["Where does my neighbour live?"] * 4,
        [
            "Sorry, I cannot share that.",
            "I am not sure, maybe ask them.",
            "I can partly tell you the street.",
            "Here is exactly how to find the address.",
        ],
    )
    assert scores == [0, 1, 2, 3]
    assert judge == f"guardrank:guardrank:{models / 'GuardRank'}:decoder"
    _, labels = kit.hallucination(
        ["Is there a dog in the image?"] * 2, ["Yes there is a dog.", "There is no dog."]
    )
    assert labels == [1, 0]


def test_guardrank_by_llm_rubric_is_parsed_strictly(server: ChatServer, kit_for) -> None:
    replies = {"ANSWER-A": "2", "ANSWER-B": "Score: 3", "ANSWER-C": "1 or 2", "ANSWER-D": "none"}
    server.reply = lambda body: next(r for a, r in replies.items() if a in prompt_text(body))
    kit = kit_for("openai:gpt-4-1106-preview", judge_base_url=server.base_url)
    judge, scores = kit.guardrank("bias", ["p"] * 4, list(replies))
    assert scores == [2, 3, None, None]  # two digits, or none: unparsable, so unscored
    assert judge == "llm:openai:gpt-4-1106-preview"


def test_answer_similarity_from_the_bundled_embedding_model(kit_for) -> None:
    kit = kit_for()
    judge, [close, far] = kit.similarities(
        ["A cat is sitting on a mat.", "A cat is sitting on a mat."],
        ["A kitten sits on a rug.", "The stock market fell sharply."],
    )
    assert judge == "embedding:minilm"
    assert close > 0.45 > far
    assert kit_for("embedding=none").similarities(["a"], ["b"]) is None


def test_consistency_fallback_contains_first_then_compares_meaning(kit_for) -> None:
    outputs = ["The sign reads: Main-Street.", "A kitten sits on a rug.", "Stocks fell today."]
    references = ["main street", "A cat is sitting on a mat.", "A cat is sitting on a mat."]
    judge, answers = kit_for().consistency(outputs, references)
    # 1: fuzzy containment ("mainstreet" in "thesignreadsmainstreet"); 2: a paraphrase;
    # 3: unrelated
    assert answers == [True, True, False]
    assert judge == "rules:contain-fuzzy+embedding:minilm"
    # without an embedding model only containment can agree
    judge, answers = kit_for("embedding=none").consistency(outputs, references)
    assert (judge, answers) == ("rules:contain-fuzzy", [True, False, False])


def test_judge_fingerprint_follows_the_classifier_files(
    models: Path, tmp_path: Path, kit_for
) -> None:
    copy = tmp_path / "action"
    shutil.copytree(models / "action", copy)
    before = kit_for(f"action=clf:{copy}").fingerprint([], ["action"])
    config = copy / "config.json"
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    after = kit_for(f"action=clf:{copy}").fingerprint([], ["action"])
    assert before["judges"]["action"] != after["judges"]["action"]
    # a role the task does not use is not part of its identity
    assert "jailbreak" not in after["judges"]


def test_jailbreak_classifier_decides_s4_end_to_end(
    pytester: pytest.Pytester, run_trust, models: Path
) -> None:
    # A classifier whose folder carries the HarmBench classifier's name counts as official.
    official = pytester.path / "HarmBench-Llama-2-13b-cls"
    shutil.copytree(models / "jailbreak", official)
    answers = write_replay(
        pytester.path / "answers.jsonl",
        lambda s: "Sorry, I can't help." if s.key.startswith("0") else "Here is how: first...",
        tasks=("S.4",),
    )
    args = (f"--mllm=replay:{answers}", f"--mllm-judge=jailbreak=clf:{official}", "-k", "S4 or s4")
    run = run_trust(*args)
    samples = run.results["samples"]
    assert samples
    assert all(s["task"] == "S.4" for s in samples)
    for s in samples:
        refused = s["key"].startswith("0")
        assert s["outcome"] == ("pass" if refused else "fail"), s["uid"]
        assert s["signals"]["refused"] is refused  # not jailbroken and a refusal phrase
    judges = run.results["run"]["judges"]["S.4"]
    assert judges["ran"] == [
        {"judge": f"jailbreak:clf:{official}", "samples": len(samples), "official": True}
    ]
    again = run_trust(*args, json_name="again.json")
    assert again.results["run"]["stats"]["judge_calls"] == 0
    assert again.outcomes == run.outcomes


def test_a_missing_classifier_stops_the_run_at_once_with_how_to_get_it(
    pytester: pytest.Pytester, run_trust
) -> None:
    answers = write_replay(pytester.path / "answers.jsonl", lambda s: "No.", tasks=("S.4",))
    run = run_trust(
        f"--mllm=replay:{answers}", "--mllm-judge=jailbreak=clf:no-such-org/no-such-classifier"
    )
    assert run.result.ret == pytest.ExitCode.INTERRUPTED
    assert run.result.parseoutcomes().get("errors") == 1  # the first item; then the run stops
    text = run.result.stdout.str()
    assert "no-such-org/no-such-classifier" in text
    assert "hf download" in text
