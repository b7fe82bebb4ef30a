"""The exchange engine (certcheck/probe/reactor.py) against real loopback sockets.

Every way an exchange can end is produced by a real peer on 127.0.0.1: an answer the
parser accepts, a peer that closes, resets, stays silent, sends too much, refuses the
connection; and many exchanges at once from many threads.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from loopback import serve_each

from certcheck.probe.driver import Ask, run
from certcheck.probe.wire import Reply, exchange


def _serve(handle: Callable[[socket.socket], None]) -> Iterator[tuple[str, int]]:
    with serve_each(handle) as port:
        yield ("127.0.0.1", port)


_serving = contextlib.contextmanager(_serve)


def _echo_twice(conn: socket.socket) -> None:
    data = conn.recv(1024)
    conn.sendall(data[:2])
    time.sleep(0.02)
    conn.sendall(data[2:] + data)


def _close_at_once(conn: socket.socket) -> None:
    conn.recv(1024)


def _reset(conn: socket.socket) -> None:
    conn.recv(1024)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _silent(conn: socket.socket) -> None:
    time.sleep(2)


def _flood(conn: socket.socket) -> None:
    conn.recv(1024)
    conn.sendall(b"x" * 100_000)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    yield from _serve(request.param)


@pytest.mark.parametrize("server", [_echo_twice], indirect=True)
def test_reads_until_the_parser_is_satisfied(server) -> None:
    result = exchange(server, b"hello", 5.0, lambda data: len(data) >= 10, 1 << 16)
    assert (result.stop, result.data) == ("done", b"hellohello")


@pytest.mark.parametrize("server", [_close_at_once], indirect=True)
def test_a_peer_that_closes_ends_the_exchange_as_closed(server) -> None:
    result = exchange(server, b"hello", 5.0, lambda data: False, 1 << 16)
    assert (result.stop, result.data) == ("closed", b"")


@pytest.mark.parametrize("server", [_reset], indirect=True)
def test_a_reset_is_a_reset(server) -> None:
    result = exchange(server, b"hello", 5.0, lambda data: False, 1 << 16)
    assert result.stop == "reset"


@pytest.mark.parametrize("server", [_silent], indirect=True)
def test_a_silent_peer_times_out_on_time(server) -> None:
    started = time.monotonic()
    result = exchange(server, b"hello", 0.3, lambda data: False, 1 << 16)
    elapsed = time.monotonic() - started
    assert result.stop == "timeout"
    assert 0.3 <= elapsed < 1.5  # the deadline, plus at most the polite wait for FIN


@pytest.mark.parametrize("server", [_flood], indirect=True)
def test_the_byte_cap_holds(server) -> None:
    result = exchange(server, b"hello", 5.0, lambda data: False, 5000)
    assert result.stop == "full" and len(result.data) == 5000


def test_a_refused_connection_names_its_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()[:2]
    probe.close()  # nothing listens there now
    result = exchange(address, b"hello", 2.0, lambda data: True, 100)
    assert result.stop == "connect" and isinstance(result.connect_error, ConnectionRefusedError)


@pytest.mark.parametrize("server", [_echo_twice], indirect=True)
def test_a_parser_that_raises_raises_in_the_caller_and_the_engine_goes_on(server) -> None:
    def broken(data: bytes) -> bool:
        raise ValueError("parser bug")

    with pytest.raises(ValueError, match="parser bug"):
        exchange(server, b"hello", 5.0, broken, 1 << 16)
    result = exchange(server, b"hello", 5.0, lambda data: len(data) >= 10, 1 << 16)
    assert result.stop == "done"


@pytest.mark.parametrize("server", [_echo_twice], indirect=True)
def test_many_exchanges_from_many_threads_each_get_their_own_answer(server) -> None:
    def one(n: int) -> bytes:
        payload = f"p{n:04d}".encode()
        result = exchange(server, payload, 10.0, lambda data: len(data) >= 10, 1 << 16)
        assert result.stop == "done", result
        return result.data

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(one, range(200)))
    assert answers == [f"p{n:04d}".encode() * 2 for n in range(200)]


def _read_all_then_answer(conn: socket.socket) -> None:
    wanted, got = 8 << 20, 0
    time.sleep(0.2)  # let the client's first send fill the buffers and stop short
    while got < wanted:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return
        got += len(chunk)
    conn.sendall(b"ok")


@pytest.mark.parametrize("server", [_read_all_then_answer], indirect=True)
def test_a_payload_larger_than_the_socket_buffers_is_sent_whole(server) -> None:
    """The first send goes out right after connect(), with the socket watched for reading:
    when it cannot finish, the loop must watch for writability to send the rest."""
    result = exchange(server, b"p" * (8 << 20), 10.0, lambda data: data == b"ok", 1 << 16)
    assert (result.stop, result.data) == ("done", b"ok")


def _dialogue(conn: socket.socket) -> None:
    """Answers 'ping N' with 'pong N' until 'bye', then reads to the end of the stream."""
    buffered = b""
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            return
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            if line == b"bye":
                conn.sendall(b"seen bye\n")
                while conn.recv(1 << 20):
                    pass
                conn.sendall(b"never read")
                return
            conn.sendall(b"pong" + line[4:] + b"\n")


def test_a_reply_continues_the_exchange_and_a_last_reply_ends_it() -> None:
    heard: list[bytes] = []

    def talk(data: bytes) -> bool | Reply:
        lines = data.split(b"\n")[:-1]
        if len(lines) > len(heard):
            heard.extend(lines[len(heard) :])
            if len(heard) < 3:
                return Reply(b"ping %d\n" % len(heard))
            big = b"x" * (4 << 20)  # larger than the socket buffers: sent in parts
            return Reply(b"ping " + big + b"\nbye\n", last=True)
        return False

    with _serving(_dialogue) as address:
        result = exchange(address, b"ping 0\n", 10.0, talk, 1 << 16)
    assert result.stop == "done"
    assert heard == [b"pong 0", b"pong 1", b"pong 2"]
    assert result.data == b"pong 0\npong 1\npong 2\n"  # the last reply is not waited for
    assert result.connected_at >= result.started_at > 0


@pytest.mark.parametrize("server", [_echo_twice], indirect=True)
def test_a_last_reply_with_nothing_to_send_ends_at_once(server) -> None:
    result = exchange(server, b"abcd", 5.0, lambda data: Reply(b"", last=True), 1 << 16)
    assert result.stop == "done"
    assert result.data.startswith(b"ab")


def test_a_reset_names_its_errno() -> None:
    with _serving(_reset) as address:
        result = exchange(address, b"hello", 5.0, lambda data: False, 1 << 16)
    assert result.stop == "reset"
    assert result.errno == errno.ECONNRESET


def _trickle(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.recv(1024)
    for byte in b"abcdefghij":
        conn.sendall(bytes([byte]))
        time.sleep(0.005)


def test_a_streamed_exchange_hands_each_read_to_the_parser_and_keeps_nothing() -> None:
    pieces: list[bytes] = []

    def parse(chunk: bytes) -> bool:
        pieces.append(chunk)
        return sum(map(len, pieces)) >= 10

    def plan():
        return (yield Ask(address, b"go", 5.0, parse, 1 << 16, None, True))

    with _serving(_trickle) as address:
        result = run(plan())
    assert result.stop == "done"
    assert b"".join(pieces) == b"abcdefghij" and len(pieces) > 1
    assert result.data == b""


def test_a_streamed_exchange_still_stops_at_the_byte_cap() -> None:
    def plan():
        return (yield Ask(address, b"go", 5.0, lambda chunk: False, 4, None, True))

    with _serving(_trickle) as address:
        result = run(plan())
    assert result.stop == "full"
