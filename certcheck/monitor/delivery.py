"""Sending alerts: HTTP and SMTP transport, retries with backoff, and the outbox.

Every alert is written to the history database's outbox (one row per channel)
in the same transaction as the result that caused it.  :func:`deliver_outbox`
then sends whatever is pending -- this run's alerts and any that earlier runs
could not deliver -- retrying each a few times with exponential backoff.  A
delivery that still fails stays pending, with its error recorded, and is tried
again by the next run: an alert is never dropped silently.  Once a channel has
failed all its retries, its other alerts wait for the next run instead of each
spending the whole retry budget again.

HTTP uses the standard library's ``urllib`` (a JSON POST with a timeout needs
nothing more; proxies from the usual environment variables are honoured).
Redirects are not followed the way ``urllib`` would (as a GET that drops the
body but keeps ``Authorization`` and custom headers, whatever the new host):
only a 307/308 to the same origin is re-sent, with the same method, body and
headers, for at most :data:`MAX_REDIRECTS` hops.  Any other redirect is a failed
delivery that stays in the outbox, so the alert is neither lost nor its
credentials handed to another host.
"""

from __future__ import annotations

import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as EmailMessage
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

from certcheck import __version__
from certcheck.monitor.alerts import Message
from certcheck.monitor.channels import email_message, http_request
from certcheck.monitor.config import AlertsSection, Channel, EmailChannel
from certcheck.monitor.redact import Redactor

_MAX_ANSWER = 64 * 1024


#: same-origin 307/308 hops followed for one delivery before it counts as failed
MAX_REDIRECTS = 3
#: longest error text a redirect produces (the Location header is the server's to choose)
_MAX_REASON = 200
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DeliveryError(Exception):
    """One failed attempt; the message is safe to show (no URL, no secret)."""


class RedirectRefused(DeliveryError):
    """The receiver redirected and certcheck would not follow: retrying now will not help."""


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of ``url`` as RFC 6454 compares origins; None if unparseable."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port


def _printable(text: str) -> str:
    """Control and bidi-override characters escaped: a hostile header must not reach a terminal."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _where(url: str) -> str:
    """Where a redirect points, without path or query: those may echo a secret of the URL."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return "an unusable URL"
        shown = f"{parts.scheme}://{parts.hostname}"
        if parts.port is not None:
            shown += f":{parts.port}"
    except ValueError:
        return "an unusable URL"
    if parts.path not in ("", "/") or parts.query:
        shown += "/…"
    return _printable(shown)[:_MAX_REASON]


class _RedirectPolicy(urllib.request.HTTPRedirectHandler):
    """Re-send same-origin 307/308 unchanged; refuse every other redirect (see module doc)."""

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: EmailMessage,
    ) -> Any:
        location = headers.get("Location") or headers.get("URI") or ""
        hops: int = getattr(req, "certcheck_hops", 0)
        try:
            fp.read(_MAX_ANSWER)
        finally:
            fp.close()
        if not location.strip():
            raise RedirectRefused(f"HTTP {code} redirect without a Location")
        try:
            target = urljoin(req.full_url, location.strip())
        except ValueError:
            target = ""
        here = _origin(req.full_url)
        if code not in (307, 308) or here is None or _origin(target) != here:
            raise RedirectRefused(
                f"redirected to {_where(target)} (HTTP {code}); not followed, "
                "so no credentials went there: update the channel URL"
            )
        if hops >= MAX_REDIRECTS:
            raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects (HTTP {code})")
        again = urllib.request.Request(
            target,
            data=req.data,
            headers=dict(req.headers),  # same origin: the credentials may go along
            method=req.get_method(),
        )
        again.certcheck_hops = hops + 1  # type: ignore[attr-defined]
        return self.parent.open(again, timeout=req.timeout)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_RedirectPolicy)


