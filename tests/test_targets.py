"""Target parsing: every accepted form, and a clear error naming each bad value."""

from pathlib import Path

import pytest

from certcheck.targets import (
    TargetError,
    apply_resolve,
    collect_targets,
    parse_overrides,
    parse_resolve,
    parse_target,
)


@pytest.mark.parametrize(
    ("raw", "host", "port", "scheme", "path"),
    [
        ("example.com", "example.com", 443, "https", ""),
        ("Example.COM.", "example.com", 443, "https", ""),
        ("example.com:8443", "example.com", 8443, "https", ""),
        ("https://api.example.com/v1/x?a=1", "api.example.com", 443, "https", "/v1/x?a=1"),
        ("https://api.example.com:9443", "api.example.com", 9443, "https", ""),
        ("wss://ws.example.com", "ws.example.com", 443, "wss", ""),
        ("wss://ws.example.com:8443/socket", "ws.example.com", 8443, "wss", "/socket"),
        ("[::1]:8443", "::1", 8443, "https", ""),
        ("[::1]", "::1", 443, "https", ""),
        ("::1", "::1", 443, "https", ""),
        ("127.0.0.1:4443", "127.0.0.1", 4443, "https", ""),
        ("example.com/path", "example.com", 443, "https", "/path"),
        ("bücher.example", "xn--bcher-kva.example", 443, "https", ""),
    ],
)
def test_accepted_forms(raw, host, port, scheme, path):
    target = parse_target(raw)
    assert (target.host, target.port, target.scheme, target.path) == (host, port, scheme, path)


def test_sni_is_not_sent_for_ip_literals():
    assert parse_target("[::1]:443").sni is None
    assert parse_target("example.com").sni == "example.com"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("", "empty target"),
        ("https://:443", "empty host"),
        (":443", "empty host"),
        ("ftp://example.com", "unsupported scheme 'ftp'"),
        ("exa mple.com", "white space"),
        ("example.com:0", "outside 1-65535"),
        ("example.com:65536", "outside 1-65535"),
        ("example.com:https", "is not a number"),
        ("[::1", "unclosed"),
        ("[example.com]:443", "is not an IPv6 address"),
        ("::1:443:x", "brackets"),
        ("a" * 64 + ".example.com", "longer than 63"),
        (("a" * 60 + ".") * 5 + "com", "longer than 253"),
        ("-bad.example.com", "not a valid host name label"),
        ("bad_$.example.com", "not a valid host name label"),
        ("https://user:pw@example.com", "user names"),
    ],
)
def test_rejected_forms_name_the_value(raw, needle):
    with pytest.raises(TargetError) as info:
        parse_target(raw)
    assert needle in str(info.value)


def test_resolve_override_and_errors():
    assert parse_resolve("api.example.com:8443:127.0.0.1") == ("api.example.com", 8443, "127.0.0.1")
    assert parse_resolve("api.example.com:443:[::1]") == ("api.example.com", 443, "::1")
    for bad in ("api.example.com", "api.example.com:443", "api.example.com:443:nothost"):
        with pytest.raises(TargetError, match="--resolve"):
            parse_resolve(bad)


def test_targets_file(tmp_path: Path):
    listing = tmp_path / "targets.txt"
    listing.write_text(
        "# fleet\nexample.com\n\napi.example.com:8443  # staging\nexample.com\nwss://ws.example.com\n"
    )
    targets = collect_targets(["extra.example.com"], listing, ["example.com:443:127.0.0.2"])
    assert [t.label for t in targets] == [
        "extra.example.com:443",
        "example.com:443",
        "api.example.com:8443",
        "ws.example.com:443",
    ]
    assert targets[1].connect_addr == "127.0.0.2"
    assert targets[2].connect_addr is None


def test_targets_file_errors_name_file_and_line(tmp_path: Path):
    listing = tmp_path / "targets.txt"
    listing.write_text("good.example.com\nftp://bad.example.com\n")
    with pytest.raises(TargetError, match=r"targets.txt:2: .*ftp"):
        collect_targets([], listing, [])
    with pytest.raises(TargetError, match="No such file"):
        collect_targets([], tmp_path / "missing.txt", [])
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(TargetError, match="not UTF-8"):
        collect_targets([], binary, [])


