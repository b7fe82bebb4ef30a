"""certcheck.toml: checking, line numbers in errors, ${ENV} secrets, the init example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from certcheck.monitor.config import ConfigError, load_config, parse_config
from certcheck.monitor.example import EXAMPLE_CONFIG
from certcheck.monitor.tomllines import key_lines

BASE = Path("/nonexistent-base")


def parse(text: str, **kwargs):
    return parse_config(text, "certcheck.toml", BASE, **kwargs)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return str(caught.value)


def test_example_config_is_valid_and_documents_every_channel(monkeypatch):
    config = parse(EXAMPLE_CONFIG)
    # a placeholder under the reserved .example TLD: never a live public host
    assert [t.key for t in config.targets] == ["www.your-domain.example:443"]
    assert all(t.key.split(":")[0].endswith(".example") for t in config.targets)
    assert config.channels == {}
    assert config.history_url == f"sqlite:///{BASE / 'certcheck-history.db'}"
    # Uncommenting the example channels gives a valid configuration with all six types.
    for name in ("WECOM_WEBHOOK", "DINGTALK_WEBHOOK", "FEISHU_WEBHOOK", "SLACK_WEBHOOK"):
        monkeypatch.setenv(name, f"https://hooks.example.test/{name.lower()}")
    for name in ("DINGTALK_SECRET", "FEISHU_SECRET", "HOOK_TOKEN", "SMTP_PASSWORD"):
        monkeypatch.setenv(name, f"value-of-{name}")
    start = EXAMPLE_CONFIG.index("# Notification channels")
    text = EXAMPLE_CONFIG[:start] + re.sub(
        r"(?m)^# (\[\[notify\]\]|[a-z_]+ = )", r"\1", EXAMPLE_CONFIG[start:]
    )
    config = parse(text)
    assert [c.type for c in config.channels.values()] == [
        "wecom",
        "dingtalk",
        "feishu",
        "slack",
        "webhook",
        "email",
    ]
    assert config.channels["email"].sender == "certcheck@example.com"


def test_targets_take_scan_syntax_port_resolve_tags_and_owner():
    config = parse(
        """
