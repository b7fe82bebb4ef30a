"""``certcheck schema`` covers every document certcheck writes: real outputs validate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from _htmldocs import forecast_doc, miniprogram_doc
from jsonschema import Draft202012Validator

from certcheck.monitor.alerts import notify_test_message
from certcheck.report.schema import schema


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def test_forecast_and_miniprogram_documents_validate(validator):
    # miniprogram_doc() is certcheck.miniprogram.document's output for a real loopback check
    for document in (forecast_doc(), miniprogram_doc()):
        errors = sorted(validator.iter_errors(document), key=str)
        assert errors == [], [e.message for e in errors[:3]]


def test_the_webhook_alert_body_validates(validator):
    body = notify_test_message("hook", datetime(2026, 12, 1, tzinfo=UTC), None).webhook_body()
    body["id"] = "alert-1"
    assert list(validator.iter_errors(body)) == []


def test_a_broken_document_of_each_kind_is_refused(validator):
    broken = forecast_doc()
    broken["events"] = [{"at": "yesterday", "target": "x", "change": "y"}]
    assert list(validator.iter_errors(broken))
    mini = miniprogram_doc()
    del mini["host_app"]
    assert list(validator.iter_errors(mini))
    body = notify_test_message("hook", datetime(2026, 12, 1, tzinfo=UTC), None).webhook_body()
    body["severity"] = "meh"
    assert list(validator.iter_errors(body))


def test_the_cli_forecast_output_validates(run_cli, validator, tmp_path):
    from _htmldocs import FORECAST_FROM, forecast_inputs

    from certcheck.report import jsondoc

    sample_set, facts = forecast_inputs()
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(jsondoc.dumps(jsondoc.facts_document(facts)), encoding="utf-8")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(sample_set.root_pem)
    proc = run_cli("forecast", "--facts", facts_file, "--ca-file", ca, "--at",
                   FORECAST_FROM.isoformat(), "--json", "-")
    document = json.loads(proc.stdout)
    assert document["kind"] == "certcheck-forecast" and document["events"]
    errors = sorted(validator.iter_errors(document), key=str)
    assert errors == [], [e.message for e in errors[:3]]
    kinds = json.loads(run_cli("schema").stdout)["properties"]["kind"]["enum"]
    assert {"certcheck-alert", "certcheck-history", "certcheck-forecast"} <= set(kinds)
