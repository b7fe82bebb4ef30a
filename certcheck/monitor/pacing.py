"""Each chat service's limits, the pacer that keeps deliveries inside them, and digests.

The limits are data (``rules/channels.toml``, with the vendor page each comes
from): messages per time window per robot, and the largest message.  Two things
keep a run inside them:

* **Digests.**  When more than ``[alerts] digest_after`` alerts wait for one
  channel, they go out as one digest message (the worst changes first, counts
  per severity, the report link) instead of one message per target.  Every
  alert of the digest is then recorded as delivered.  Generic webhooks never
  get digests: programs read their per-alert JSON body.
* **Pacing.**  Before each POST the :class:`Pacer` waits until the channel's
  every window has room (a sliding window: at most ``count`` sends in any
  ``seconds``), but never past the run's delivery budget
  (``[alerts] delivery_budget_seconds``).  What does not fit stays in the outbox
  for the next run.  The pacer starts from the channel's sends that the history
  recorded in the last minute, so back-to-back runs do not overrun it either.
"""

from __future__ import annotations

import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from certcheck.model import SEVERITY_ORDER
from certcheck.monitor.alerts import Message, iso
from certcheck.report.safetext import visible

#: every window is treated as this much longer than documented: a send and its arrival
#: at the service are not the same instant, and the service's clock is not ours
WINDOW_MARGIN = 0.10
#: channel types that never get digests (programs read one JSON body per alert)
NO_DIGEST = frozenset({"webhook"})


class LimitsError(RuntimeError):
    """rules/channels.toml is unusable (a packaging bug, not a user error)."""


@dataclass(frozen=True)
class ChannelLimits:
    """One channel type's documented limits (see ``rules/channels.toml``)."""

    type: str
    rates: tuple[tuple[int, float], ...]
    penalty_seconds: float
    size_limit: int
    size_unit: str  # bytes | characters
    size_of: str  # body | text
    source: tuple[str, ...]


