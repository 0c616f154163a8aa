"""Wires a source checkout. The installed plugin does not depend on this file.

The plugin itself is registered through its pytest11 entry point (``pip install -e .``), and the
suites live in suites/ (run them with ``pytest suites --mllm=...``).
"""

# Not test code: generators, benchmarks and documentation never collect as tests.
collect_ignore = ["fixtures", "benchmarks", "docs"]