def test_shards_partition_targets_stably():
    from certcheck.targets import in_shard, parse_shard

    targets = [parse_target(f"host{i}.example.com") for i in range(400)]
    parts = [[t for t in targets if in_shard(t, (k, 4))] for k in range(1, 5)]
    assert sorted(t.host for part in parts for t in part) == sorted(t.host for t in targets)
    assert all(60 < len(part) < 140 for part in parts)  # roughly even
    assert parts[1] == [t for t in targets if in_shard(t, parse_shard("2/4"))]
    assert all(in_shard(t, None) and in_shard(t, (1, 1)) for t in targets)
    for bad in ("0/4", "5/4", "2", "a/b", "2/0"):
        with pytest.raises(TargetError, match="--shard"):
            parse_shard(bad)


def test_sslyze_address_syntax_connects_to_the_ip_and_keeps_the_name():
    from certcheck.targets import parse_target as parse

    target = parse("api.example.test:8443{127.0.0.1}")
    assert (target.host, target.port) == ("api.example.test", 8443)
    assert target.connect_addr == "127.0.0.1"
    assert parse("api.example.test{::1}").connect_addr == "::1"
    for bad in ("api.example.test{nope}", "api.example.test{}", "{127.0.0.1}"):
        with pytest.raises(TargetError):
            parse(bad)


def test_a_targets_file_in_sslyze_syntax_is_scanned(run_cli, sample_set, sample_dir, tmp_path):
    import json

    from certcheck.localserver import ServerSpec, serving

    sample = sample_set.get("good_rsa")
    with serving([ServerSpec("good", sample.chain_pem, sample.key_pem)]) as (server,):
        listing = tmp_path / "targets.txt"
        listing.write_text(f"{sample.host}:{server.port}{{127.0.0.1}}\n", encoding="utf-8")
        out = tmp_path / "r.json"
        run_cli("scan", "--targets-file", listing, "--ca-file", sample_dir / "ca.pem",
                "--json", out, timeout=120)
    (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert result["status"] == "scanned"
    assert result["target"]["host"] == sample.host


def test_resolve_wildcard_covers_names_below_the_domain_only():
    overrides = parse_overrides(
        ["*.wild.example.test:443:127.0.0.1", "*.example.test:443:127.0.0.2",
         "exact.wild.example.test:443:127.0.0.3"]
    )  # fmt: skip
    assert overrides.get(("a.wild.example.test", 443)) == "127.0.0.1"
    assert overrides.get(("b.c.wild.example.test", 443)) == "127.0.0.1"  # any depth
    assert overrides.get(("exact.wild.example.test", 443)) == "127.0.0.3"  # exact wins
    assert overrides.get(("wild.example.test", 443)) == "127.0.0.2"  # the suffix that matches
    assert overrides.get(("example.test", 443)) is None  # not the domain itself
    assert overrides.get(("a.wild.example.test", 8443)) is None  # per port
    assert overrides.get(("a.wildexample.test", 443)) is None  # whole labels, not characters
    assert overrides.get(("a.other.test", 443), "x") == "x"
    target = apply_resolve(parse_target("https://Deep.Wild.Example.Test/x"), overrides)
    assert target.connect_addr == "127.0.0.1" and target.host == "deep.wild.example.test"


def test_resolve_wildcard_errors():
    assert parse_resolve("*.Example.Test.:443:::1") == ("*.example.test", 443, "::1")
    for bad in ("*:443:127.0.0.1", "*.:443:127.0.0.1", "a.*.example.test:443:127.0.0.1",
                "*.127.0.0.1:443:127.0.0.1", "**.example.test:443:127.0.0.1"):  # fmt: skip
        with pytest.raises(TargetError, match="--resolve"):
            parse_resolve(bad)
