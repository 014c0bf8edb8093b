"""dpd_transitions and par15_snapshots (SPEC §3, §5.3, §5.5, §8) on a hand-built loan book.

The book is ingested through the ETL path, the recalculation job writes the tables, and the
tests assert the exact set of rows, every value worked out by hand from SPEC §5 (the arithmetic
is in the comments):

- dpd_transitions: one row per loan and *calculated* day D on which the loan is active on D−1
  and D and its DPD bucket differs between them: (loan_id, officer_id, branch, D, from bucket
  on D−1, to bucket on D, total_out(D)); rewritten when D is recalculated.
- par15_snapshots: per officer and calculated 15th M: Σ total_out(M) and the count of loans
  active on M with DPD(M) > 15; written when the 15th is calculated, rewritten when restated.

Buckets: '0' (DPD 0), '1-6', '7-30', '31-60', '61-90', '90+'. DPD(L, D) = D − the earliest due
date before D of an installment not settled by D. Active on D: disbursed ≤ D < closed_date.
Every loan is disbursed on 2026-08-01; the business date is 2026-09-18.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.db.metric_engine import EngineOptions
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE
from tests.test_metrics_handbuilt import batch, installment, loan, officer, repayment

Transition = tuple[str, str, str, date, str, str, Decimal]  # loan, officer, branch, D, from, to, balance
Snapshot = tuple[str, date, Decimal, int]  # officer, M, par15_exposure, par15_count

OPTIONS = EngineOptions()
DISBURSED = "2026-08-01"


def sep(day: int) -> date:
    return date(2026, 9, day)


def _book() -> dict[str, Any]:
    """Officer O1 (branch Alpha): loans A, B, C, F, K; officer O2 (branch Beta): loans D, E, G."""
    return batch(
        [officer("O1"), officer("O2", branch="Beta")],
        [
            # A: 0 -> 1-6 -> 7-30 -> 0 after a payment
            loan("A", "O1", "1000.00", DISBURSED, "2026-10-09"),
            # B: 1-6 from 09-08, written off on 09-14 (the day it would have reached 7-30)
            loan("B", "O1", "300.00", DISBURSED, "2026-09-07", closed="2026-09-14", status="Written Off"),
            # C: 7-30 all along, PAR15 on the 15th
            loan("C", "O1", "2000.00", DISBURSED, "2026-08-20"),
            # F: DPD exactly 15 on the 15th (not PAR15); 1-6 -> 7-30 on 09-07, a day never calculated
            loan("F", "O1", "400.00", DISBURSED, "2026-08-31"),
            # K: 7-30 -> 31-60 on 09-10, PAR15 on the 15th
            loan("K", "O1", "500.00", DISBURSED, "2026-08-10"),
            # D: 7-30 all along, PAR15 on the 15th
            loan("D", "O2", "800.00", DISBURSED, "2026-08-25", branch="Beta"),
            # E: a bullet loan (no schedule rows, implied installment due at maturity 09-05), 12% a year
            loan("E", "O2", "250.00", DISBURSED, "2026-09-05", rate="0.12", branch="Beta"),
            # G: partly paid, 0 -> 1-6 on 09-12, 1-6 -> 7-30 on 09-18
            loan("G", "O2", "600.00", DISBURSED, "2026-10-11", branch="Beta"),
        ],
        [
            installment("A", 1, "2026-09-09", "500.00", "50.00", "10.00"),  # 560
            installment("A", 2, "2026-10-09", "500.00", "50.00", "10.00"),  # 560
            installment("B", 1, "2026-09-07", "300.00", "30.00"),  # 330
            installment("C", 1, "2026-08-20", "2000.00", "200.00"),  # 2200
            installment("F", 1, "2026-08-31", "400.00"),
            installment("K", 1, "2026-08-10", "500.00"),
            installment("D", 1, "2026-08-25", "800.00"),
            installment("G", 1, "2026-09-11", "300.00", "20.00"),  # 320
            installment("G", 2, "2026-10-11", "300.00", "20.00"),  # 320
        ],
        [
            repayment("A-R1", "A", "2026-09-17", principal="500.00", interest="50.00", fees="10.00"),  # 560
            repayment("G-R1", "G", "2026-09-10", principal="100.00"),  # 100 < 320: #1 stays unsettled
        ],
    )


def _late_batch() -> dict[str, Any]:
    """Records that arrive after the backfill and restate history from 09-12."""
    return batch(
        [],
        # E written off on 09-12 (a status change restates from the closing date)
        [loan("E", "O2", "250.00", DISBURSED, "2026-09-05", rate="0.12", branch="Beta",
              closed="2026-09-12", status="Written Off")],
        [],
        [
            # A pays installment 1 on 09-15 (the 09-17 payment then covers installment 2)
            repayment("A-LATE", "A", "2026-09-15", principal="500.00", interest="50.00", fees="10.00",
                      backdated=True),
            # C pays part of its principal on 09-12: still overdue, smaller balance
            repayment("C-LATE", "C", "2026-09-12", principal="500.00", backdated=True),
            # K pays in full on 09-13: cured
            repayment("K-LATE", "K", "2026-09-13", principal="500.00", backdated=True),
        ],
    )


# Transitions of the backfill 09-08 .. 09-18 (computed from the initial book):
#
# A (O1): total_out before any payment 1000 + (50+50) + (10+10) = 1120. Installment 1 is due 09-09:
#   DPD(09-09) = 0 (its due date is not before D), DPD(09-10) = 1, ..., DPD(09-15) = 6,
#   DPD(09-16) = 7. On 09-17 paid = 560 ≥ C_1 − 0.01 = 559.99: #1 settled, #2 due 10-09 is not
#   before D, so DPD(09-17) = 0; total_out(09-17) = 500 + 50 + 10 = 560.
#   -> 09-10 0 → 1-6 (1120.00), 09-16 1-6 → 7-30 (1120.00), 09-17 7-30 → 0 (560.00)
# B (O1): 300 + 30 = 330, due 09-07: DPD(09-07) = 0, DPD(09-08) = 1 -> 09-08 0 → 1-6 (330.00);
#   09-07 was not calculated, but only D must be: D−1 is just the comparison day.
#   DPD(09-14) = 7 would be 7-30, but B is written off on 09-14 (not active on 09-14): no row, and
#   none after.
# C (O1): DPD(D) = D − 08-20: 18 on 09-07 .. 29 on 09-18, all 7-30: no row.
# F (O1): DPD(D) = D − 08-31: 7 on 09-07 (its 1-6 → 7-30 day, not calculated), 8..18 after: no row.
# K (O1): DPD(D) = D − 08-10: 30 on 09-09, 31 on 09-10 -> 09-10 7-30 → 31-60 (500.00); 39 on 09-18.
# D (O2): DPD(D) = D − 08-25: 13 on 09-07 .. 24 on 09-18, all 7-30: no row.
# E (O2): implied installment (SPEC §5.1) due on maturity 09-05: principal 250, interest
#   round2(250 × 0.12 × 35 / 365) = round2(2.8767...) = 2.88 (term 08-01 → 09-05 = 35 days), fee 0;
#   total_out 252.88. DPD(09-11) = 6, DPD(09-12) = 7 -> 09-12 1-6 → 7-30 (252.88).
# G (O2): 600 + 20 + 20 = 640, 100 principal paid on 09-10: total_out 540 from 09-10. Installment 1
#   (320, due 09-11) unsettled (100 < 319.99): DPD(09-11) = 0, DPD(09-12) = 1, DPD(09-17) = 6,
#   DPD(09-18) = 7 -> 09-12 0 → 1-6 (540.00), 09-18 1-6 → 7-30 (540.00).
G_ON_THE_18TH: Transition = ("G", "O2", "Beta", sep(18), "1-6", "7-30", Decimal("540.00"))
BACKFILL_TRANSITIONS: set[Transition] = {
    ("A", "O1", "Alpha", sep(10), "0", "1-6", Decimal("1120.00")),
    ("A", "O1", "Alpha", sep(16), "1-6", "7-30", Decimal("1120.00")),
    ("A", "O1", "Alpha", sep(17), "7-30", "0", Decimal("560.00")),
    ("B", "O1", "Alpha", sep(8), "0", "1-6", Decimal("330.00")),
    ("K", "O1", "Alpha", sep(10), "7-30", "31-60", Decimal("500.00")),
    ("E", "O2", "Beta", sep(12), "1-6", "7-30", Decimal("252.88")),
    ("G", "O2", "Beta", sep(12), "0", "1-6", Decimal("540.00")),
    G_ON_THE_18TH,
}

# PAR15 on M = 09-15 (active on 09-15 with DPD(09-15) > 15, total_out(09-15)):
# O1: A DPD 6; B written off on 09-14 (not active); C DPD 26 (2200); F DPD 15 (not > 15);
#     K DPD 36 (500) -> 2200 + 500 = 2700.00, 2 loans
# O2: D DPD 21 (800); E DPD 10; G DPD 4 -> 800.00, 1 loan
BACKFILL_SNAPSHOTS: set[Snapshot] = {
    ("O1", sep(15), Decimal("2700.00"), 2),
    ("O2", sep(15), Decimal("800.00"), 1),
}

# After the late batch (restated from 09-12 for O1 and O2, 09-18 for everyone):
# A: paid 560 on 09-15 settles #1 there: DPD(09-14) = 5 (1-6), DPD(09-15) = 0, total_out(09-15)
#    = 1120 − 560 = 560 -> 09-15 1-6 → 0 (560.00). DPD stays 0 on 09-16 (the 1-6 → 7-30 row goes)
#    and on 09-17, where the second 560 pays #2 early (total_out 0; the 7-30 → 0 row goes).
#    The 09-10 row, before the change, stays.
# C: 500 principal on 09-12 settles nothing (500 < 2199.99): DPD unchanged, no row;
#    total_out 2200 − 500 = 1700 from 09-12.
# K: 500 on 09-13 settles its only installment (≥ 499.99): DPD(09-12) = 33 (31-60),
#    DPD(09-13) = 0, total_out 500 − 500 = 0 -> 09-13 31-60 → 0 (0.00); 09-10 row stays.
# E: written off on 09-12, so not active on 09-12: its 09-12 row goes.
# B, D, F, G: unchanged (G's rows rewritten with the same values).
LATE_TRANSITIONS: set[Transition] = {
    ("A", "O1", "Alpha", sep(10), "0", "1-6", Decimal("1120.00")),
    ("A", "O1", "Alpha", sep(15), "1-6", "0", Decimal("560.00")),
    ("B", "O1", "Alpha", sep(8), "0", "1-6", Decimal("330.00")),
    ("K", "O1", "Alpha", sep(10), "7-30", "31-60", Decimal("500.00")),
    ("K", "O1", "Alpha", sep(13), "31-60", "0", Decimal("0.00")),
    ("G", "O2", "Beta", sep(12), "0", "1-6", Decimal("540.00")),
    G_ON_THE_18TH,
}
# PAR15 on 09-15 restated: O1: C DPD 26, 1700; K DPD 0 (cured on 09-13) -> 1700.00, 1 loan.
# O2: D 800 (E closed on 09-12, DPD 10 anyway) -> 800.00, 1 loan.
LATE_SNAPSHOTS: set[Snapshot] = {
    ("O1", sep(15), Decimal("1700.00"), 1),
    ("O2", sep(15), Decimal("800.00"), 1),
}


async def _ingest(db: Database, document: dict[str, Any]) -> None:
    result = await ingest(db, payload_from_document(document, max_records=10_000), BUSINESS_DATE)
    assert result.errors == [], result.errors


async def _recalculate(db: Database, *, start: date | None = None) -> None:
    result = await recalculate(db, OPTIONS, as_of=BUSINESS_DATE, start=start)
    assert result.status == "Completed", result.error


async def _transitions(db: Database) -> set[Transition]:
    async with db.raw_reader() as conn:
        rows = await conn.fetch(
            "SELECT loan_id, officer_id, branch, transition_date, from_dpd_bucket, to_dpd_bucket,"
            " outstanding_balance FROM dpd_transitions"
        )
    found = {tuple(row.values()) for row in rows}
    assert len(found) == len(rows), "duplicate transition rows"
    return found


async def _snapshots(db: Database) -> set[Snapshot]:
    async with db.raw_reader() as conn:
        rows = await conn.fetch("SELECT officer_id, snapshot_date, par15_exposure, par15_count FROM par15_snapshots")
    found = {tuple(row.values()) for row in rows}
    assert len(found) == len(rows), "duplicate snapshot rows"
    return found


async def _par15_mid_month(db: Database, day: date) -> dict[str, Decimal]:
    """The officers' daily par15_mid_month on ``day`` (SPEC §5.5: the par15_snapshots value for M)."""
    async with db.raw_reader() as conn:
        rows = await conn.fetch(
            "SELECT officer_id, par15_mid_month FROM officer_metrics_daily WHERE calculation_date = $1", day
        )
    return {r["officer_id"]: r["par15_mid_month"] for r in rows}


