"""The monitoring configuration file (``certcheck.toml``): read, check, resolve.

The file is TOML, checked against the models below (pydantic, strict types, no
unknown keys).  Every problem becomes a :class:`ConfigError` whose message
names the file, the line and the key.  ``${NAME}`` in any string is replaced by
the environment variable ``NAME`` (``$${`` writes a literal ``${``); values
that came from the environment, and the fields typed :class:`SecretStr`
(webhook URLs, signing secrets, passwords, the database URL), are registered
with a :class:`~certcheck.monitor.redact.Redactor` and never shown.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy
from certcheck.model import Target
from certcheck.monitor.redact import Redactor
from certcheck.monitor.tomllines import key_lines, line_of
from certcheck.policyfile import PolicyFileError, load_policy_file
from certcheck.safeload import LoadError, clip, load_toml
from certcheck.targets import TargetError, is_ip, parse_target

Level = Literal["info", "warning", "error"]
from certcheck.monitor import DEFAULT_FILE  # noqa: E402,F401 - re-exported

DEFAULT_HISTORY = "certcheck-history.db"
_ENV = re.compile(r"\$(\$?)\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file, line and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)


class MonitorSection(_Section):
    profile: str = "wechat"
    profile_file: str | None = None
    fail_on: Level = "error"
    timeout: float = Field(10.0, gt=0, le=600)
    concurrency: int = Field(8, ge=1, le=256)
    ca_file: str | None = None
    distrust: list[str] = []
    report_url: str | None = None
    #: the language of the alert messages (templates/i18n/<lang>.toml)
    lang: Literal["en", "zh"] = "en"


class ThresholdsSection(_Section):
    warn_days: int | None = Field(None, ge=0)
    crit_days: int | None = Field(None, ge=0)
    expiry_alert_days: list[Annotated[int, Field(ge=0)]] = [30, 7, 1]


class AlertsSection(_Section):
    min_severity: Level = "warning"
    remind_every_hours: float = Field(24.0, ge=0)
    remind_severity: Level = "error"
    remind_within_days: float = Field(7.0, ge=0)
    retries: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(2.0, ge=0, le=300)
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    #: an alert that failed this many attempts (over all runs) is recorded as failed
    max_attempts: int = Field(12, ge=1, le=1000)
    #: ... and so is one still undelivered this long after it was raised
    max_age_hours: float = Field(72.0, gt=0, le=24 * 365)
    #: more pending alerts than this for one channel go out as one digest (0: never)
    digest_after: int = Field(5, ge=0, le=10000)
    #: how long one run may wait for the channels' rate limits before leaving the rest queued
    delivery_budget_seconds: float = Field(120.0, ge=0, le=3600)


class HistorySection(_Section):
    path: str | None = None
    url: SecretStr | None = None
    #: runs older than this many days are pruned after each run (None: keep everything)
    keep_days: int | None = Field(None, ge=1, le=36500)


class TargetEntry(_Section):
    host: str
    port: int | None = Field(None, ge=1, le=65535)
    resolve: str | None = None
    tags: list[str] = []
    owner: str | None = None


class _Channel(_Section):
    name: str | None = None
    min_severity: Level = "info"
    tags: list[str] = []
    #: this channel's alert language; unset: the [monitor] lang
    lang: Literal["en", "zh"] | None = None


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = {}


class SlackChannel(_Channel):
    type: Literal["slack"]
    url: SecretStr


class WeComChannel(_Channel):
    type: Literal["wecom"]
    url: SecretStr


class DingTalkChannel(_Channel):
    type: Literal["dingtalk"]
    url: SecretStr
    secret: SecretStr | None = None


class FeishuChannel(_Channel):
    type: Literal["feishu", "lark"]
    url: SecretStr
    secret: SecretStr | None = None


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)


Channel = Annotated[
    WebhookChannel | SlackChannel | WeComChannel | DingTalkChannel | FeishuChannel | EmailChannel,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("webhook", "slack", "wecom", "dingtalk", "feishu", "lark", "email")


class ConfigFile(_Section):
    monitor: MonitorSection = MonitorSection()
    thresholds: ThresholdsSection = ThresholdsSection()
    alerts: AlertsSection = AlertsSection()
    history: HistorySection = HistorySection()
    targets: list[TargetEntry] = Field(min_length=1)
    notify: list[Channel] = []


@dataclass(frozen=True)
class MonitoredTarget:
    """One configured target: what to scan, and who cares about it."""

    target: Target
    tags: tuple[str, ...] = ()
    owner: str | None = None

    @property
    def key(self) -> str:
        """The target's identity in history: ``host:port``."""
        return self.target.label


