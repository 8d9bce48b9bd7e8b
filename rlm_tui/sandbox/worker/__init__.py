"""Worker side of the sandbox: runs in its own process beside model-written code.

Everything under this folder imports only the standard library, cloudpickle and
``rlm_tui.sandbox.protocol``; a test holds it to that.
"""