async def test_transitions_and_snapshots_of_a_backfill_across_the_15th(db: Database) -> None:
    await _ingest(db, _book())

    # Only the business date calculated: transitions on 09-18 alone (G's), and no snapshot, since
    # 09-15 itself has not been calculated.
    await _recalculate(db)
    assert await _transitions(db) == {G_ON_THE_18TH}
    assert await _snapshots(db) == set()

    # The backfill 09-08 .. 09-18 crosses the 15th.
    await _recalculate(db, start=sep(8))
    assert await _transitions(db) == BACKFILL_TRANSITIONS
    assert await _snapshots(db) == BACKFILL_SNAPSHOTS
    # D = 09-18 reads PAR15 at M = 09-15: the snapshot's exposure
    assert await _par15_mid_month(db, sep(18)) == {"O1": Decimal("2700.00"), "O2": Decimal("800.00")}

    # A second backfill of the same days rewrites the same rows (no duplicates).
    await _recalculate(db, start=sep(8))
    assert await _transitions(db) == BACKFILL_TRANSITIONS
    assert await _snapshots(db) == BACKFILL_SNAPSHOTS


async def test_late_records_restate_transitions_and_the_snapshot(db: Database) -> None:
    await _ingest(db, _book())
    await _recalculate(db, start=sep(8))
    assert await _transitions(db) == BACKFILL_TRANSITIONS
    assert await _snapshots(db) == BACKFILL_SNAPSHOTS

    await _ingest(db, _late_batch())
    await _recalculate(db)  # the business date for everyone, the changes from 09-12 for O1 and O2
    assert await _transitions(db) == LATE_TRANSITIONS
    assert await _snapshots(db) == LATE_SNAPSHOTS
    assert await _par15_mid_month(db, sep(18)) == {"O1": Decimal("1700.00"), "O2": Decimal("800.00")}


