"""Each notification channel's request: payload shape, signing, and how it says "ok".

Payload formats follow each platform's documented custom-robot / incoming-
webhook API:

* WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content": ...}}``;
  answers ``{"errcode": 0}``; content at most 4096 bytes.
* DingTalk robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``; with a
  signing secret the URL gets ``timestamp`` (ms) and ``sign`` =
  urlencode(base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")));
  answers ``{"errcode": 0}``.
* Feishu / Lark bot: ``{"msg_type": "text", "content": {"text": ...}}``; with a
  signing secret the body gets ``timestamp`` (s) and ``sign`` =
  base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=b"")); answers ``{"code": 0}``.
* Slack incoming webhook: ``{"text": ...}`` (mrkdwn); answers HTTP 200.
* Generic webhook: :meth:`Message.webhook_body`; any 2xx is success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

from certcheck.monitor.alerts import Message, localized
from certcheck.monitor.config import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from certcheck.monitor.pacing import ChannelLimits, limits_for
from certcheck.safeload import LoadError, load_json

#: the marker a hard cut leaves (only when even a message without items is too large)
SHORTENED = "\n… (message shortened)\n"


@dataclass
class HttpRequest:
    """One POST of a JSON body; ``check`` reads the answer and returns an error or None."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[bytes], str | None] = lambda _body: None

    def data(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


def _clip(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes, on a line boundary when possible."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = "\n… (message shortened)"
    cut = data[: limit - len(marker.encode("utf-8"))].decode("utf-8", "ignore")
    if "\n" in cut:
        cut = cut[: cut.rfind("\n")]
    return cut + marker


def markdown_text(message: Message) -> str:
    """WeCom / DingTalk markdown: a heading, one bullet per change, fix as a quote."""
    lines = [f"### {message.title}", ""]
    for item in message.items:
        head, fix = message.item_lines(item)
        lines.append(f"- **{message.label(item)}** {head}")
        if fix:
            lines.append("  > " + message.say("fix", fix=fix))
    if message.omitted:
        lines.append(f"- {message.omitted_line()}")
    footer = [p for p in message.footer() if not message.report_url or p != message.report_line()]
    if message.report_url:
        footer.append(f"[{message.say('html_report')}]({message.report_url})")
    if footer:
        lines += ["", " · ".join(footer)]
    return "\n".join(lines)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(message: Message) -> str:
    lines = [f"*{_slack_escape(message.title)}*"]
    for item in message.items:
        head, fix = message.item_lines(item)
        lines.append(f"• *{message.label(item)}* {_slack_escape(head)}")
        if fix:
            lines.append(f"    _{message.say('fix_label')}_ {_slack_escape(fix)}")
    if message.omitted:
        lines.append(f"• {_slack_escape(message.omitted_line())}")
    footer = [
        _slack_escape(p)
        for p in message.footer()
        if not message.report_url or p != message.report_line()
    ]
    if message.report_url:
        footer.append(f"<{message.report_url}|{message.say('html_report')}>")
    if footer:
        lines.append(" · ".join(footer))
    return "\n".join(lines)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature, URL-encoded, for the ``sign`` query parameter."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu / Lark bot signature for the body's ``sign`` field."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _json_code(*keys: str) -> Callable[[bytes], str | None]:
    """A check for robots that answer HTTP 200 with an error code in the JSON body."""

    def check(body: bytes) -> str | None:
        try:
            data = load_json(body.decode("utf-8") or "{}", "the answer")
        except (UnicodeDecodeError, LoadError):
            # not JSON, or hostile JSON (too deep, a huge integer): a failed delivery
            return "answer is not JSON"
        if not isinstance(data, dict):
            return "answer is not a JSON object"
        for key in keys:
            if key in data:
                if data[key] in (0, "0"):
                    return None
                detail = data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or ""
                return f"{key} {data[key]}: {str(detail)[:200]}"
        # these APIs always send their code: `{}` or an unrelated answer is not an "ok"
        return f"answer has no {' or '.join(keys)}"

    return check


def _build(channel: Channel, message: Message, now: datetime) -> HttpRequest:
    """The POST for ``message`` as it is (:func:`http_request` fits it to the limit)."""
    if isinstance(channel, WebhookChannel):
        headers = {k: v.get_secret_value() for k, v in channel.headers.items()}
        return HttpRequest(channel.url.get_secret_value(), message.webhook_body(), headers)
    if isinstance(channel, SlackChannel):
        return HttpRequest(channel.url.get_secret_value(), {"text": slack_text(message)})
    if isinstance(channel, WeComChannel):
        body = {
            "msgtype": "markdown",
            "markdown": {"content": markdown_text(message)},
        }
        return HttpRequest(channel.url.get_secret_value(), body, check=_json_code("errcode"))
    if isinstance(channel, DingTalkChannel):
        url = channel.url.get_secret_value()
        if channel.secret is not None:
            stamp = int(now.timestamp() * 1000)
            sign = dingtalk_sign(channel.secret.get_secret_value(), stamp)
            url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={sign}"
        body = {
            "msgtype": "markdown",
            "markdown": {
                "title": message.title[:100],
                "text": markdown_text(message),
            },
        }
        return HttpRequest(url, body, check=_json_code("errcode"))
    if isinstance(channel, FeishuChannel):
        body = {
            "msg_type": "text",
            "content": {"text": message.plain_text()},
        }
        if channel.secret is not None:
            stamp = int(now.timestamp())
            body = {
                "timestamp": str(stamp),
                "sign": feishu_sign(channel.secret.get_secret_value(), stamp),
                **body,
            }
        return HttpRequest(
            channel.url.get_secret_value(), body, check=_json_code("code", "StatusCode")
        )
    raise TypeError(f"not an HTTP channel: {channel.type}")


def email_message(channel: EmailChannel, message: Message) -> EmailMessage:
    message = localized(message, channel.lang or "en")
    mail = EmailMessage()
    mail["Subject"] = message.title[:200]
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["X-Certcheck-Alert"] = message.kind
    mail.set_content(message.plain_text())
    return mail


# -- fitting a message to the channel's size limit ---------------------------------------------


def _text_of(channel_type: str, body: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """(the dict holding the message text, its key) in a channel's body."""
    places = {
        "wecom": ("markdown", "content"),
        "dingtalk": ("markdown", "text"),
        "feishu": ("content", "text"),
        "lark": ("content", "text"),
        "slack": (None, "text"),
    }
    place = places.get(channel_type)
    if place is None:
        return None
    holder = body if place[0] is None else body.get(place[0])
    if not isinstance(holder, dict) or not isinstance(holder.get(place[1]), str):
        return None
    return holder, place[1]


def request_size(request: HttpRequest, limits: ChannelLimits) -> int:
    """The size the service measures: the encoded body, or the text field, in its unit."""
    if limits.size_of == "body":
        data = request.data()
        return len(data) if limits.size_unit == "bytes" else len(data.decode("utf-8"))
    found = _text_of(limits.type, request.body)
    text = found[0][found[1]] if found else ""
    return len(text.encode("utf-8")) if limits.size_unit == "bytes" else len(text)


def _footer_start(text: str, message: Message) -> int:
    """Where the footer (owner, tags, report link) begins in a rendered text."""
    marks = [message.say("owner", owner=message.owner) if message.owner else None]
    marks += [message.say("tags", tags=", ".join(message.tags)) if message.tags else None]
    marks += [
        f"[{message.say('html_report')}](",
        "<" + (message.report_url or "\0") + "|",
        message.say("report", url=""),
    ]
    starts = [text.rfind(m) for m in marks if m]
    starts = [i for i in starts if i > 0]
    if not starts:
        return len(text)
    line = text.rfind("\n", 0, min(starts))
    return line + 1 if line >= 0 else len(text)


def _hard_cut(request: HttpRequest, message: Message, limits: ChannelLimits) -> HttpRequest:
    """Cut the text before its footer until the request fits (a huge title or item)."""
    found = _text_of(limits.type, request.body)
    if found is None:
        return request
    holder, key = found
    text: str = holder[key]
    start = _footer_start(text, message)
    head, footer = text[:start], text[start:]
    for _ in range(40):
        excess = request_size(request, limits) - limits.size_limit
        if excess <= 0:
            break
        cut = head.encode("utf-8")[: max(len(head.encode("utf-8")) - excess - 64, 0)]
        head = cut.decode("utf-8", "ignore")
        holder[key] = head.rstrip() + SHORTENED + footer
    if request_size(request, limits) > limits.size_limit:  # the footer alone is too large
        holder[key] = _clip(holder[key], max(limits.size_limit // 2, 64))
    return request


def fit_request(
    build: Callable[[Message], HttpRequest], message: Message, limits: ChannelLimits | None
) -> HttpRequest:
    """The request for ``message`` with as many items as fit the limit, footer kept.

    Items are dropped from the end (the worst come first) and the text says how
    many were left out; the encoded result is what is measured, so JSON escaping
    cannot push it over.
    """
    request = build(message)
    if limits is None or request_size(request, limits) <= limits.size_limit:
        return request
    low, high = 0, len(message.items) - 1  # the largest count that fits is in [low, high]
    best: HttpRequest | None = None
    while low <= high:
        middle = (low + high) // 2
        shown = replace(message, items=message.items[:middle], omitted=len(message.items) - middle)
        attempt = build(shown)
        if request_size(attempt, limits) <= limits.size_limit:
            best, low = attempt, middle + 1
        else:
            high = middle - 1
    if best is not None:
        return best
    bare = replace(message, items=[], omitted=len(message.items), title=message.title[:300])
    return _hard_cut(build(bare), bare, limits)


def http_request(channel: Channel, message: Message, now: datetime) -> HttpRequest:
    """The POST that delivers ``message`` to an HTTP channel (every type but email).

    Fitted to the channel type's size limit from ``rules/channels.toml``.
    """
    worded = localized(message, channel.lang or "en")
    request = fit_request(
        lambda shown: _build(channel, shown, now), worded, limits_for(channel.type)
    )
    if isinstance(channel, WebhookChannel) and worded is not message:
        # the body's data stays as stored (English summaries): only title and text are worded
        request.body["changes"] = [dict(item) for item in message.items]
    return request
