"""``--mllm-judge``: one judge per role, defaults that never download, pinning, officialness."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mllmtrust.core.config import ModelSpec, parse_config
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.judges import (
    JUDGE_ROLES,
    JudgeSetting,
    is_official,
    parse_judges,
    unpinned_judges,
    unpinned_reason,
)


def kinds(settings: dict[str, JudgeSetting]) -> dict[str, str]:
    return {role: s.kind for role, s in settings.items()}


def test_without_judges_every_role_runs_offline() -> None:
    assert kinds(parse_judges([], embedding_available=True)) == {
        "llm": "rules",
        "jailbreak": "rules",
        "action": "rules",
        "toxicity": "none",
        "moderation": "none",
        "guardrank": "none",
        "embedding": "minilm",
    }
    assert parse_judges([], embedding_available=False)["embedding"].kind == "none"


def test_a_bare_spec_is_the_llm_judge_and_fills_the_roles_it_can_play() -> None:
    settings = parse_judges(["openai:gpt-4-1106-preview"], embedding_available=False)
    assert settings["llm"] == JudgeSetting(
        "llm", "model", "openai:gpt-4-1106-preview", {}, "openai:gpt-4-1106-preview"
    )
    # the jailbreak classifier template and GuardRank's rubric go to the LLM judge
    assert settings["jailbreak"].kind == "llm"
    assert settings["guardrank"].kind == "llm"
    # classifiers never default to an LLM
    assert settings["action"].kind == "rules"


def test_roles_take_their_own_specs() -> None:
    settings = parse_judges(
        [
            "hf:./judge",
            "jailbreak=clf:./harmbench,max_length=512",
            "action=clf:LibrAI/longformer-action-ro",
            "toxicity=perspective",
            "moderation=openai:omni-moderation-2024-09-26",
            "guardrank=./GuardRank,decoder_base=./llama-2-7b,dtype=bfloat16",
            "embedding=none",
        ],
        embedding_available=True,
    )
    assert settings["jailbreak"] == JudgeSetting(
        "jailbreak",
        "clf",
        "./harmbench",
        {"max_length": "512"},
        "jailbreak=clf:./harmbench,max_length=512",
    )
    assert settings["action"].target == "LibrAI/longformer-action-ro"
    assert (settings["toxicity"].kind, settings["toxicity"].target) == ("perspective", "")
    assert settings["moderation"].kind == "openai-moderation"
    assert settings["moderation"].target == "omni-moderation-2024-09-26"
    assert settings["guardrank"].options == {"decoder_base": "./llama-2-7b", "dtype": "bfloat16"}
    assert settings["embedding"].active is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("action=openai:gpt-4o", "the action judge"),  # a chat model cannot classify actions
        ("toxicity=llm", "the toxicity judge"),
        ("jailbreak=llm", "no LLM judge is set"),
        ("clf:./x,colour=red", "bad option 'colour=red'"),  # options are checked by name
        ("action=clf:./x,max_length", "bad option 'max_length'"),
        ("hf:./x,dtype=float16", "options only apply to classifiers"),
        ("llm=", "nothing after 'llm='"),
        ("ftp:thing", "unknown prefix 'ftp'"),
    ],
)
def test_bad_entries_are_refused_quoting_them(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_judges([entry], embedding_available=False)
    assert repr(entry) in str(info.value) or message.startswith("no LLM")


def test_one_role_set_twice_differently_is_an_error() -> None:
    with pytest.raises(ConfigError, match="already set to 'rules'"):
        parse_judges(["action=rules", "action=clf:./a"], embedding_available=False)
    # the same setting twice (CLI and ini agree) is fine
    parse_judges(["action=rules", "action=rules"], embedding_available=False)


def test_run_config_carries_the_llm_judge_and_all_roles(tmp_path: Path) -> None:
    config = parse_config({"judge": ["replay:j.jsonl", "action=clf:./a"]}, tmp_path)
    assert config.judge == ModelSpec("replay", "j.jsonl", "replay:j.jsonl")
    assert config.judges["action"].kind == "clf"
    assert set(config.judges) == set(JUDGE_ROLES)
    # an ini value arrives as one string
    assert parse_config({"judge": "rules"}, tmp_path).judges["llm"].kind == "rules"


# -- pinning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "pinned"),
    [
        ("openai:gpt-4-1106-preview", True),  # the benchmark's judge: a dated snapshot
        ("openai:gpt-4o-2024-08-06", True),
        ("openai:gpt-4o", False),  # an alias the provider repoints
        ("openai:gpt-4o-latest-0000", False),  # "latest" wins over any digits
        ("qwen2-vl-7b", False),  # a short alias: a hub id underneath
        ("hf:Qwen/Qwen2-VL-7B-Instruct", False),  # a hub id
    ],
)
def test_llm_judge_pinning(spec: str, pinned: bool) -> None:
    setting = parse_judges([spec], embedding_available=False)["llm"]
    assert (unpinned_reason(setting) is None) is pinned


def test_a_local_directory_is_pinned_by_content(tmp_path: Path) -> None:
    settings = parse_judges(
        [f"hf:{tmp_path}", f"action=clf:{tmp_path}", "jailbreak=clf:cais/HarmBench-cls"],
        embedding_available=False,
    )
    reasons = unpinned_judges(settings)
    assert len(reasons) == 1
    assert "cais/HarmBench-cls" in reasons[0]
    assert "hub id" in reasons[0]


def test_moderation_model_pinning() -> None:
    latest = parse_judges(["moderation=openai:omni-moderation-latest"], embedding_available=False)
    assert "repoint" in str(unpinned_reason(latest["moderation"]))
    dated = parse_judges(
        ["moderation=openai:omni-moderation-2024-09-26"], embedding_available=False
    )
    assert unpinned_reason(dated["moderation"]) is None


# -- officialness ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("judge_id", "official"),
    [
        ("llm:openai:gpt-4-1106-preview", True),
        ("llm:openai:GPT-4-1106-Preview", True),  # case-insensitive
        ("llm:openai:gpt-4o", False),
        ("rules:yes-no", True),
        ("rules:contain-fuzzy", False),  # the offline fallback, not the benchmark's judge
    ],
)
def test_official_judges_are_matched_by_pattern(judge_id: str, official: bool) -> None:
    assert is_official(judge_id, ("rules:yes-no", "llm:*gpt-4-1106-preview")) is official


def test_refusal_mode_is_checked_at_the_door(tmp_path: Path) -> None:
    assert parse_config({}, tmp_path).refusal_mode == "default"
    assert parse_config({"refusal_mode": "strict"}, tmp_path).refusal_mode == "strict"
    with pytest.raises(ConfigError, match="refusal-mode='loose': use one of default, strict"):
        parse_config({"refusal_mode": "loose"}, tmp_path)
