"""One ``certcheck monitor`` run: scan, compare, store, alert, write metrics.

The scan is the normal pipeline (:func:`certcheck.pipeline.scan_targets`, then
:func:`certcheck.evaluate.evaluate` per target).  As each target finishes, its
result is compared with the target's previous result and committed to the
history together with its changes and alerts, so an interrupted run keeps
every target it finished and the next run carries on from there.  Alerts are
delivered after the scan from the outbox (see :mod:`.delivery`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from certcheck.evaluate import Policy, evaluate
from certcheck.exitcodes import EXIT_DELIVERY, EXIT_FINDINGS, EXIT_OK, EXIT_UNSCANNED
from certcheck.model import ServerFacts, TargetResult
from certcheck.monitor.alerts import (
    Message,
    change_message,
    reminder_due,
    reminder_message,
    standing_items,
)
from certcheck.monitor.changes import Change, DetectSettings, Snapshot, detect_changes
from certcheck.monitor.config import Channel, MonitorConfig, MonitoredTarget
from certcheck.monitor.delivery import DeliveryReport, deliver_outbox
from certcheck.monitor.lock import shard_key
from certcheck.monitor.metrics import RunMetrics, write_textfile
from certcheck.monitor.pacing import Pacer, digest_group, limits_for, pacing_hook
from certcheck.monitor.store import Store, StoreError, first_line
from certcheck.pipeline import exit_code as scan_exit_code
from certcheck.pipeline import scan_targets
from certcheck.report import jsondoc
from certcheck.targets import in_shard

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass
class TargetOutcome:
    monitored: MonitoredTarget
    result: TargetResult
    changes: list[Change]
    alert: Message | None


@dataclass
class MonitorOutcome:
    """What a run did (for the console, the exit code and the tests)."""

    run_id: int
    outcomes: list[TargetOutcome]
    exit_code: int
    delivery: DeliveryReport
    interrupted_before: int = 0
    duration: float = 0.0
    metrics_written: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[TargetResult]:
        return [o.result for o in self.outcomes]

    @property
    def alerts(self) -> list[Message]:
        return [o.alert for o in self.outcomes if o.alert is not None]

    @property
    def changed(self) -> bool:
        """Something worth telling people: a notified change or a reminder."""
        return bool(self.alerts)


def channels_for(message: Message, channels: dict[str, Channel]) -> list[str]:
    """The channels that want ``message``: severity at or above theirs, and a matching tag."""
    chosen = []
    for name, channel in channels.items():
        if SEVERITY_RANK[message.severity] < SEVERITY_RANK[channel.min_severity]:
            continue
        if channel.tags and not set(channel.tags) & set(message.tags):
            continue
        chosen.append(name)
    return chosen


class _Recorder:
    """The per-target step, called by the scan as each target finishes."""

    def __init__(
        self, config: MonitorConfig, store: Store, run_id: int, now: datetime, policy: Policy
    ) -> None:
        self.config = config
        self.store = store
        self.run_id = run_id
        self.now = now
        self.policy = policy
        self.by_key = {m.key: m for m in config.targets}
        thresholds = config.thresholds
        self.settings = DetectSettings(
            expiry_alert_days=tuple(sorted(set(thresholds.expiry_alert_days), reverse=True)),
            min_severity=config.alerts.min_severity,
            crit_days=self.policy.profile.crit_days,
        )
        self.outcomes: list[TargetOutcome] = []
        self._lock = threading.Lock()

    def __call__(self, facts: ServerFacts) -> None:
        # The runner calls this from its own thread today; the lock keeps one target's
        # read-compare-commit whole should that ever change.
        with self._lock:
            self._record(facts)

    def _record(self, facts: ServerFacts) -> None:
        monitored = self.by_key[facts.target.label]
        result = evaluate(facts, self.policy, self.now)
        document = {"schema_version": jsondoc.SCHEMA_VERSION, **result.to_dict()}
        current = Snapshot.from_document(document, self.now)
        previous, previous_scanned = self.store.previous(monitored.key, self.run_id)
        found = detect_changes(
            previous.snapshot if previous else None,
            previous_scanned.snapshot if previous_scanned else None,
            current,
            self.settings,
        )
        common = {
            "now": self.now,
            "run_id": self.run_id,
            "owner": monitored.owner,
            "tags": monitored.tags,
            "report_url": self.config.monitor.report_url,
        }
        message = change_message(monitored.key, found, result, **common)
        if message is None:
            alerts = self.config.alerts
            standing = standing_items(current, alerts.remind_severity, alerts.remind_within_days)
            if standing and reminder_due(
                self.store.last_alert_at(monitored.key), self.now, alerts.remind_every_hours
            ):
                message = reminder_message(monitored.key, standing, result, **common)
        alert = (message, channels_for(message, self.config.channels)) if message else None
        self.store.record_target(self.run_id, monitored.key, result, self.now, found, alert)
        self.outcomes.append(TargetOutcome(monitored, result, found, message))


def _pacer(config: MonitorConfig, store: Store, sleep: Callable[[float], None]) -> Pacer:
    """This run's pacer, knowing each channel's sends of the last minutes (earlier runs)."""
    pacer = Pacer(config.alerts.delivery_budget_seconds, sleep=sleep)
    wall, mono = datetime.now(UTC), time.monotonic()
    for name, channel in config.channels.items():
        limits = limits_for(channel.type)
        longest = max((seconds for _, seconds in limits.rates), default=0.0) if limits else 0.0
        earlier = store.recent_sends(name, wall - timedelta(seconds=longest * 2)) if longest else []
        pacer.configure(name, channel.type, [mono - (wall - t).total_seconds() for t in earlier])
    return pacer


def run_monitor(
    config: MonitorConfig,
    store: Store,
    *,
    now: datetime | None = None,
    wait: float = 0.0,
    fail_on: str | None = None,
    textfile: Path | None = None,
    deliver: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    shard: tuple[int, int] | None = None,
    fail_on_delivery: bool = False,
) -> MonitorOutcome:
    """Run once over every configured target (or shard ``(K, N)`` of them).

    The run locks, scans and delivers the alerts of its own targets only, so the
    shards of one configuration run at the same time on one history.
    ``fail_on_delivery``: exit :data:`~certcheck.pipeline.EXIT_DELIVERY` when an
    alert of these targets is still undelivered after the run (or was given up).

    ``now`` is the instant results are evaluated and recorded at (default: the
    clock); tests pass it to replay days of cron runs in seconds.  Raises
    :class:`~certcheck.monitor.lock.LockBusy` when another run holds the
    history, :class:`~certcheck.monitor.config.ConfigError` or
    :class:`~certcheck.monitor.store.StoreError` for unusable settings.
    """
    policy = config.policy()
    try:
        return _locked_run(
            config,
            store,
            policy,
            now,
            wait,
            fail_on,
            textfile,
            deliver,
            sleep,
            shard,
            fail_on_delivery,
        )
    except SQLAlchemyError as exc:
        raise StoreError(
            f"history database {store.label}: {config.redactor.scrub(first_line(exc))}"
        ) from None


def _locked_run(
    config: MonitorConfig,
    store: Store,
    policy: Policy,
    now: datetime | None,
    wait: float,
    fail_on: str | None,
    textfile: Path | None,
    deliver: bool,
    sleep: Callable[[float], None],
    shard: tuple[int, int] | None = None,
    fail_on_delivery: bool = False,
) -> MonitorOutcome:
    mine = [m for m in config.targets if in_shard(m.target, shard)]
    owned = {m.key for m in mine}
    key = shard_key(owned)
    shard_text = f"{shard[0]}/{shard[1]}" if shard else None
    note = f", shard {shard_text}" if shard_text else ""
    with store.lock(wait, key, f"{note}, {len(mine)} target(s)"):
        started = time.monotonic()  # after any --wait: the run starts now
        moment = now or datetime.now(UTC)
        store.migrate()
        interrupted = store.close_stale_runs(moment, key)
        run_id = store.begin_run(
            moment, len(mine), policy.profile.name[:200], lock_key=key, shard=shard_text
        )
        recorder = _Recorder(config, store, run_id, moment, policy)
        scan_started = time.monotonic()
        scan_targets(
            [m.target for m in mine],
            config.monitor.timeout,
            config.monitor.concurrency,
            on_done=recorder,
        )
        scan_duration = time.monotonic() - scan_started
        order = {m.key: i for i, m in enumerate(mine)}
        outcomes = sorted(recorder.outcomes, key=lambda o: order[o.monitored.key])
        code = scan_exit_code([o.result for o in outcomes], fail_on or config.monitor.fail_on)
        store.finish_run(run_id, moment + timedelta(seconds=time.monotonic() - started), code)
        delivery = (
            deliver_outbox(
                store,
                config.channels,
                config.alerts,
                config.redactor,
                sleep,
                owned=owned,
                now=moment,
                group=digest_group(config.alerts.digest_after, moment),
                before_attempt=pacing_hook(_pacer(config, store, sleep), config.channels),
            )
            if deliver
            else DeliveryReport()
        )
        if config.file.history.keep_days is not None:
            store.prune(moment - timedelta(days=config.file.history.keep_days))
        pending = {name: 0 for name in config.channels}
        for row in store.pending_deliveries():  # this run's targets only: not other shards'
            if row.target in owned:
                pending[row.channel] = pending.get(row.channel, 0) + 1
        delivery.pending = {k: v for k, v in pending.items() if v}
        if fail_on_delivery and code in (EXIT_OK, EXIT_FINDINGS, EXIT_UNSCANNED):
            if delivery.pending or delivery.gave_up or delivery.abandoned:
                code = EXIT_DELIVERY
        outcome = MonitorOutcome(
            run_id=run_id,
            outcomes=outcomes,
            exit_code=code,
            delivery=delivery,
            interrupted_before=interrupted,
        )
        outcome.duration = time.monotonic() - started
        if textfile is not None:
            write_textfile(
                textfile,
                RunMetrics(
                    finished_at=moment,
                    run_duration=outcome.duration,
                    scan_duration=scan_duration,
                    exit_code=code,
                    changes=sum(1 for o in outcomes for c in o.changes if c.kind != "first_seen"),
                    results=[(o.monitored, o.result) for o in outcomes],
                    pending_alerts=pending,
                ),
            )
            outcome.metrics_written = textfile
    return outcome
