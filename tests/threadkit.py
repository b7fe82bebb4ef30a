"""Run a test body on a thread of its own, so that a probe or driver that hangs fails the
test within a limit instead of hanging the suite."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def within(seconds: float, body: Callable[[], T], what: str = "the scan") -> T:
    """``body()``'s value (or its exception), if it ends within ``seconds``."""
    outcome: list[tuple[Any, BaseException | None]] = []

    def go() -> None:
        try:
            outcome.append((body(), None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test
            outcome.append((None, exc))

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"{what} did not end within {seconds} s"
    value, error = outcome[0]
    if error is not None:
        raise error
    return value
