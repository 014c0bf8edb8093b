"""The business date: today in the configured time zone, or the fixed LOANMETRICS_TODAY."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BusinessClock:
    """Every "as of today" in the product reads this, so replays and tests can pin the date."""

    timezone: str = "UTC"
    fixed: date | None = None

    def today(self) -> date:
        if self.fixed is not None:
            return self.fixed
        return datetime.now(ZoneInfo(self.timezone)).date()
