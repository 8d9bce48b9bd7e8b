"""rlm-tui: a terminal chat app built on the Recursive Language Model scaffold.

Kept import-free on purpose: the REPL worker process imports this package's sandbox protocol,
and `rlm --help` must answer fast.
"""

__version__ = "0.1.0"
