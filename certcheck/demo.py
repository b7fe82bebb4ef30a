"""``certcheck demo``: a real scan of loopback servers, with no network needed.

A fresh set of sample certificates is generated (so their dates are always
relative to today), one TLS server per sample is started on 127.0.0.1, and the
servers are scanned exactly as ``certcheck scan`` would scan them, with
``--resolve`` pointing each sample host at its loopback port and the sample CA
given as ``--ca-file``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from certcheck.localserver import ServerSpec, serving
from certcheck.model import Target
from certcheck.samples import SampleSet, generate

#: The samples the demo serves: one good server and a spread of broken ones.
DEMO_SAMPLES = (
    "good_rsa",
    "good_ecdsa",
    "expired",
    "wrong_host",
    "self_signed",
    "missing_intermediate",
    "sha1",
    "tls13_only",
    "legacy_tls",
)


#: The good RSA server also speaks TLS 1.0 so that Android 4.x gets in, as WeChat asks.
DEMO_MIN_VERSION = {"good_rsa": "TLSv1.0"}


@dataclass
class DemoSetup:
    targets: list[Target]
    ca_pem: bytes
    samples: SampleSet


@contextlib.contextmanager
def demo_servers(names: tuple[str, ...] = DEMO_SAMPLES) -> Iterator[DemoSetup]:
    sample_set = generate()
    specs = []
    for name in names:
        sample = sample_set.get(name)
        specs.append(
            ServerSpec(
                name=name,
                chain_pem=sample.chain_pem,
                key_pem=sample.key_pem,
                min_version=sample.server.get("min_version", DEMO_MIN_VERSION.get(name, "TLSv1.2")),
                max_version=sample.server.get("max_version", "TLSv1.3"),
            )
        )
    with serving(specs) as servers:
        targets = [
            Target(
                host=sample_set.get(spec.name).host,
                port=server.port,
                connect_addr="127.0.0.1",
                original=f"{sample_set.get(spec.name).host}:{server.port}",
            )
            for spec, server in zip(specs, servers, strict=True)
        ]
        yield DemoSetup(targets=targets, ca_pem=sample_set.root_pem, samples=sample_set)
