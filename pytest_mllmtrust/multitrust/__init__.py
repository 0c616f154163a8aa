"""MultiTrust (arXiv 2406.07057): one module of task definitions per dimension, their data
loaders (``loaders*``) and the pyramid of scores above the tasks (``scores``).

Each task reads like its block in the spec: data, prompt, judge, per-sample verdict, official
metric and 0-100 score. ``BENCHMARK`` is the entry point the plugin finds it by; the task modules
are imported (and their tasks registered) only when a task is first looked up.
"""

from pytest_mllmtrust.multitrust.benchmark import BENCHMARK

__all__ = ["BENCHMARK"]
