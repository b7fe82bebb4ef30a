"""The commented example configuration that ``certcheck init`` writes."""

EXAMPLE_CONFIG = """\
# certcheck monitoring configuration (certcheck monitor --config certcheck.toml).
# Every key is optional unless marked "required".  Any string may use ${NAME}
# to take the value of the environment variable NAME (write $${ for a literal
# "${"); secrets belong there, not in this file.  Relative paths are relative
# to this file's folder.

[monitor]
profile = "wechat"        # policy profile: wechat (default), ats or strict
# profile_file = "policy.toml"   # as scan --profile-file: severities and [[ignore]]
fail_on = "error"         # lowest severity that makes the exit code 1
timeout = 10.0            # seconds per connection
concurrency = 8           # targets scanned at once
# ca_file = "private-root.pem"   # extra trust anchors (a private CA)
# distrust = ["<SHA-256 of a CA certificate to treat as distrusted>"]
# report_url = "https://status.example.com/certcheck/history.html"  # linked in alerts

[thresholds]
# warn_days = 30          # expiry warning / error thresholds (profile defaults 30 / 7)
# crit_days = 7
expiry_alert_days = [30, 7, 1]   # alert once as days-to-expiry crosses each of these

[alerts]
min_severity = "warning"  # new findings below this are recorded but not alerted
remind_every_hours = 24   # repeat standing problems this often (0 = never)
remind_severity = "error" # ... findings at or above this severity,
remind_within_days = 7    # ... and certificates expiring within this many days
retries = 3               # delivery attempts per alert within a run (then: next run)
backoff_seconds = 2.0     # wait 2 s, 4 s, ... between attempts
timeout_seconds = 10.0    # per delivery attempt
max_attempts = 12         # an alert failing this often (all runs) is recorded failed
max_age_hours = 72        # ... and so is one still undelivered after this long
digest_after = 5          # more alerts than this for one channel: one digest message
delivery_budget_seconds = 120   # longest wait for the channels' rate limits per run

[history]
path = "certcheck-history.db"   # SQLite file, created on the first run
# url = "postgresql://certcheck:${PGPASSWORD}@db.internal/certcheck"  # shared history
# keep_days = 400         # prune runs older than this after each run (default: keep all)

# One [[targets]] block per endpoint.  host (required) takes the same forms as
# `certcheck scan`: host, host:port, https://host[:port]/path, wss://host[:port].
# Replace the placeholder below with your own host: ".example" names never resolve
# (RFC 2606), so a run before editing reports the target unreachable and scans nothing.
[[targets]]
host = "www.your-domain.example"
tags = ["prod"]
owner = "web team <web@example.com>"

# [[targets]]
# host = "api.example.com"
# port = 8443
# resolve = "10.1.2.3"    # connect here instead of resolving host (SNI stays host)
# tags = ["prod", "api"]
# owner = "api team"

# Notification channels: each [[notify]] block is one channel.  Optional on
# every channel: name (default: the type), min_severity (default "info"), and
# tags (only alerts for targets with one of these tags).

# [[notify]]
# type = "wecom"          # WeCom (企业微信) group robot
# url = "${WECOM_WEBHOOK}"

# [[notify]]
# type = "dingtalk"       # DingTalk robot; secret enables its signed mode
# url = "${DINGTALK_WEBHOOK}"
# secret = "${DINGTALK_SECRET}"

# [[notify]]
# type = "feishu"         # Feishu / Lark bot (type = "lark" works too)
# url = "${FEISHU_WEBHOOK}"
# secret = "${FEISHU_SECRET}"

# [[notify]]
# type = "slack"          # Slack incoming webhook
# url = "${SLACK_WEBHOOK}"

# [[notify]]
# type = "webhook"        # any HTTP endpoint: certcheck's JSON alert body (README)
# url = "https://hooks.example.com/certcheck"
# headers = { Authorization = "Bearer ${HOOK_TOKEN}" }

# [[notify]]
# type = "email"
# host = "smtp.example.com"
# port = 587
# security = "starttls"   # starttls, ssl or none
# username = "certcheck"
# password = "${SMTP_PASSWORD}"
# from = "certcheck@example.com"
# to = ["ops@example.com"]
# min_severity = "warning"
"""