def _post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"certcheck/{__version__}",
            **headers,
        },
    )
    try:
        # Only http(s) URLs get here: the configuration checks the scheme.
        with _OPENER.open(request, timeout=timeout) as answer:
            return answer.read(_MAX_ANSWER)
    except DeliveryError:
        raise
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise DeliveryError(f"timed out after {timeout:g} s") from None
        if isinstance(reason, ConnectionRefusedError):
            raise DeliveryError("connection refused") from None
        raise DeliveryError(f"cannot connect: {reason}") from None
    except TimeoutError:
        raise DeliveryError(f"timed out after {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"connection failed: {exc}") from None


def _send_email(channel: EmailChannel, message: Message, timeout: float) -> None:
    mail = email_message(channel, message)
    context = ssl.create_default_context()
    try:
        if channel.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=timeout)
        with smtp:
            if channel.security == "starttls":
                smtp.starttls(context=context)
            if channel.username:
                password = channel.password.get_secret_value() if channel.password else ""
                smtp.login(channel.username, password)
            smtp.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise DeliveryError(f"SMTP {exc.smtp_code}: {text[:200]}") from None
    except TimeoutError:
        raise DeliveryError(f"SMTP timed out after {timeout:g} s") from None
    except ConnectionRefusedError:
        raise DeliveryError("SMTP connection refused") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP failed: {exc}") from None


def send(channel: Channel, message: Message, timeout: float) -> None:
    """One delivery attempt; raises :class:`DeliveryError` on any failure."""
    if isinstance(channel, EmailChannel):
        _send_email(channel, message, timeout)
        return
    request = http_request(channel, message, datetime.now(UTC))
    answer = _post(request.url, request.data(), request.headers, timeout)
    problem = request.check(answer)
    if problem:
        raise DeliveryError(f"refused by the {channel.type} API: {problem}")


def send_with_retries(
    channel: Channel,
    message: Message,
    settings: AlertsSection,
    redactor: Redactor,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, str | None]:
    """Try up to ``settings.retries`` times; return (attempts made, last error or None)."""
    error: str | None = None
    for attempt in range(settings.retries):
        if attempt:
            sleep(settings.backoff_seconds * 2 ** (attempt - 1))
        try:
            send(channel, message, settings.timeout_seconds)
            return attempt + 1, None
        except RedirectRefused as exc:  # the same answer again; the next run retries
            return attempt + 1, redactor.scrub(str(exc))
        except DeliveryError as exc:
            error = redactor.scrub(str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken channel must not end the run
            error = redactor.scrub(f"unexpected error: {exc!r}")
    return settings.retries, error


@dataclass
class PendingDelivery:
    """One outbox row still to be delivered."""

    id: int
    channel: str
    attempts: int
    message: Message


class OutboxStore(Protocol):
    """What :func:`deliver_outbox` needs from the history store."""

    def pending_deliveries(self) -> list[PendingDelivery]: ...

    def record_delivery(
        self, delivery_id: int, attempts: int, error: str | None, now: datetime
    ) -> None: ...

    def abandon_delivery(self, delivery_id: int, reason: str, now: datetime) -> None: ...


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    sent: list[tuple[str, str]] = field(default_factory=list)  # (channel, title)
    failed: dict[str, str] = field(default_factory=dict)  # channel -> last error
    pending: dict[str, int] = field(default_factory=dict)  # channel -> still waiting
    abandoned: list[str] = field(default_factory=list)

    @property
    def problems(self) -> bool:
        return bool(self.failed or self.abandoned)


def deliver_outbox(
    store: OutboxStore,
    channels: dict[str, Channel],
    settings: AlertsSection,
    redactor: Redactor,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every pending delivery, oldest first; record each outcome in the store."""
    report = DeliveryReport()
    for pending in store.pending_deliveries():
        channel = channels.get(pending.channel)
        now = datetime.now(UTC)
        if channel is None:
            reason = f"channel {pending.channel!r} is no longer in the configuration"
            store.abandon_delivery(pending.id, reason, now)
            report.abandoned.append(f"{pending.message.title} ({reason})")
            continue
        if pending.channel in report.failed:
            report.pending[pending.channel] = report.pending.get(pending.channel, 0) + 1
            continue
        attempts, error = send_with_retries(channel, pending.message, settings, redactor, sleep)
        store.record_delivery(pending.id, attempts, error, datetime.now(UTC))
        if error is None:
            report.sent.append((pending.channel, pending.message.title))
        else:
            report.failed[pending.channel] = error
            report.pending[pending.channel] = report.pending.get(pending.channel, 0) + 1
    return report
