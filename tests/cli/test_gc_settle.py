"""certcheck's entry point freezes what start-up loaded and collects young objects less often
(certcheck/cli/app.py:_settle_collector); a command still runs and exits normally."""

from __future__ import annotations

import subprocess
import sys

from certcheck.cli.app import GC_YOUNG_THRESHOLD

_PROBE = (
    "import atexit, gc, sys;"
    "atexit.register(lambda: print(gc.get_threshold()[0], gc.get_freeze_count(), gc.isenabled(),"
    " file=sys.stderr));"
    "sys.argv = ['certcheck', 'version'];"
    "from certcheck.cli import main; main()"
)


def test_the_entry_point_settles_the_collector_and_still_runs_the_command() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("certcheck "), done.stderr
    threshold, frozen, enabled = done.stderr.split()
    assert int(threshold) == GC_YOUNG_THRESHOLD and GC_YOUNG_THRESHOLD > 700
    assert enabled == "True"  # off only while the modules load
    frozen = int(frozen)
    assert frozen > 10_000  # the modules and tables loaded before the command ran
