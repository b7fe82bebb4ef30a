"""Sending alerts: HTTP and SMTP transport, retries with backoff, and the outbox.

Every alert is written to the history database's outbox (one row per channel)
in the same transaction as the result that caused it.  :func:`deliver_outbox`
then sends whatever is pending for the run's own targets -- this run's alerts
and any that earlier runs could not deliver -- retrying each a few times with
exponential backoff.  A delivery that fails stays pending, with its error
recorded, and is tried again by the next run, until it reaches ``[alerts]
max_attempts`` or ``max_age_hours``: then it is recorded as ``failed`` with the
reason, so one message a service always rejects cannot hold the rest back.

Which failures stop a channel for the rest of the run: a transport failure
(refused, timeout, HTTP 5xx or 429, a redirect) means the channel is down, so
its other alerts wait for the next run instead of each spending the whole retry
budget again.  A *rejection* of one message (HTTP 4xx, an API error code in a
200 answer, SMTP 5xx) is not retried within the run and the channel moves on to
its next alert; three rejections in a row stop the channel too (a bad signing
secret rejects everything).  Rows that never failed are sent first, oldest
first, then the ones that failed before: a poison message is never the first in
line forever.

Each outbox row has a stable id (``uid``), sent with every attempt: the webhook
body's ``id``, an ``Idempotency-Key`` header on every HTTP POST, and the e-mail's
``Message-ID``.  A row is marked ``sending`` (in flight) before its POST; after a
``kill -9`` mid-POST the next run finds it still in flight and sends it again
with the same id, so a receiver that dedupes by id shows it once.

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

import hashlib
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage
from email.utils import formatdate, make_msgid
from typing import IO, Any, Protocol
from urllib.parse import urljoin, urlsplit

from certcheck import __version__
from certcheck.monitor.alerts import Message
from certcheck.monitor.channels import email_message, http_request
from certcheck.monitor.config import AlertsSection, Channel, EmailChannel, WebhookChannel
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


class Rejected(DeliveryError):
    """The service refused this message (4xx, an API error code, SMTP 5xx), not the channel.

    Retrying it at once gets the same answer; the channel's next alert may well pass.
    """


#: HTTP 4xx answers that mean "later" or "too fast" rather than "never this message"
_TRANSIENT_4XX = {408, 425, 429}


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
        if 400 <= exc.code < 500 and exc.code not in _TRANSIENT_4XX:
            # Slack and others say why in the body (channel_not_found, invalid_payload): keep it
            try:
                said = exc.read(_MAX_ANSWER).decode("utf-8", "replace").strip()
            except OSError:
                said = ""
            detail = f": {_printable(' '.join(said.split()))[:_MAX_REASON]}" if said else ""
            raise Rejected(f"HTTP {exc.code} {exc.reason}{detail}") from None
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


def _message_id(sender: str, alert_id: str | None) -> str:
    """A Message-ID on the sender's domain; stable per alert, so a re-sent mail is a duplicate."""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", sender.rpartition("@")[2]) or "certcheck.invalid"
    if alert_id is None:
        return make_msgid("certcheck", domain)
    return f"<certcheck.{re.sub(r'[^A-Za-z0-9.-]', '', alert_id)}@{domain}>"


def _send_email(
    channel: EmailChannel, message: Message, timeout: float, alert_id: str | None = None
) -> None:
    mail = email_message(channel, message)
    # RFC 5322 requires Date; spam filters score a missing Message-ID
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = _message_id(channel.sender, alert_id)
    if alert_id is not None:
        mail["X-Certcheck-Alert-Id"] = alert_id
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
        kind = Rejected if 500 <= exc.smtp_code < 600 else DeliveryError
        raise kind(f"SMTP {exc.smtp_code}: {text[:200]}") from None
    except TimeoutError:
        raise DeliveryError(f"SMTP timed out after {timeout:g} s") from None
    except ConnectionRefusedError:
        raise DeliveryError("SMTP connection refused") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP failed: {exc}") from None


def send(channel: Channel, message: Message, timeout: float, alert_id: str | None = None) -> None:
    """One delivery attempt; raises :class:`DeliveryError` on any failure.

    ``alert_id`` is the outbox row's stable id (a test message gets a fresh one).
    """
    if isinstance(channel, EmailChannel):
        _send_email(channel, message, timeout, alert_id)
        return
    alert_id = alert_id or str(uuid.uuid4())
    request = http_request(channel, message, datetime.now(UTC))
    if isinstance(channel, WebhookChannel):
        request.body = {"id": alert_id, **request.body}
    request.headers = {"Idempotency-Key": alert_id, **request.headers}
    answer = _post(request.url, request.data(), request.headers, timeout)
    problem = request.check(answer)
    if problem:
        raise Rejected(f"refused by the {channel.type} API: {problem}")


