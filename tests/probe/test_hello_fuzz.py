"""Property-based tests: the wire parsers never raise and never hang on hostile bytes.

Each parser in the probe reads bytes a server chose.  Whatever they are
(random, truncated, with lengths far beyond the data) the parser must return
its error value.  Hypothesis' per-example deadline (generous: 2 s) is the
"never hangs" bound; no example database is written.
"""

from __future__ import annotations

import os
import struct
import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certcheck.probe.flight import (
    CERTIFICATE,
    SERVER_HELLO,
    SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
    Flight,
    certificate_leaf,
    parse_flight,
    parse_sct_list,
    ske_group,
)
from certcheck.probe.hello import HelloAnswer, parse_server_answer, parse_server_hello
from certcheck.probe.sslv2 import Sslv2Answer, parse_sslv2_answer

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --------------------------------------------------------------------------- builders


def record(ctype: int, payload: bytes, version: int = 0x0303, length: int | None = None) -> bytes:
    size = len(payload) if length is None else length
    return struct.pack("!BHH", ctype, version, size) + payload


def message(kind: int, body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return bytes([kind]) + size.to_bytes(3, "big") + body


def server_hello_body(version: int, cipher: int, session: bytes, exts: list[tuple[int, bytes]]):
    blob = b"".join(struct.pack("!HH", t, len(b)) + b for t, b in exts)
    body = struct.pack("!H", version) + os.urandom(32) + bytes([len(session)]) + session
    return body + struct.pack("!HB", cipher, 0) + struct.pack("!H", len(blob)) + blob


def certificate_body(certs: list[bytes]) -> bytes:
    entries = b"".join(len(c).to_bytes(3, "big") + c for c in certs)
    return len(entries).to_bytes(3, "big") + entries


extension = st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40))
server_hellos = st.builds(
    server_hello_body,
    st.sampled_from([0x0300, 0x0301, 0x0302, 0x0303]),
    st.integers(0, 0xFFFF),
    st.binary(max_size=32),
    st.lists(extension, max_size=5),
)
der_certs = st.binary(min_size=1, max_size=300).map(lambda b: b"\x30" + b)


@st.composite
def record_soup(draw: st.DrawFn) -> bytes:
    """Records with plausible headers, random payloads and sometimes lying lengths."""
    out = b""
    for _ in range(draw(st.integers(1, 6))):
        ctype = draw(st.sampled_from([20, 21, 22, 23, 24, 0x80]))
        payload = draw(st.binary(max_size=80))
        lie = draw(st.one_of(st.none(), st.integers(0, 0xFFFF)))
        out += record(ctype, payload, draw(st.sampled_from([0x0300, 0x0303, 0x0000])), lie)
    return out


def check_answer(answer: HelloAnswer) -> None:
    assert isinstance(answer, HelloAnswer)
    assert answer.accepted in (True, False, None)
    if answer.accepted is None:  # the only undecided state of a parse is "need more"
        assert answer.error_kind == "truncated"
    if answer.accepted:
        assert answer.cipher is not None and answer.version is not None


# --------------------------------------------------------------------------- ServerHello / Alert


@FUZZ
@given(st.binary(max_size=600))
def test_server_answer_arbitrary_bytes(data: bytes) -> None:
    check_answer(parse_server_answer(data))


@FUZZ
@given(record_soup())
def test_server_answer_record_soup(data: bytes) -> None:
    check_answer(parse_server_answer(data))


