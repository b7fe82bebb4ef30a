"""Days as people read them: one function, one rounding, everywhere.

``days_left`` is the number of whole days until notAfter (88.7 → 88; 0 on the last day);
once expired it is minus the whole days since (10.5 days ago → -10), and never 0: the
first day after expiry is -1, so the sign alone says "expired".  The evidence, the JSON,
the console, the HTML report, the history and the alerts all show this number ("expired
N days ago" is ``-days_left``), so no two places disagree by one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

DAY = 86400


def whole_days(days: float) -> int:
    """A fractional day count as shown: 88.7 → 88, -10.5 → -10, -0.2 → -1."""
    if days >= 0:
        return math.floor(days)
    return -max(1, math.floor(-days))


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days from ``now`` until ``not_after`` (negative once expired)."""
    return whole_days((not_after - now).total_seconds() / DAY)


def iso(moment: datetime) -> str:
    """An instant as every certcheck document writes it: ``2026-12-03T05:16:00Z`` (UTC, to
    the second; an instant in another zone keeps its offset)."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time as written by certcheck or a user (``Z`` for UTC; a time
    without a zone is UTC).  ValueError for anything else."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
