"""MLLMGuard (arXiv 2406.07594): the seven data tasks (``tasks``, registered on import), their
loader (``loaders``), and its ASD and PAR metrics (``scores``). ``BENCHMARK`` is the entry point
the plugin finds it by."""

from pytest_mllmtrust.mllmguard.benchmark import BENCHMARK

__all__ = ["BENCHMARK"]
