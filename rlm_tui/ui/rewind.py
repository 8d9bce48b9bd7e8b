"""Undo, retry and edit the last turn: the REPL goes back with the conversation.

Undo continues in a fork of the session taken before the last turn (``/fork`` at the turn
before), so the REPL's variables are those of that point; the session as it was, the undone
turn included, stays in the catalog (``/sessions``) and can be resumed. Undoing the first turn
starts a new session with the same files attached. Retry sends the undone message again; edit
puts it in the editor.
"""

from __future__ import annotations

from typing import Any

from rlm_tui.errors import UsageError


async def undo_last_turn(screen: Any) -> str:
    """Go back to before the last turn of the live session; returns that turn's message."""
    if screen.app.view is not None or screen.read_only_id is not None:
        raise UsageError("a read-only view has no live session: Ctrl+R resumes it first")
    last = screen.model.last_turn
    workspace = screen.workspace
    session = workspace.session
    if last is None or session is None:
        raise UsageError("this session has no turn to undo yet")
    message, number, kept = last.user, last.number, session.session_id
    attachments = list(session.attachments.values())
    new_id = await workspace.fork_before_last_turn()
    if new_id is None:
        await screen.app.start_new_session()
        for attachment in attachments:  # the first turn's files: the state before it had them
            await screen.attach_file(attachment.path, attachment.name)
            await screen.chat.add_notice(f"attached {attachment.name} again")
    else:
        await screen.app.resume_session(new_id)
    await screen.chat.add_notice(
        f"↶ turn {number} undone: this is a fork taken before it; session {kept} keeps it (/sessions)"
    )
    return message
