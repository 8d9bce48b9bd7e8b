"""Entry point of a REPL worker process:
``python -m rlm_tui.sandbox.worker CHANNEL_FD FILES_FD SETTINGS_JSON``.

CHANNEL_FD is this process's end of a socketpair with the host; FILES_FD a second one, on which
the host passes attached files as open descriptors (the worker may see none of their paths). In
process mode the first process becomes the worker's guardian (``guardian``). The worker applies
its rlimits first, then serves requests one at a time on the main thread (cells run there, so SIGINT can stop them),
while a reader thread keeps the channel moving.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sys
from typing import Any

from rlm_tui.sandbox import protocol
from rlm_tui.sandbox.worker import textfile, vartable
from rlm_tui.sandbox.worker.capture import FdCapture, OutputCapture
from rlm_tui.sandbox.worker.channel import Channel
from rlm_tui.sandbox.worker.execute import run_cell
from rlm_tui.sandbox.worker.files import describe_content, describe_files
from rlm_tui.sandbox.worker.namespace import HOST_OWNED, MODEL_DICTS, RESERVED_FUNCS, Namespace, render_value
from rlm_tui.sandbox.worker.snapshot import Snapshotter
from rlm_tui.sandbox.worker.spawn import Spawner, await_start

NOT_SNAPSHOTTED = {*RESERVED_FUNCS, *HOST_OWNED, "answer"}
RESTORE_CHECKED = NOT_SNAPSHOTTED | set(MODEL_DICTS)  # names a restore must put right again


def apply_limits(settings: dict[str, Any]) -> dict[str, Any]:
    applied: dict[str, Any] = {}
    mem = settings.get("memory_bytes")
    if mem:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            applied["memory_bytes"] = mem
        except (ValueError, OSError):
            pass
    cap = settings.get("nproc")  # the host counted the user's processes: the cap sits above them
    if cap:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))
            applied["nproc"] = cap
        except (ValueError, OSError):
            pass
    scratch = settings.get("scratch_bytes")
    if scratch:  # a cell filling the disk under the host's database: one file is capped
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails, it does not kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (scratch, scratch))
            applied["scratch_bytes"] = scratch
        except (ValueError, OSError):
            pass
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    return applied


class Worker:
    files_sock: socket.socket | None = None  # attached files arrive here as descriptors

    def __init__(self, channel: Channel, settings: dict[str, Any]) -> None:
        self.channel = channel
        self.capture = OutputCapture(channel, int(settings.get("output_cap_chars", 10_000_000)))
        self.fd_capture: FdCapture | None = None
        self.ns = Namespace(channel, self.show_vars)
        max_bytes = int(settings.get("snapshot_max_bytes", 256 << 20))
        self.snapshotter = Snapshotter(  # a delta stays within the frame the host accepts
            max_bytes,
            float(settings.get("snapshot_seconds", 20.0)),
            max_total=protocol.FrameLimits.for_snapshots(max_bytes).max_total,
        )
        self.cells = 0
        if settings.get("big_file_bytes"):  # text files above this stay in their file (BigText)
            textfile.BIG_BYTES = int(settings["big_file_bytes"])

    def show_vars(self) -> None:
        print(vartable.format_table(self._rows(), max_rows=None))

    def _rows(self) -> list[dict[str, str]]:
        return vartable.rows(self.ns.globals, set(RESERVED_FUNCS) | {"answer"}, self.ns.descriptions)

    def _snapshot_values(self) -> dict[str, Any]:
        g = self.ns.globals
        return {n: v for n, v in g.items() if not n.startswith("__") and n not in NOT_SNAPSHOTTED}

    def _delta(self, thorough: bool = False) -> tuple[dict[str, Any], list[bytes]]:
        changed, removed, skipped = self.snapshotter.delta(self._snapshot_values(), thorough)
        names = list(changed)
        return {"changed": names, "removed": removed, "skipped": skipped}, [changed[n] for n in names]

    # -- requests --------------------------------------------------------------------------

    def do_exec(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        self.cells += 1
        cell_id = msg["cell"]
        filename = f"<cell {msg.get('label') or self.cells}>"
        if msg.get("new_turn"):
            self.ns.reset_answer()
        self.ns.final = None
        result = run_cell(self.ns.globals, self.channel, self.capture, cell_id, msg["code"], filename)
        if self.fd_capture is not None:
            self.fd_capture.drain()
        notes = self.ns.after_cell()
        for note in notes:
            self.capture.write("stderr", f"[note: {note}]\n")
        total, dropped = self.capture.end()
        result.update(total_chars=total, dropped_chars=dropped, final=self.ns.final, notes=notes)
        out_blobs: list[bytes] = []
        if msg.get("snapshot", True):
            self.channel.running_cell = cell_id  # an interrupt now skips the variable being pickled
            try:
                result["snapshot"], out_blobs = self._delta()
            finally:
                self.channel.running_cell = None
        return result, out_blobs

    def do_snapshot(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        delta, out = self._delta(thorough=bool(msg.get("thorough")))
        return {"snapshot": delta}, out

    def do_restore(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        names = msg["names"]
        failed = self.snapshotter.restore(self.ns.globals, dict(zip(names, blobs, strict=True)))
        if RESTORE_CHECKED.intersection(names):  # the host restores one variable a request:
            self.ns.after_cell()  # the full check only when a reserved name came back
        return {"failed": failed}, []

    def do_set_vars(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        import pickle

        values = dict(msg.get("values", {}))
        for name, blob in zip(msg.get("pickled", []), blobs, strict=True):
            values[name] = pickle.loads(blob)
        for name, items in msg.get("append", {}).items():
            current = self.ns.host_values.get(name) if name in HOST_OWNED else self.ns.globals.get(name)
            if not isinstance(current, list):
                current = []
            current.extend(items)  # in place: the model's references to `history` stay live
            values[name] = current
        if msg.get("drop_file") is not None:  # a file detached: gone from `files`
            files = dict(self.ns.host_values.get("files") or {})
            files.pop(msg["drop_file"], None)
            values["files"] = files
            self.ns.descriptions["files"] = describe_files(files)
        if msg.get("context_file") is not None:  # `context` is an attached file again
            name = msg["context_file"]
            values["context"] = self.ns.host_values["files"][name]
            self.ns.descriptions["context"] = f"the attached {describe_content(name, values['context'])}"
        for name, value in values.items():
            if name in HOST_OWNED:
                self.ns.set_host_value(name, value)
            else:
                self.ns.globals[name] = value
        self.ns.descriptions.update(msg.get("describe", {}))
        self.ns.after_cell()
        return {}, []

    def do_load_file(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        from rlm_tui.sandbox.worker.bigtext import install_re_hooks
        from rlm_tui.sandbox.worker.files import receive
        from rlm_tui.sandbox.worker.tables import Table

        if self.files_sock is None:
            raise RuntimeError("this worker has no channel for files")
        name = msg["name"]
        content = receive(self.files_sock, msg["load"], msg["kind"], int(msg["count"]), name)
        install_re_hooks()  # re.search(p, context) on a large file (see bigtext)
        files = dict(self.ns.host_values.get("files") or {})
        files[name] = content
        self.ns.set_host_value("files", files)
        self.ns.descriptions["files"] = describe_files(files)
        if msg.get("as_context"):
            self.ns.set_host_value("context", content)
            self.ns.descriptions["context"] = f"the attached {describe_content(name, content)}"
        self.ns.after_cell()
        # A table's rows are counted only when the code asks: its size here is its bytes.
        size = (
            content.nbytes
            if isinstance(content, Table)
            else len(content)
            if hasattr(content, "__len__")
            else 0
        )
        from rlm_tui.sandbox.worker.textfile import DIGESTS

        digest = DIGESTS.pop((name, ""), None) if msg["kind"] == "file" else None
        DIGESTS.clear()
        fields: dict[str, Any] = {"type": type(content).__name__, "size": size}
        if digest:
            fields["digest"] = digest
        return fields, []

    def do_var_table(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        rows = self._rows()
        return {
            "rows": rows,
            "text": vartable.format_table(rows, msg.get("max_rows", vartable.TABLE_ROWS)),
        }, []

    def do_render_value(self, msg: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        name = msg["name"]
        if name not in self.ns.globals:
            return {"found": False}, []
        return {"found": True, "text": render_value(self.ns.globals[name])}, []

    def serve(self) -> None:
        handlers = {
            protocol.EXEC: self.do_exec,
            protocol.SNAPSHOT: self.do_snapshot,
            protocol.RESTORE: self.do_restore,
            protocol.SET_VARS: self.do_set_vars,
            protocol.LOAD_FILE: self.do_load_file,
            protocol.VAR_TABLE: self.do_var_table,
            protocol.RENDER_VALUE: self.do_render_value,
        }
        while True:
            msg, blobs = self.channel.requests.get()
            op, req_id = msg.get("op"), msg.get("id")
            if op == protocol.SHUTDOWN:
                self.channel.reply(req_id, ok=True)
                return
            handler = handlers.get(op)
            if op != protocol.EXEC:
                # Control requests run model objects' __repr__, __reduce__, ...: interruptible too.
                self.channel.running_cell = f"ctl{req_id}"
            try:
                try:
                    if handler is None:
                        raise ValueError(f"unknown request {op!r}")
                    fields, out_blobs = handler(msg, blobs)
                finally:
                    if op != protocol.EXEC:
                        self.channel.running_cell = None
            except KeyboardInterrupt:
                self.channel.reply(req_id, ok=False, error="interrupted")
            except Exception as exc:
                self.channel.reply(req_id, ok=False, error=f"{type(exc).__name__}: {exc}")
            else:
                self._reply(op, req_id, fields, out_blobs)

    def _reply(self, op: str, req_id: Any, fields: dict[str, Any], blobs: list[bytes]) -> None:
        """Send a reply within the host's frame limit: a cell's answer and error are cut to fit
        (its snapshot must still arrive); any other reply too large becomes an error."""
        size = protocol.json_size(fields)
        if size > protocol.MAX_JSON and op == protocol.EXEC:
            for name in ("final", "error"):
                if isinstance(fields.get(name), str):
                    fields[name] = protocol.clip(fields[name], protocol.MAX_JSON // 8)
        elif size > protocol.MAX_JSON:
            error = f"the reply would be {size:,} bytes; the channel's limit is {protocol.MAX_JSON:,}"
            self.channel.reply(req_id, ok=False, error=error)
            return
        self.channel.send({"op": protocol.REPLY, "id": req_id, "ok": True, **fields}, blobs)


def main() -> None:
    fd, files_fd = int(sys.argv[1]), int(sys.argv[2])
    settings = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    if settings.get("guardian"):
        from rlm_tui.sandbox.worker.guardian import guard

        guard(int(settings.get("host_pid") or os.getppid()))
    if settings.get("parent_pid"):  # a child RLM's worker, started by its parent's (``spawn``)
        from rlm_tui.sandbox.worker.guardian import die_with_parent

        die_with_parent(int(settings["parent_pid"]))
    if settings.get("spare"):  # started ahead of need: told its folder when it is given to a child
        await_start(socket.socket(fileno=fd))
    applied = apply_limits(settings)
    sock = socket.socket(fileno=fd)
    channel = Channel(sock)

    def on_sigint(signum: int, frame: Any) -> None:
        if channel.running_cell is not None:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    worker = Worker(channel, settings)
    worker.files_sock = socket.socket(fileno=files_fd)
    Spawner(channel, worker.files_sock, settings).install()
    sys.stdout.flush()
    sys.stderr.flush()
    worker.fd_capture = FdCapture(worker.capture)
    channel.start_reader()
    channel.send(
        {"op": protocol.READY, "pid": os.getpid(), "python": sys.version.split()[0], "limits": applied}
    )
    worker.serve()


if __name__ == "__main__":
    main()
