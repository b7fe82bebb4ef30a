"""``certcheck serve``: the Prometheus exporter (see certcheck.exporter)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from certcheck.cli.common import err, fail_usage


def serve(
    config: Annotated[
        Path, typer.Option("--config", help="Monitor configuration with an optional [serve] table.")
    ] = Path("certcheck.toml"),
    listen: Annotated[
        str, typer.Option("--listen", help="HOST:PORT to listen on (loopback by default).")
    ] = "127.0.0.1:9219",
) -> None:
    """Serve /probe?target=HOST[:PORT] (blackbox-style) and /metrics for Prometheus."""
    from certcheck.exporter.config import load_serve_config
    from certcheck.exporter.server import is_loopback, make_server
    from certcheck.monitor.config import ConfigError

    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        fail_usage(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:9219")
    try:
        settings = load_serve_config(config)
    except ConfigError as exc:
        fail_usage(str(exc))
    if not is_loopback(host):
        err.print(
            f"warning: listening on {host}, not loopback: anyone who can reach it can make "
            "certcheck scan the configured targets",
            markup=False,
        )
    try:
        server = make_server(settings, host, int(port_text))
    except OSError as exc:
        fail_usage(f"--listen {listen}: {exc.strerror or exc}")
    bound_host, bound_port = server.server_address[:2]
    bound_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    err.print(
        f"certcheck serve: listening on http://{bound_host}:{bound_port}/ (/probe, /metrics)",
        markup=False,
    )

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    raise typer.Exit(0)
