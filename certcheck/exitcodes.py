"""certcheck's exit codes (README "Exit codes"), in one place."""

from __future__ import annotations

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNSCANNED = 0, 1, 2, 3
#: a target's evaluation raised (a certcheck bug): its result says why; wins over 1 and 3
EXIT_INTERNAL = 4
#: monitor: another run holds the lock of the same targets (the history is busy)
EXIT_HISTORY_BUSY = 5
#: monitor --fail-on-delivery: an alert is still undelivered (or was given up); wins over 0/1/3
EXIT_DELIVERY = 6
EXIT_INTERRUPTED = 130
