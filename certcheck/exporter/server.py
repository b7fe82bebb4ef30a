"""The HTTP server: ``/probe?target=HOST[:PORT]`` scans now (cached), ``/metrics`` is our own.

Standard library ``ThreadingHTTPServer``: one thread per request, so a slow target
never holds up other scrapes, and no web framework dependency for three routes.
Scans run in worker threads bounded by ``max_concurrent_scans``; identical
concurrent requests share one scan (single flight); answers are cached per
target and profile for ``cache_seconds``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from certcheck.catalog import load_profiles
from certcheck.evaluate import Policy, evaluate
from certcheck.exporter.config import ServeConfig
from certcheck.exporter.metrics import ExporterMetrics, probe_text
from certcheck.model import ScanError, ServerFacts, Target, TargetResult
from certcheck.pipeline import scan_targets
from certcheck.probe import now_iso
from certcheck.probe.context import ScanContext
from certcheck.targets import TargetError, parse_target

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PLAIN = "text/plain; charset=utf-8"


class Forbidden(Exception):
    pass


class BadRequest(Exception):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Exporter:
    """Targets, policies, the cache and the scan pool behind the HTTP handler."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.metrics = ExporterMetrics()
        self.pool = ThreadPoolExecutor(
            max_workers=config.serve.max_concurrent_scans, thread_name_prefix="certcheck-serve"
        )
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, str], tuple[float, bytes]] = {}
        self.inflight: dict[tuple[str, str], Future[bytes]] = {}
        self.policies: dict[str, Policy] = {}
        monitor = config.monitor.monitor
        self.timeout = monitor.timeout
        self.scan_timeout = config.serve.scan_timeout or monitor.timeout * 6 + 5

    def policy(self, profile: str) -> Policy:
        with self.lock:
            if profile not in self.policies:
                cfg = self.config.monitor
                file = cfg.file.model_copy(
                    update={"monitor": cfg.monitor.model_copy(update={"profile": profile})}
                )
                self.policies[profile] = dataclasses.replace(cfg, file=file).policy()
            return self.policies[profile]

    def target(self, raw: str) -> Target:
        try:
            parsed = parse_target(raw)
        except TargetError as exc:
            raise BadRequest(f"bad target: {exc}") from None
        if parsed.connect_addr is not None or parsed.path:
            raise BadRequest("bad target: give HOST[:PORT] only")
        for monitored in self.config.monitor.targets:
            known = monitored.target
            if known.host.lower() == parsed.host.lower() and known.port == parsed.port:
                return known
        if self.config.allowed(parsed.host, parsed.port):
            return parsed
        self.metrics.forbidden.inc()
        raise Forbidden(f"target {parsed.label} is not configured or allowed\n")

    def probe(self, raw: str, profile: str | None) -> bytes:
        target = self.target(raw)
        name = profile or self.config.monitor.monitor.profile
        if name not in load_profiles():
            raise BadRequest(
                f"unknown profile {name!r}; choose one of {', '.join(sorted(load_profiles()))}"
            )
        key = (target.label, name)
        now = time.monotonic()
        with self.lock:
            cached = self.cache.get(key)
            if cached is not None and cached[0] > now:
                self.metrics.cache_hits.inc()
                return cached[1]
            future = self.inflight.get(key)
            if future is not None:
                self.metrics.cache_hits.inc()
            else:
                future = self.pool.submit(self._scan, target, name)
                self.inflight[key] = future
                future.add_done_callback(lambda f, key=key: self._finished(key, f))
        try:
            return future.result(timeout=self.scan_timeout)
        except FutureTimeout:
            self.metrics.scan_errors.inc()
            facts = ServerFacts(
                target=target,
                scanned_at=now_iso(),
                error=ScanError("timeout", "scan timed out in the exporter"),
            )
            return probe_text(
                TargetResult(facts=facts, overall="error"), self.scan_timeout, datetime.now(UTC)
            )

    def close(self) -> None:
        """Start nothing new; running scans end by their own timeouts."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _finished(self, key: tuple[str, str], future: Future[bytes]) -> None:
        with self.lock:
            self.inflight.pop(key, None)
            if future.exception() is None and self.config.serve.cache_seconds > 0:
                expires = time.monotonic() + self.config.serve.cache_seconds
                self.cache[key] = (expires, future.result())

    def _scan(self, target: Target, profile: str) -> bytes:
        started = time.monotonic()
        self.metrics.scans.inc()
        policy = self.policy(profile)
        facts = scan_targets([target], self.timeout, 1, context=ScanContext())[0]
        now = datetime.now(UTC)
        result = evaluate(facts, policy, now)
        duration = time.monotonic() - started
        self.metrics.duration.observe(duration)
        if not result.facts.ok:
            self.metrics.scan_errors.inc()
        return probe_text(result, duration, now)


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True
    exporter: Exporter

    def server_close(self) -> None:
        super().server_close()
        self.exporter.close()


class Handler(BaseHTTPRequestHandler):
    server_version = "certcheck-exporter"
    exporter: Exporter

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # quiet: scrapes every 15 s would flood the log

    def _send(self, status: int, body: bytes, content_type: str = PLAIN) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/metrics":
            self._send(200, self.exporter.metrics.text(), CONTENT_TYPE)
        elif url.path == "/probe":
            targets = [t for t in query.get("target", []) if t.strip()]
            if not targets:
                self._send(400, b"missing target parameter: /probe?target=HOST[:PORT]\n")
                return
            profile = (query.get("profile") or [None])[0]
            try:
                body = self.exporter.probe(targets[0], profile)
            except Forbidden as exc:
                self._send(403, str(exc).encode())
            except BadRequest as exc:
                self._send(400, f"{exc}\n".encode())
            else:
                self._send(200, body, CONTENT_TYPE)
        elif url.path == "/":
            self._send(200, b"certcheck exporter: /probe?target=HOST[:PORT] and /metrics\n")
        else:
            self._send(404, b"not found\n")


def make_server(config: ServeConfig, host: str, port: int) -> ExporterServer:
    exporter = Exporter(config)
    handler = type("BoundHandler", (Handler,), {"exporter": exporter})
    kind = ExporterServer
    if ":" in host:  # an IPv6 literal such as ::1
        kind = type("ExporterServer6", (ExporterServer,), {"address_family": socket.AF_INET6})
    server = kind((host, port), handler)
    server.exporter = exporter
    return server
