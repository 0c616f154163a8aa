"""Unit tests for the run configuration: raw option strings in, an immutable RunConfig out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_mllmtrust.backends import shard_size
from pytest_mllmtrust.core.config import ModelSpec, option_default, parse_config, shown_default
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.thresholds import Threshold

# -- defaults -----------------------------------------------------------------------------------


def test_defaults_without_any_option(tmp_path: Path) -> None:
    config = parse_config({}, tmp_path)
    assert config.model is None
    assert config.active is False
    assert config.data == {}
    assert config.judge is None
    assert config.cache_dir == (tmp_path / ".mllmtrust-cache").resolve()
    assert config.batch_size == 8
    assert config.shard_size is None  # the backend's (backends.shard_size)
    assert config.limit is None
    assert config.seed == 0
    assert config.json_path is None
    assert set(config.thresholds) == {
        Threshold("errors", "<=", 0.0),
        Threshold("unscored", "<=", 0.05),
    }
    assert config.strict is False
    assert config.templates_dir is None
    assert config.dtype == "auto"
    assert config.device == "auto"
    assert config.trust_remote_code is False


def test_each_default_is_the_one_runconfig_states(tmp_path: Path) -> None:
    config = parse_config({}, tmp_path)
    plain = ("batch_size", "seed", "ci_resamples", "profile", "gate", "concurrency", "timeout",
             "retries", "threads", "max_answer_chars", "max_regression")  # fmt: skip
    for name in plain:
        assert getattr(config, name) == option_default(name), name
    assert config.cache_dir == (tmp_path / option_default("cache")).resolve()


def test_the_usage_page_states_each_default_as_the_options_do() -> None:
    """docs/usage.md keeps a Default column (it is documentation): every option has its row,
    and a default the help shows from RunConfig is the one the page states."""
    from pytest_mllmtrust.plugin import OPTIONS

    page = (Path(__file__).parents[2] / "docs" / "usage.md").read_text(encoding="utf-8")
    rows = {
        m["flag"]: (m["ini"], m["default"].strip())
        for m in re.finditer(
            r"^\| `(?P<flag>--mllm[a-z-]*)[^`]*` \| `(?P<ini>\w+)`[^|]*\| (?P<default>[^|]*) \|",
            page,
            flags=re.MULTILINE,
        )
    }
    for name, flag, help_text, _, _ in OPTIONS:
        assert flag in rows, f"{flag} has no row in docs/usage.md"
        ini, default = rows[flag]
        assert ini == ("mllm" if name == "model" else f"mllm_{name}")
        if "{default}" in help_text:
            assert default.strip("`") == shown_default(name), flag


def test_the_usage_page_states_each_benchmark_options_default() -> None:
    """A benchmark's scoring options (Benchmark.options) have their rows too."""
    from pytest_mllmtrust.core.benchmarks import scoring_options

    page = (Path(__file__).parents[2] / "docs" / "usage.md").read_text(encoding="utf-8")
    assert scoring_options(), "MLLMGuard declares --mllm-hallucination-asd"
    for option in scoring_options():
        row = rf"^\| `{option.flag}=\w+` \| `mllm_{option.name}` \| `(\w+)` \|"
        found = re.search(row, page, flags=re.MULTILINE)
        assert found, f"{option.flag} has no row in docs/usage.md"
        assert found[1] == option.default == shown_default(option.name)


def test_model_makes_the_config_active(tmp_path: Path) -> None:
    config = parse_config({"model": "replay:answers.jsonl"}, tmp_path)
    assert config.active is True
    assert config.model == ModelSpec("replay", "answers.jsonl", "replay:answers.jsonl")


# -- ModelSpec.parse ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "backend", "target"),
    [
        ("llava-1.5-7b", "alias", "llava-1.5-7b"),
        ("my_model.v2", "alias", "my_model.v2"),
        ("hf:Qwen/Qwen2-VL-7B-Instruct", "hf", "Qwen/Qwen2-VL-7B-Instruct"),
        ("hf:./checkpoints/run 1", "hf", "./checkpoints/run 1"),
        ("replay:answers.jsonl", "replay", "answers.jsonl"),
        ("  hf:some/model  ", "hf", "some/model"),
    ],
)
def test_model_spec_forms(text: str, backend: str, target: str) -> None:
    spec = ModelSpec.parse(text)
    assert (spec.backend, spec.target, spec.text) == (backend, target, text.strip())


