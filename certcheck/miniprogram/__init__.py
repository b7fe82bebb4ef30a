"""WeChat Mini Program server-domain check (``certcheck miniprogram``).

The flow mirrors the rest of certcheck: :mod:`.config` reads the domain
configuration, :mod:`.lint` judges it without any network, :mod:`.check` plans
one endpoint per distinct host:port and runs the regular TLS scan (wechat
profile) plus :mod:`.endpoints` (HTTPS GET and WebSocket upgrade, the only
socket code here), :mod:`.endpoint_rules` judges what came back, and
:mod:`.document` / :mod:`.console` report it.
"""

from certcheck.miniprogram.check import check_miniprogram, exit_code, plan_endpoints
from certcheck.miniprogram.config import (
    ConfigError,
    MiniProgramConfig,
    config_from_urls,
    load_config,
    loads,
    parse_config,
)
from certcheck.miniprogram.document import miniprogram_document
from certcheck.miniprogram.lint import LintReport, lint
from certcheck.miniprogram.results import MiniProgramReport

__all__ = [
    "ConfigError",
    "LintReport",
    "MiniProgramConfig",
    "MiniProgramReport",
    "check_miniprogram",
    "config_from_urls",
    "exit_code",
    "lint",
    "load_config",
    "loads",
    "miniprogram_document",
    "parse_config",
    "plan_endpoints",
]
