"""APScheduler inside the server process (SPEC §8): the 15-minute recalculation and the daily
loan-state refresh, run only by the replica holding the leader lock."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from loanmetrics.db import generation, loan_state
from loanmetrics.scheduler.leader import LeaderLock
from loanmetrics.scheduler.recalculation import RunResult, recalculate

if TYPE_CHECKING:
    from loanmetrics.application import Application

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    status: str = "completed"


class SchedulerService:
    """Owns the AsyncIOScheduler and the leader lock of one application instance."""

    def __init__(self, application: Application) -> None:
        self.application = application
        self.leader = LeaderLock(application.db.url)
        self.scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        settings = self.application.settings
        zone = ZoneInfo(settings.timezone)
        self.scheduler = AsyncIOScheduler(timezone=zone)
        self.scheduler.add_job(
            self.recalculation_job, "interval", minutes=settings.recalc_interval_minutes,
            next_run_time=datetime.now(zone) + timedelta(seconds=5), id="recalculation",
            max_instances=1, coalesce=True,
        )
        self.scheduler.add_job(
            self.daily_job, "cron", hour=settings.daily_refresh_hour, minute=settings.daily_refresh_minute,
            id="daily_refresh", max_instances=1, coalesce=True,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        await self.leader.release()

    @asynccontextmanager
    async def _observed(self, job: str) -> AsyncIterator[JobOutcome]:
        """Times a job run into ``loanmetrics_job_seconds`` / ``loanmetrics_jobs_total`` with the
        status the body sets, or ``error`` if it raises."""
        outcome = JobOutcome()
        began = time.perf_counter()
        try:
            yield outcome
        except BaseException:
            outcome.status = "error"
            raise
        finally:
            self.application.telemetry.observe_job(job, outcome.status, time.perf_counter() - began)

    async def recalculation_job(self) -> RunResult | None:
        """Every interval: the business date (for everyone the first time), then the officers and
        branches whose records changed, from the earliest date they touched."""
        if not await self.leader.is_leader():
            return None
        app = self.application
        async with self._observed("recalculation") as outcome:
            result = await recalculate(
                app.db, app.engine_options, as_of=app.clock.today(), calculation_type="scheduled",
                incremental=True,
            )
            outcome.status = result.status.lower()
            if result.status == "Completed":
                await app.after_commit()
        return result

    async def daily_job(self) -> RunResult | None:
        """After midnight: refresh every loan for the new business date and finalise yesterday."""
        if not await self.leader.is_leader():
            return None
        app = self.application
        today = app.clock.today()
        async with self._observed("daily_refresh") as outcome:
            async with app.db.raw_transaction() as conn:
                await loan_state.refresh_for_date(conn, today)
                await generation.bump(conn, generation.Source.LOAN_REFRESH)
            result = await recalculate(
                app.db, app.engine_options, as_of=today - timedelta(days=1), calculation_type="daily",
            )
            outcome.status = result.status.lower()
            await app.after_commit()
        return result
