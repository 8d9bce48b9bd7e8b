"""The ``rlm`` command. Parsing is cheap; each command imports what it needs only when it runs,
so ``rlm --help`` answers at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with what the user asked for: one line on stderr, exit code 2."""


def _cmd_replay(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"no such log file: {path}")
    from rlm_tui.trajectories.replay import replay

    try:
        report = asyncio.run(replay(path, cell_timeout=args.cell_timeout))
    except (json.JSONDecodeError, StopIteration, KeyError, ValueError) as exc:
        raise UsageError(f"{path} is not a fast-rlm JSONL log ({type(exc).__name__}: {exc})") from exc
    for line in report.lines():
        print(line)
    return EXIT_OK if report.matched == len(report.checks) else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm",
        description="A terminal chat app built on the Recursive Language Model scaffold.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    replay = sub.add_parser(
        "replay",
        help="re-run a fast-rlm log's root cells in our REPL and compare outputs",
        description="Re-execute a fast-rlm JSONL log's root cells in order in a fresh worker, answering "
        "each llm_query with the recorded sub-agent result, and print whether each cell's output "
        "equals the recorded one.",
    )
    replay.add_argument("path", help="a fast-rlm JSONL log")
    replay.add_argument(
        "--cell-timeout", type=float, default=120.0, metavar="S", help="seconds per cell (default 120)"
    )
    replay.set_defaults(func=_cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"rlm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rlm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
