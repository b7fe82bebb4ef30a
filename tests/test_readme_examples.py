"""The README's sample_certs examples keep working whenever they are run (they use --at)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _examples() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("`sample_certs/` holds")
    block = re.search(r"```sh\n(.*?)```", readme[start:], re.S)
    assert block is not None
    return [shlex.split(line) for line in block.group(1).splitlines() if line.strip()]


def test_sample_examples_pin_a_date_inside_the_samples_window():
    manifest = json.loads((ROOT / "sample_certs" / "manifest.json").read_text("utf-8"))
    for args in _examples():
        assert "--at" in args, args
        at = datetime.fromisoformat(args[args.index("--at") + 1]).replace(tzinfo=UTC)
        sample = next(s for s in manifest["samples"] if f"sample_certs/{s['cert']}" in args)
        assert datetime.fromisoformat(sample["not_before"]) < at
        assert at < datetime.fromisoformat(sample["not_after"]), (
            "sample_certs/ was regenerated: move the README examples' --at inside its window"
        )


def test_sample_examples_give_the_documented_answers(certcheck_cmd):
    codes = []
    for args in _examples():
        assert args[0] == "certcheck"
        proc = subprocess.run([*certcheck_cmd, *args[1:]], capture_output=True, text=True,
                              cwd=ROOT, timeout=120)
        assert "Traceback" not in proc.stderr
        codes.append(proc.returncode)
    assert codes == [0, 1]  # good: compliant; SHA-1: a finding
