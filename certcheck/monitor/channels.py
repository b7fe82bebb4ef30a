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
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

from certcheck.monitor.alerts import Message
from certcheck.monitor.config import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    SlackChannel,
    WebhookChannel,
    WeComChannel,
)
from certcheck.safeload import LoadError, load_json

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 18000
FEISHU_MAX_BYTES = 30000


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
            lines.append(f"  > fix: {fix}")
    footer = [p for p in message.footer() if not p.startswith("Report: ")]
    if message.report_url:
        footer.append(f"[HTML report]({message.report_url})")
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
            lines.append(f"    _fix:_ {_slack_escape(fix)}")
    footer = [_slack_escape(p) for p in message.footer() if not p.startswith("Report: ")]
    if message.report_url:
        footer.append(f"<{message.report_url}|HTML report>")
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
        return None

    return check


def http_request(channel: Channel, message: Message, now: datetime) -> HttpRequest:
    """The POST that delivers ``message`` to an HTTP channel (every type but email)."""
    if isinstance(channel, WebhookChannel):
        headers = {k: v.get_secret_value() for k, v in channel.headers.items()}
        return HttpRequest(channel.url.get_secret_value(), message.webhook_body(), headers)
    if isinstance(channel, SlackChannel):
        return HttpRequest(channel.url.get_secret_value(), {"text": slack_text(message)})
    if isinstance(channel, WeComChannel):
        body = {
            "msgtype": "markdown",
            "markdown": {"content": _clip(markdown_text(message), WECOM_MAX_BYTES)},
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
                "text": _clip(markdown_text(message), DINGTALK_MAX_BYTES),
            },
        }
        return HttpRequest(url, body, check=_json_code("errcode"))
    if isinstance(channel, FeishuChannel):
        body = {
            "msg_type": "text",
            "content": {"text": _clip(message.plain_text(), FEISHU_MAX_BYTES)},
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
    mail = EmailMessage()
    mail["Subject"] = message.title[:200]
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["X-Certcheck-Alert"] = message.kind
    mail.set_content(message.plain_text())
    return mail