[[targets]]
host = "https://API.example.com:8443/v1"
resolve = "10.0.0.5"
tags = ["prod", "api"]
owner = "api team"
[[targets]]
host = "ws.example.com"
port = 9443
[[targets]]
host = "[::1]:443"
"""
    )
    first, second, third = config.targets
    assert first.key == "api.example.com:8443"
    assert first.target.connect_addr == "10.0.0.5"
    assert first.target.sni == "api.example.com"
    assert first.tags == ("prod", "api") and first.owner == "api team"
    assert second.key == "ws.example.com:9443"
    assert third.key == "[::1]:443"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[targets]]\nhost = "a.test"\nprot = 1\n',
            "certcheck.toml:3: targets[0].prot: unknown key (did you mean 'port'?)",
        ),
        (
            '[monitor]\nprofle = "wechat"\n[[targets]]\nhost = "a.test"\n',
            "certcheck.toml:2: monitor.profle: unknown key (did you mean 'profile'?)",
        ),
        (
            '[[targets]]\nhost = "a.test"\n\n[[targets]]\nhost = "b.test"\nport = "443"\n',
            "certcheck.toml:6: targets[1].port: Input should be a valid integer (got a string)",
        ),
        (
            '[alerts]\nretries = 3\nbackoff_seconds = "2"\n[[targets]]\nhost = "a.test"\n',
            "certcheck.toml:3: alerts.backoff_seconds: "
            "Input should be a valid number (got a string)",
        ),
        (
            '[[targets]]\nhost = "a.test"\n[[notify]]\ntype = "pager"\nurl = "https://x.test"\n',
            "certcheck.toml:4: notify[0].type: unknown channel type",
        ),
        (
            '[[targets]]\nhost = "a.test"\n[[notify]]\nurl = "https://x.test"\n',
            "certcheck.toml:3: notify[0].type: required key is missing",
        ),
        (
            '[[targets]]\nhost = "a.test"\n[[notify]]\ntype = "dingtalk"\n'
            'url = "https://x.test"\nsecret = 5\n',
            "certcheck.toml:6: notify[0].secret: Input should be a valid string (got an integer)",
        ),
        (
            '[[targets]]\nhost = "a b.test"\n',
            "certcheck.toml:2: targets[0].host: 'a b.test': contains white space",
        ),
        (
            '[[targets]]\nhost = "a.test"\nresolve = "a.example"\n',
            "certcheck.toml:3: targets[0].resolve: must be an IP address",
        ),
        (
            '[[targets]]\nhost = "a.test"\n[[targets]]\nhost = "a.test:443"\n',
            "certcheck.toml:4: targets[1].host: a.test:443 is already listed (targets[0])",
        ),
        (
            '[monitor]\nprofile = "lenient"\n[[targets]]\nhost = "a.test"\n',
            "certcheck.toml:2: monitor.profile: choose one of",
        ),
        (
            '[history]\nurl = "mysql://db/x"\n[[targets]]\nhost = "a.test"\n',
            "certcheck.toml:2: history.url: database 'mysql' is not supported",
        ),
        (
            '[history]\npath = "a.db"\nurl = "sqlite:///b.db"\n[[targets]]\nhost = "a.test"\n',
            "certcheck.toml:1: history: give either path",
        ),
        (
            '[[targets]]\nhost = "a.test"\n[[notify]]\ntype = "slack"\nurl = "ftp://x.test"\n',
            "certcheck.toml:5: notify[0].url: must be an http:// or https:// URL",
        ),
        ("[monitor]\n", "certcheck.toml: targets: no targets: add at least one [[targets]] block"),
        (
            '[[targets]]\nhost = "a.test"\nx = \n',
            "certcheck.toml: not valid TOML: Invalid value (at line 3, column 5)",
        ),
    ],
)
def test_bad_configuration_names_file_line_and_key(text, expected):
    assert error_of(text).startswith(expected)


def test_key_lines_follow_tables_arrays_and_multiline_values():
    lines = key_lines(
        '[monitor]\nprofile = "x"\nnote = """\nfake = 1\n"""\nlist = [\n  1,\n]\n'
        '[[targets]]\nhost = "a"\n[[targets]]\n"host" = "b"\n'
    )
    assert lines[("monitor", "profile")] == 2
    assert ("monitor", "fake") not in lines
    assert lines[("targets", 1, "host")] == 12
    assert lines[("targets", 0)] == 9


def test_environment_variables_fill_secrets_and_missing_ones_are_named(monkeypatch):
    text = (
        '[[targets]]\nhost = "a.test"\n'
        '[[notify]]\ntype = "dingtalk"\nurl = "https://oapi.example.test/send?access_token=${DT_TOKEN}"\n'
        'secret = "${DT_SECRET}"\n'
    )
    monkeypatch.delenv("DT_TOKEN", raising=False)
    assert error_of(text) == (
        "certcheck.toml:5: notify[0].url: environment variable DT_TOKEN is not set"
    )
    monkeypatch.setenv("DT_TOKEN", "tok-5f1e2d")
    monkeypatch.setenv("DT_SECRET", "SEC-9a8b7c6d")
    config = parse(text)
    channel = config.channels["dingtalk"]
    assert channel.url.get_secret_value().endswith("access_token=tok-5f1e2d")
    assert channel.secret.get_secret_value() == "SEC-9a8b7c6d"
    # Secrets never show in repr/str of the configuration ...
    shown = repr(config) + str(config.file) + repr(channel)
    assert "tok-5f1e2d" not in shown and "SEC-9a8b7c6d" not in shown
    # ... and the redactor masks them (and URL-encoded forms) in any text.
    assert config.redactor.scrub("GET /send?access_token=tok-5f1e2d failed") == (
        "GET /send?access_token=*** failed"
    )
    # $${ is a literal ${
    literal = parse('[[targets]]\nhost = "a.test"\nowner = "$${NOT_A_VAR}"\n')
    assert literal.targets[0].owner == "${NOT_A_VAR}"


def test_errors_about_secret_fields_never_print_the_value(monkeypatch):
    monkeypatch.setenv("HOOK_URL", "gopher://secret-host-7731/hook")
    message = error_of(
        '[[targets]]\nhost = "a.test"\n[[notify]]\ntype = "slack"\nurl = "${HOOK_URL}"\n'
    )
    assert "must be an http" in message
    assert "secret-host-7731" not in message


def test_history_reader_tolerates_unset_channel_variables(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    text = '[[targets]]\nhost = "a.test"\n[[notify]]\ntype = "wecom"\nurl = "${NOT_SET_ANYWHERE}"\n'
    with pytest.raises(ConfigError):
        parse(text)
    assert parse(text, strict_env=False).targets[0].key == "a.test:443"


def test_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "ca.pem").write_text("not used here")
    path = tmp_path / "certcheck.toml"
    path.write_text(
        '[monitor]\nca_file = "ca.pem"\n[history]\npath = "data.db"\n[[targets]]\nhost = "a.test"\n'
    )
    config = load_config(path)
    assert config.ca_file == tmp_path / "ca.pem"
    assert config.history_url == f"sqlite:///{tmp_path / 'data.db'}"
    missing = tmp_path / "other.toml"
    missing.write_text('[monitor]\nca_file = "nope.pem"\n[[targets]]\nhost = "a.test"\n')
    with pytest.raises(ConfigError, match=r"other.toml:2: monitor.ca_file: .*nope.pem"):
        load_config(missing)


def test_postgresql_urls_use_psycopg_and_hide_the_password(monkeypatch):
    monkeypatch.setenv("PGPASS", "pw-4471")
    config = parse(
        '[history]\nurl = "postgresql://certcheck:${PGPASS}@db.example.test/certcheck"\n'
        '[[targets]]\nhost = "a.test"\n'
    )
    assert config.history_url.startswith("postgresql+psycopg://certcheck:pw-4471@")
    assert "pw-4471" not in config.history_label()


def test_unreadable_or_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="No such file or directory.*certcheck init"):
        load_config(tmp_path / "certcheck.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_profile_file_brings_severities_and_suppressions(tmp_path):
    (tmp_path / "policy.toml").write_text(
        'base = "wechat"\n[severity]\nlegacy_tls_enabled = "off"\n'
        '[[ignore]]\nrule = "hostname_mismatch"\nhost = "old.example.test"\n'
    )
    path = tmp_path / "certcheck.toml"
    path.write_text(
        '[monitor]\nprofile_file = "policy.toml"\n[thresholds]\ncrit_days = 3\n'
        '[[targets]]\nhost = "a.test"\n'
    )
    policy = load_config(path).policy()
    assert policy.profile.severity["legacy_tls_enabled"] == "off"
    assert policy.profile.crit_days == 3  # [thresholds] still applies on top
    assert [(i.rule, i.host) for i in policy.ignores] == [("hostname_mismatch", "old.example.test")]
    (tmp_path / "policy.toml").write_text('[severity]\nno_such_rule = "off"\n')
    with pytest.raises(
        ConfigError, match=r"certcheck.toml:2: monitor.profile_file: .*no_such_rule"
    ):
        load_config(path)