@dataclass
class MonitorConfig:
    """A checked configuration, with paths resolved against the file's folder."""

    path: Path
    file: ConfigFile
    targets: list[MonitoredTarget]
    channels: dict[str, Channel]
    history_url: str
    ca_file: Path | None
    redactor: Redactor = field(default_factory=Redactor)
    #: a ``--profile-file`` policy file: severity overrides and [[ignore]] suppressions
    profile_file: Path | None = None

    @property
    def monitor(self) -> MonitorSection:
        return self.file.monitor

    @property
    def thresholds(self) -> ThresholdsSection:
        return self.file.thresholds

    @property
    def alerts(self) -> AlertsSection:
        return self.file.alerts

    def policy(self) -> Policy:
        """The evaluation policy: profile, thresholds, extra trust anchors, distrust list."""
        from certcheck.settings import CONFIG_FILE, PolicyInputError, PolicyInputs, build_policy

        inputs = PolicyInputs(
            profile=self.monitor.profile,
            warn_days=self.thresholds.warn_days,
            crit_days=self.thresholds.crit_days,
            ca_file=self.ca_file,
            distrust=tuple(self.monitor.distrust),
            profile_file=self.profile_file,
        )
        try:
            return build_policy(inputs, CONFIG_FILE)
        except PolicyInputError as exc:
            raise ConfigError(str(exc)) from None

    def history_label(self) -> str:
        """The database location with any password hidden."""
        from sqlalchemy.engine import make_url

        return self.redactor.scrub(make_url(self.history_url).render_as_string(hide_password=True))


# -- reading ----------------------------------------------------------------------------------


def _format_path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


class _Located:
    """Turns a key path into ``file:line: key: message``."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = key_lines(text)

    def error(self, path: tuple[str | int, ...], message: str) -> ConfigError:
        line = line_of(self.lines, path)
        where = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{where}: {clip(_format_path(path))}: {message}")


def _substitute(
    value: Any, path: tuple[str | int, ...], where: _Located, redactor: Redactor, strict: bool
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, k), where, redactor, strict) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), where, redactor, strict) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # $${NAME} is a literal ${NAME}
            return "${" + match.group(2) + "}"
        name = match.group(2)
        if not _ENV_NAME.match(name):
            raise where.error(path, f"${{{name}}} is not a valid environment variable name")
        if name not in os.environ:
            if not strict:
                return ""
            raise where.error(path, f"environment variable {name} is not set")
        redactor.add(os.environ[name])
        return os.environ[name]

    return _ENV.sub(replace, value)


def _model_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(path: tuple[str | int, ...], data: dict[str, Any]) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (for 'did you mean')."""
    sections: dict[str, type[BaseModel]] = {
        "monitor": MonitorSection,
        "thresholds": ThresholdsSection,
        "alerts": AlertsSection,
        "history": HistorySection,
        "targets": TargetEntry,
    }
    if not path:
        return ConfigFile
    head = path[0]
    if head == "notify" and len(path) >= 2 and isinstance(path[1], int):
        entries = data.get("notify", [])
        entry = entries[path[1]] if path[1] < len(entries) else {}
        kind = entry.get("type") if isinstance(entry, dict) else None
        for model in (
            WebhookChannel,
            SlackChannel,
            WeComChannel,
            DingTalkChannel,
            FeishuChannel,
            EmailChannel,
        ):
            if kind in model.model_fields["type"].annotation.__args__:  # type: ignore[union-attr]
                return model
        return None
    return sections.get(str(head))


