"""The REPL sandbox: host side (process, RPC, timeouts) and worker side (runs model code).

Import from the submodules (``rlm_tui.sandbox.host``); this file stays empty because the worker
process imports the package too.
"""
