"""Builders of the shipped trust tables from their upstream files.

Each table in ``rules/platforms/`` that comes from a public upstream file (Chrome's
``root_store.textproto``, Apple's ``security_certificates``, AOSP/Conscrypt's
``ca-certificates``) has one :class:`TableBuilder`: where the upstream files are, and
the code that turns their bytes into the table's text.  The same builder generated the
shipped table (``python -m certcheck.trustdata build …``) and refreshes it at run time
(``certcheck data update``), so a refreshed table is parsed and checked exactly like the
shipped one.

Modules register their builders in :data:`BUILDERS` by calling :func:`register` at
import time; :func:`builders` imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field


class TrustDataError(Exception):
    """An upstream file is missing, truncated or implausible; the message says which."""


@dataclass(frozen=True)
class UpstreamFile:
    """One file a builder reads: its name (the key of the ``files`` mapping handed to
    ``build``) and where it is published."""

    name: str
    url: str
    description: str = ""


@dataclass(frozen=True)
class TableBuilder:
    """How one table under ``rules/`` is made from upstream files.

    ``build`` gets ``{UpstreamFile.name: bytes}`` and returns the table's full text
    (comment header included); it raises :class:`TrustDataError` on input it cannot
    trust (truncated, garbage, far fewer roots than expected)."""

    table: str  # path under rules/, e.g. "platforms/chrome_roots.tsv"
    description: str
    upstream: tuple[UpstreamFile, ...]
    build: Callable[[dict[str, bytes]], str]
    #: sanity floor: a built table with fewer data rows than this is refused
    min_rows: int = 1
    extra: dict[str, str] = field(default_factory=dict)


BUILDERS: dict[str, TableBuilder] = {}

#: modules that register builders (imported by :func:`builders`)
MODULES: tuple[str, ...] = (
    "certcheck.trustdata.chrome",
    "certcheck.trustdata.apple",
    "certcheck.trustdata.android",
)


def register(builder: TableBuilder) -> TableBuilder:
    if builder.table in BUILDERS and BUILDERS[builder.table] is not builder:
        raise ValueError(f"two builders for rules/{builder.table}")
    BUILDERS[builder.table] = builder
    return builder


def builders() -> dict[str, TableBuilder]:
    """Every registered builder, by table path (modules not written yet are skipped)."""
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return dict(BUILDERS)
