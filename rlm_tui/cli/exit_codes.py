"""What ``rlm`` exits with: 0 an answer (or a command done), 1 a turn or an operation failed, 2 a
usage or configuration problem (a bad flag, a missing key, a model the provider does not know)."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # an RlmError's own exit_code is 1 or 2
EXIT_INTERRUPTED = 130
