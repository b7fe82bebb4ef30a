"""The totals say plainly whether current phones connect when only old Android fails."""

from __future__ import annotations

from certcheck.model import ScanError, ServerFacts, Target, TargetResult
from certcheck.report.console import phones_line


def _result(ios: str, android: str, legacy: str, overall: str = "warn") -> TargetResult:
    facts = ServerFacts(Target("a.example.test"), "2026-12-01T00:00:00Z")
    verdicts = {"ios": ios, "android": android, "android_legacy": legacy}
    return TargetResult(facts=facts, verdicts=verdicts, overall=overall)


def test_only_old_android_failing_is_said_plainly():
    results = [_result("pass", "pass", "fail", "fail") for _ in range(4)]
    assert phones_line(results) == (
        "current phones (iOS, Android): 4 of 4 target(s) accepted; "
        "old Android (4.x) fails on 4 of them"
    )


def test_a_current_phone_failing_is_not_counted_as_accepted():
    results = [_result("fail", "pass", "fail", "fail"), _result("pass", "warn", "pass")]
    assert phones_line(results) == "current phones (iOS, Android): 1 of 2 target(s) accepted"


def test_nothing_to_add_when_all_pass_or_none_scanned():
    assert phones_line([_result("pass", "pass", "pass", "pass")]) is None
    down = ServerFacts(Target("b.example.test"), "2026-12-01T00:00:00Z",
                       error=ScanError("refused", "connection refused"))
    assert phones_line([TargetResult(facts=down, overall="error")]) is None
