"""Behaviour pinned: the JSON of every sample target is what tests/golden/ says.

``tests/golden/facts.json`` holds the facts of a scan of every ``sample_certs/``
certificate served on loopback; evaluating them at a fixed instant must give exactly
``tests/golden/results.json``.  A refactoring (the house issue) keeps it identical; a
change of behaviour regenerates it (``python tests/golden/make_golden.py``) in the
commit that means it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

from make_golden import evaluate_golden  # noqa: E402


def _differences(want: Any, got: Any, path: str = "$") -> list[str]:
    if type(want) is not type(got):
        return [f"{path}: {want!r:.80} != {got!r:.80}"]
    if isinstance(want, dict):
        out = []
        for key in sorted(set(want) | set(got)):
            if key not in got:
                out.append(f"{path}.{key}: missing")
            elif key not in want:
                out.append(f"{path}.{key}: new ({got[key]!r:.80})")
            else:
                out += _differences(want[key], got[key], f"{path}.{key}")
        return out
    if isinstance(want, list):
        if len(want) != len(got):
            return [f"{path}: {len(want)} items != {len(got)}"]
        pairs = enumerate(zip(want, got, strict=True))
        return [d for i, (w, g) in pairs for d in _differences(w, g, f"{path}[{i}]")]
    return [] if want == got else [f"{path}: {want!r:.80} != {got!r:.80}"]


def test_every_sample_evaluates_exactly_as_recorded(certcheck_cmd):
    want = json.loads((GOLDEN / "results.json").read_text(encoding="utf-8"))
    got = evaluate_golden(list(certcheck_cmd), GOLDEN / "facts.json")
    assert len(got["results"]) >= 18  # every sample of sample_certs/
    differences = _differences(want, got)
    assert differences == [], "\n".join(differences[:30])
