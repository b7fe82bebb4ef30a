"""Regenerate rules/platforms/chrome_roots.tsv from the committed upstream copy.

Run from the repository root: ``.venv/bin/python tests/data/upstream/chrome/regenerate.py``.
tests/trustdata/test_chrome_store.py checks that the shipped table equals this output.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from certcheck.trustdata.chrome import make_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
COPY = HERE / "root_store.textproto"
TABLE = ROOT / "rules" / "platforms" / "chrome_roots.tsv"

#: where the committed copy was read (the header of the shipped table names it)
SOURCE = """\
https://github.com/benji-cannot-code/fast-vc-chromium-benchmark-run-4 @ \
06cc78ea81729e7e00d99cd8f8701302b436b814, net/data/ssl/chrome_root_store/root_store.textproto
(an undated copy of chromium/chromium main, the newest copy in the stored index; chromium/chromium
itself is stored only at c076418dc96836106b8e93b3456fb9f97253dd39, version_major 17).
The copy's first line, a benchmark marker that is not part of Chromium's file, is dropped, and so
are its additional_certs that carry only eutl: true (they give no rows): see
tests/data/upstream/chrome/SOURCE.md. Cross-check: 100 of its 104 trust_anchors are in
certifi 2026.10.19, the other 4 in platforms/apple_roots.tsv or android_roots.tsv; the
sct_not_after cut-offs match rules/distrusted_cas.toml (tests/trustdata/test_chrome_store.py).
Snapshot: the copy is undated; 2026-06-26, DigiCert's notice of the newest constraints it
carries (https://knowledge.digicert.com/alerts/google-chrome-root-removal-trusted-root-g4-\
assured-id-g2-id-g3, last modified), stands for its date."""
SNAPSHOT = date(2026, 6, 26)


def main() -> None:
    TABLE.write_text(make_table(COPY.read_bytes(), SOURCE, SNAPSHOT), encoding="utf-8")
    print(f"wrote {TABLE}")


if __name__ == "__main__":
    main()
