"""Documents for the mini-program and forecast HTML tests.

The mini-program document comes from a real ``certcheck miniprogram`` check of
loopback servers (127.0.0.1, reached through ``resolve``); the forecast document
from the sample certificates evaluated offline.  Both are cached per session:
tests get deep copies and may vary them.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from functools import cache
from html.parser import HTMLParser
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certcheck import samples
from certcheck.evaluate import Policy
from certcheck.evaluate.certinfo import iso
from certcheck.forecast import forecast, forecast_document
from certcheck.localserver import LoopbackServer, ServerSpec
from certcheck.miniprogram.check import check_miniprogram, exit_code
from certcheck.miniprogram.config import parse_config
from certcheck.miniprogram.document import miniprogram_document
from certcheck.miniprogram.localservers import RequestServer, http_answer, websocket_answer
from certcheck.model import ServerFacts, Target

WILD = "wild.example.test"
GOOD = "good.example.test"
#: a UTF-8 BOM in front of a GBK body: two endpoint findings
GBK_BODY = b"\xef\xbb\xbf" + '{"msg": "你好"}'.encode("gbk")


def _spec(sample_set: samples.SampleSet, name: str, response: bytes | None = None) -> ServerSpec:
    sample = sample_set.get(name)
    spec = ServerSpec(sample.name, sample.chain_pem, sample.key_pem, min_version="TLSv1.0")
    if response is not None:
        spec.response = response
    return spec


@cache
def _miniprogram() -> dict[str, Any]:
    sample_set = samples.generate()
    servers: dict[str, LoopbackServer] = {
        GOOD: RequestServer(_spec(sample_set, "good_rsa"), lambda _h: http_answer()),
        f"gbk.{WILD}": LoopbackServer(
            _spec(sample_set, "wildcard", http_answer(GBK_BODY, "application/json; charset=GBK"))
        ),
        f"ws.{WILD}": RequestServer(_spec(sample_set, "wildcard"), websocket_answer),
        f"ws200.{WILD}": LoopbackServer(_spec(sample_set, "wildcard")),
    }
    for server in servers.values():
        server.start()
    try:
        origin = {host: f"{host}:{server.port}" for host, server in servers.items()}
        data = {
            "requestdomain": [
                f"https://{origin[GOOD]}",
                f"https://{origin[f'gbk.{WILD}']}",
                "http://plain.example.test",
                "https://10.0.0.1",
            ],
            "wsrequestdomain": [
                f"wss://{origin[f'ws.{WILD}']}",
                f"wss://{origin[f'ws200.{WILD}']}",
            ],
            "downloaddomain": ["https://localhost"],
            "prefetchdomain": [GOOD, f"https://gbk.{WILD}"],
            "networkTimeout": {"request": 4000},
        }
        config = parse_config(data, "domains.json")
        config.request_urls = [
            f"https://{origin[GOOD]}/api/v1?x=1",
            "https://other.example.test/",
            f"wss://{origin[f'ws.{WILD}']}/socket",
        ]
        resolve = {(host, server.port): "127.0.0.1" for host, server in servers.items()}
        policy = Policy.build("wechat", ca_pem=sample_set.root_pem)
        now = dt.datetime.now(dt.UTC)
        report = check_miniprogram(config, policy, now, resolve=resolve, timeout=5.0, concurrency=4)
    finally:
        for server in servers.values():
            server.stop()
    return miniprogram_document(
        report, now=now, fail_on="error", exit_code=exit_code(report, "error")
    )


def miniprogram_doc() -> dict[str, Any]:
    """A fresh copy of the mini-program document of the loopback servers."""
    return copy.deepcopy(_miniprogram())


def _facts(sample_set: samples.SampleSet, name: str) -> ServerFacts:
    sample = sample_set.get(name)
    chain = [
        base64.b64encode(c.public_bytes(Encoding.DER)).decode()
        for c in x509.load_pem_x509_certificates(sample.chain_pem)
    ]
    return ServerFacts(Target(sample.host), iso(FORECAST_FROM), chain=chain, source="file")


#: the forecast starts here (fixed: the sample certificates are made around it)
FORECAST_FROM = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
FORECAST_SAMPLES = ("good_rsa", "expiring_soon", "good_ecdsa")


@cache
def forecast_inputs() -> tuple[samples.SampleSet, list[ServerFacts]]:
    """The sample set made around FORECAST_FROM and the facts of three of its certificates."""
    sample_set = samples.generate(FORECAST_FROM)
    return sample_set, [_facts(sample_set, n) for n in FORECAST_SAMPLES]


@cache
def _forecast() -> dict[str, Any]:
    sample_set, facts = forecast_inputs()
    policy = Policy.build(ca_pem=sample_set.root_pem)
    baseline, events = forecast(facts, policy, FORECAST_FROM, 90)
    return forecast_document(baseline, events, FORECAST_FROM, 90, policy.profile.name)


def forecast_doc() -> dict[str, Any]:
    """A fresh copy of a forecast document of three sample certificates (offline)."""
    return copy.deepcopy(_forecast())


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """Just enough of the DOM for assertions: elements with attributes, and the text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all_text(self) -> str:
        return " ".join(self.text)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def ids(self) -> set[str]:
        return {a["id"] for _t, a in self.tags if a.get("id")}

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _t, a in self.tags if name in (a.get("class") or "").split()]


def assert_self_contained(html: str) -> None:
    """No script, nothing loaded, every link points into the page, the CSP forbids the rest."""
    page = Page(html)
    assert not page.find("script") and not page.find("link") and not page.find("img")
    assert not page.find("iframe") and not page.find("object")
    assert not [a for _t, a in page.tags if "src" in a]
    assert not [a for _t, a in page.tags for key in a if key.lower().startswith("on")]
    hrefs = [a.get("href") or "" for _t, a in page.tags if "href" in a]
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert {h[1:] for h in hrefs if len(h) > 1} <= page.ids()  # no dangling anchor
    (meta,) = page.find("meta", **{"http-equiv": "Content-Security-Policy"})
    assert "default-src 'none'" in (meta["content"] or "")
    assert "script-src" not in (meta["content"] or "")
    assert "url(" not in html and "@import" not in html