@pytest.mark.parametrize("text", ["hf:", "replay:"])
def test_model_spec_backend_without_target_is_rejected(text: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        ModelSpec.parse(text)
    assert repr(text) in str(excinfo.value)


def test_model_spec_unknown_backend_is_named() -> None:
    with pytest.raises(ConfigError) as excinfo:
        ModelSpec.parse("foo:bar")
    assert "'foo:bar'" in str(excinfo.value)
    assert "unknown backend 'foo'" in str(excinfo.value)


@pytest.mark.parametrize("text", ["a b", "model!", "x:y", "", "   "])
def test_model_spec_invalid_alias_is_rejected(text: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        ModelSpec.parse(text)
    assert repr(text.strip()) in str(excinfo.value)


def test_model_spec_error_names_the_option() -> None:
    with pytest.raises(ConfigError, match="--mllm-judge="):
        ModelSpec.parse("a b", "--mllm-judge")


# -- --mllm-data --------------------------------------------------------------------------------


def test_data_root_relative_to_rootdir(tmp_path: Path) -> None:
    (tmp_path / "data" / "mt").mkdir(parents=True)
    config = parse_config({"data": ["multitrust=data/mt"]}, tmp_path)
    assert config.data == {"multitrust": (tmp_path / "data" / "mt").resolve()}


def test_data_root_absolute_path_is_used_as_is(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = parse_config({"data": [f"mllmguard={elsewhere}"]}, tmp_path / "project")
    assert config.data == {"mllmguard": elsewhere.resolve()}


def test_data_roots_for_both_datasets(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = parse_config({"data": ["multitrust=a", "mllmguard = b"]}, tmp_path)
    assert config.data == {
        "multitrust": (tmp_path / "a").resolve(),
        "mllmguard": (tmp_path / "b").resolve(),
    }


def test_data_unknown_dataset_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({"data": ["cocoset=."]}, tmp_path)
    assert "'cocoset=.'" in str(excinfo.value)
    assert "unknown dataset 'cocoset'" in str(excinfo.value)


def test_data_path_that_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    for entry in ("multitrust=nowhere", "multitrust=file.txt"):
        with pytest.raises(ConfigError) as excinfo:
            parse_config({"data": [entry]}, tmp_path)
        assert repr(entry) in str(excinfo.value)
        assert "not a directory" in str(excinfo.value)


@pytest.mark.parametrize("entry", ["multitrust", "multitrust=", "=data", "  =  "])
def test_data_entry_without_name_and_path(entry: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({"data": [entry]}, tmp_path)
    assert repr(entry) in str(excinfo.value)
    assert "NAME=PATH" in str(excinfo.value)


# -- integers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["batch_size", "shard_size"])
@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", "-0"])
def test_sizes_must_be_positive_integers(option: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_config({option: value}, tmp_path)
    flag = "--mllm-" + option.replace("_", "-")
    assert f"{flag}={value!r}" in str(excinfo.value)


def test_sizes_accept_a_positive_integer_with_spaces(tmp_path: Path) -> None:
    config = parse_config({"batch_size": " 4 ", "shard_size": "128"}, tmp_path)
    assert (config.batch_size, config.shard_size) == (4, 128)


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("42", 42)])
def test_seed_zero_and_positive_are_allowed(value: str, expected: int, tmp_path: Path) -> None:
    assert parse_config({"seed": value}, tmp_path).seed == expected


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_bad_seed_is_rejected(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"--mllm-seed={value!r}"):
        parse_config({"seed": value}, tmp_path)


@pytest.mark.parametrize(("value", "expected"), [("5", 5), ("", None), (None, None)])
def test_limit(value: str | None, expected: int | None, tmp_path: Path) -> None:
    assert parse_config({"limit": value}, tmp_path).limit == expected


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_bad_limit_is_rejected(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"--mllm-limit={value!r}"):
        parse_config({"limit": value}, tmp_path)


# -- cache, dtype, judge, templates, json, thresholds -------------------------------------------


def test_cache_none_disables_the_cache(tmp_path: Path) -> None:
    assert parse_config({"cache": "none"}, tmp_path).cache_dir is None


def test_cache_directory_is_relative_to_rootdir(tmp_path: Path) -> None:
    assert parse_config({"cache": "c/d"}, tmp_path).cache_dir == (tmp_path / "c" / "d").resolve()


@pytest.mark.parametrize("dtype", ["auto", "float32", "float16", "bfloat16"])
def test_known_dtypes(dtype: str, tmp_path: Path) -> None:
    assert parse_config({"dtype": dtype}, tmp_path).dtype == dtype


@pytest.mark.parametrize(
    ("spelling", "dtype"),
    [("fp16", "float16"), ("half", "float16"), ("Float32", "float32"), ("bf16", "bfloat16")],
)
def test_other_spellings_of_a_dtype_are_normalised(
    spelling: str, dtype: str, tmp_path: Path
) -> None:
    assert parse_config({"dtype": spelling}, tmp_path).dtype == dtype


@pytest.mark.parametrize("dtype", ["int8", "float64", "fp8"])
def test_unknown_dtype_is_rejected(dtype: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"--mllm-dtype={dtype!r}"):
        parse_config({"dtype": dtype}, tmp_path)


def test_judge_rules_means_no_llm_judge(tmp_path: Path) -> None:
    assert parse_config({"judge": "rules"}, tmp_path).judge is None


def test_judge_model_spec(tmp_path: Path) -> None:
    judge = parse_config({"judge": "hf:judges/qwen"}, tmp_path).judge
    assert judge == ModelSpec("hf", "judges/qwen", "hf:judges/qwen")


def test_bad_judge_names_the_judge_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--mllm-judge 'bad judge'"):
        parse_config({"judge": "bad judge"}, tmp_path)


def test_bad_model_is_rejected_through_parse_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--mllm='hf:'"):
        parse_config({"model": "hf:"}, tmp_path)


def test_templates_directory(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    assert (
        parse_config({"templates": "tpl"}, tmp_path).templates_dir == (tmp_path / "tpl").resolve()
    )


def test_templates_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--mllm-templates='missing'"):
        parse_config({"templates": "missing"}, tmp_path)


def test_json_path_is_relative_to_rootdir(tmp_path: Path) -> None:
    config = parse_config({"json": "out/results.json"}, tmp_path)
    assert config.json_path == (tmp_path / "out" / "results.json").resolve()


@pytest.mark.parametrize(
    ("raw", "path", "step_summary"),
    [
        (None, None, True),  # the default: GitHub Actions' job summary where there is one
        ("", None, True),
        ("none", None, False),  # the documented way out
        ("ci/summary.md", "ci/summary.md", True),
    ],
)
def test_the_markdown_summary_option(
    tmp_path: Path, raw: str | None, path: str | None, step_summary: bool
) -> None:
    config = parse_config({"md": raw}, tmp_path)
    assert config.md_path == (None if path is None else (tmp_path / path).resolve())
    assert config.md_step_summary is step_summary
    assert option_default("md") is None


def test_thresholds_are_parsed_with_default_budgets(tmp_path: Path) -> None:
    config = parse_config({"threshold": ["safety=80", "errors<=0.1"]}, tmp_path)
    assert set(config.thresholds) == {
        Threshold("safety", ">=", 80.0),
        Threshold("errors", "<=", 0.1),
        Threshold("unscored", "<=", 0.05),
    }


def test_bad_threshold_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="safety=>80"):
        parse_config({"threshold": ["safety=>80"]}, tmp_path)


def test_flags(tmp_path: Path) -> None:
    config = parse_config({"strict": True, "trust_remote_code": True, "device": "cuda:1"}, tmp_path)
    assert (config.strict, config.trust_remote_code, config.device) == (True, True, "cuda:1")


def test_trust_report_without_its_libraries_is_a_usage_error_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "matplotlib" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match=r"--mllm-html='r.html' needs matplotlib: pip install"):
        parse_config({"model": "replay:x", "html": "r.html"}, tmp_path)
    monkeypatch.undo()
    config = parse_config({"model": "replay:x", "html": "r.html"}, tmp_path)
    assert config.html_path == tmp_path / "r.html"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"model": "hf:./m"}, 64),
        ({"model": "replay:a.jsonl"}, 64),
        ({"model": "openai:gpt-4o"}, 8 * 16),  # eight waves of the default concurrency
        ({"model": "openai:gpt-4o", "concurrency": "32"}, 256),
        ({"model": "openai:gpt-4o", "concurrency": "2"}, 64),  # never below the default
        ({"model": "vllm:./m"}, 512),
        ({"model": "openai:gpt-4o", "shard_size": "10"}, 10),  # given wins
    ],
)
def test_shards_default_to_one_full_call_of_the_backend(
    tmp_path: Path, options: dict[str, str], expected: int
) -> None:
    assert shard_size(parse_config(options, tmp_path)) == expected
