"""Build the judge object a role's setting names; every heavy import waits for its first use."""

from __future__ import annotations

from pytest_mllmtrust.core.config import RunConfig
from pytest_mllmtrust.core.errors import ConfigError
from pytest_mllmtrust.core.judges import JudgeSetting
from pytest_mllmtrust.datafiles import DataFiles
from pytest_mllmtrust.judges.base import Judge
from pytest_mllmtrust.registry import judge_class


def load_judge(setting: JudgeSetting, config: RunConfig, data: DataFiles) -> Judge:
    """The judge for one role: the class registered for the setting's kind in the
    ``pytest_mllmtrust.judges`` entry-point group, built from the setting; weights load lazily
    on first use. An unknown kind is a ConfigError naming the installed ones."""
    try:
        kind = judge_class(setting.kind)
    except ConfigError as exc:
        raise ConfigError(f"--mllm-judge {setting.text!r}: {exc}") from None
    return kind.from_setting(setting, config, data)
