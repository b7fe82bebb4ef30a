"""Re-create the example certificates: ``python sample_certs/make_samples.py [OUTDIR]``.

Writes a fresh test CA, every sample chain and key, and manifest.json into
OUTDIR (default: the folder this script is in).  Works from a git checkout
without installing certcheck.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent


def _load_samples() -> ModuleType:
    """Import certcheck.samples, falling back to the checkout this script is in."""
    try:
        return importlib.import_module("certcheck.samples")
    except ModuleNotFoundError:
        sys.path.insert(0, str(REPO_ROOT))
        return importlib.import_module("certcheck.samples")


def main(argv: list[str] | None = None) -> int:
    """Generate the samples and print what was written."""
    parser = argparse.ArgumentParser(description="Generate certcheck's example certificates.")
    parser.add_argument(
        "outdir", nargs="?", type=Path, default=HERE, help="output folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    samples = _load_samples()
    sample_set = samples.generate()
    paths = samples.write(sample_set, args.outdir)
    for path in paths:
        print(f"wrote {path}")
    print(f"{len(sample_set.samples)} samples; trust anchor: {args.outdir / 'ca.pem'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
