"""Regenerate the golden documents: ``python tests/golden/make_golden.py``.

1. Serve every certificate of ``sample_certs/`` from a loopback TLS server (as the
   manifest says: protocol range per sample), scan them all with ``certcheck scan
   --save-facts``, and keep the facts with what varies between runs taken out
   (ports, timings, scan time): ``facts.json``.
2. ``certcheck evaluate facts.json`` at a fixed instant, with the sample CA:
   ``results.json`` (the tool version taken out).

tests/test_golden.py evaluates ``facts.json`` again and compares with ``results.json``:
any change of behaviour shows there.  Regenerate only for a change you mean, and say
so in the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SAMPLES = ROOT / "sample_certs"
#: the instant every golden evaluation uses (inside every sample's intended window)
AT = "2026-12-10T12:00:00Z"


def normalize_facts(facts: dict[str, Any]) -> dict[str, Any]:
    facts = dict(facts)
    facts["target"] = {**facts["target"], "port": 443, "connect_addr": None, "original": ""}
    facts["scanned_at"] = AT
    facts["address"] = None
    facts["timings_ms"] = {}
    facts["connections"] = 0
    return facts


def normalize_results(document: dict[str, Any]) -> dict[str, Any]:
    document = dict(document)
    document.pop("tool", None)
    return document


def evaluate_golden(certcheck: list[str], facts_file: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [*certcheck, "evaluate", str(facts_file), "--ca-file", str(SAMPLES / "ca.pem"),
         "--at", AT, "--json", "-"],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"certcheck evaluate failed ({proc.returncode}): {proc.stderr}")
    return normalize_results(json.loads(proc.stdout))


def _scan_facts(certcheck: list[str]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from certcheck.localserver import ServerSpec, serving

    manifest = json.loads((SAMPLES / "manifest.json").read_text(encoding="utf-8"))
    specs, hosts = [], []
    for sample in manifest["samples"]:
        specs.append(
            ServerSpec(
                name=sample["name"],
                chain_pem=(SAMPLES / sample["cert"]).read_bytes(),
                key_pem=(SAMPLES / sample["key"]).read_bytes(),
                min_version=sample["server"].get("min_version", "TLSv1.2"),
                max_version=sample["server"].get("max_version", "TLSv1.3"),
            )
        )
        hosts.append(sample["host"])
    with serving(specs) as servers, tempfile.TemporaryDirectory() as tmp:
        args: list[str] = []
        for host, server in zip(hosts, servers, strict=True):
            args += [f"{host}:{server.port}", "--resolve", f"{host}:{server.port}:127.0.0.1"]
        out = Path(tmp) / "facts.json"
        subprocess.run(
            [*certcheck, "scan", *args, "--ca-file", str(SAMPLES / "ca.pem"),
             "--save-facts", str(out), "--concurrency", "4"],
            capture_output=True, text=True, timeout=600,
        )
        document = json.loads(out.read_text(encoding="utf-8"))
    document.pop("tool", None)
    document["facts"] = sorted(
        (normalize_facts(f) for f in document["facts"]), key=lambda f: f["target"]["host"]
    )
    return document


def main() -> None:
    certcheck = [sys.executable, "-m", "certcheck"]
    facts = _scan_facts(certcheck)
    (HERE / "facts.json").write_text(json.dumps(facts, indent=1) + "\n", encoding="utf-8")
    results = evaluate_golden(certcheck, HERE / "facts.json")
    (HERE / "results.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"wrote {HERE / 'facts.json'} and {HERE / 'results.json'}: "
          f"{len(results['results'])} targets")


if __name__ == "__main__":
    main()
