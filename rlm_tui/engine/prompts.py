"""Everything the engine says to a model: the system rules, the turn message, cell feedback."""

from __future__ import annotations

SYSTEM_PROMPT = """\
You answer the user by working in a persistent Python REPL. You are a Recursive Language Model: \
your inputs are not pasted into this prompt; they are variables in the REPL, and you can hand \
pieces of them to sub-models from code.

## The REPL
Write Python in fenced blocks that start with ```repl. Every block in your reply runs, in order, in \
one namespace that persists across your replies and across the user's turns. You then see what the \
blocks printed, cut to its head and tail when long: print sizes, samples and summaries, never a \
whole large input.

Variables you are given:
- `context`: the main input: the latest attached file's text, or the user's message when it is long. \
A text file over 64 MB is a `BigText` read from disk on demand: `len`, slicing (gives str), `find`, \
`count`, `in`, regex with `re.search/finditer/findall(p, context)` or `context.search(p)`, `.lines()` \
and `.chunks(n)` (iterators). A CSV/JSONL file is a `Table` of rows (`.columns`, `.filter`, `.text`).
- `files`: a dict of every attached file or folder, by name.
- `history`: a list of {"role", "content", "turn"}, one per earlier user message and final answer. \
Earlier turns are NOT in this prompt; read `history` when the user refers back to them.
- `memory`: a dict for your own notes. It persists across turns and restarts; keep there what later \
turns will need.

Functions:
- `llm_query(prompt, model=None) -> str`: one call to a sub-model with a fresh context and no REPL. \
Its context window is limited: send it chunks, not whole inputs.
- `llm_query_batched(prompts, model=None) -> list[str]`: many sub-calls at once; an item that fails \
comes back as a string starting with "Error:".
- `rlm_query(prompt, context=None) -> str`: a child RLM with its own REPL (`context` becomes its \
`context`), for sub-tasks that need code of their own. `rlm_query_batched(prompts, contexts=None)` \
runs several.
- Top-level `await` works: `await asyncio.gather(*(llm_query(p) for p in prompts))` runs concurrently.
- `SHOW_VARS()` prints the table of variables.

## Finishing
End the turn from code with `FINAL(value)` or `FINAL_VAR("variable_name")` (dicts and lists are \
shown as JSON), or by setting `answer["content"]` and then `answer["ready"] = True`. You may instead \
write a line `FINAL(your answer)` as plain text, but only in a reply without code: a FINAL written \
next to code is ignored, because you have not seen that code's output yet. A simple conversational \
message may be answered in plain text without code; that text is the answer.

## How to work
Look before you act: print the type, size and a sample of an input first. Split large inputs into \
chunks and query sub-models over them, keep intermediate results in variables, check your result, \
then finish. Answer in the user's language, as the final answer itself, not as a description of it.\
"""

CHILD_NOTE = (
    "You are a sub-agent at depth {depth}, called by another RLM's code. Your final answer is returned "
    "to that code as a string, so finish with exactly what it asked for."
)


def turn_message(
    *,
    turn: int,
    var_table: str,
    message: str,
    long_message: bool,
    notes: list[str] | None = None,
    preview_chars: int = 600,
) -> str:
    """The root model's first message of a turn: the variable table and the new user message
    (and notes about the REPL the model must know, e.g. a file that was not reloaded)."""
    parts = [f"Turn {turn} of this conversation.", "", "REPL variables:", var_table, ""]
    if notes:
        parts += ["Notes about the REPL:", *(f"- {note}" for note in notes), ""]
    if long_message:
        preview = message[:preview_chars]
        parts += [
            f"The user's message is long ({len(message):,} characters), so it is in `context`. It begins:",
            "<<<",
            preview + ("…" if len(message) > preview_chars else ""),
            ">>>",
        ]
    else:
        parts += ["User message:", message]
    return "\n".join(parts)


def child_message(*, depth: int, var_table: str, prompt: str) -> str:
    return "\n".join([CHILD_NOTE.format(depth=depth), "", "REPL variables:", var_table, "", "Task:", prompt])


