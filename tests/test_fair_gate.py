"""API requests take connections first come, first served (db/engine.py ``FairGate``, issue 13):
a released slot goes to the longest waiter, never to a request that arrived later; a waiter
cancelled while queued leaves the queue, and one cancelled after being handed a slot passes it
on. Then the pool behind the gate serves concurrent requests in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from loanmetrics.db.engine import Database, FairGate
from tests.conftest import create_database, drop_database


async def _take(gate: FairGate, name: str, order: list[str], hold: asyncio.Event) -> None:
    async with gate.slot():
        order.append(name)
        await hold.wait()


async def test_a_released_slot_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    gate = FairGate(1)
    order: list[str] = []
    hold = asyncio.Event()
    await gate.acquire()  # the current holder
    waiters = [asyncio.create_task(_take(gate, name, order, hold)) for name in ("a", "b", "c")]
    await asyncio.sleep(0)
    assert gate.waiting == 3
    gate.release()
    # a request arriving right after the release, before the woken waiter runs, queues behind it
    newcomer = asyncio.create_task(_take(gate, "newcomer", order, hold))
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(*waiters, newcomer)
    assert order == ["a", "b", "c", "newcomer"]
    assert gate.waiting == 0
    await asyncio.wait_for(gate.acquire(), 1)  # the one slot is free again


async def test_cancelled_waiters_leave_no_slot_behind() -> None:
    gate = FairGate(1)
    await gate.acquire()
    queued = asyncio.create_task(gate.acquire())
    handed = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    queued.cancel()  # still waiting: leaves the queue
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert gate.waiting == 1
    gate.release()  # hands the slot to the second waiter...
    handed.cancel()  # ...which is cancelled before it runs: the slot is passed on, not lost
    with pytest.raises(asyncio.CancelledError):
        await handed
    assert gate.waiting == 0
    await asyncio.wait_for(gate.acquire(), 1)


async def test_a_waiter_cancelled_and_skipped_by_a_release_still_ends_cancelled() -> None:
    """A release that runs between a waiter's cancellation and its wake-up drops it from the
    queue; the waiter must still end with CancelledError (not a ValueError from the queue) and
    the slot must go to the next waiter."""
    gate = FairGate(1)
    await gate.acquire()
    cancelled = asyncio.create_task(gate.acquire())
    nxt = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    cancelled.cancel()
    gate.release()  # before the cancelled task runs: skips it, hands the slot to the next
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await asyncio.wait_for(nxt, 1)
    assert gate.waiting == 0


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        FairGate(0)


async def test_the_query_pool_serves_concurrent_requests_in_arrival_order() -> None:
    url = await create_database("lm_gate")
    database = Database.connect(url)
    try:
        await database.open_query_pool(max_size=2)
        assert database.query_gate.slots == 2
        order: list[int] = []

        async def request(number: int) -> None:
            async with database.raw_reader() as conn:
                order.append(number)
                await conn.fetchval("SELECT pg_sleep(0.02)")

        await asyncio.gather(*(request(-1) for _ in range(2)))  # both connections made
        order.clear()
        tasks = []
        for number in range(12):
            tasks.append(asyncio.create_task(request(number)))
            await asyncio.sleep(0)  # arrive one after the other
        await asyncio.gather(*tasks)
        assert order == list(range(12))
        async with database.raw_reader() as conn:  # API sessions keep generic plans
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
    finally:
        await database.dispose()
        await drop_database(url)
