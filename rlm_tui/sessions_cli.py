"""``rlm sessions``: list, show, search, export, fork, rename, rm — printing for people (or JSON)."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rlm_tui.store.sessions import SessionRow, Store


def _when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "-"


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_list(store: Store, limit: int, as_json: bool) -> int:
    sessions = store.list(limit=limit)
    if as_json:
        print(json.dumps([s.to_dict() for s in sessions], ensure_ascii=False))
        return 0
    if not sessions:
        print("no sessions yet: `rlm ask QUESTION` or `rlm` starts one")
        return 0
    rows = [
        [s.id, _clip(s.title, 44), s.root_model or "-", _when(s.updated), str(s.turns), s.cost_text()]
        for s in sessions
    ]
    print(_table(rows, ["ID", "TITLE", "MODEL", "UPDATED", "TURNS", "COST"]))
    return 0


def _summary_lines(info: SessionRow) -> list[str]:
    lines = [
        f"{info.title or '(untitled)'}",
        f"  id        {info.id}",
        f"  models    {info.root_model} (root), {info.sub_model} (sub)",
        f"  created   {_when(info.created)}    updated {_when(info.updated)}",
        f"  turns     {info.turns}    tokens {info.input_tokens:,} in / {info.output_tokens:,} out    cost {info.cost_text()}",
    ]
    if info.parent_session:
        lines.append(f"  forked    from {info.parent_session} at turn {info.parent_turn}")
    if info.workdir:
        lines.append(f"  folder    {info.workdir}")
    return lines


def cmd_show(store: Store, session_id: str, events: bool) -> int:
    info = store.get(session_id)
    out = _summary_lines(info)
    turns: dict[int, dict[str, Any]] = {}
    counts: dict[int, Counter] = {}
    log: list[str] = []
    for row in store.event_rows(session_id):
        turn = turns.setdefault(row["turn"], {"user": "", "answer": None, "status": "interrupted"})
        count = counts.setdefault(row["turn"], Counter())
        kind = row["type"]
        count["events"] += 1
        if kind == "TurnStarted":
            turn["user"] = row["user_message"]
        elif kind == "AnswerReady":
            turn["answer"] = row["answer"]
        elif kind == "TurnFinished":
            turn.update(
                status=row["status"], duration=row["duration"], usage=row["usage"], error=row.get("error")
            )
        elif kind == "ModelStarted":
            count[f"iterations at depth {row['depth']}"] += 1
        elif kind == "CellFinished":
            count[f"cells {row['status']}"] += 1
        elif kind == "SubCallStarted":
            count[
                f"{row['kind']} sub-calls at depth {row['depth']}"
                + (" (cached)" if row.get("cached") else "")
            ] += 1
        if events:
            log.append(
                f"  {row['turn']:>3}  {datetime.fromtimestamp(row['t']):%H:%M:%S.%f}"[:-3]
                + f"  {kind:<15} {row['node_id']}"
            )
    for number in sorted(turns):
        turn = turns[number]
        usage = turn.get("usage") or {}
        cost = usage.get("cost_usd")
        facts = [turn["status"]]
        if "duration" in turn:
            facts.append(f"{turn['duration']:.1f} s")
        if usage:
            facts.append(f"{usage.get('input_tokens', 0) + usage.get('output_tokens', 0):,} tokens")
            facts.append("cost unknown" if cost is None else f"${cost:.4f}")
        out += ["", f"Turn {number} ({', '.join(facts)})", f"  you:    {_clip(turn['user'], 200)}"]
        if turn["answer"] is not None:
            out.append(f"  answer: {_clip(turn['answer'], 400)}")
        elif turn.get("error"):
            out.append(f"  error:  {_clip(turn['error'], 400)}")
        tree = ", ".join(f"{label}: {n}" for label, n in sorted(counts[number].items()) if label != "events")
        out.append(f"  tree:   {tree or 'no steps'}; {counts[number]['events']} events")
    if events:
        out += ["", "Events:", *log]
    print("\n".join(out))
    return 0


def cmd_search(store: Store, text: str, limit: int) -> int:
    hits = store.search(text, limit=limit)
    if not hits:
        print(f"nothing found for {text!r}")
        return 0
    for hit in hits:
        print(f"{hit.session_id}  turn {hit.turn:<3} {hit.where:<9} {_clip(hit.title, 50)}")
        print(f"    {_clip(hit.snippet, 160)}")
    return 0


def cmd_export(store: Store, session_id: str, fmt: str, output: str | None) -> int:
    from rlm_tui.store.export import to_jsonl, to_markdown

    if fmt == "events":  # our own trajectory log: every recorded event, as `rlm view` reads it
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in store.event_rows(session_id))
    else:
        text = to_markdown(store, session_id) if fmt == "md" else to_jsonl(store, session_id)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_fork(store: Store, session_id: str, turn: int) -> int:
    from rlm_tui.engine.session import new_session_id

    new_id = store.fork(session_id, turn, new_session_id())
    print(new_id)
    return 0


def cmd_rename(store: Store, session_id: str, title: str) -> int:
    store.rename(session_id, title)
    print(f"{session_id}: {title.strip()}")
    return 0


def cmd_rm(store: Store, session_id: str, yes: bool) -> int:
    info = store.get(session_id)
    if not yes:
        print(
            f"Delete session {info.id} {info.title!r} ({info.turns} turns)? [y/N] ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        reply = sys.stdin.readline()
        if not reply:
            print("\nrlm: not deleted: no answer on stdin (answer y, or add --yes)", file=sys.stderr)
            return 2
        if reply.strip().lower() not in ("y", "yes"):
            print("kept")
            return 0
    store.delete(session_id)
    if info.workdir and Path(info.workdir).is_dir():
        shutil.rmtree(info.workdir, ignore_errors=True)
    print(f"deleted {info.id}")
    return 0
