"""The published JSON Schema (draft 2020-12) of certcheck's JSON documents.

The schema file ships as package data: ``certcheck/report/results.schema.json``
(``certcheck schema`` prints it).  It covers the results document (``--json``),
the facts document (``--save-facts``) and each line of ``--jsonl`` output.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMA_FILE = "results.schema.json"


def schema_text() -> str:
    """The schema exactly as shipped."""
    return resources.files("certcheck.report").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@cache
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


@cache
def _validator() -> Draft202012Validator:
    # Imported here: jsonschema is 50 ms, and most commands never validate a document.
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def _where(path: Any) -> str:
    parts = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return parts.lstrip(".") or "(document)"


def validation_errors(document: Any, limit: int = 5) -> list[str]:
    """Up to ``limit`` messages, each naming where the document breaks the schema."""
    from jsonschema.exceptions import best_match

    validator = _validator()
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    messages: list[str] = []
    for error in errors:
        best = best_match([error]) or error
        message = f"{_where(best.absolute_path)}: {best.message}"
        if message not in messages:
            messages.append(message)
        if len(messages) == limit:
            break
    return messages


def is_valid(document: Any) -> bool:
    return _validator().is_valid(document)