@FUZZ
@given(server_hellos, st.integers(1, 4))
def test_server_hello_every_truncation_wants_more(body: bytes, pieces: int) -> None:
    msg = message(SERVER_HELLO, body)
    cut = max(1, len(msg) // pieces)
    data = b"".join(record(22, msg[i : i + cut]) for i in range(0, len(msg), cut))
    full = parse_server_answer(data)
    assert full.accepted is True
    assert full.cipher == struct.unpack_from("!H", body, 35 + body[34])[0]
    for n in range(1, len(data)):
        answer = parse_server_answer(data[:n])
        assert (answer.accepted, answer.error_kind) == (None, "truncated"), n


@FUZZ
@given(st.integers(0x4801, 0xFFFF), st.binary(max_size=64))
def test_oversized_record_length_is_not_tls(length: int, tail: bytes) -> None:
    answer = parse_server_answer(record(22, tail, length=length))
    assert (answer.accepted, answer.error_kind) == (False, "not_tls")


@FUZZ
@given(st.integers(0, 0xFFFFFF), st.binary(max_size=64))
def test_oversized_handshake_length_never_raises(length: int, body: bytes) -> None:
    answer = parse_server_answer(record(22, message(SERVER_HELLO, body, length=length)))
    check_answer(answer)
    if length > len(body):
        assert answer.error_kind == "truncated"


@FUZZ
@given(st.binary(max_size=300))
def test_server_hello_body_arbitrary(body: bytes) -> None:
    check_answer(parse_server_hello(body))


@FUZZ
@given(server_hellos, st.integers(0, 0xFFFF), st.binary(max_size=8))
def test_server_hello_with_lying_extension_lengths(body: bytes, size: int, junk: bytes) -> None:
    lying = body + struct.pack("!HH", 0x002B, size) + junk  # beyond the extensions block
    answer = parse_server_hello(lying)
    check_answer(answer)
    assert answer.accepted is True
    assert all(len(v) <= len(lying) for v in answer.extensions.values())


def test_alert_flood_stays_fast() -> None:
    """16 KiB of warning alerts (the most one hello read keeps) parses in linear time."""
    data = record(21, b"\x01\x70") * (16384 // 7)
    start = time.monotonic()
    answer = parse_server_answer(data)
    assert time.monotonic() - start < 2.0  # generous: quadratic slicing took far longer
    assert (answer.accepted, answer.error_kind) == (None, "truncated")


# --------------------------------------------------------------------------- flight and its parts


def check_flight(flight: Flight) -> None:
    assert isinstance(flight, Flight)
    assert all(isinstance(kind, int) and isinstance(body, bytes) for kind, body in flight.messages)
    if flight.error or flight.alert:
        assert flight.ended
    if flight.messages:
        assert flight.messages[0][0] == SERVER_HELLO


@FUZZ
@given(st.binary(max_size=600))
def test_flight_arbitrary_bytes(data: bytes) -> None:
    check_flight(parse_flight(data))


@FUZZ
@given(record_soup())
def test_flight_record_soup(data: bytes) -> None:
    check_flight(parse_flight(data))


@FUZZ
@given(server_hellos, st.lists(der_certs, min_size=1, max_size=3), st.integers(1, 300))
def test_flight_truncations_are_prefixes(hello: bytes, certs: list[bytes], chunk: int) -> None:
    ske = struct.pack("!BHB", 3, 0x0017, 4) + b"abcd"
    stream = (
        message(SERVER_HELLO, hello)
        + message(CERTIFICATE, certificate_body(certs))
        + message(SERVER_KEY_EXCHANGE, ske)
        + message(SERVER_HELLO_DONE, b"")
    )
    data = b"".join(record(22, stream[i : i + chunk]) for i in range(0, len(stream), chunk))
    full = parse_flight(data)
    assert full.ended and full.error is None
    assert [k for k, _ in full.messages] == [2, 11, 12, 14]
    assert certificate_leaf(full.get(CERTIFICATE) or b"") == (certs[0], None)
    assert ske_group(full.get(SERVER_KEY_EXCHANGE) or b"") == (0x0017, None)
    for n in range(0, len(data), 7):
        part = parse_flight(data[:n])
        assert part.error is None and not part.ended
        assert part.messages == full.messages[: len(part.messages)]


@FUZZ
@given(st.binary(max_size=400))
def test_certificate_leaf_arbitrary(body: bytes) -> None:
    der, error = certificate_leaf(body)
    assert der is None or error is None
    if der is not None:
        assert der[0] == 0x30 and len(der) <= len(body)


@FUZZ
@given(st.lists(der_certs, min_size=1, max_size=3), st.integers(0, 0xFFFFFF))
def test_certificate_leaf_prefixes_and_lies(certs: list[bytes], lie: int) -> None:
    body = certificate_body(certs)
    for n in range(len(body)):
        assert certificate_leaf(body[:n]) in ((None, None), (certs[0], None)), n
    # Whatever the first length claims, nothing beyond the list or the data is returned.
    lying = body[:3] + lie.to_bytes(3, "big") + body[6:]
    total = int.from_bytes(body[:3], "big")
    der, error = certificate_leaf(lying)
    if der is not None:
        assert len(der) == lie and lie + 3 <= total and 6 + lie <= len(lying)
    if lie == 0 or lie + 3 > total:
        assert (der, error is not None) == (None, True)


@FUZZ
@given(st.binary(max_size=40))
def test_ske_group_arbitrary(body: bytes) -> None:
    group, error = ske_group(body)
    assert (group is None) != (error is None)


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=120), max_size=4))
def test_sct_list_round_trip(scts: list[bytes]) -> None:
    entries = b"".join(struct.pack("!H", len(s)) + s for s in scts)
    assert parse_sct_list(struct.pack("!H", len(entries)) + entries) == (scts, None)


@FUZZ
@given(st.binary(max_size=300))
def test_sct_list_arbitrary(body: bytes) -> None:
    scts, error = parse_sct_list(body)
    assert all(isinstance(s, bytes) and s for s in scts)
    assert sum(len(s) + 2 for s in scts) <= len(body)
    assert error is None or isinstance(error, str)


# --------------------------------------------------------------------------- SSLv2


@FUZZ
@given(st.binary(max_size=400))
def test_sslv2_answer_arbitrary(data: bytes) -> None:
    answer = parse_sslv2_answer(data)
    assert isinstance(answer, Sslv2Answer)
    assert answer.accepted in (True, False, None)
    assert (answer.accepted is None) == (not answer.complete)


@FUZZ
@given(
    st.binary(min_size=1, max_size=200),
    st.lists(st.integers(0, 0xFFFFFF), max_size=6),
    st.binary(min_size=16, max_size=32),
)
def test_sslv2_server_hello_truncations(cert: bytes, ciphers: list[int], conn_id: bytes) -> None:
    specs = b"".join(c.to_bytes(3, "big") for c in ciphers)
    msg = struct.pack("!BBBHHHH", 4, 0, 1, 2, len(cert), len(specs), len(conn_id))
    data = struct.pack("!H", 0x8000 | len(msg + cert + specs + conn_id)) + msg
    data += cert + specs + conn_id
    full = parse_sslv2_answer(data)
    assert (full.accepted, full.ciphers) == (True, ciphers)
    for n in range(1, len(data)):
        assert parse_sslv2_answer(data[:n]).complete is False, n
