"""The ``rlm`` command. Parsing is cheap; each command imports what it needs only when it runs,
so ``rlm --help`` answers at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rlm_tui.cli.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from rlm_tui.errors import RlmError, UsageError


def _cmd_replay(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from rlm_tui.services.logs import replay_log

    report = asyncio.run(replay_log(Path(args.path), args.cell_timeout))
    for line in report.lines():
        print(line)
    return EXIT_OK if report.ok else EXIT_FAILED


def _model_flags(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """The model flags, on `rlm` itself and on its commands. On a command they default to
    "not given", so `rlm --model M ask ...` keeps the M given before the command."""
    default = argparse.SUPPRESS if sub else None
    group = parser.add_argument_group("models")
    group.add_argument(
        "--model",
        metavar="M",
        default=default,
        help="root model, provider/name (e.g. anthropic/claude-sonnet-5-5)",
    )
    group.add_argument(
        "--sub-model", metavar="M", default=default, help="model for llm_query sub-calls and child RLMs"
    )
    group.add_argument(
        "--api-base",
        metavar="URL",
        default=default,
        help="API base URL for the root model (Ollama, vLLM, a proxy)",
    )
    group.add_argument(
        "--sub-api-base",
        metavar="URL",
        default=default,
        help="API base URL for the sub-model (default: --api-base, if the sub-model has the root's provider)",
    )


def _load_config(args: argparse.Namespace, **extra: tuple[object, str]):
    """The effective config; ``extra`` maps a setting to (the flag's value, the flag's name)."""
    from rlm_tui.config import load

    flags: dict[str, object] = {
        name: getattr(args, name, None) for name in ("model", "sub_model", "api_base", "sub_api_base")
    }
    names = {name: "--" + name.replace("_", "-") for name in flags}
    for name, (value, flag) in extra.items():
        flags[name], names[name] = value, flag
    return load(flags, flag_names=names)


def _cmd_ask(args: argparse.Namespace) -> int:
    from rlm_tui.cli import ask
    from rlm_tui.services.runtime import check_models, preload_clients

    config = _load_config(
        args,
        max_cost_usd=(args.max_cost, "--max-cost"),
        max_depth=(args.max_depth, "--max-depth"),
        max_iterations=(args.max_iterations, "--max-iterations"),
    )
    preload_clients(config)
    check_models(config)
    files = ask.check_files(args.file)
    question = ask.read_question(args.question)
    return ask.main(config, ask.AskRequest(question, files, args.json, getattr(args, "session", None)))


def _cmd_tui(args: argparse.Namespace) -> int:
    config = _load_config(args)
    session_id = args.session
    if session_id is not None:  # an unknown id is a usage error, before any screen opens
        from rlm_tui.services.catalog import Catalog

        with Catalog.open() as catalog:
            session_id = catalog.resolve(session_id)
    from rlm_tui.ui.app import RLMApp, terminal_has_few_colours

    RLMApp(
        config, session_id=session_id, resume_latest=args.resume, few_colours=terminal_has_few_colours()
    ).run()
    return EXIT_OK


def _cmd_view(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rlm_tui.services.logs import load_log

    path = Path(args.path)
    events = load_log(path)
    config = _load_config(args)
    from rlm_tui.ui.app import RLMApp, terminal_has_few_colours

    RLMApp(config, view=(path.name, events), few_colours=terminal_has_few_colours()).run()
    return EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    from rlm_tui.config import config_path, data_dir, describe

    config = _load_config(args)
    rows = _with_deployments(config, describe(config))
    width = max(len(name) for name, _, _ in rows)
    vwidth = min(48, max(len(value) for _, value, _ in rows))
    for name, value, source in rows:
        print(f"{name.ljust(width)}  {value.ljust(vwidth)}  ({source})")
    path = config_path()
    print(f"\nconfig file: {path}{'' if path.exists() else ' (not present)'}")
    print(f"data dir:    {data_dir()}", flush=True)  # shown while the models' limits are found
    _print_model_limits(config)
    sys.stdout.flush()  # here, where a reader that left (`| head`) is handled, not at exit
    return EXIT_OK


def _with_deployments(config, rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """A model's deployments, one row each with the line it is on: its provider model, where,
    the variable holding its key (never the key) and its limits."""
    from rlm_tui.config.settings import DEPLOYMENTS, deployment_key, model_key

    shown = []
    for name, value, source in rows:
        model = next((m for m in config.models if name == model_key(m, DEPLOYMENTS)), None)
        if model is None:
            shown.append((name, value, source))
            continue
        for index, deployment in enumerate(config.models[model].deployments):
            parts = [deployment.model]
            if deployment.api_base:
                parts.append(f"at {deployment.api_base}")
            if deployment.api_key_env:
                parts.append(f"key from ${deployment.api_key_env}")
            parts += [
                f"{field} {getattr(deployment, field):g}"
                for field in ("rpm", "tpm", "weight", "order")
                if getattr(deployment, field) is not None
            ]
            key = deployment_key(model, index)
            shown.append((key, ", ".join(parts), config.source(key)))
    return shown


def _print_model_limits(config) -> None:
    """Each model's window and output limit and where they came from (the config, litellm's map,
    the endpoint, which is asked with a short timeout)."""
    import asyncio

    from rlm_tui.services.runtime import make_router

    router = make_router(config)
    models = list(dict.fromkeys((config.model, config.sub_model)))

    async def resolve_all() -> list:
        return list(await asyncio.gather(*(router.resolve(model) for model in models)))

    def said(value: int | None, source: str) -> str:
        return f"{value} ({source})" if value is not None else "unknown"

    print("\nmodels:")
    width = max(len(model) for model in models)
    unknown = []
    for model, found in zip(models, asyncio.run(resolve_all()), strict=True):
        window = said(found.context_window, found.window_source)
        output = said(found.max_output_tokens, found.output_source)
        print(f"  {model.ljust(width)}  window {window}, output {output}")
        if found.context_window is None:
            unknown.append(model)
    for model in unknown:
        print(
            f'  ({model}: an unknown window is not checked before a call; set it with [models."{model}"] '
            "context_window = N in the config file)"
        )


def _cmd_sessions(args: argparse.Namespace) -> int:
    from rlm_tui.cli import sessions as cmd
    from rlm_tui.services.catalog import Catalog

    action = args.action
    if action == "recover":  # the one command that must not open the database as usual
        return cmd.cmd_recover(args.out)
    with Catalog.open() as catalog:
        if action == "list":
            return cmd.cmd_list(catalog, args.limit, args.json)
        if action == "search":
            return cmd.cmd_search(catalog, args.text, args.limit)
        session_id = catalog.resolve(args.id)
        if action == "show":
            return cmd.cmd_show(catalog, session_id, args.events)
        if action == "export":
            return cmd.cmd_export(catalog, session_id, args.format, args.output)
        if action == "fork":
            return cmd.cmd_fork(catalog, session_id, args.turn)
        if action == "rename":
            return cmd.cmd_rename(catalog, session_id, args.title)
        if action == "rm":
            return cmd.cmd_rm(catalog, session_id, args.yes)
        raise UsageError(f"unknown sessions command {action!r}")


def _sessions_parser(sub: argparse._SubParsersAction) -> None:
    sessions = sub.add_parser("sessions", help="browse, search, export, fork and delete recorded sessions")
    actions = sessions.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="recent sessions")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    show = actions.add_parser("show", help="a session's turns, answers, tree summary and usage")
    show.add_argument("id", help="session id or a unique prefix")
    show.add_argument("--events", action="store_true", help="also list every recorded event")
    search = actions.add_parser("search", help="full-text search over messages and code cells")
    search.add_argument("text")
    search.add_argument("--limit", type=int, default=30, metavar="N")
    export = actions.add_parser(
        "export", help="Markdown for people, JSONL in the official rlm log format, or our raw event log"
    )
    export.add_argument("id")
    export.add_argument("--format", choices=("md", "jsonl", "events"), default="md")
    export.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    fork = actions.add_parser("fork", help="a new session from turn N's REPL and history; the original stays")
    fork.add_argument("id")
    fork.add_argument("--turn", type=int, required=True, metavar="N")
    rename = actions.add_parser("rename", help="set a session's title")
    rename.add_argument("id")
    rename.add_argument("title")
    recover = actions.add_parser(
        "recover",
        help="copy what can still be read from a damaged session database into a new one",
        description="Read the session database row by row, skipping what is damaged, and write the "
        "sessions, events and snapshots that can be read into a new database. The damaged file is "
        "not changed.",
    )
    recover.add_argument("--out", metavar="PATH", help="the new database (default: beside the old one)")
    rm = actions.add_parser("rm", help="delete a session (asks first)")
    rm.add_argument("id")
    rm.add_argument("--yes", action="store_true", help="do not ask")
    sessions.set_defaults(func=_cmd_sessions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm",
        description="A terminal chat app built on the Recursive Language Model scaffold. "
        "With no command, opens the app.",
    )
    _model_flags(parser)
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--session", metavar="ID", help="open the app on a recorded session (id or unique prefix)"
    )
    start.add_argument("--resume", action="store_true", help="reopen the latest session")
    parser.set_defaults(func=_cmd_tui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    view = sub.add_parser(
        "view",
        help="open a trajectory log read-only (ours, the official rlm's JSONL, fast-rlm's JSONL)",
    )
    view.add_argument("path", help="a JSONL trajectory log")
    view.set_defaults(func=_cmd_view)
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

    ask = sub.add_parser(
        "ask",
        help="answer one question without the TUI",
        description="Run one turn without the TUI: the answer goes to stdout, progress to stderr. "
        "Exit codes: 0 an answer, 1 the turn failed, 2 a usage or config error.",
    )
    ask.add_argument(
        "question", nargs="?", metavar="QUESTION | -", help="the question, or - to read it from stdin"
    )
    ask.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a file or folder as `context` / `files[name]` (repeatable)",
    )
    _model_flags(ask, sub=True)
    ask.add_argument(
        "--session",
        metavar="ID",
        default=argparse.SUPPRESS,
        help="continue a recorded session (id or unique prefix)",
    )
    ask.add_argument("--json", action="store_true", help="print one JSON object with the answer and usage")
    ask.add_argument("--max-cost", type=float, metavar="USD", help="stop the turn past this cost")
    ask.add_argument("--max-depth", type=int, metavar="N", help="deepest recursion of rlm_query (default 2)")
    ask.add_argument(
        "--max-iterations", type=int, metavar="N", help="root-model replies per turn (default 30)"
    )
    ask.set_defaults(func=_cmd_ask)

    _sessions_parser(sub)

    config = sub.add_parser("config", help="print the effective config and where each value came from")
    _model_flags(config, sub=True)
    config.set_defaults(func=_cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code = _run(args)
    if argv is None and args.func in (_cmd_ask, _cmd_tui):  # the app: closed its session on quit
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End `rlm ask`'s process as soon as its answer is printed: its records are flushed by then
    (the session is closed before the answer is printed), and tearing down the thousands of modules
    the SDKs imported would add up to a second after the answer for nothing. Only from the command
    line (``argv`` None): a caller of ``main`` in-process keeps its interpreter."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except RlmError as exc:  # every failure of ours: one line, never a traceback
        from rlm_tui.services.visible import visible  # a message may quote a model or a file

        print(visible(f"rlm: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rlm: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `rlm ... | head`: the reader left; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
