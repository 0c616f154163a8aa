"""The pure core of a trust run: no pytest import and no heavy library at import time.

Samples, verdicts and records (``model``), task specifications (``tasks``), what a benchmark
is (``benchmarks``: the core imports none, it finds them through entry points), the run's
configuration (``config``), the shard runner and its cache (``runner``, ``cache``), scores and
their intervals (``aggregate``, ``stats``), the gate (``thresholds``, ``baseline``) and the
results document (``results``). Each module is imported where it is used; importing this
package loads none of them, so pytest's start-up in every xdist worker stays light.
"""