async def test_a_restated_day_keeps_the_other_officers_rows(db: Database) -> None:
    """Late records of one officer restate that officer's rows only; the other's stay as written."""
    await _ingest(db, _book())
    await _recalculate(db, start=sep(8))
    async with db.raw_reader() as conn:
        before = {r["loan_id"]: r["id"] for r in await conn.fetch(
            "SELECT loan_id, id FROM dpd_transitions WHERE officer_id = 'O2' AND transition_date < $1", sep(18))}
        o2_snapshot = await conn.fetchval("SELECT id FROM par15_snapshots WHERE officer_id = 'O2'")
    assert set(before) == {"E", "G"}

    # only O1's repayments this time (E is not closed)
    late = _late_batch()
    late["data"]["loans"] = []
    await _ingest(db, late)
    await _recalculate(db)
    # O1's rows as in test_late_records_restate_transitions_and_the_snapshot; E still active on 09-12
    assert await _transitions(db) == LATE_TRANSITIONS | {("E", "O2", "Beta", sep(12), "1-6", "7-30", Decimal("252.88"))}
    assert await _snapshots(db) == LATE_SNAPSHOTS
    async with db.raw_reader() as conn:
        after = {r["loan_id"]: r["id"] for r in await conn.fetch(
            "SELECT loan_id, id FROM dpd_transitions WHERE officer_id = 'O2' AND transition_date < $1", sep(18))}
        assert await conn.fetchval("SELECT id FROM par15_snapshots WHERE officer_id = 'O2'") == o2_snapshot
    assert after == before


