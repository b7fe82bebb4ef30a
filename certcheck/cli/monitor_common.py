"""What the monitoring commands share: the --config option, the config and history loaders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certcheck.cli.common import fail_usage

if TYPE_CHECKING:  # the monitor modules (SQLAlchemy, pydantic) load only when a command runs
    from certcheck.monitor.config import MonitorConfig
    from certcheck.monitor.redact import Redactor
    from certcheck.monitor.store import Store

#: console colour of a change or alert, by severity ("ok": a change for the better)
CHANGE_STYLE = {"error": "red", "warning": "yellow", "info": "cyan", "ok": "green"}

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        envvar="CERTCHECK_CONFIG",
        help="Monitoring configuration file (certcheck init writes an example).",
    ),
]

def load_monitor_config(path: Path, strict_env: bool = True) -> MonitorConfig:
    from certcheck.monitor.config import ConfigError, load_config

    try:
        return load_config(path, strict_env)
    except ConfigError as exc:
        fail_usage(str(exc))


def open_store(url: str, redactor: Redactor) -> Store:
    from certcheck.monitor.store import Store, StoreError

    try:
        return Store.open(url, redactor)
    except StoreError as exc:
        fail_usage(str(exc))
