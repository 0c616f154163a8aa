"""What a finished run shows: the terminal summary (``terminal``), the standalone trust report
and its charts (``html``, ``charts``), pytest-html fragments, and runs side by side
(``compare``). Built from scores and results documents; no pytest import.

Importing this package loads none of its modules: jinja2 and matplotlib are only needed when a
report is written.
"""