@cache
def channel_limits() -> dict[str, ChannelLimits]:
    """The limits per channel type, read once from the package data."""
    where = "rules/channels.toml"
    try:
        raw = resources.files("certcheck.rules").joinpath("channels.toml").read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LimitsError(f"{where}: {exc}") from None
    out: dict[str, ChannelLimits] = {}
    for name, entry in (data.get("channel") or {}).items():
        try:
            rates = tuple((int(count), float(seconds)) for count, seconds in entry["rates"])
            limits = ChannelLimits(
                type=name,
                rates=rates,
                penalty_seconds=float(entry["penalty_seconds"]),
                size_limit=int(entry["size_limit"]),
                size_unit=str(entry["size_unit"]),
                size_of=str(entry["size_of"]),
                source=tuple(entry["source"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LimitsError(f"{where}: channel.{name}: {exc!r}") from None
        if limits.size_unit not in ("bytes", "characters") or limits.size_of not in (
            "body",
            "text",
        ):
            raise LimitsError(f"{where}: channel.{name}: bad size_unit or size_of")
        if not limits.source or any(c < 1 or s <= 0 for c, s in rates):
            raise LimitsError(f"{where}: channel.{name}: needs a source and positive rates")
        out[name] = limits
    return out


def limits_for(channel_type: str) -> ChannelLimits | None:
    return channel_limits().get(channel_type)


class Pacer:
    """Sliding-window pacing per channel, bounded by one run's delivery budget."""

    def __init__(
        self,
        budget_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + budget_seconds
        self._sent: dict[str, deque[float]] = {}
        self._rates: dict[str, tuple[tuple[int, float], ...]] = {}

    def configure(self, channel: str, channel_type: str, earlier: Iterable[float] = ()) -> None:
        """Register ``channel``; ``earlier`` are its recent sends, in this pacer's clock."""
        limits = limits_for(channel_type)
        self._rates[channel] = limits.rates if limits else ()
        longest = max((n for n, _ in self._rates[channel]), default=0)
        self._sent[channel] = deque(
            sorted(earlier)[-longest:] if longest else [], maxlen=longest or 1
        )

    def wait_needed(self, channel: str) -> float:
        """Seconds until ``channel`` may send again (0: now)."""
        sent = self._sent.get(channel)
        if not sent:
            return 0.0
        now = self.clock()
        wait = 0.0
        for count, seconds in self._rates.get(channel, ()):
            if len(sent) >= count:
                oldest = sent[-count]  # the send that `count` sends ago opened the window
                wait = max(wait, oldest + seconds * (1 + WINDOW_MARGIN) - now)
        return max(wait, 0.0)

    def acquire(self, channel: str) -> bool:
        """Wait for a slot and take it; False (nothing taken) when the budget ends first."""
        wait = self.wait_needed(channel)
        if self.clock() + wait > self.deadline:
            return False
        if wait > 0:
            self.sleep(wait)
        if channel in self._rates and self._rates[channel]:
            self._sent[channel].append(self.clock())
        return True


# -- digests --------------------------------------------------------------------------------


def _rank(message: Message) -> tuple[int, int]:
    bad = [i for i in message.items if not i.get("good")]
    return (-SEVERITY_ORDER[message.severity], 0 if bad else 1)


def digest_message(messages: Sequence[Message], now: datetime) -> Message:
    """One message for many alerts: counts, then one line per target, worst first."""
    ordered = sorted(messages, key=_rank)
    counts: dict[str, int] = {}
    for message in messages:
        counts[message.severity] = counts.get(message.severity, 0) + 1
    told = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=lambda s: -SEVERITY_ORDER[s]))
    kinds = {m.kind for m in messages}
    what = "alerts" if len(kinds) > 1 else ("reminders" if kinds == {"reminder"} else "changes")
    items: list[dict[str, Any]] = []
    for message in ordered:
        bad = [i for i in message.items if not i.get("good")] or message.items
        first = bad[0] if bad else {"summary": message.title, "severity": message.severity}
        more = f" (+{len(message.items) - 1} more)" if len(message.items) > 1 else ""
        owner = f" [owner: {message.owner}]" if message.owner else ""
        items.append(
            {
                "kind": "digest_entry",
                "severity": message.severity,
                "summary": visible(f"{message.target}: {first['summary']}{more}{owner}"),
                "platforms": list(first.get("platforms") or []),
                "fix": first.get("fix") or "",
                "rule_id": first.get("rule_id"),
                "good": all(i.get("good") for i in message.items),
                # what the entry was made of, so it can be worded in another language
                "detail": {
                    "target": message.target,
                    "kind": message.kind,
                    "first": dict(first),
                    "more": len(message.items) - 1,
                    "owner": message.owner,
                },
            }
        )
    owners = sorted({m.owner for m in messages if m.owner})
    report = next((m.report_url for m in messages if m.report_url), None)
    worst = max((m.severity for m in messages), key=SEVERITY_ORDER.__getitem__, default="info")
    return Message(
        kind="digest",
        target=None,
        title=f"certcheck: {what} on {len(messages)} targets ({told})",
        severity=worst,
        items=items,
        created_at=iso(now),
        owner=", ".join(owners[:5]) + (f" (+{len(owners) - 5} more)" if len(owners) > 5 else "")
        if owners
        else None,
        report_url=report,
        run_id=max((m.run_id or 0 for m in messages), default=None) or None,
    )


def digest_group(digest_after: int, now: datetime) -> Callable[[str, Any, list[Any]], list[Any]]:
    """The ``group`` hook of :func:`~certcheck.monitor.delivery.deliver_outbox`.

    A channel with more than ``digest_after`` pending rows (0: never) gets one
    digest for all of them; otherwise each row goes alone, in the given order.
    """

    def group(name: str, channel: Any, rows: list[Any]) -> list[Any]:
        from certcheck.monitor.delivery import Batch  # delivery imports this module's users

        kind = getattr(channel, "type", None)
        if digest_after and len(rows) > digest_after and kind and kind not in NO_DIGEST:
            return [Batch(name, digest_message([r.message for r in rows], now), list(rows))]
        return [Batch(name, r.message, [r]) for r in rows]

    return group


def pacing_hook(pacer: Pacer, channels: dict[str, Any]) -> Callable[[str], str | None]:
    """The ``before_attempt`` hook: None to go ahead, or why this channel waits for a later run."""

    def before_attempt(name: str) -> str | None:
        if pacer.acquire(name):
            return None
        kind = getattr(channels.get(name), "type", "?")
        limits = limits_for(kind)
        rate = ", ".join(f"{c} per {s:g} s" for c, s in limits.rates) if limits else "?"
        return f"rate limit ({rate}) leaves no room within this run's delivery budget"

    return before_attempt
