"""Inputs checked at the door: only regular files and folders can be attached (a FIFO or a device
would be read forever), binary logs are named as such, and model text printed to a terminal
has its control sequences shown instead of executed."""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlm_tui.errors import AttachmentError
from rlm_tui.services.attaching import attach_problem
from rlm_tui.services.visible import json_safe, visible

CONTROLS = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n", "\t"}


# -- the helper: a property test ------------------------------------------------------------------


@given(st.text(alphabet=st.characters(codec=None, categories=None)))
def test_visible_text_never_holds_a_control_but_newline_and_tab(text):
    shown = visible(text)
    assert not CONTROLS & set(shown)
    assert all(not 0xD800 <= ord(c) <= 0xDFFF for c in shown)
    shown.encode("utf-8")  # printable on any UTF-8 terminal
    assert shown.count("\n") == text.replace("\r\n", "\n").count("\n") and shown.count("\t") == text.count(
        "\t"
    )


@given(st.text(alphabet=st.characters(codec=None, categories=None)))
def test_json_safe_keeps_the_data_and_drops_every_raw_control(text):
    line = json_safe(json.dumps({"answer": text}, ensure_ascii=False))
    assert not CONTROLS & set(line) and "\n" not in line
    assert json.loads(line) == {"answer": text}


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf"))))
def test_ordinary_text_is_left_as_it_is(text):
    assert visible(text) == text


def test_the_attacks_become_visible():
    assert visible("a\x1b]52;c;SGk=\x07b") == "a␛]52;c;SGk=␇b"  # OSC 52: a clipboard write
    assert visible("\x1b]0;owned\x1b\\") == "␛]0;owned␛\\"  # a window title
    assert visible("\x1b[2J\x1b[H") == "␛[2J␛[H"  # clear screen, cursor home
    assert visible("good\rbad") == "good␍bad" and visible("ok\x08\x08no") == "ok␈␈no"
    assert visible("\x9b31m\x9d0;t\x9c") == "\\x9b31m\\x9d0;t\\x9c"  # C1 CSI, OSC, ST
    assert visible("line\r\nnext\tcol") == "line\nnext\tcol"  # line ends and tabs are kept
    assert visible("abc\u202edef") == "abc\\u202edef"  # a right-to-left override
    assert unicodedata.name(visible("\x00")) == "SYMBOL FOR NULL"


# -- attachments ---------------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device", "socket"])
def test_only_regular_files_and_folders_can_be_attached(tmp_path, fifo, kind):
    import socket

    if kind == "fifo":
        path, said = fifo, "a FIFO (named pipe)"
    elif kind == "device":
        path, said = "/dev/zero", "a character device"
    elif kind == "link-to-device":
        path, said = tmp_path / "innocent.txt", "a character device"
        path.symlink_to("/dev/urandom")
    else:
        path, said = tmp_path / "sock", "a socket"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    problem = attach_problem(type(tmp_path)(path))
    assert problem == f"{path} is {said}; only regular files and folders can be attached"
    assert attach_problem(tmp_path) is None  # a folder is fine
    (tmp_path / "notes.txt").write_text("hello")
    assert attach_problem(tmp_path / "notes.txt") is None


@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_ask_with_a_fifo_or_dev_zero_fails_at_once(rlm_anthropic, fifo, target):
    path = str(fifo) if target == "fifo" else target
    done = rlm_anthropic("ask", "--file", path, "summarise", timeout=60)  # it used to hang forever
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"rlm: --file {path} is {'a FIFO (named pipe)' if target == 'fifo' else 'a character device'}; "
        "only regular files and folders can be attached"
    )


def test_the_workspace_refuses_a_fifo_before_opening_a_session(fifo):
    from rlm_tui.config.settings import Config
    from rlm_tui.services.workspace import Workspace

    workspace = Workspace(Config(), client=object())
    with pytest.raises(AttachmentError, match="is a FIFO"):
        asyncio.run(workspace.attach(str(fifo)))
    assert workspace.opened is None  # refused at the door: no session, no worker


# -- logs given to `rlm view` and `rlm replay` ---------------------------------------------------


@pytest.mark.parametrize("command", ["view", "replay"])
@pytest.mark.parametrize("content", ["binary", "half-text"])
def test_a_binary_log_is_named_as_such(rlm_anthropic, tmp_path, command, content):
    path = tmp_path / "trace.jsonl"
    if content == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    else:
        path.write_bytes(b'{"type": "metadata"}\n\xff\xfe\x00garbage\n')
    done = rlm_anthropic(command, str(path), timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith(f"rlm: {path} is a binary file, not a log")


@pytest.mark.parametrize("command", ["view", "replay"])
def test_a_fifo_given_as_a_log_is_refused_not_read(rlm_anthropic, fifo, command):
    done = rlm_anthropic(command, str(fifo), timeout=60)
    assert (
        done.returncode == 2 and done.stderr.strip() == f"rlm: {fifo} is a FIFO (named pipe), not a log file"
    )
