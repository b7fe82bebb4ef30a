"""Shared fixtures: one sample set and loopback TLS servers for the whole session.

Everything listens on 127.0.0.1 only; host names are never looked up (targets
carry ``connect_addr="127.0.0.1"`` or the CLI gets ``--resolve``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certcheck import samples
from certcheck.localserver import LoopbackServer, ServerSpec, serving


def spec_for(sample: samples.Sample, **overrides: str) -> ServerSpec:
    """A ServerSpec serving ``sample`` the way its ``server`` dict asks (overridable)."""
    settings = {"min_version": "TLSv1.2", "max_version": "TLSv1.3", **sample.server, **overrides}
    return ServerSpec(
        name=sample.name,
        chain_pem=sample.chain_pem,
        key_pem=sample.key_pem,
        min_version=settings["min_version"],
        max_version=settings["max_version"],
    )


@pytest.fixture(name="spec_for", scope="session")
def spec_for_fixture():
    """The :func:`spec_for` helper, for test modules."""
    return spec_for


@pytest.fixture(scope="session")
def sample_set() -> samples.SampleSet:
    return samples.generate()


@pytest.fixture(scope="session")
def sample_servers(sample_set) -> dict[str, LoopbackServer]:
    """One loopback server per sample, as the sample's ``server`` settings ask."""
    with serving([spec_for(s) for s in sample_set.samples]) as servers:
        yield {server.spec.name: server for server in servers}


@pytest.fixture(scope="session")
def sample_dir(sample_set, tmp_path_factory) -> Path:
    """The sample set written to disk (ca.pem, NAME.pem, NAME.key, manifest.json)."""
    directory = tmp_path_factory.mktemp("samples")
    samples.write(sample_set, directory)
    return directory


@pytest.fixture(scope="session")
def certcheck_cmd() -> list[str]:
    """How to run the CLI: the installed entry point, else ``python -m certcheck.cli``."""
    # The script next to this interpreter first: a stray certcheck on PATH may be another copy.
    exe = shutil.which("certcheck", path=str(Path(sys.executable).parent)) or shutil.which(
        "certcheck"
    )
    return [exe] if exe else [sys.executable, "-m", "certcheck.cli"]


@pytest.fixture(scope="session")
def run_cli(certcheck_cmd):
    """Run ``certcheck ARGS`` in a subprocess with a hard timeout; return the CompletedProcess."""

    def run(*args: str, timeout: float = 60, cwd: Path | None = None):
        return subprocess.run(
            [*certcheck_cmd, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )

    return run
