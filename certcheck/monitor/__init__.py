"""Scheduled monitoring: ``certcheck monitor``, ``history``, ``init`` and ``notify-test``.

config      certcheck.toml: targets, policy, thresholds, channels, history (secrets kept out)
store       history database (SQLAlchemy: SQLite file or PostgreSQL), schema + migrations
changes     what differs from a target's previous result (pure)
alerts      messages for people, reminders for standing errors
channels    per-channel payloads and signing (webhook, Slack, WeCom, DingTalk, Feishu, e-mail)
delivery    sending with retries; the outbox that keeps undelivered alerts for the next run
metrics     node_exporter textfile
run         one monitor run, tying the above to the scan pipeline
history_document  the certcheck-history document (history --json; its page is report/history_page)
"""

#: The configuration file name commands look for by default.
DEFAULT_FILE = "certcheck.toml"
