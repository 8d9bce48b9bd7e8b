"""The ``rlm`` command: parsing and dispatch in ``main``, one module per command family. Each
command reaches the engine and the store through the application layer (``rlm_tui.services``)."""

from rlm_tui.cli.main import main

__all__ = ["main"]
