"""Read a mini program's server-domain configuration: JSON, TOML, or a list of URLs.

The field names are those of WeChat's domain-configuration API
(``requestdomain``, ``wsrequestdomain``, ``uploaddomain``, ``downloaddomain``,
``udpdomain``, ``tcpdomain``), so its response can be pasted as it is: the
``errcode``/``errmsg`` envelope is ignored, and the ``invalid_<list>`` and
``no_icp_domain`` fields it may carry are kept as the platform's own verdict.
``prefetchdomain`` (DNS pre-resolution) and ``networkTimeout`` (as in
``app.json``/``game.json``, milliseconds) complete the picture.

Every error names the file and the field; nothing here touches the network.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certcheck.miniprogram.limits import Limits, load_limits

PREFETCH_FIELD = "prefetchdomain"
TIMEOUT_FIELD = "networkTimeout"
NO_ICP_FIELD = "no_icp_domain"
INVALID_PREFIX = "invalid_"
#: envelope fields of the API's request and response: accepted and ignored
IGNORED_FIELDS = frozenset({"errcode", "errmsg", "action"})

#: what each API list is for, for people
API_LABELS: dict[str, str] = {
    "requestdomain": "wx.request",
    "wsrequestdomain": "wx.connectSocket",
    "uploaddomain": "wx.uploadFile",
    "downloaddomain": "wx.downloadFile",
    "udpdomain": "wx.createUDPSocket",
    "tcpdomain": "wx.createTCPSocket",
}


class ConfigError(ValueError):
    """A domain file or URL list that cannot be used; the message names the field."""


@dataclass
class MiniProgramConfig:
    """The server domains per API list, plus what else the platform applies to them."""

    source: str
    #: every API list, in WeChat's field order (empty when absent from the input)
    domains: dict[str, list[str]]
    prefetch: list[str] = field(default_factory=list)
    #: networkTimeout as given, milliseconds, by key (request, connectSocket, ...)
    network_timeout: dict[str, int] = field(default_factory=dict)
    #: request URLs the mini program calls (checked against the lists)
    request_urls: list[str] = field(default_factory=list)
    #: entries the platform itself reported as invalid, per API list
    rejected: dict[str, list[str]] = field(default_factory=dict)
    #: domains the platform reported as having no ICP filing
    no_icp: list[str] = field(default_factory=list)

    def timeout_ms(self, api: str, limits: Limits | None = None) -> int:
        """The timeout WeChat applies to ``api``: as configured, capped, or the default."""
        limits = limits or load_limits()
        key = limits.timeout_key_for(api)
        given = self.network_timeout.get(key) if key else None
        if given is None:
            return limits.timeout_default_ms
        return min(given, limits.timeout_max_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            **{api: list(entries) for api, entries in self.domains.items()},
            PREFETCH_FIELD: list(self.prefetch),
            TIMEOUT_FIELD: dict(self.network_timeout),
            "request_urls": list(self.request_urls),
            "rejected": {k: list(v) for k, v in self.rejected.items()},
            NO_ICP_FIELD: list(self.no_icp),
        }


def _type_name(value: Any) -> str:
    """The JSON word for a value's type, as a user who wrote the file would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of strings, got {_type_name(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"{where}[{index}] must be a string, got {_type_name(item)}")
    return list(value)


def _timeouts(value: Any, where: str, limits: Limits) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be an object of milliseconds, got {_type_name(value)}")
    known = list(limits.timeout_keys)
    result: dict[str, int] = {}
    for key, ms in value.items():
        if key not in limits.timeout_keys:
            raise ConfigError(
                f"{where}.{key}: unknown field{_suggest(key, known)} (expected {', '.join(known)})"
            )
        if isinstance(ms, bool) or not isinstance(ms, int | float):
            raise ConfigError(
                f"{where}.{key} must be a number of milliseconds, got {_type_name(ms)}"
            )
        if ms <= 0:
            raise ConfigError(f"{where}.{key} must be more than 0 milliseconds, got {ms}")
        result[key] = round(ms)
    return result


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_config(data: Any, source: str, limits: Limits | None = None) -> MiniProgramConfig:
    """Build the configuration from parsed JSON/TOML ``data`` read from ``source``."""
    limits = limits or load_limits()
    if isinstance(data, list):
        urls = _string_list(data, f"{source}: the list")
        return config_from_urls(urls, source, limits)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected an object with the API lists "
            f"({', '.join(limits.apis)}), got {_type_name(data)}"
        )
    config = MiniProgramConfig(source=source, domains={api: [] for api in limits.apis})
    known = [*limits.apis, PREFETCH_FIELD, TIMEOUT_FIELD, NO_ICP_FIELD]
    for key, value in data.items():
        where = f"{source}: {key}"
        if key in config.domains:
            config.domains[key] = _string_list(value, where)
        elif key == PREFETCH_FIELD:
            config.prefetch = _string_list(value, where)
        elif key == TIMEOUT_FIELD:
            config.network_timeout = _timeouts(value, where, limits)
        elif key == NO_ICP_FIELD:
            config.no_icp = _string_list(value, where)
        elif key.startswith(INVALID_PREFIX) and key[len(INVALID_PREFIX) :] in config.domains:
            entries = _string_list(value, where)
            if entries:
                config.rejected[key[len(INVALID_PREFIX) :]] = entries
        elif key in IGNORED_FIELDS:
            continue
        else:
            raise ConfigError(
                f"{where}: unknown field{_suggest(key, known)} (expected {', '.join(known)})"
            )
    if not any(config.domains.values()) and not config.prefetch and not config.rejected:
        raise ConfigError(f"{source}: no server domains found (expected {', '.join(limits.apis)})")
    return config


def config_from_urls(
    urls: list[str], source: str = "command line", limits: Limits | None = None
) -> MiniProgramConfig:
    """A configuration made of plain URLs: each goes to the list its scheme serves.

    ``https`` URLs go to ``requestdomain``, ``wss`` to ``wsrequestdomain`` (``udp``/``tcp``
    to theirs); anything else lands in ``requestdomain`` so that the lint reports the
    scheme.  The URLs themselves are kept as the request URLs.
    """
    limits = limits or load_limits()
    by_scheme = {scheme: api for api, scheme in reversed(limits.schemes.items())}
    config = MiniProgramConfig(source=source, domains={api: [] for api in limits.apis})
    for url in urls:
        scheme, sep, _ = url.strip().partition("://")
        api = by_scheme.get(scheme.lower(), "requestdomain") if sep else "requestdomain"
        origin = _origin(url.strip())
        if origin not in config.domains[api]:
            config.domains[api].append(origin)
    config.request_urls = [u.strip() for u in urls]
    return config


def _origin(url: str) -> str:
    """``scheme://netloc`` of a URL as written (port kept when given)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    return f"{parts.scheme}://{parts.netloc}"


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def loads(text: str, source: str, fmt: str | None = None) -> MiniProgramConfig:
    """Parse JSON or TOML text; ``fmt`` is "json", "toml" or None (guess from the text)."""
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("{", "[") else "toml"
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    return parse_config(data, source)


def load_config(path: Path) -> MiniProgramConfig:
    """Read a domain file (``.json``, ``.toml``, or either, guessed from the content)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"domain file {str(path)!r}: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    fmt = {".json": "json", ".toml": "toml"}.get(suffix)
    return loads(_decode(raw, str(path)), str(path), fmt)