_TOML_TYPES = {
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def _value_at(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _toml_type(value: Any) -> str | None:
    """The TOML type of a value, for messages (never the value: it may be a secret)."""
    return None if value is None else _TOML_TYPES.get(type(value), type(value).__name__)


def _validation_error(exc: ValidationError, where: _Located, data: dict[str, Any]) -> ConfigError:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    # A discriminated union puts the tag into the location: notify[0].dingtalk.secret
    if len(loc) >= 3 and loc[0] == "notify" and loc[2] in CHANNEL_TYPES:
        loc = loc[:2] + loc[3:]
    kind = first["type"]
    if kind == "extra_forbidden":
        known = _model_fields(_model_at(loc[:-1], data) or ConfigFile)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
        message = f"unknown key{hint}"
    elif kind == "missing" and loc == ("targets",):
        message = 'no targets: add at least one [[targets]] block with host = "..."'
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "union_tag_not_found":
        loc = (*loc, "type")
        message = f"required key is missing (one of {', '.join(CHANNEL_TYPES)})"
    elif kind == "union_tag_invalid":
        loc = (*loc, "type")
        message = f"unknown channel type (use one of {', '.join(CHANNEL_TYPES)})"
    else:
        message = first["msg"]
        got = _toml_type(_value_at(data, loc))
        if got and kind.endswith("_type"):
            message += f" (got {got})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return where.error(loc, message + more)


def _resolve_path(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _history_url(cfg: ConfigFile, base: Path, where: _Located) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if cfg.history.path is not None and cfg.history.url is not None:
        raise where.error(("history",), "give either path (SQLite file) or url, not both")
    if cfg.history.url is None:
        file = _resolve_path(base, cfg.history.path or DEFAULT_HISTORY)
        return f"sqlite:///{file}"
    raw = cfg.history.url.get_secret_value()
    try:
        url = make_url(raw)
    except ArgumentError:
        raise where.error(
            ("history", "url"), "not a database URL (sqlite:///FILE or postgresql://USER@HOST/DB)"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise where.error(
            ("history", "url"), f"database {backend!r} is not supported (use sqlite or postgresql)"
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise where.error(("history", "url"), "SQLite history needs a file, not memory")
    return url.render_as_string(hide_password=False)


def _has_port(text: str) -> bool:
    hostport = text.strip().split("://", 1)[-1].split("/", 1)[0]
    if hostport.startswith("["):
        return "]:" in hostport
    return hostport.count(":") == 1


def _targets(cfg: ConfigFile, where: _Located) -> list[MonitoredTarget]:
    found: list[MonitoredTarget] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(cfg.targets):
        try:
            target = parse_target(entry.host)
        except TargetError as exc:
            raise where.error(("targets", index, "host"), str(exc)) from None
        port = target.port
        if entry.port is not None:
            if _has_port(entry.host) and entry.port != target.port:
                raise where.error(("targets", index, "port"), "differs from the port in host")
            port = entry.port
        connect_addr = None
        if entry.resolve is not None:
            address = entry.resolve.strip("[]")
            if not is_ip(address):
                raise where.error(("targets", index, "resolve"), "must be an IP address")
            connect_addr = address
        monitored = MonitoredTarget(
            Target(
                host=target.host,
                port=port,
                scheme=target.scheme,
                connect_addr=connect_addr,
                path=target.path,
                original=entry.host,
            ),
            tuple(entry.tags),
            entry.owner,
        )
        if monitored.key in seen:
            raise where.error(
                ("targets", index, "host"),
                f"{monitored.key} is already listed (targets[{seen[monitored.key]}])",
            )
        seen[monitored.key] = index
        found.append(monitored)
    return found


def _channels(cfg: ConfigFile, where: _Located, strict: bool) -> dict[str, Channel]:
    counts: dict[str, int] = {}
    for channel in cfg.notify:
        counts[channel.type] = counts.get(channel.type, 0) + 1
    channels: dict[str, Channel] = {}
    numbers: dict[str, int] = {}
    for index, channel in enumerate(cfg.notify):
        numbers[channel.type] = numbers.get(channel.type, 0) + 1
        name = channel.name
        if name is None:
            name = (
                channel.type
                if counts[channel.type] == 1
                else (f"{channel.type}-{numbers[channel.type]}")
            )
        if name in channels:
            raise where.error(("notify", index, "name"), f"channel name {name!r} is used twice")
        url = getattr(channel, "url", None)
        web = url.get_secret_value() if url is not None else None
        if strict and web is not None and not re.match(r"^https?://[^/\s]+", web):
            raise where.error(("notify", index, "url"), "must be an http:// or https:// URL")
        if channel.lang is None:
            channel = channel.model_copy(update={"lang": cfg.monitor.lang})
        channels[name] = channel
    return channels


def _collect_secrets(cfg: ConfigFile, redactor: Redactor) -> None:
    if cfg.history.url is not None:
        redactor.add(cfg.history.url.get_secret_value())
        try:
            from sqlalchemy.engine import make_url

            redactor.add(make_url(cfg.history.url.get_secret_value()).password)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a bad URL is reported elsewhere
            pass
    for channel in cfg.notify:
        for value in channel.__dict__.values():
            if isinstance(value, SecretStr):
                redactor.add(value.get_secret_value())
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, SecretStr):
                        redactor.add(item.get_secret_value())


def parse_config(text: str, source: str, base: Path, strict_env: bool = True) -> MonitorConfig:
    """Check the configuration ``text``; relative paths are taken from ``base``.

    ``strict_env=False`` (for commands that only read history) lets ``${NAME}``
    of an unset variable become empty instead of an error.
    """
    where = _Located(source, text)
    try:
        raw = load_toml(text, source)
    except LoadError as exc:
        if exc.syntax is not None:
            raise ConfigError(f"{source}: not valid TOML: {exc.syntax}") from None
        raise ConfigError(str(exc)) from None
    redactor = Redactor()
    data = _substitute(raw, (), where, redactor, strict_env)
    try:
        cfg = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, where, data) from None
    _collect_secrets(cfg, redactor)
    if cfg.monitor.profile not in load_profiles():
        raise where.error(
            ("monitor", "profile"), f"choose one of {', '.join(sorted(load_profiles()))}"
        )
    for index, fp in enumerate(cfg.monitor.distrust):
        clean = fp.lower().replace(":", "")
        if len(clean) != 64 or any(c not in "0123456789abcdef" for c in clean):
            raise where.error(
                ("monitor", "distrust", index), "expected a SHA-256 fingerprint (64 hex digits)"
            )
    if cfg.monitor.report_url is not None and not re.match(r"^https?://", cfg.monitor.report_url):
        raise where.error(("monitor", "report_url"), "must be an http:// or https:// URL")
    ca_file = _resolve_path(base, cfg.monitor.ca_file) if cfg.monitor.ca_file else None
    if ca_file is not None and not ca_file.is_file():
        raise where.error(("monitor", "ca_file"), f"{str(ca_file)!r} is not a readable file")
    profile_file = None
    if cfg.monitor.profile_file:
        profile_file = _resolve_path(base, cfg.monitor.profile_file)
        try:
            load_policy_file(profile_file)
        except PolicyFileError as exc:
            raise where.error(("monitor", "profile_file"), str(exc)) from None
    return MonitorConfig(
        path=Path(source),
        file=cfg,
        targets=_targets(cfg, where),
        channels=_channels(cfg, where, strict_env),
        history_url=_history_url(cfg, base, where),
        ca_file=ca_file,
        redactor=redactor,
        profile_file=profile_file,
    )


def load_config(path: Path, strict_env: bool = True) -> MonitorConfig:
    """Read and check the configuration file at ``path`` (see :func:`parse_config`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        hint = " (certcheck init writes an example)" if not path.exists() else ""
        raise ConfigError(f"{str(path)!r}: {exc.strerror or exc}{hint}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{str(path)!r}: not UTF-8 text ({exc.reason})") from None
    return parse_config(text, str(path), path.resolve().parent, strict_env)
