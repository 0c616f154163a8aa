"""MultiTrust (arXiv 2406.07057): task definitions, each registered on import.

One module per dimension; each task reads like its block in the spec: data, prompt, judge,
per-sample verdict, official metric and 0-100 score.
"""

from pytest_mllmtrust.multitrust import safety, truthfulness

__all__ = ["safety", "truthfulness"]