@dataclass
class Attempt:
    """The outcome of trying one delivery (with retries)."""

    attempts: int
    error: str | None = None
    #: the service refused this message; the channel itself answers
    rejected: bool = False
    #: ``before_attempt`` refused a slot (rate limit): not a failure of the message
    limited: bool = False


def try_delivery(
    channel: Channel,
    message: Message,
    settings: AlertsSection,
    redactor: Redactor,
    sleep: Callable[[float], None] = time.sleep,
    *,
    alert_id: str | None = None,
    before_attempt: Callable[[], str | None] | None = None,
) -> Attempt:
    """Try up to ``settings.retries`` times; a rejection or a redirect is not retried."""
    error: str | None = None
    for attempt in range(settings.retries):
        if attempt:
            sleep(settings.backoff_seconds * 2 ** (attempt - 1))
        if before_attempt is not None:
            limit = before_attempt()
            if limit is not None:
                return Attempt(attempt, error or redactor.scrub(limit), limited=not attempt)
        try:
            send(channel, message, settings.timeout_seconds, alert_id)
            return Attempt(attempt + 1)
        except Rejected as exc:
            return Attempt(attempt + 1, redactor.scrub(str(exc)), rejected=True)
        except RedirectRefused as exc:  # the same answer again; the next run retries
            return Attempt(attempt + 1, redactor.scrub(str(exc)))
        except DeliveryError as exc:
            error = redactor.scrub(str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken channel must not end the run
            error = redactor.scrub(f"unexpected error: {exc!r}")
    return Attempt(settings.retries, error)


def send_with_retries(
    channel: Channel,
    message: Message,
    settings: AlertsSection,
    redactor: Redactor,
    sleep: Callable[[float], None] = time.sleep,
    *,
    alert_id: str | None = None,
    before_attempt: Callable[[], str | None] | None = None,
) -> tuple[int, str | None]:
    """Try up to ``settings.retries`` times; return (attempts made, last error or None)."""
    done = try_delivery(
        channel,
        message,
        settings,
        redactor,
        sleep,
        alert_id=alert_id,
        before_attempt=before_attempt,
    )
    return done.attempts, done.error


@dataclass
class PendingDelivery:
    """One outbox row still to be delivered (``sending``: a run died while sending it)."""

    id: int
    channel: str
    attempts: int
    message: Message
    target: str | None = None
    uid: str | None = None
    created_at: datetime | None = None
    status: str = "pending"
    last_error: str | None = None


@dataclass
class Batch:
    """What one POST delivers: one outbox row, or several grouped into one digest."""

    channel: str
    message: Message
    rows: list[PendingDelivery]

    @property
    def uid(self) -> str:
        """The row's id; for a group, a hash of its members' ids (stable if regrouped)."""
        ids = sorted(r.uid or f"row-{r.id}" for r in self.rows)
        if len(ids) == 1:
            return ids[0]
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        return str(uuid.UUID(digest))


class OutboxStore(Protocol):
    """What :func:`deliver_outbox` needs from the history store."""

    def pending_deliveries(self) -> list[PendingDelivery]: ...

    def mark_sending(self, delivery_ids: list[int], now: datetime) -> None: ...

    def record_delivery(
        self, delivery_id: int, attempts: int, error: str | None, now: datetime
    ) -> None: ...

    def fail_delivery(self, delivery_id: int, reason: str, now: datetime) -> None: ...

    def abandon_delivery(self, delivery_id: int, reason: str, now: datetime) -> None: ...


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    sent: list[tuple[str, str]] = field(default_factory=list)  # (channel, title)
    failed: dict[str, str] = field(default_factory=dict)  # channel -> last error
    pending: dict[str, int] = field(default_factory=dict)  # channel -> still waiting
    abandoned: list[str] = field(default_factory=list)
    #: channel -> the last message it rejected (the channel went on with the next one)
    rejected: dict[str, str] = field(default_factory=dict)
    #: alerts given up on (max_attempts / max_age_hours), with the reason
    gave_up: list[str] = field(default_factory=list)
    #: rows an earlier run left in flight (killed mid-send), sent again with the same id
    resent: int = 0

    @property
    def problems(self) -> bool:
        return bool(self.failed or self.rejected or self.abandoned or self.gave_up)


#: rejections in a row after which a channel counts as broken for the rest of the run
MAX_REJECTIONS_IN_A_ROW = 3


def _given_up(row: PendingDelivery, settings: AlertsSection, now: datetime) -> str | None:
    """Why ``row`` is no longer worth trying (its caps are spent), or None."""
    last = f"; last error: {row.last_error}" if row.last_error else ""
    if row.attempts >= settings.max_attempts:
        return f"gave up after {row.attempts} attempt(s){last}"
    age = timedelta(hours=settings.max_age_hours)
    if row.created_at is not None and now - row.created_at > age:
        return (
            f"gave up: not delivered within max_age_hours = {settings.max_age_hours:g} "
            f"({row.attempts} attempt(s){last})"
        )
    return None


def one_per_row(channel: str, _config: Channel, rows: list[PendingDelivery]) -> list[Batch]:
    """The default grouping: every row is its own message, in queue order."""
    return [Batch(channel, row.message, [row]) for row in rows]


def deliver_outbox(
    store: OutboxStore,
    channels: dict[str, Channel],
    settings: AlertsSection,
    redactor: Redactor,
    sleep: Callable[[float], None] = time.sleep,
    *,
    owned: set[str] | None = None,
    now: datetime | None = None,
    group: Callable[[str, Channel, list[PendingDelivery]], list[Batch]] | None = None,
    before_attempt: Callable[[str], str | None] | None = None,
) -> DeliveryReport:
    """Send the pending deliveries of the ``owned`` targets (None: all); record each outcome.

    ``now`` is the run's instant (for ``max_age_hours``); ``group`` turns a channel's
    queue into messages (default :func:`one_per_row`); ``before_attempt(channel)`` is
    asked before every POST and returns a reason to wait (a rate limit) or None.
    """
    report = DeliveryReport()
    moment = now or datetime.now(UTC)
    rows = [p for p in store.pending_deliveries() if owned is None or p.target in owned]
    # Rows that never failed first, oldest first; then the ones that failed before.
    rows.sort(key=lambda p: (p.last_error is not None, p.id))
    queues: dict[str, list[PendingDelivery]] = {}
    for row in rows:
        queues.setdefault(row.channel, []).append(row)
    for name, queue in queues.items():
        channel = channels.get(name)
        if channel is None:
            reason = f"channel {name!r} is no longer in the configuration"
            for row in queue:
                store.abandon_delivery(row.id, reason, moment)
                report.abandoned.append(f"{row.message.title} ({reason})")
            continue
        live = []
        for row in queue:
            reason = _given_up(row, settings, moment)
            if reason is None:
                live.append(row)
                continue
            store.fail_delivery(row.id, reason, datetime.now(UTC))
            report.gave_up.append(f"{row.message.title} to {name!r}: {reason}")
        report.resent += sum(1 for row in live if row.status == "sending")
        limiter = (lambda n=name: before_attempt(n)) if before_attempt else None
        _deliver_channel(
            store,
            name,
            channel,
            (group or one_per_row)(name, channel, live),
            settings,
            redactor,
            sleep,
            limiter,
            report,
        )
    return report


def _deliver_channel(
    store: OutboxStore,
    name: str,
    channel: Channel,
    batches: list[Batch],
    settings: AlertsSection,
    redactor: Redactor,
    sleep: Callable[[float], None],
    limiter: Callable[[], str | None] | None,
    report: DeliveryReport,
) -> None:
    """Send one channel's messages in order until the channel looks down (module doc)."""
    rejections = 0
    for batch in batches:
        if name in report.failed:
            report.pending[name] = report.pending.get(name, 0) + len(batch.rows)
            continue
        store.mark_sending([r.id for r in batch.rows], datetime.now(UTC))
        done = try_delivery(
            channel,
            batch.message,
            settings,
            redactor,
            sleep,
            alert_id=batch.uid,
            before_attempt=limiter,
        )
        at = datetime.now(UTC)
        for row in batch.rows:
            store.record_delivery(row.id, done.attempts, done.error, at)
        if done.error is None:
            rejections = 0
            report.sent.append((name, batch.message.title))
            continue
        still = 0
        for row in batch.rows:
            row.attempts += done.attempts
            row.last_error = done.error
            reason = None if done.limited else _given_up(row, settings, at)
            if reason is None:
                still += 1
            else:
                store.fail_delivery(row.id, reason, at)
                report.gave_up.append(f"{batch.message.title} to {name!r}: {reason}")
        if still:
            report.pending[name] = report.pending.get(name, 0) + still
        rejections = rejections + 1 if done.rejected else MAX_REJECTIONS_IN_A_ROW
        if rejections >= MAX_REJECTIONS_IN_A_ROW:
            report.failed[name] = done.error
        else:
            report.rejected[name] = done.error
