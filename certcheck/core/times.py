"""Days as people read them: one function, one rounding, everywhere.

``days_left`` is the number of whole days until notAfter, rounded down: 0 on the last
day, -1 from the moment it has expired until a day later.  The evidence, the JSON, the
console, the HTML report, the history and the alerts all show this number (and "expired
N days ago" is ``-days_left``), so no two places disagree by one.
"""

from __future__ import annotations

import math
from datetime import datetime

DAY = 86400


def whole_days(days: float) -> int:
    """A fractional day count as shown: rounded down (88.7 → 88, -0.2 → -1)."""
    return math.floor(days)


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days from ``now`` until ``not_after`` (negative once expired)."""
    return whole_days((not_after - now).total_seconds() / DAY)
