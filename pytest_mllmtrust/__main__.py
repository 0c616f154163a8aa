"""Commands on results files, without rerunning anything (``mllmtrust`` is the same as
``python -m pytest_mllmtrust``):

``mllmtrust report RESULTS.json [-o REPORT.html] [--data NAME=PATH ...]``
    rebuild the standalone trust report;
``mllmtrust compare A.json B.json ... [-o COMPARE.html]``
    several runs side by side, as a leaderboard.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_mllmtrust.bundled import bundled_path
from pytest_mllmtrust.core.errors import DataError, TrustError


def _root_finder(results: dict[str, Any], given: dict[str, Path]) -> Callable[[str], Path | None]:
    """task id -> data root: a --data override, else the root the run recorded."""
    from pytest_mllmtrust.core.tasks import get_task

    recorded = results.get("run", {}).get("datasets", {})

    def root_of(task: str) -> Path | None:
        try:
            dataset = get_task(task).dataset
        except KeyError:
            return None
        if dataset in given:
            return given[dataset]
        info = recorded.get(dataset)
        if info is None:
            return None
        if info.get("bundled"):
            return bundled_path("fixtures") / dataset
        return Path(info["root"])

    return root_of


def report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    results = _read_results(args.results, parser)
    given = {}
    for entry in args.data:
        name, sep, path = entry.partition("=")
        if not sep:
            parser.error(f"--data {entry!r}: expected NAME=PATH")
        given[name] = Path(path)
    from pytest_mllmtrust.reporting import html

    out = args.output or args.results.with_suffix(".html")
    html.write(results, out, _root_finder(results, given))
    print(f"trust report: {out}")
    return 0


def compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pytest_mllmtrust.reporting.compare import html_page, leaderboard, terminal_table

    runs = []
    for path in args.results:
        results = _read_results(path, parser)
        model = results.get("run", {}).get("model")
        runs.append((f"{model} ({path.name})" if model else path.name, results))
    rows = leaderboard(runs)
    print("\n".join(terminal_table(rows)))
    if args.output is not None:
        args.output.write_text(html_page(rows), encoding="utf-8")
        print(f"comparison: {args.output}")
    return 0


def _read_results(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    from pytest_mllmtrust.core.results import read_results

    try:
        return read_results(path)
    except DataError as exc:
        parser.error(str(exc))


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Commands on pytest-mllmtrust results files (--mllm-json), without "
        "rerunning anything. The trust suites themselves run under pytest: "
        "pytest --mllm=SPEC (see pytest --help, section 'trustworthiness of multimodal LLMs').",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rebuild = commands.add_parser(
        "report",
        help="rebuild the standalone trust report from a results file",
        description="Rebuild the standalone trust report (HTML) from a results file.",
    )
    rebuild.add_argument("results", type=Path, help="a results file (--mllm-json)")
    rebuild.add_argument("-o", "--output", type=Path, help="default: RESULTS with .html")
    rebuild.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                         help="where a dataset's images are now, if they moved")  # fmt: skip
    rebuild.set_defaults(run=report)
    side_by_side = commands.add_parser(
        "compare",
        help="several results files side by side, as a leaderboard",
        description="Several results files side by side, as a leaderboard.",
    )
    side_by_side.add_argument("results", type=Path, nargs="+", help="results files (--mllm-json)")
    side_by_side.add_argument("-o", "--output", type=Path, help="also write an HTML page here")
    side_by_side.set_defaults(run=compare)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m pytest_mllmtrust") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args, parser)
    except TrustError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


def cli() -> int:
    """The ``mllmtrust`` console script."""
    return main(prog="mllmtrust")


if __name__ == "__main__":
    raise SystemExit(main())
