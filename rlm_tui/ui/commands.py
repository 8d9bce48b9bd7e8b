"""Slash commands, declared once: the editor completes them, the help screen lists them, the command
palette offers them, and ``run`` carries them out on the chat screen."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rlm_tui.errors import RlmError, UsageError
from rlm_tui.services.formatting import size_unit

Handler = Callable[[Any, list[str]], Awaitable[None]]  # (the chat screen, the arguments)


@dataclass(frozen=True)
class SlashCommand:
    name: str  # "/load"
    args: str  # "PATH [as NAME]" ("" when it takes none)
    help: str
    run: Handler
    # (title, text) entries of the command palette: a text ending in a space is put in the editor
    # for its arguments to be filled in; a complete one runs at once
    palette: tuple[tuple[str, str], ...] = ()
    # runs beside the editor instead of holding the screen (loading a large file takes seconds)
    background: bool = False

    @property
    def usage(self) -> str:
        return f"{self.name} {self.args}".strip()


async def _load(screen: Any, args: list[str]) -> None:
    if not args:
        raise UsageError("usage: /load PATH [as NAME]")
    name = None
    if len(args) >= 3 and args[-2] == "as":
        args, name = args[:-2], args[-1]
    attachment = await screen.attach_file(" ".join(args), name)  # a path with spaces, unquoted
    await screen.chat.add_notice(
        f"attached {attachment.name}: {attachment.type}, {attachment.size:,} {size_unit(attachment.type)}"
        " — it is `context` now, and in `files`"
    )


async def _vars(screen: Any, args: list[str]) -> None:
    if screen.read_only_id is not None:
        raise UsageError("a read-only view has no REPL; Ctrl+R resumes the session to use its variables")
    await screen.show_vars(await screen.workspace.var_table())


async def _model(screen: Any, args: list[str], which: str = "model") -> None:
    label = which.replace("_", "-")
    if args:
        screen.workspace.set_model(which, args[0])
        screen.refresh_status()
    model = getattr(screen.workspace.config, which)
    said = f"{label} is now {model}" if args else f"{label}: {model}"
    await screen.chat.add_notice(f"{said} — {await screen.workspace.model_window(model)}")
    if not args:  # and the picker: the endpoint's models and litellm's, filtered as you type
        screen.open_model_picker(which)


async def _sub_model(screen: Any, args: list[str]) -> None:
    await _model(screen, args, "sub_model")


async def _new(screen: Any, args: list[str]) -> None:
    await screen.app.start_new_session()


async def _sessions(screen: Any, args: list[str]) -> None:
    screen.action_sessions()


def _shown_session(screen: Any) -> tuple[str, int]:
    if screen.app.view is not None:
        raise UsageError("this is a trajectory log file, not a recorded session")
    return screen.workspace.shown_session(screen.read_only_id)


async def _fork(screen: Any, args: list[str]) -> None:
    if screen.workspace.busy:
        raise UsageError("a turn is running: wait for it or cancel it (Esc) first")
    session_id, turns = _shown_session(screen)
    if args and not args[0].isdigit():
        raise UsageError(f"the turn is a number from 1 to {turns}, not {args[0]!r}")
    new_id = screen.workspace.catalog.fork(session_id, int(args[0]) if args else turns)
    await screen.app.resume_session(new_id)


async def _undo(screen: Any, args: list[str]) -> None:
    from rlm_tui.ui.rewind import undo_last_turn

    await undo_last_turn(screen)


async def _retry(screen: Any, args: list[str]) -> None:
    from rlm_tui.ui.rewind import undo_last_turn

    screen.send(await undo_last_turn(screen))


async def _edit(screen: Any, args: list[str]) -> None:
    from rlm_tui.ui.rewind import undo_last_turn

    screen.start_command(await undo_last_turn(screen))


async def _export(screen: Any, args: list[str]) -> None:
    session_id, _ = _shown_session(screen)
    fmt = None
    if args and args[0] in ("md", "jsonl"):
        fmt, args = args[0], args[1:]
    elif args and "." not in args[0] and "/" not in args[0]:
        raise UsageError(f"the format is md or jsonl, not {args[0]!r} (usage: /export [md|jsonl] [PATH])")
    path = args[0] if args else None
    target = screen.workspace.catalog.export(
        session_id, None if path and path.endswith(".jsonl") else fmt, path
    )
    await screen.chat.add_notice(f"exported to {target}")


async def _theme(screen: Any, args: list[str]) -> None:
    app = screen.app
    if not args:
        app.action_change_theme()
        return
    if args[0] not in app.available_themes:
        raise UsageError(f"no theme {args[0]!r}; themes: {', '.join(sorted(app.available_themes))}")
    app.theme = args[0]


async def _files(screen: Any, args: list[str]) -> None:
    from rlm_tui.ui.widgets.attachments import human_bytes

    if args and args[0] == "detach":
        if len(args) != 2 or screen.read_only_id:
            raise UsageError("/files detach NAME: NAME is one of the names /files lists")
        await screen.workspace.detach(args[1])
        screen.refresh_chips()
        session = screen.workspace.session
        now = session.context_source if session is not None else None
        after = f"`context` is {now[1]} now" if now and now[0] == "file" else "`context` is empty now"
        await screen.chat.add_notice(f"detached {args[1]}: it is no longer in `files`; {after}")
        return
    session = screen.workspace.session
    attached = list(session.attachments.values()) if session is not None and not screen.read_only_id else []
    if not attached:
        await screen.chat.add_notice("no file is attached: /load PATH or @path in a message attaches one")
        return
    lines = [f"{len(attached)} attached file(s), in `files` (the last one loaded is `context`):"]
    for a in attached:
        lines.append(
            f"  {a.name} · {a.type}, {a.size:,} {size_unit(a.type)} · {human_bytes(a.disk_bytes)} on disk · {a.path}"
        )
    await screen.chat.add_notice("\n".join(lines))


async def _help(screen: Any, args: list[str]) -> None:
    screen.action_help()


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("/load", "PATH [as NAME]", "attach a file or folder (it becomes `context`)", _load,
                 (("Load a file", "/load "),), background=True),
    SlashCommand("/files", "[detach NAME]", "the attached files: name, type, size, path; or drop one", _files,
                 (("Attached files", "/files"),)),
    SlashCommand("/vars", "", "the REPL variable table", _vars, (("REPL variables", "/vars"),)),
    SlashCommand("/model", "NAME", "switch the root model", _model, (("Root model", "/model "),)),
    SlashCommand("/sub-model", "NAME", "switch the sub-model", _sub_model, (("Sub-model", "/sub-model "),)),
    SlashCommand("/new", "", "start a new session", _new),
    SlashCommand("/sessions", "", "browse, search and open past sessions", _sessions),
    SlashCommand("/fork", "[TURN]", "continue from a turn of this session in a new session", _fork,
                 (("Fork here", "/fork"),)),
    SlashCommand("/undo", "", "go back to before the last turn, the REPL too (the old branch is kept)",
                 _undo, (("Undo last turn", "/undo"),)),
    SlashCommand("/retry", "", "undo the last turn and send its message again", _retry,
                 (("Retry last turn", "/retry"),)),
    SlashCommand("/edit", "", "undo the last turn and put its message in the editor to resend", _edit,
                 (("Edit and resend last message", "/edit"),)),
    SlashCommand("/export", "[md|jsonl] [PATH]", "write this session to a file", _export,
                 (("Export as Markdown", "/export md"), ("Export as JSONL", "/export jsonl"))),
    SlashCommand("/theme", "NAME", "switch the theme", _theme),
    SlashCommand("/help", "", "keys and commands", _help),
)  # fmt: skip
BY_NAME = {command.name: command for command in COMMANDS}


def in_background(text: str) -> bool:
    """Whether this command line runs beside the editor (keys typed meanwhile are not held)."""
    command = BY_NAME.get(text.split(maxsplit=1)[0]) if text.strip() else None
    return command is not None and command.background


def completions(prefix: str) -> list[tuple[str, str]]:
    """(name, "ARGS  help") of the commands that start with ``prefix``."""
    return [(c.name, f"{c.args}  {c.help}".strip()) for c in COMMANDS if c.name.startswith(prefix)]


async def run(screen: Any, text: str) -> None:
    """Carry out one command line; a failure is said in the chat, never a crash."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    name, args = words[0], words[1:]
    command = BY_NAME.get(name)
    if command is None:
        await screen.chat.add_notice(f"✗ unknown command {name}; /help lists them", error=True)
        return
    try:
        await command.run(screen, args)
    except (RlmError, OSError) as exc:
        await screen.chat.add_notice(f"✗ {name}: {exc}", error=True)
    except Exception as exc:  # a command's failure is a message, never a crash
        await screen.chat.add_notice(f"✗ {name}: {type(exc).__name__}: {exc}", error=True)
