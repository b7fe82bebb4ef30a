"""Host name matching: RFC 6125 with the Baseline Requirements' wildcard rules."""

import pytest

from certcheck.evaluate.names import check_host


@pytest.mark.parametrize(
    ("host", "sans", "matched"),
    [
        ("api.example.com", ["api.example.com"], True),
        ("API.Example.com.", ["api.example.com"], True),
        ("api.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], False),
        ("example.com", ["*.example.com"], False),
        ("api.example.com", ["other.example.com"], False),
        ("api.example.com", [], False),
        ("foo1.example.com", ["foo*.example.com"], True),
        ("xn--bcher-kva.example.com", ["x*.example.com"], False),
    ],
)
def test_matching(host, sans, matched):
    assert check_host(host, sans, []).matched is matched


def test_wildcard_one_label_too_deep_is_explained():
    check = check_host("a.b.example.com", ["*.example.com"], [])
    assert check.too_deep_wildcards == ["*.example.com"]
    assert check_host("example.com", ["*.example.com"], []).too_deep_wildcards == ["*.example.com"]
    assert check_host("a.other.com", ["*.example.com"], []).too_deep_wildcards == []


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("*.*.example.com", "more than one"),
        ("api.*.example.com", "not in the left-most label"),
        ("*.com", "top-level"),
    ],
)
def test_malformed_wildcards_never_match(pattern, reason):
    check = check_host("a.b.example.com", [pattern], [])
    assert not check.matched
    assert reason in check.malformed_wildcards[0]


def test_partial_label_wildcard_is_reported():
    assert check_host("foo1.example.com", ["foo*.example.com"], []).partial_wildcards == [
        "foo*.example.com"
    ]


def test_ip_hosts_match_only_ip_sans():
    assert check_host("127.0.0.1", ["127.0.0.1"], []).matched is False
    assert check_host("127.0.0.1", [], ["127.0.0.1"]).matched is True
    assert check_host("::1", [], ["0:0:0:0:0:0:0:1"]).matched is True