async def test_a_reversal_and_a_reassigned_loan_restate_their_rows(db: Database) -> None:
    await _ingest(db, _book())
    await _recalculate(db, start=sep(8))
    assert await _transitions(db) == BACKFILL_TRANSITIONS

    corrections = batch(
        [],
        # G moves to officer O1 (same branch): a change of ownership restates from disbursement
        [loan("G", "O1", "600.00", DISBURSED, "2026-10-11", branch="Beta")],
        [],
        # A's 09-17 payment bounces: reversed repayments count on no date (SPEC §5.1)
        [repayment("A-R1", "A", "2026-09-17", principal="500.00", interest="50.00", fees="10.00",
                   reversed_on="2026-09-18")],
    )
    await _ingest(db, corrections)
    await _recalculate(db)
    # A: nothing paid, DPD(09-17) = 8 and DPD(09-18) = 9, both 7-30: the 09-17 7-30 → 0 row goes;
    #    09-10 and 09-16 stay (1120.00).
    # G: same days and balances (540.00), now under the loan's new officer O1.
    assert await _transitions(db) == (
        BACKFILL_TRANSITIONS
        - {("A", "O1", "Alpha", sep(17), "7-30", "0", Decimal("560.00")),
           ("G", "O2", "Beta", sep(12), "0", "1-6", Decimal("540.00")), G_ON_THE_18TH}
    ) | {
        ("G", "O1", "Beta", sep(12), "0", "1-6", Decimal("540.00")),
        ("G", "O1", "Beta", sep(18), "1-6", "7-30", Decimal("540.00")),
    }
    # PAR15 on 09-15 unchanged: A (DPD 6) and G (DPD 4) are not in it wherever they belong
    assert await _snapshots(db) == BACKFILL_SNAPSHOTS
