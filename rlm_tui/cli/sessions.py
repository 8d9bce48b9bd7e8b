"""``rlm sessions``: list, show, search, export, fork, rename, rm, recover — printing for people
(or JSON). Text from a model or a file is printed through ``visible``: controls shown, not run."""

from __future__ import annotations

import json
import sys
from datetime import datetime

from rlm_tui.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from rlm_tui.events import usage_tokens
from rlm_tui.services.catalog import Catalog, SessionRow, recover_store
from rlm_tui.services.formatting import clip, plural, when
from rlm_tui.services.visible import json_safe, visible


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_list(catalog: Catalog, limit: int, as_json: bool) -> int:
    sessions = catalog.list(limit=limit)
    if as_json:
        print(json_safe(json.dumps([s.to_dict() for s in sessions], ensure_ascii=False)))
        return EXIT_OK
    if not sessions:
        print("no sessions yet: `rlm ask QUESTION` or `rlm` starts one")
        return EXIT_OK
    rows = [
        [s.id, clip(s.title, 44), s.root_model or "-", when(s.updated), str(s.turns), s.cost_text()]
        for s in sessions
    ]
    print(visible(_table(rows, ["ID", "TITLE", "MODEL", "UPDATED", "TURNS", "COST"])))
    return EXIT_OK


def _summary_lines(info: SessionRow) -> list[str]:
    lines = [
        f"{info.title or '(untitled)'}",
        f"  id        {info.id}",
        f"  models    {info.root_model} (root), {info.sub_model} (sub)",
        f"  created   {when(info.created)}    updated {when(info.updated)}",
        f"  turns     {info.turns}    tokens {info.input_tokens:,} in / {info.output_tokens:,} out    cost {info.cost_text()}",
    ]
    if info.parent_session:
        lines.append(f"  forked    from {info.parent_session} at turn {info.parent_turn}")
    if info.workdir:
        lines.append(f"  folder    {info.workdir}")
    return lines


def cmd_show(catalog: Catalog, session_id: str, events: bool) -> int:
    out = _summary_lines(catalog.get(session_id))
    for turn in catalog.turns(session_id):
        usage = turn.usage or {}
        cost = usage.get("cost_usd")
        facts = [turn.outcome]
        if turn.duration is not None:
            facts.append(f"{turn.duration:.1f} s")
        if usage:
            facts.append(f"{usage_tokens(usage):,} tokens")
            facts.append("cost unknown" if cost is None else f"${cost:.4f}")
        out += ["", f"Turn {turn.number} ({', '.join(facts)})", f"  you:    {clip(turn.user, 200)}"]
        if turn.answer is not None:
            out.append(f"  answer: {clip(turn.answer, 400)}")
        elif turn.error:
            out.append(f"  error:  {clip(turn.error, 400)}")
        tree = ", ".join(f"{label}: {n}" for label, n in sorted(turn.counts.items()))
        out.append(f"  tree:   {tree or 'no steps'}; {turn.events} events")
    if events:
        out += ["", "Events:"]
        out += [
            f"  {row['turn']:>3}  {datetime.fromtimestamp(row['t']):%H:%M:%S.%f}"[:-3]
            + f"  {row['type']:<15} {row['node_id']}"
            for row in catalog.event_rows(session_id)
        ]
    print(visible("\n".join(out)))
    return EXIT_OK


# Matches are marked with two private-use characters no text of ours holds, then shown in bold on
# a terminal and left unmarked in a pipe: literal brackets could not be told from the text's own.
MATCH_ON, MATCH_OFF = "\ue000", "\ue001"


def cmd_search(catalog: Catalog, text: str, limit: int) -> int:
    hits = catalog.search(text, limit=limit, marks=(MATCH_ON, MATCH_OFF))
    if not hits:
        print(visible(f"nothing found for {text!r}"))
        return EXIT_OK
    bold, plain = ("\x1b[1m", "\x1b[22m") if sys.stdout.isatty() else ("", "")
    for hit in hits:
        print(visible(f"{hit.session_id}  turn {hit.turn:<3} {hit.where:<9} {clip(hit.title, 50)}"))
        snippet = visible(f"    {clip(hit.snippet, 160)}")  # marks added after: ours, not the text's
        print(snippet.replace(MATCH_ON, bold).replace(MATCH_OFF, plain))
    return EXIT_OK


def cmd_export(catalog: Catalog, session_id: str, fmt: str, output: str | None) -> int:
    if output:
        target = catalog.export(session_id, fmt, output)  # type: ignore[arg-type]
        print(f"wrote {target}", file=sys.stderr)
    else:
        sys.stdout.write(catalog.export_text(session_id, fmt))  # type: ignore[arg-type]
    return EXIT_OK


def cmd_fork(catalog: Catalog, session_id: str, turn: int) -> int:
    print(catalog.fork(session_id, turn))
    return EXIT_OK


def cmd_rename(catalog: Catalog, session_id: str, title: str) -> int:
    catalog.rename(session_id, title)
    print(visible(f"{session_id}: {title.strip()}"))
    return EXIT_OK


def cmd_rm(catalog: Catalog, session_id: str, yes: bool) -> int:
    info = catalog.get(session_id)
    if not yes:
        print(
            visible(f"Delete session {info.id} {info.title!r} ({plural(info.turns, 'turn')})? [y/N] "),
            end="",
            file=sys.stderr,
            flush=True,
        )
        reply = sys.stdin.readline()
        if not reply:
            print("\nrlm: not deleted: no answer on stdin (answer y, or add --yes)", file=sys.stderr)
            return EXIT_USAGE
        if reply.strip().lower() not in ("y", "yes"):
            print("kept")
            return EXIT_OK
    catalog.delete(session_id)
    print(f"deleted {info.id}")
    return EXIT_OK


def cmd_recover(out: str | None) -> int:
    done = recover_store(out)
    if done.problem is not None:
        print(
            f"rlm: nothing could be read from {done.source} ({done.problem}); it is kept as it was",
            file=sys.stderr,
        )
        done.target.unlink(missing_ok=True)
        return EXIT_FAILED
    skipped = f"; {done.unreadable:,} damaged places could not be read" if done.unreadable else ""
    print(
        f"saved {done.sessions:,} sessions and {done.events:,} events into {done.target}{skipped}.\n"
        f"{done.source} is kept as it was. To use the recovered database:\n"
        f"  mv {done.source} {done.source}.damaged && mv {done.target} {done.source}"
    )
    return EXIT_OK
