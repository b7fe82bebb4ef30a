"""Read a mini program's server-domain configuration: JSON, TOML, or a list of URLs.

The field names are those of WeChat's domain-configuration API
(``requestdomain``, ``wsrequestdomain``, ``uploaddomain``, ``downloaddomain``,
``udpdomain``, ``tcpdomain``), so its response can be pasted as it is: the
``errcode``/``errmsg`` envelope is ignored, and the ``invalid_<list>`` and
``no_icp_domain`` fields it may carry are kept as the platform's own verdict.
``prefetchdomain`` (DNS pre-resolution), ``networkTimeout`` (as in
``app.json``/``game.json``, milliseconds) and ``timeout`` (the per-call option of
``wx.request`` and its siblings, milliseconds, which takes precedence over
``networkTimeout``) complete the picture.  ``host_app`` names the host app whose
rules apply (``wechat``, the default, or ``tcsas``).

Every error names the file and the field; nothing here touches the network.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certcheck.miniprogram.limits import Limits, host_apps, load_limits
from certcheck.safeload import LoadError, clip, load_json, load_toml, quote

PREFETCH_FIELD = "prefetchdomain"
TIMEOUT_FIELD = "networkTimeout"
#: the per-call timeout (wx.request({timeout}), ms): takes precedence over networkTimeout
CALL_TIMEOUT_FIELD = "timeout"
HOST_APP_FIELD = "host_app"
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
    #: the host app whose rules apply (rules/miniprogram.toml [host_apps])
    host_app: str = field(default_factory=lambda: host_apps()[0])
    #: the per-call ``timeout`` the mini program passes, ms (None: not given)
    call_timeout: int | None = None

    def timeout_ms(self, api: str, limits: Limits | None = None) -> int:
        """The timeout the host app applies to ``api``.

        The per-call ``timeout`` first, then ``networkTimeout``, then the default; capped at
        the host app's maximum when it has one.
        """
        limits = limits or load_limits(self.host_app)
        key = limits.timeout_key_for(api)
        given = self.call_timeout
        if given is None and key:
            given = self.network_timeout.get(key)
        if given is None:
            return limits.timeout_default_ms
        return given if limits.timeout_max_ms is None else min(given, limits.timeout_max_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            HOST_APP_FIELD: self.host_app,
            **{api: list(entries) for api, entries in self.domains.items()},
            PREFETCH_FIELD: list(self.prefetch),
            TIMEOUT_FIELD: dict(self.network_timeout),
            CALL_TIMEOUT_FIELD: self.call_timeout,
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
                f"{where}.{clip(key, 100)}: unknown field{_suggest(key, known)} "
                f"(expected {', '.join(known)})"
            )
        if isinstance(ms, bool) or not isinstance(ms, int | float):
            raise ConfigError(
                f"{where}.{key} must be a number of milliseconds, got {_type_name(ms)}"
            )
        if ms <= 0:
            raise ConfigError(f"{where}.{key} must be more than 0 milliseconds, got {quote(ms)}")
        result[key] = round(ms)
    return result


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _host_app(data: dict[str, Any], source: str, override: str | None) -> str:
    """The host app: ``override`` (--host-app), else the file's ``host_app``, else the default."""
    known = list(host_apps())
    given = data.get(HOST_APP_FIELD)
    if given is not None:
        if not isinstance(given, str):
            raise ConfigError(
                f"{source}: {HOST_APP_FIELD} must be a string, got {_type_name(given)}"
            )
        if given not in known:
            raise ConfigError(
                f"{source}: {HOST_APP_FIELD}: unknown host app {quote(given)}"
                f"{_suggest(given, known)} "
                f"(expected {', '.join(known)})"
            )
        if override is not None and override != given:
            raise ConfigError(
                f"{source}: {HOST_APP_FIELD} is {quote(given)} but --host-app says "
                f"{quote(override)}: drop one of them"
            )
    chosen = override or given or known[0]
    if chosen not in known:
        raise ConfigError(f"unknown host app {quote(chosen)} (expected {', '.join(known)})")
    return chosen


