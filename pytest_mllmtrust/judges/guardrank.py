"""GuardRank, MLLMGuard's released evaluator, as the judge of the ``guardrank`` role."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pytest_mllmtrust.core.errors import ConfigError, TrustError
from pytest_mllmtrust.judges.base import Judge

if TYPE_CHECKING:
    from pytest_mllmtrust.core.config import RunConfig
    from pytest_mllmtrust.core.judges import JudgeSetting
    from pytest_mllmtrust.datafiles import DataFiles
    from pytest_mllmtrust.judges.classifiers import GuardRankDecoder, GuardRankEncoder

GUARDRANK_TEMPLATES = "templates/guardrank.toml"
#: the base models GuardRank was trained on (spec: mllmguard §7.1)
GUARDRANK_DECODER_BASE = "meta-llama/Llama-2-7b-hf"
GUARDRANK_ENCODER_BASE = "FacebookAI/roberta-large"


class GuardRank(Judge):
    """MLLMGuard's evaluator as released: a LoRA-adapted Llama-2 scorer for the open-ended
    dimensions and a RoBERTa scorer for hallucination, from one downloaded folder.

    The decoder is built at once (a missing adapter or base stops the run at its first item);
    the encoder only when a hallucination sample needs it, so runs of the open-ended
    dimensions do not need roberta-large.
    """

    def __init__(
        self, folder: Path, options: dict[str, str], config: RunConfig, data: DataFiles
    ) -> None:
        from pytest_mllmtrust.judges.classifiers import GuardRankDecoder

        if not folder.is_dir():
            raise ConfigError(
                f"GuardRank folder {str(folder)!r} does not exist. Download the weights once "
                f"(hf download Carol0110/GuardRank --local-dir ./GuardRank) and pass that folder; "
                f"the base models {GUARDRANK_DECODER_BASE} and {GUARDRANK_ENCODER_BASE} are "
                f"fetched separately (decoder_base=/encoder_base= name local copies)."
            )
        self.folder = folder
        self._templates = data.get(GUARDRANK_TEMPLATES)
        self._options = options
        self._settings = {
            "device": options.get("device", config.device),
            "dtype": options.get("dtype", "float32"),
            "batch_size": int(options.get("batch_size", config.batch_size)),
        }
        self.decoder: GuardRankDecoder = GuardRankDecoder(
            str(folder),
            base=options.get("decoder_base"),
            template=self._templates.text("decoder_input"),
            **self._settings,  # type: ignore[arg-type]
        )
        self._encoder: GuardRankEncoder | None = None

    @classmethod
    def from_setting(cls, setting: JudgeSetting, config: RunConfig, data: DataFiles) -> Self:
        """``guardrank=<dir>[,decoder_base=<dir>][,encoder_base=<dir>][,dtype=...]``."""
        return cls(Path(setting.target).expanduser(), dict(setting.options), config, data)

    @property
    def encoder(self) -> GuardRankEncoder:
        if self._encoder is None:
            from pytest_mllmtrust.judges.classifiers import GuardRankEncoder

            safetensors = self.folder / "hallucination.safetensors"
            self._encoder = GuardRankEncoder(
                self._options.get("encoder_base", GUARDRANK_ENCODER_BASE),
                safetensors if safetensors.is_file() else self.folder / "hallucination.pt",
                template=self._templates.text("encoder_input"),
                **self._settings,  # type: ignore[arg-type]
            )
        return self._encoder

    def fingerprint(self) -> dict[str, Any]:
        try:
            encoder: Any = self.encoder.fingerprint()
        except TrustError as missing:  # fine until a hallucination sample needs it
            encoder = f"unavailable: {missing}"
        return {"decoder": self.decoder.fingerprint(), "encoder": encoder}

    def describe(self) -> str:
        return f"GuardRank ({self.decoder.describe()})"

    def close(self) -> None:
        self.decoder.close()
        if self._encoder is not None:
            self._encoder.close()
