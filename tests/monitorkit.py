"""Shared helpers for the tests/monitor/test_monitor_*.py files (this module holds no tests).

Test modules import the fixtures they use by their ``*_fixture`` names.

* :class:`MiniCA` issues server certificates with chosen hosts and expiry dates
  from one private root, so a test can swap a server's certificate between runs.
* :class:`Receiver` is a real HTTP server on 127.0.0.1 that records every request
  and answers from a script (status codes, or hanging to provoke a timeout).
* ``pg_url``: a fresh, empty PostgreSQL database per test, on the server named by
  ``CERTCHECK_TEST_PG_URL`` (``.ci/run`` starts one on 127.0.0.1).  Without that
  variable the PostgreSQL variants are skipped, saying why; under CI they fail.
* ``history_url``: the same test against a SQLite file and against PostgreSQL.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certcheck.localserver import LoopbackServer, ServerSpec, make_context

PG_ENV = "CERTCHECK_TEST_PG_URL"


# -- certificates ---------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certcheck monitor tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


_LEAF_KEY: list[rsa.RSAPrivateKey] = []


def _leaf_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key for every test leaf (RSA: every simulated client can use it)."""
    if not _LEAF_KEY:
        _LEAF_KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _LEAF_KEY[0]


class MiniCA:
    """A private root CA (EC P-256) that issues RSA-2048 server certificates."""

    def __init__(self, name: str = "Monitor Test Root") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, host: str, days: float = 40, cert_host: str | None = None
    ) -> tuple[bytes, bytes]:
        """(chain PEM, key PEM) for ``host``, valid from yesterday for ``days`` from now."""
        key = _leaf_key()
        now = datetime.now(UTC).replace(microsecond=0)
        ski = self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cert_host or host))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(cert_host or host)]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def serve(
    ca: MiniCA,
    host: str,
    *,
    days: float = 40,
    min_version: str = "TLSv1.0",
    cert_host: str | None = None,
    port: int | None = None,
) -> LoopbackServer:
    """A loopback TLS server for ``host`` (TLS 1.0-1.3 by default: what WeChat asks).

    ``port`` reuses a known port (e.g. one that refused connections until now).
    """
    chain, key = ca.issue(host, days, cert_host)
    spec = ServerSpec(name=host, chain_pem=chain, key_pem=key, min_version=min_version)
    server = LoopbackServer(spec)
    if port is not None:
        server.sock.close()
        server.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.sock.bind(("127.0.0.1", port))
        server.sock.listen(64)
        server.port = port
    return server.start()


def swap(
    server: LoopbackServer,
    ca: MiniCA | None,
    *,
    days: float = 40,
    min_version: str | None = None,
    cert_host: str | None = None,
) -> None:
    """Change what a running server offers its next clients: a new certificate from
    ``ca`` (None keeps the current one) and/or a new lowest protocol version."""
    chain, key = server.spec.chain_pem, server.spec.key_pem
    if ca is not None:
        chain, key = ca.issue(server.spec.name, days, cert_host)
    server.spec = ServerSpec(
        name=server.spec.name,
        chain_pem=chain,
        key_pem=key,
        min_version=min_version or server.spec.min_version,
    )
    server.ctx = make_context(server.spec)


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (a probe must time out)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self.sock.close()


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_text(
    targets: list[tuple[str, int]],
    history: str,
    *,
    ca_file: Path,
    notify: str = "",
    extra: str = "",
    min_severity: str = "error",
) -> str:
    """A monitor configuration for loopback targets (each host resolved to 127.0.0.1)."""
    lines = [
        "[monitor]",
        f'ca_file = "{ca_file}"',
        "timeout = 3.0",
        "concurrency = 4",
        "[alerts]",
        # Only errors (and changes such as expiry, replacement, reachability) alert here,
        # so warning-level rules added elsewhere cannot change what these tests expect.
        f'min_severity = "{min_severity}"',
        "retries = 2",
        "backoff_seconds = 0.05",
        "timeout_seconds = 1.0",
        extra,
        "[history]",
        history,
    ]
    for host, port in targets:
        lines += [
            "[[targets]]",
            f'host = "{host}"',
            f"port = {port}",
            'resolve = "127.0.0.1"',
            'tags = ["prod"]',
            f'owner = "owner of {host}"',
        ]
    return "\n".join(lines) + "\n" + notify


def history_setting(url: str) -> str:
    return f'url = "{url}"'


# -- HTTP receivers ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    """A recording HTTP server on 127.0.0.1.

    ``script`` lists what to do with each request in turn -- an HTTP status
    (answered with ``answer``) or ``"hang"`` (never answer) -- and ``default`` is
    used once the script is spent.
    """

    script: list[int | str] = field(default_factory=list)
    default: int | str = 200
    answer: bytes = b'{"errcode": 0, "errmsg": "ok", "code": 0}'
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                with receiver._lock:
                    receiver.requests.append(
                        Received(parts.path, parse_qs(parts.query), dict(self.headers), body)
                    )
                    action = receiver.script.pop(0) if receiver.script else receiver.default
                if action == "hang":
                    receiver._release.wait(30)
                    return
                self.send_response(int(action))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="receiver")
def receiver_fixture():
    """A factory of recording HTTP servers, all stopped after the test."""
    made: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture(name="inproc")
def inproc_fixture(capsys, monkeypatch):
    """Run ``certcheck ARGS`` in this process (no interpreter start-up): (code, out, err)."""
    from certcheck.cli import main

    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr("sys.argv", ["certcheck", *map(str, args)])
        with pytest.raises(SystemExit) as done:
            main()
        captured = capsys.readouterr()
        return done.value.code, captured.out, captured.err

    return run


# -- databases ------------------------------------------------------------------------------


@pytest.fixture(name="pg_url")
def pg_url_fixture():
    """A new empty PostgreSQL database for this test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: .ci/run must start PostgreSQL for these tests")
        pytest.skip(
            f"PostgreSQL variant skipped: no server configured ({PG_ENV} is not set; "
            ".ci/run sets it, or point it at a local server to run these)"
        )
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"certcheck_t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL variant skipped: no server reachable at {PG_ENV} ({exc.orig})")
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(name="history_url", params=["sqlite", "postgresql"])
def history_url_fixture(request, tmp_path):
    """The history URL of a fresh store: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    return request.getfixturevalue("pg_url")
