"""The real handshake's OCSP staple, against `openssl s_server -status_file` on 127.0.0.1.

The handshake shares one client SSL context across every connection of the process
(certcheck/probe/handshake.py), so each connection's staple must reach that connection's
result and no other's, also when many handshakes run at once.  (Python's ssl cannot
staple, and a pyOpenSSL server's OCSP callback sent nothing here; s_server does.)
"""

from __future__ import annotations

import base64
import datetime
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certcheck.probe.handshake import handshake
from certcheck.samples import generate

SAMPLES = generate()
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command is not installed (.ci/run installs it)"
)


@dataclass
class StaplingServer:
    port: int
    staple: bytes | None
    process: subprocess.Popen[bytes]


def _ocsp_response(days: int) -> bytes:
    """A GOOD response for the sample leaf (signed by the leaf's key: the probe only
    carries staples, evaluation judges them); ``days`` makes each one different."""
    sample = SAMPLES.get("good_rsa")
    leaf, issuer = x509.load_pem_x509_certificates(sample.chain_pem)[:2]
    key = serialization.load_pem_private_key(sample.key_pem, None)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=issuer,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now,
            next_update=now + datetime.timedelta(days=days),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, leaf)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(tmp: Path, staple: bytes | None, index: int) -> StaplingServer:
    sample = SAMPLES.get("good_rsa")
    chain, key = tmp / "chain.pem", tmp / "key.pem"
    chain.write_bytes(sample.chain_pem)
    key.write_bytes(sample.key_pem)
    port = _free_port()
    cmd = [str(OPENSSL), "s_server", "-accept", f"127.0.0.1:{port}", "-quiet"]
    cmd += ["-cert", str(chain), "-cert_chain", str(chain), "-key", str(key)]
    if staple is not None:
        status = tmp / f"status{index}.der"
        status.write_bytes(staple)
        cmd += ["-status_file", str(status)]
    process = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("openssl s_server did not start")
    return StaplingServer(port, staple, process)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[StaplingServer]]:
    tmp = tmp_path_factory.mktemp("staple")
    made = [_start(tmp, _ocsp_response(days), days) for days in (1, 2, 3)]
    made.append(_start(tmp, None, 0))  # staples nothing
    yield made
    for server in made:
        server.process.kill()
        server.process.wait(5)


def _expected(server: StaplingServer) -> str | None:
    return None if server.staple is None else base64.b64encode(server.staple).decode("ascii")


def test_a_stapled_response_is_returned_as_sent(servers: list[StaplingServer]) -> None:
    result = handshake(("127.0.0.1", servers[0].port), "good.example.test", 5.0)
    assert result.chain and result.ocsp_staple == _expected(servers[0])


def test_a_server_that_staples_nothing_gives_no_staple(servers: list[StaplingServer]) -> None:
    result = handshake(("127.0.0.1", servers[-1].port), "good.example.test", 5.0)
    assert result.chain and result.ocsp_staple is None


def test_concurrent_handshakes_each_get_their_own_servers_staple(
    servers: list[StaplingServer],
) -> None:
    order = [servers[i % len(servers)] for i in range(40)]

    def one(server: StaplingServer) -> str | None:
        return handshake(("127.0.0.1", server.port), "good.example.test", 10.0).ocsp_staple

    with ThreadPoolExecutor(max_workers=8) as pool:
        staples = list(pool.map(one, order))
    assert staples == [_expected(server) for server in order]
    assert len({s for s in staples if s}) == 3  # three different staples really came back
