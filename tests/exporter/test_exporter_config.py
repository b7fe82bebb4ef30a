"""The ``[serve]`` table: defaults, allow patterns, clear errors, monitor line numbers kept."""

from __future__ import annotations

import pytest

from certcheck.exporter.config import load_serve_config
from certcheck.monitor.config import ConfigError

TARGETS = '[[targets]]\nhost = "www.example.com"\nport = 8443\n'


def write(tmp_path, text: str):
    path = tmp_path / "certcheck.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_serve_table(tmp_path):
    config = load_serve_config(write(tmp_path, TARGETS))
    assert (config.serve.cache_seconds, config.serve.max_concurrent_scans) == (60.0, 4)
    assert config.allowed("www.example.com", 8443)
    assert not config.allowed("www.example.com", 443)
    assert not config.allowed("other.example.com", 8443)


def test_allow_patterns(tmp_path):
    text = '[serve]\nallow = ["*.example.org", "db.internal:5432"]\ncache_seconds = 0\n' + TARGETS
    config = load_serve_config(write(tmp_path, text))
    assert config.allowed("a.example.org", 443)
    assert config.allowed("A.Example.ORG", 8443)
    assert config.allowed("db.internal", 5432)
    assert not config.allowed("db.internal", 443)
    assert not config.allowed("example.org.evil.test", 443)
    assert config.serve.cache_seconds == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[serve]\ncache_seconds = -1\n" + TARGETS, "serve.cache_seconds"),
        ('[serve]\nallow = "*.x"\n' + TARGETS, "serve.allow"),
        ("[serve]\nbogus = 1\n" + TARGETS, "serve.bogus"),
        ("serve = 3\n" + TARGETS, "[serve] must be a table"),
        ("[serve\n" + TARGETS, "not valid TOML"),
    ],
)
def test_bad_serve_tables(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_serve_config(write(tmp_path, text))


def test_monitor_errors_keep_their_line_numbers(tmp_path):
    text = '[serve]\nallow = []\n\n[monitor]\ntimeout = 5.0\n\n[[targets]]\nhost = "a"\nprot = 1\n'
    with pytest.raises(ConfigError) as caught:
        load_serve_config(write(tmp_path, text))
    assert "certcheck.toml:9:" in str(caught.value) and "prot" in str(caught.value)
