"""The ``[serve]`` table of the monitor configuration, and the monitor loader for the rest.

The monitor loader (:func:`certcheck.monitor.config.parse_config`) rejects unknown
tables, so the ``[serve]`` table is checked here and blanked out (line for line, so
the monitor loader's line numbers stay right) before the rest goes to that loader.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certcheck.monitor.config import ConfigError, MonitorConfig, parse_config

_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")


class ServeSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    allow: list[str] = []
    cache_seconds: float = Field(60.0, ge=0, le=86400)
    max_concurrent_scans: int = Field(4, ge=1, le=256)
    scan_timeout: float | None = Field(None, gt=0, le=600)


@dataclass
class ServeConfig:
    monitor: MonitorConfig
    serve: ServeSection

    def allowed(self, host: str, port: int) -> bool:
        """Configured ``[[targets]]`` (host:port) or a host matching a ``[serve] allow`` pattern."""
        label = f"{host}:{port}"
        if any(t.target.host == host and t.target.port == port for t in self.monitor.targets):
            return True
        return any(
            fnmatch.fnmatchcase(host.lower(), p.lower()) or fnmatch.fnmatchcase(label, p)
            for p in self.serve.allow
        )


def _split(text: str, source: str) -> tuple[str, dict[str, object]]:
    """``text`` with the ``[serve]`` table blanked out, and that table's data."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    serve = raw.get("serve", {})
    if not isinstance(serve, dict):
        raise ConfigError(f"{source}: [serve] must be a table")
    lines = text.splitlines()
    inside = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("["):  # any table or array-of-tables header
            match = _TABLE.match(line)
            inside = match is not None and match.group(1) == "serve"
        if inside:
            lines[index] = ""
    rest = "\n".join(lines) + "\n"
    if "serve" in tomllib.loads(rest):
        raise ConfigError(f"{source}: write the serve settings as a [serve] table")
    return rest, serve


def load_serve_config(path: Path) -> ServeConfig:
    """Read the monitor configuration at ``path`` with its ``[serve]`` table."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
    rest, serve = _split(text, str(path))
    try:
        section = ServeSection.model_validate(serve)
    except ValidationError as exc:
        problems = "; ".join(
            f"serve.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    for index, pattern in enumerate(section.allow):
        if not pattern.strip():
            raise ConfigError(f"{path}: serve.allow.{index}: empty host pattern")
    monitor = parse_config(rest, str(path), path.resolve().parent)
    return ServeConfig(monitor=monitor, serve=section)