def _call_timeout(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number of milliseconds, got {_type_name(value)}")
    if value <= 0:
        raise ConfigError(f"{where} must be more than 0 milliseconds, got {quote(value)}")
    return round(value)


def _not_for_host_app(key: str, where: str, limits: Limits) -> ConfigError:
    what = "DNS pre-resolution" if key == PREFETCH_FIELD else "ICP filing"
    return ConfigError(
        f"{where}: {limits.name} has no {what} rule ({key} is a WeChat field): remove it, "
        f'or check with host_app = "wechat"'
    )


def parse_config(
    data: Any, source: str, limits: Limits | None = None, host_app: str | None = None
) -> MiniProgramConfig:
    """Build the configuration from parsed JSON/TOML ``data`` read from ``source``.

    ``host_app`` (the --host-app option) wins over none in the data and must agree with
    one given there; ``limits`` forces the rules used (tests).
    """
    if isinstance(data, list):
        urls = _string_list(data, f"{source}: the list")
        return config_from_urls(urls, source, limits, host_app)
    if not isinstance(data, dict):
        limits = limits or load_limits(host_app)
        raise ConfigError(
            f"{source}: expected an object with the API lists "
            f"({', '.join(limits.apis)}), got {_type_name(data)}"
        )
    chosen = limits.host_app if limits else _host_app(data, source, host_app)
    limits = limits or load_limits(chosen)
    config = MiniProgramConfig(
        source=source, domains={api: [] for api in limits.apis}, host_app=chosen
    )
    known = [
        *limits.apis,
        PREFETCH_FIELD,
        TIMEOUT_FIELD,
        CALL_TIMEOUT_FIELD,
        NO_ICP_FIELD,
        HOST_APP_FIELD,
    ]
    for key, value in data.items():
        where = f"{source}: {clip(key, 100)}"
        if key in config.domains:
            config.domains[key] = _string_list(value, where)
        elif key == PREFETCH_FIELD:
            if limits.prefetch is None:
                raise _not_for_host_app(key, where, limits)
            config.prefetch = _string_list(value, where)
        elif key == TIMEOUT_FIELD:
            config.network_timeout = _timeouts(value, where, limits)
        elif key == CALL_TIMEOUT_FIELD:
            config.call_timeout = _call_timeout(value, where)
        elif key == NO_ICP_FIELD:
            if not limits.icp_required:
                raise _not_for_host_app(key, where, limits)
            config.no_icp = _string_list(value, where)
        elif key == HOST_APP_FIELD:
            continue
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
    urls: list[str],
    source: str = "command line",
    limits: Limits | None = None,
    host_app: str | None = None,
) -> MiniProgramConfig:
    """A configuration made of plain URLs: each goes to the list its scheme serves.

    ``https`` URLs go to ``requestdomain``, ``wss`` to ``wsrequestdomain`` (``udp``/``tcp``
    to theirs); anything else lands in ``requestdomain`` so that the lint reports the
    scheme.  The URLs themselves are kept as the request URLs.  Where the host app lets
    request URLs carry any port of a configured domain, the entry is the URL's domain
    without the port (an entry with a port would be wrong there, or needless).
    """
    if limits is None:
        if host_app is not None and host_app not in host_apps():
            raise ConfigError(
                f"unknown host app {quote(host_app)} (expected {', '.join(host_apps())})"
            )
        limits = load_limits(host_app)
    by_scheme = {scheme: api for api, scheme in reversed(limits.schemes.items())}
    config = MiniProgramConfig(
        source=source, domains={api: [] for api in limits.apis}, host_app=limits.host_app
    )
    for url in urls:
        scheme, sep, _ = url.strip().partition("://")
        api = by_scheme.get(scheme.lower(), "requestdomain") if sep else "requestdomain"
        any_port = sep and limits.port_rule(scheme.lower()) == "any"
        origin = _origin(url.strip(), keep_port=not any_port)
        if origin not in config.domains[api]:
            config.domains[api].append(origin)
    config.request_urls = [u.strip() for u in urls]
    return config


def _origin(url: str, keep_port: bool = True) -> str:
    """``scheme://netloc`` of a URL as written (the port kept when given and ``keep_port``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if not keep_port and port is not None:
        netloc = netloc[: netloc.rfind(":")]
    return f"{parts.scheme}://{netloc}"


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def loads(
    text: str, source: str, fmt: str | None = None, host_app: str | None = None
) -> MiniProgramConfig:
    """Parse JSON or TOML text; ``fmt`` is "json", "toml" or None (guess from the text)."""
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("{", "[") else "toml"
    try:
        data = load_json(text, source) if fmt == "json" else load_toml(text, source)
    except LoadError as exc:
        if exc.syntax is not None and fmt == "json":
            raise ConfigError(f"{source}: not valid JSON ({exc.syntax})") from None
        raise ConfigError(str(exc)) from None
    return parse_config(data, source, host_app=host_app)


def load_config(path: Path, host_app: str | None = None) -> MiniProgramConfig:
    """Read a domain file (``.json``, ``.toml``, or either, guessed from the content)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"domain file {str(path)!r}: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    fmt = {".json": "json", ".toml": "toml"}.get(suffix)
    return loads(_decode(raw, str(path)), str(path), fmt, host_app)