def cell_feedback(
    outputs: list[tuple[int, str, str]],
    *,
    skipped: int,
    ignored_text_final: bool,
    iteration: int,
    max_iterations: int,
    stop_note: str | None = None,
) -> str:
    """What the model sees after its cells ran: each cell's (number, status, output)."""
    parts = _cell_outputs(outputs)
    if skipped:
        parts.append(f"The {skipped} block(s) after the failing cell were not run.")
    if stop_note:
        parts.append(stop_note)
    if ignored_text_final:
        parts.append(
            "Your reply also contained a FINAL(...) line, but it was not taken: it was written before you "
            "saw the output of the code in the same reply. Check the output above, then finish."
        )
    remaining = max_iterations - iteration
    parts.append(f"(Reply {iteration} of at most {max_iterations}; {remaining} left.)")
    return "\n\n".join(parts)


def blocks_not_run(total: int, limit: int) -> str:
    """Told when a reply had more code blocks than one reply may run."""
    left_out = f"block {total:,} was" if total == limit + 1 else f"blocks {limit + 1}–{total} were"
    return (
        f"Your reply had {total:,} code blocks, but at most {limit} run per reply: {left_out} not run. "
        "Put the work in fewer blocks (a loop in one block runs as much as you like)."
    )


def reply_output_shortened(total: int, printed: int, shortened: int) -> str:
    """Told when a reply's cells together printed more than the model sees of one reply."""
    return (
        f"Your cells printed {printed:,} characters in all, but you see at most {total:,} of one reply's "
        f"output, so {shortened} cell(s) above were cut more than usual. Print less (sizes, samples, "
        "summaries) and keep results in variables."
    )


CUT_WITH_CODE = "Your reply was cut off at the output token limit; write shorter replies."
CONTINUE = (
    "Your reply was cut off at the output token limit. Continue it exactly where it stopped, without "
    "repeating anything."
)
REPLY_LEFT_OUT = (
    "(my reply of {chars:,} characters is left out here to fit the model's context window; its code ran, "
    "and the output follows)"
)
CUT_NOTE = "(The answer was cut off at the output token limit, even after asking the model to go on.)"


def compaction_summary(iterations: list[int], ran: list[str], var_table: str, max_lines: int = 20) -> str:
    """What replaces compacted iterations in the prompt: what they ran, and where results are now."""
    span = f"reply {iterations[0]}" if len(iterations) == 1 else f"replies {iterations[0]}–{iterations[-1]}"
    lines = ran[:max_lines]
    if len(ran) > max_lines:
        lines.append(f"... and {len(ran) - max_lines} more cells")
    parts = [
        "",
        "",
        f"[To fit the model's context window, your {span} of this task and the output they got were "
        "removed from this prompt. What ran:",
        *(f"- {line}" for line in lines or ["(no cells)"]),
        "Everything they computed is still in the REPL:",
        var_table,
        "Carry on from there; print what you need to check before relying on it.]",
    ]
    return "\n".join(parts)


EMPTY_REPLY = (
    "Your reply was empty. Write a ```repl block to make progress, or give the final answer "
    "(FINAL(...) as a line of plain text)."
)

REPL_FAILED = (
    "Your FINAL line could not be resolved: the REPL failed ({error}). It has been restarted with the "
    "variables of the last finished cell; check them with SHOW_VARS() and try again."
)
FINAL_VAR_MISSING = (
    "FINAL_VAR({name}): there is no variable named `{name}` in the REPL. Assign it in a cell first."
)


def _cell_outputs(outputs: list[tuple[int, str, str]]) -> list[str]:
    parts = []
    for number, status, text in outputs:
        label = f"Cell {number} output" if status == "ok" else f"Cell {number} ({status})"
        parts.append(f"{label}:\n```text\n{text.rstrip() or '(no output)'}\n```")
    return parts


def best_answer_request(detail: str, outputs: list[tuple[int, str, str]] | None = None) -> str:
    """The one last request after a limit; ``outputs`` are the cells the model has not seen yet."""
    ask = (
        f"Stop: {detail}. Do not write any more code. From what you have learned so far, give your best "
        "final answer now, as plain text. Say briefly what remains uncertain."
    )
    return "\n\n".join([*_cell_outputs(outputs or []), ask])


def limit_note(limit: str, detail: str) -> str:
    names = {"iterations": "iteration", "sub_calls": "sub-call", "cost": "cost", "time": "time"}
    return f"(Stopped by the {names.get(limit, limit)} limit: {detail}.)"
