"""Hand-built loan books with hand-computed metrics (SPEC §5.1-5.7).

Each test ingests a small book through the ETL path (``db.ingestion.service.ingest``), runs the
SQL metric engine (``db.metric_engine.compute``) and asserts literal values worked out by hand
from SPEC §5 (the arithmetic is in the comments next to each number). The same expectations are
then checked against the plain-Python reference (``calculators.metrics.group_metrics``), so a
test fails when either implementation drifts from the SPEC.

Conventions: D is the calculation date, S the window start (the first of D's month unless a
custom window is given), D−7 the other end of roll's step and M the latest 15th on or before D.
Money is written as decimal strings, ratios as exact fractions (the engine's 40-decimal values
must lie within 1e-39 of them), bands in title case. The business date is 2026-09-18.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import asyncpg

from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.calculators.book import Book
from loanmetrics.calculators.groups import branch_region
from loanmetrics.calculators.metrics import GroupMetrics, group_metrics
from loanmetrics.db import metric_engine as engine
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE

Json = dict[str, Any]
RowKey = tuple[str, date, str]  # (group_kind, calculation_date, group_key)

DEFAULT = engine.EngineOptions()
TOLERANCE = Fraction(1, 10**39)
BUCKET_LABELS = {"0": "0", "1_6": "1-6", "7_30": "7-30", "31_60": "31-60", "61_90": "61-90", "90_plus": "90+"}
MONEY = frozenset(engine.MONEY_COMPONENTS)
RATIOS = frozenset(engine.RATIOS)
F = Fraction


def aug(day: int) -> date:
    return date(2026, 8, day)


def sep(day: int) -> date:
    return date(2026, 9, day)


D = sep(18)
assert D == BUSINESS_DATE


# --------------------------------------------------------------------------------------------
# Payload builders
# --------------------------------------------------------------------------------------------


def officer(
    officer_id: str,
    *,
    channel: str | None = None,
    float_gap: bool = False,
    branch: str = "Alpha",
    region: str = "North",
) -> Json:
    return {
        "officer_id": officer_id, "officer_name": f"Officer {officer_id}", "region": region, "branch": branch,
        "primary_channel": channel, "had_float_gap": float_gap,
    }


def loan(
    loan_id: str,
    officer_id: str,
    amount: str,
    disbursed: str,
    maturity: str,
    *,
    term: int | None = None,
    rate: str | None = None,
    fee: str | None = None,
    channel: str = "Branch",
    closed: str | None = None,
    status: str | None = None,
    branch: str = "Alpha",
    region: str = "North",
) -> Json:
    """A loan; with no installment() rows it is a bullet loan (one implied installment, §5.1)."""
    if term is None:
        term = (date.fromisoformat(maturity) - date.fromisoformat(disbursed)).days
    return {
        "loan_id": loan_id, "customer_id": f"C-{loan_id}", "customer_name": f"Customer {loan_id}",
        "officer_id": officer_id, "officer_name": f"Officer {officer_id}", "region": region, "branch": branch,
        "loan_amount": amount, "disbursement_date": disbursed, "maturity_date": maturity, "loan_term_days": term,
        "interest_rate": rate, "fee_amount": fee, "channel": channel,
        "status": status or ("Closed" if closed else "Active"), "closed_date": closed,
    }


def installment(loan_id: str, number: int, due: str, principal: str, interest: str = "0", fee: str = "0") -> Json:
    total = Decimal(principal) + Decimal(interest) + Decimal(fee)
    return {
        "loan_id": loan_id, "installment_number": number, "due_date": due, "principal_due": principal,
        "interest_due": interest, "fee_due": fee, "total_due": str(total),
    }


def repayment(
    repayment_id: str,
    loan_id: str,
    day: str,
    principal: str = "0",
    interest: str = "0",
    fees: str = "0",
    *,
    penalty: str = "0",
    waiver: str | None = None,
    backdated: bool = False,
    reversed_on: str | None = None,
) -> Json:
    """A repayment; ``reversed_on`` sends it reversed (is_reversed true, with that reversal_date)."""
    amount = Decimal(principal) + Decimal(interest) + Decimal(fees) + Decimal(penalty)
    return {
        "repayment_id": repayment_id, "loan_id": loan_id, "payment_date": day, "payment_amount": str(amount),
        "principal_paid": principal, "interest_paid": interest, "fees_paid": fees, "penalty_paid": penalty,
        "payment_method": "Cash", "is_backdated": backdated, "is_reversed": reversed_on is not None,
        "reversal_date": reversed_on, "reversal_reason": "bounced" if reversed_on is not None else None,
        "waiver_amount": waiver,
    }


def batch(
    officers: Iterable[Json],
    loans: Iterable[Json],
    schedules: Iterable[Json] = (),
    repayments: Iterable[Json] = (),
) -> Json:
    return {
        "sync_timestamp": "2026-09-18T12:00:00Z",
        "sync_type": "incremental",
        "data": {
            "officers": list(officers), "loans": list(loans), "loan_schedules": list(schedules),
            "repayments": list(repayments),
        },
    }


def bullets(officer_id: str, amounts: Sequence[str], disbursed: str, maturity: str, prefix: str) -> list[Json]:
    """Bullet loans ``{prefix}{n}`` (no rate, no fee) of one officer, all disbursed and maturing together."""
    return [loan(f"{prefix}{n}", officer_id, amount, disbursed, maturity) for n, amount in enumerate(amounts, 1)]


# --------------------------------------------------------------------------------------------
# Running both implementations and comparing them with the hand-computed values
# --------------------------------------------------------------------------------------------


async def load(db: Database, *documents: Json) -> Book:
    """Ingest each batch in order (no record may be rejected); the reference book of all of them."""
    for document in documents:
        result = await ingest(db, payload_from_document(document, max_records=10_000), BUSINESS_DATE)
        assert result.errors == [], result.errors
    return Book.from_payloads(documents)


async def run(
    db: Database,
    kinds: engine.GroupKind | tuple[engine.GroupKind, ...],
    windows: Sequence[tuple[date, date]],
    options: engine.EngineOptions = DEFAULT,
) -> dict[RowKey, asyncpg.Record]:
    """The engine's rows for (S, D) windows, keyed by (group kind, D, group key)."""
    async with db.raw_reader() as conn:
        rows = await engine.compute(conn, kinds, windows, options=options)
    keyed = {(row["group_kind"], row["calculation_date"], row["group_key"]): row for row in rows}
    assert len(keyed) == len(rows)
    return keyed


def _bucket(name: str) -> tuple[str, str]:
    """'bucket_90_plus_count' -> ('90+', 'count')."""
    label, part = name.removeprefix("bucket_").rsplit("_", 1)
    return BUCKET_LABELS[label], part


def _sql_value(row: asyncpg.Record, name: str) -> Any:
    value = row[name]
    if name in MONEY:
        return engine.cents(value)
    if name in RATIOS:
        return None if value is None else F(value)
    if name == "penalty_inputs":
        return [F(x) for x in value]
    return value


def _reference_value(m: GroupMetrics, book: Book, name: str) -> Any:
    c = m.components
    if name.startswith("bucket_"):
        label, part = _bucket(name)
        return c.buckets[label].count if part == "count" else c.buckets[label].balance
    if name in RATIOS:
        return m.ratios.by_name()[name].value
    if name.endswith("_band"):
        base = name.removesuffix("_band")
        band = m.risk_band if base == "risk" else m.dqi_band if base == "dqi" else m.ratio_bands[base]
        return None if band is None else band.title_case
    if name == "penalty_inputs":
        return [p.input for p in m.penalties]
    if name == "main_region":
        return branch_region(book, m.key, m.window.end)
    if name in ("risk_score", "dqi"):
        return getattr(m, name)
    return getattr(c, name)


def _close(got: Fraction, want: Any, *, exact: bool) -> bool:
    """The reference's exact fractions equal; the engine's 40-decimal values within 1e-39."""
    return got == F(want) if exact else abs(got - F(want)) < TOLERANCE


def _matches(name: str, got: Any, want: Any, *, exact: bool) -> bool:
    if name in RATIOS:
        if want is None or got is None:
            return want is None and got is None
        return _close(got, want, exact=exact)
    if name == "penalty_inputs":
        return len(got) == len(want) and all(_close(g, w, exact=exact) for g, w in zip(got, want, strict=True))
    if name in MONEY or (name.startswith("bucket_") and name.endswith("_balance")):
        return isinstance(got, Decimal) and got == Decimal(want)
    return type(got) is type(want) and got == want


def check(
    rows: Mapping[RowKey, asyncpg.Record],
    book: Book,
    kind: engine.GroupKind,
    key: str,
    window: tuple[date, date],
    expected: Mapping[str, Any],
    options: engine.EngineOptions = DEFAULT,
) -> None:
    """The engine's row and the reference's metrics of one group both equal ``expected``."""
    start, end = window
    assert (kind, end, key) in rows, f"no engine row for {kind} {key} on {end}"
    row = rows[(kind, end, key)]
    assert row["period_start"] == start
    reference = group_metrics(
        book, kind, key, end, start, thresholds=options.bands,
        channel_purity_in_dqi=options.channel_purity_in_dqi,
    )
    mismatches = []
    for name, want in expected.items():
        got_sql = _sql_value(row, name)
        if not _matches(name, got_sql, want, exact=False):
            mismatches.append(("sql", name, got_sql, want))
        got_ref = _reference_value(reference, book, name)
        if not _matches(name, got_ref, want, exact=True):
            mismatches.append(("reference", name, got_ref, want))
    assert mismatches == [], f"{kind} {key} [{start}, {end}]: {mismatches}"


def keys_on(rows: Mapping[RowKey, asyncpg.Record], kind: str, end: date) -> set[str]:
    return {key for (k, d, key) in rows if k == kind and d == end}


# --------------------------------------------------------------------------------------------
# Stocks on D (§5.3, §5.5)
# --------------------------------------------------------------------------------------------


async def test_stock_balances_buckets_overdue_and_porr(db: Database) -> None:
    """total_out includes interest and fees not yet due; buckets at their boundary DPDs; PORR."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("S0", "O1", "1000.00", "2026-09-01", "2026-09-25"),
            loan("S6", "O1", "1000.00", "2026-08-01", "2026-10-12"),
            loan("S15", "O1", "100.00", "2026-08-01", "2026-09-03"),
            loan("S16", "O1", "2000.00", "2026-07-01", "2026-09-02"),
            loan("S31", "O1", "300.00", "2026-06-01", "2026-08-18"),
            loan("S61", "O1", "400.00", "2026-05-01", "2026-07-19"),
            loan("S91", "O1", "600.00", "2026-04-01", "2026-06-19"),
        ],
        [
            installment("S0", 1, "2026-09-25", "1000.00", "100.00", "10.00"),  # nothing due yet
            installment("S6", 1, "2026-09-12", "500.00", "50.00", "5.00"),
            installment("S6", 2, "2026-10-12", "500.00", "50.00", "5.00"),
            installment("S15", 1, "2026-09-03", "100.00"),
            installment("S16", 1, "2026-09-02", "2000.00", "200.00", "20.00"),
            installment("S31", 1, "2026-08-18", "300.00", "30.00", "3.00"),
            installment("S61", 1, "2026-07-19", "400.00"),
            installment("S91", 1, "2026-06-19", "600.00", "60.00"),
        ],
        [repayment("S6-R1", "S6", "2026-09-10", principal="100.00")],  # partial: installment 1 stays unsettled
    ))
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "active_loans": 7,
        # S0 1000+100+10 = 1110 (DPD 0: due 09-25 is not before D)
        # S6 (1000−100)+100+10 = 1010 (DPD 18−12 = 6)     S15 100 (DPD 18−3 = 15)
        # S16 2000+200+20 = 2220 (DPD 16)   S31 300+30+3 = 333 (DPD 13+18 = 31)
        # S61 400 (DPD 12+31+18 = 61)       S91 600+60 = 660 (DPD 11+31+31+18 = 91)
        "total_portfolio": "5833.00",  # 1110+1010+100+2220+333+400+660
        "bucket_0_count": 1, "bucket_0_balance": "1110.00",
        "bucket_1_6_count": 1, "bucket_1_6_balance": "1010.00",
        "bucket_7_30_count": 2, "bucket_7_30_balance": "2320.00",  # S15 100 + S16 2220
        "bucket_31_60_count": 1, "bucket_31_60_balance": "333.00",
        "bucket_61_90_count": 1, "bucket_61_90_balance": "400.00",
        "bucket_90_plus_count": 1, "bucket_90_plus_balance": "660.00",
        "overdue_15d_count": 4,  # DPD > 15: S16, S31, S61, S91 (S15 is not)
        "overdue_15d_amount": "3613.00",  # 2220+333+400+660
        "porr": F(3613, 5833),
        "dpd_1to6_balance": "1010.00",  # S6
    })


# DPD on D of each pinned loan -> its bucket (SPEC §5.3): both sides of every bucket edge.
EDGE_DPDS = {0: "0", 1: "1_6", 6: "1_6", 7: "7_30", 30: "7_30", 31: "31_60", 60: "31_60", 61: "61_90",
             90: "61_90", 91: "90_plus"}


def _edge_loans() -> list[Json]:
    """Unpaid bullet loans maturing DPD days before D (due on D itself for DPD 0), each of an
    amount that names its DPD: 1000 + DPD."""
    return [loan(f"E{dpd}", "O1", f"{1000 + dpd}.00", "2026-04-01", (D - timedelta(days=dpd)).isoformat())
            for dpd in EDGE_DPDS]


async def test_loans_on_both_sides_of_every_bucket_edge(db: Database) -> None:
    """DPD 0/1, 6/7, 30/31, 60/61 and 90/91 on D: each loan in its own bucket, in the engine, the
    reference, the daily table, and the day's transitions (each upper-edge loan crossed its edge
    between D−1 and D; a lower-edge loan stayed)."""
    book = await load(db, batch([officer("O1")], _edge_loans()))
    rows = await run(db, "officer", [(sep(1), D)])
    expected: dict[str, Any] = {
        "bucket_0_count": 1, "bucket_0_balance": "1000.00",  # E0
        "bucket_1_6_count": 2, "bucket_1_6_balance": "2007.00",  # E1 1001 + E6 1006
        "bucket_7_30_count": 2, "bucket_7_30_balance": "2037.00",  # E7 1007 + E30 1030
        "bucket_31_60_count": 2, "bucket_31_60_balance": "2091.00",  # E31 1031 + E60 1060
        "bucket_61_90_count": 2, "bucket_61_90_balance": "2151.00",  # E61 1061 + E90 1090
        "bucket_90_plus_count": 1, "bucket_90_plus_balance": "1091.00",  # E91
    }
    # portfolio at risk on the same edges: PARN counts DPD ≥ 1, 31, 61, 91 (principal = amount here)
    par: dict[str, Any] = {
        "gross_loan_portfolio": "10377.00",  # 10 × 1000 + 0+1+6+7+30+31+60+61+90+91
        "par1_count": 9, "par1_amount": "9377.00",  # all but E0
        "par30_count": 5, "par30_amount": "5333.00",  # E31 1031 + E60 1060 + E61 1061 + E90 1090 + E91 1091
        "par60_count": 3, "par60_amount": "3242.00",  # E61 + E90 + E91
        "par90_count": 1, "par90_amount": "1091.00",  # E91
    }
    check(rows, book, "officer", "O1", (sep(1), D), {
        **expected,
        **par,
        "par1": F(9377, 10377), "par30": F(5333, 10377), "par60": F(3242, 10377), "par90": F(1091, 10377),
        "par30_band": "Flag",
        "active_loans": 10,
        "overdue_15d_count": 6,  # DPD > 15: 30, 31, 60, 61, 90, 91
        "dpd_1to6_balance": "2007.00",  # E1 1001 + E6 1006
    })
    assert (await recalculate(db, DEFAULT, as_of=D)).status == "Completed"
    async with db.raw_reader() as conn:
        daily = await conn.fetchrow(
            "SELECT * FROM officer_metrics_daily WHERE officer_id = 'O1' AND calculation_date = $1", D)
        moves = await conn.fetch("SELECT loan_id, from_dpd_bucket, to_dpd_bucket FROM dpd_transitions"
                                 " WHERE transition_date = $1 ORDER BY loan_id", D)
    assert daily is not None
    for name, want in {**expected, **par}.items():
        assert daily[name] == (Decimal(want) if isinstance(want, str) else want), name
    assert {(m["loan_id"], m["from_dpd_bucket"], m["to_dpd_bucket"]) for m in moves} == {
        ("E1", "0", "1-6"), ("E7", "1-6", "7-30"), ("E31", "7-30", "31-60"), ("E61", "31-60", "61-90"),
        ("E91", "61-90", "90+"),
    }


async def test_portfolio_at_risk_is_principal_of_active_loans_in_arrears(db: Database) -> None:
    """SPEC §5.5: gross_loan_portfolio = Σ principal_out(D) of active loans; PARN = Σ principal_out(D)
    of active loans with DPD(D) ≥ 1, 31, 61, 91 over it. Interest and fees never count; closed and
    written-off loans neither; principal paid beyond the amount counts as 0."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("A1", "O1", "1000.00", "2026-07-01", "2026-08-18"),
            loan("A2", "O1", "500.00", "2026-08-01", "2026-09-17"),
            loan("A3", "O1", "2000.00", "2026-08-01", "2026-10-15"),
            loan("A4", "O1", "700.00", "2026-04-01", "2026-06-01", closed="2026-09-01", status="Written Off"),
            loan("A5", "O1", "400.00", "2026-06-01", "2026-07-01", closed="2026-07-01"),
            loan("A6", "O1", "600.00", "2026-05-01", "2026-07-01"),
        ],
        [
            installment("A1", 1, "2026-08-18", "1000.00", "100.00", "10.00"),  # DPD 31 on D
            installment("A2", 1, "2026-09-17", "500.00"),  # DPD 1
            installment("A3", 1, "2026-10-15", "2000.00"),  # DPD 0
            installment("A4", 1, "2026-06-01", "700.00"),
            installment("A5", 1, "2026-07-01", "400.00"),
            installment("A6", 1, "2026-07-01", "600.00", "60.00"),  # DPD 79: 650 paid of 660 due
        ],
        [
            repayment("A1-P", "A1", "2026-08-20", principal="200.00", interest="100.00"),  # 300 of 1110: unsettled
            repayment("A3-P", "A3", "2026-09-10", principal="300.00"),
            repayment("A5-P", "A5", "2026-07-01", principal="400.00"),
            repayment("A6-P", "A6", "2026-06-20", principal="650.00"),  # principal paid past the amount
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "active_loans": 4,  # A1, A2, A3, A6
        # principal_out: A1 1000 − 200 = 800 (total_out 810 with the unpaid fee), A2 500, A3 1700, A6 0
        "gross_loan_portfolio": "3000.00",
        "total_portfolio": "3070.00",  # 810 + 500 + 1700 + 60 (A6's unpaid interest)
        "par1_count": 3, "par1_amount": "1300.00", "par1": F(13, 30),  # A1 800, A2 500, A6 0
        "par30_count": 2, "par30_amount": "800.00", "par30": F(4, 15), "par30_band": "Flag",  # A1, A6
        "par60_count": 1, "par60_amount": "0.00", "par60": 0,  # A6
        "par90_count": 0, "par90_amount": "0.00", "par90": 0,
    })


async def test_portfolio_at_risk_without_a_portfolio_is_null(db: Database) -> None:
    """No active loan: gross_loan_portfolio 0 and every PAR null, with a null band."""
    book = await load(db, batch([officer("O1")], [
        loan("Z1", "O1", "100.00", "2026-06-01", "2026-07-01", closed="2026-08-01", status="Written Off")]))
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "gross_loan_portfolio": "0.00", "par1": None, "par30": None, "par30_band": None, "par60": None, "par90": None,
        "par30_count": 0, "par30_amount": "0.00",
    })


async def test_par30_band_boundaries(db: Database) -> None:
    """PAR30 Green ≤ 5%, Watch ≤ 10%: x at DPD 31 of a 10,000 gross portfolio."""
    late = {"P5": "500.00", "P5x": "500.01", "P10": "1000.00", "P10x": "1000.01"}
    loans = []
    for name, x in late.items():
        loans.append(loan(f"{name}-late", name, x, "2026-06-01", "2026-08-18"))  # DPD 31
        loans.append(loan(f"{name}-ok", name, str(Decimal("10000.00") - Decimal(x)), "2026-08-01", "2026-10-18"))
    book = await load(db, batch([officer(name) for name in late], loans))
    window = (sep(1), D)
    rows = await run(db, "officer", [window])
    bands = {"P5": "Green", "P5x": "Watch", "P10": "Watch", "P10x": "Flag"}
    for name, x in late.items():
        check(rows, book, "officer", name, window, {
            "gross_loan_portfolio": "10000.00", "par30_amount": x, "par30": F(Decimal(x)) / 10000,
            "par30_band": bands[name],
        })


async def test_amount_due_7d_and_d06_slippage(db: Database) -> None:
    """amount_due_7d = Σ(total_due − alloc_i(D)) over installments due in [D, D+6] of active loans."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("P1", "O1", "800.00", "2026-08-01", "2026-09-25"),
            loan("P2", "O1", "200.00", "2026-08-01", "2026-09-21"),
            loan("P3", "O1", "500.00", "2026-08-01", "2026-09-20", closed="2026-09-15"),
            loan("P4", "O1", "300.00", "2026-09-01", "2026-09-20"),
        ],
        [
            installment("P1", 1, "2026-09-11", "200.00"),
            installment("P1", 2, "2026-09-18", "200.00"),  # due on D: in the week
            installment("P1", 3, "2026-09-24", "200.00"),  # D+6: in the week
            installment("P1", 4, "2026-09-25", "200.00"),  # D+7: outside
            installment("P2", 1, "2026-09-14", "100.00"),
            installment("P2", 2, "2026-09-21", "100.00"),
            installment("P3", 1, "2026-09-20", "500.00"),  # loan closed on 09-15: not active on D
            installment("P4", 1, "2026-09-20", "300.00"),  # prepaid in full
        ],
        [
            repayment("P1-R1", "P1", "2026-09-10", principal="250.00"),
            repayment("P4-R1", "P4", "2026-09-05", principal="300.00"),
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D), (sep(1), sep(10))])
    check(rows, book, "officer", "O1", (sep(1), D), {
        # P1: paid 250 settles #1 (C1 = 200); #2 alloc = min(200, 250−200) = 50 -> 150; #3 alloc 0 -> 200
        # P2: #2 (09-21) 100 − 0 = 100;  P3 closed on 09-15 (not active);  P4 prepaid: 300 − 300 = 0
        "amount_due_7d": "450.00",  # 150 + 200 + 100 + 0
        "dpd_1to6_balance": "200.00",  # P2 (DPD 18−14 = 4), total_out 100+100; P1 has DPD 0
        "d06_slippage": F(4, 9),  # 200 / 450
        "d06_slippage_band": "Flag",
        "active_loans": 3,
        "total_portfolio": "750.00",  # P1 800−250 = 550, P2 200, P4 0
    })
    check(rows, book, "officer", "O1", (sep(1), sep(10)), {
        # week [09-10, 09-16]: P1 #1 (09-11) settled by the payment made on D itself -> 0;
        # P2 #1 (09-14) 100; P3 (still active on 09-10) and P4 have nothing due that week
        "amount_due_7d": "100.00",
        "dpd_1to6_balance": "0.00",
        "d06_slippage": 0,
        "d06_slippage_band": "Green",
    })


async def test_roll_seven_day_step_on_d_minus_7_balances(db: Database) -> None:
    """prev_dpd_1to6_balance and moved_to_7to30 are balances on D−7 = 09-11; roll is their ratio."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("R1", "O1", "2000.00", "2026-08-01", "2026-10-08"),
            loan("R2", "O1", "1000.00", "2026-08-01", "2026-10-06"),
            loan("R3", "O1", "1200.00", "2026-08-01", "2026-10-15"),
            loan("R4", "O1", "300.00", "2026-08-01", "2026-09-11"),
            loan("R5", "O1", "800.00", "2026-08-01", "2026-09-09", closed="2026-09-14", status="Written Off"),
        ],
        [
            installment("R1", 1, "2026-09-08", "1000.00", "100.00", "10.00"),
            installment("R1", 2, "2026-10-08", "1000.00", "100.00", "10.00"),
            installment("R2", 1, "2026-09-06", "500.00"),
            installment("R2", 2, "2026-10-06", "500.00"),
            installment("R3", 1, "2026-09-10", "400.00"),
            installment("R3", 2, "2026-09-15", "400.00"),
            installment("R3", 3, "2026-10-15", "400.00"),
            installment("R4", 1, "2026-09-11", "300.00"),
            installment("R5", 1, "2026-09-09", "800.00"),
        ],
        [
            repayment("R1-P", "R1", "2026-09-12", principal="60.00"),  # after D−7: balance on D−7 unaffected
            repayment("R2-P", "R2", "2026-09-15", principal="500.00"),  # cures R2
            repayment("R3-P", "R3", "2026-09-13", principal="400.00"),  # settles #1, #2 then overdue
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "O1", (sep(1), D), {
        # on 09-11: R1 DPD 3 (2000+200+20 = 2220), R2 DPD 5 (1000), R3 DPD 1 (1200), R5 DPD 2 (800);
        # R4 DPD 0 (due 09-11 is not before 09-11)
        "prev_dpd_1to6_balance": "5220.00",  # 2220+1000+1200+800
        # on D: R1 DPD 10 (moved), R2 DPD 0, R3 DPD 3 (#2 due 09-15), R5 written off 09-14 (not active)
        "moved_to_7to30": "2220.00",  # R1's balance on D−7, not its 2160 on D
        "roll": F(37, 87),  # 2220/5220
        "roll_band": "Flag",
        "dpd_1to6_balance": "800.00",  # R3 1200−400
        "bucket_7_30_count": 2, "bucket_7_30_balance": "2460.00",  # R1 2220−60 = 2160, R4 300 (DPD 7)
        "bucket_0_count": 1, "bucket_0_balance": "500.00",  # R2 1000−500
        "active_loans": 4,
        "total_portfolio": "3760.00",  # 2160+500+800+300
    })


async def test_par15_mid_month_before_on_and_after_the_15th(db: Database) -> None:
    """par15_mid_month is Σ total_out(M) of loans active on M with DPD(M) > 15."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("M1", "O1", "1000.00", "2026-06-01", "2026-10-20"),
            loan("M2", "O1", "600.00", "2026-07-01", "2026-08-30"),
            loan("M3", "O1", "250.00", "2026-07-01", "2026-08-31"),
            loan("M4", "O1", "900.00", "2026-05-01", "2026-07-01", closed="2026-09-12", status="Written Off"),
        ],
        [
            installment("M1", 1, "2026-07-20", "500.00"),
            installment("M1", 2, "2026-10-20", "500.00"),
            installment("M2", 1, "2026-08-30", "600.00", "90.00", "10.00"),
            installment("M3", 1, "2026-08-31", "250.00"),
            installment("M4", 1, "2026-07-01", "900.00"),
        ],
        [
            repayment("M1-P", "M1", "2026-09-01", principal="500.00"),
            repayment("M2-P", "M2", "2026-09-17", principal="100.00"),  # after M = 09-15
        ],
    ))
    windows = [(sep(1), sep(10)), (sep(1), sep(14)), (sep(1), sep(15)), (sep(1), D)]
    rows = await run(db, "officer", windows)
    # M = 08-15 for D = 09-10 and 09-14: M1 DPD 11+15 = 26 (1000, paid only on 09-01);
    # M4 DPD 31+14 = 45 (900, written off later, on 09-12); M2, M3 not yet due
    for window in windows[:2]:
        check(rows, book, "officer", "O1", window, {"par15_mid_month": "1900.00", "par15_mid_month_count": 2})
    # M = 09-15 for D = 09-15 and 09-18: M2 DPD 1+15 = 16 -> 600+90+10 = 700; M3 DPD 15 (not > 15);
    # M1 settled on 09-01; M4 not active
    for window in windows[2:]:
        check(rows, book, "officer", "O1", window, {"par15_mid_month": "700.00", "par15_mid_month_count": 1})
    check(rows, book, "officer", "O1", (sep(1), D), {
        # on D itself: M2 DPD 19, (600−100)+90+10 = 600; M3 DPD 18, 250
        "overdue_15d_amount": "850.00",
        "overdue_15d_count": 2,
    })


# --------------------------------------------------------------------------------------------
# Channel purity and the DQI toggle
# --------------------------------------------------------------------------------------------


async def test_channel_purity_and_the_dqi_toggle(db: Database) -> None:
    """CP by the loan officer's primary_channel (exact match; none means pure); CP' toggle in DQI."""
    later = ("2026-08-01", "2026-10-15")  # disbursed before the window, due after D: no other penalty
    book = await load(db, batch(
        [officer("X", channel="Agent"), officer("Y"), officer("Z", channel="Agent")],
        [
            loan("X1", "X", "100.00", *later, channel="Agent"),
            loan("X2", "X", "100.00", *later, channel="Agent"),
            loan("X3", "X", "100.00", *later, channel="Branch"),
            loan("X4", "X", "100.00", *later, channel="agent"),  # not exactly 'Agent'
            loan("X5", "X", "100.00", *later, channel="Branch", closed="2026-09-10"),  # not active
            loan("Y1", "Y", "100.00", *later, channel="Branch"),
            loan("Y2", "Y", "100.00", *later, channel="Agent"),
            loan("Z1", "Z", "100.00", *later, channel="Branch", closed="2026-09-05"),
        ],
    ))
    window = (sep(1), D)
    for options, x_dqi, all_dqi in ((DEFAULT, 50, 66), (engine.EngineOptions(channel_purity_in_dqi=False), 99, 99)):
        rows = await run(db, ("officer", "all"), [window], options)
        check(rows, book, "officer", "X", window, {
            "active_loans": 4,
            "channel_pure_count": 2,  # X1, X2
            "channel_purity": F(1, 2),
            "penalty_inputs": [0, 0, 0, 0, 0, 0, 0, F(1, 2), 0],
            "risk_score": 98,  # 100 − 5·(1 − 1/2) = 97.5 -> 98 (the toggle keeps the CP penalty)
            # on: 100·(0.4·0.98 + 0.35·1 + 0.25·1)·1/2 = 99.2/2 = 49.6 -> 50;  off: 99.2 -> 99
            "dqi": x_dqi,
            "dqi_band": "Flag" if options.channel_purity_in_dqi else "Green",
        }, options)
        check(rows, book, "officer", "Y", window, {
            "channel_pure_count": 2, "channel_purity": 1, "risk_score": 100, "dqi": 100,  # no primary_channel
        }, options)
        check(rows, book, "officer", "Z", window, {
            "active_loans": 0, "channel_pure_count": 0, "channel_purity": 1, "risk_score": 100, "dqi": 100,
        }, options)
        check(rows, book, "all", "all", window, {
            "active_loans": 6,
            "channel_pure_count": 4,  # X1, X2, Y1, Y2
            "channel_purity": F(2, 3),
            "risk_score": 98,  # 100 − 5·1/3 = 98.33 -> 98
            # on: 100·(0.392 + 0.35 + 0.25)·2/3 = 66.13 -> 66;  off: 99.2 -> 99
            "dqi": all_dqi,
        }, options)


# --------------------------------------------------------------------------------------------
# Flows over [S, D]
# --------------------------------------------------------------------------------------------


async def test_disbursed_and_fimr_cohorts(db: Database) -> None:
    """Cohort: disbursed in [S, D] with first due < D; missed: nothing (coverage > 0) by the due date."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("F1", "O1", "1000.00", "2026-09-01", "2026-09-10"),  # paid on the due date
            loan("F2", "O1", "2000.00", "2026-09-02", "2026-09-12"),  # paid a day late
            loan("F3", "O1", "500.00", "2026-09-03", "2026-09-15"),  # never paid
            loan("F4", "O1", "700.00", "2026-09-05", "2026-09-18"),  # first due on D: not eligible
            loan("F5", "O1", "900.00", "2026-08-31", "2026-09-05"),  # disbursed on S−1, never paid
            loan("F6", "O1", "400.00", "2026-08-01", "2026-08-20"),  # paid early
            loan("F7", "O1", "600.00", "2026-09-04", "2026-09-09"),  # only a penalty paid (coverage 0)
        ],
        repayments=[
            repayment("F1-P", "F1", "2026-09-10", principal="1000.00"),
            repayment("F2-P", "F2", "2026-09-13", principal="2000.00"),
            repayment("F6-P", "F6", "2026-08-15", principal="400.00"),
            repayment("F7-P", "F7", "2026-09-08", penalty="15.00"),
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D), (sep(1), sep(10))])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "disbursed_count": 5,  # F1, F2, F3, F4, F7
        "disbursed_amount": "4800.00",  # 1000+2000+500+700+600
        "fimr_cohort_count": 4,  # F1, F2, F3, F7 (F4 due on D)
        "first_miss_count": 3,  # F2 late, F3 nothing, F7 coverage 0
        "fimr": F(3, 4), "fimr_band": "Flag",
        "all_time_fimr_cohort_count": 6,  # + F5, F6
        "all_time_first_miss_count": 4,  # + F5
        "all_time_fimr": F(2, 3), "all_time_fimr_band": "Flag",
    })
    check(rows, book, "officer", "O1", (sep(1), sep(10)), {
        "disbursed_count": 5, "disbursed_amount": "4800.00",
        "fimr_cohort_count": 1,  # only F7 (due 09-09) is due before 09-10
        "first_miss_count": 1,
        "fimr": 1,
        "all_time_fimr_cohort_count": 3,  # F5, F6, F7
        "all_time_first_miss_count": 2,  # F5, F7
        "all_time_fimr": F(2, 3),
    })
    rows = await run(db, "officer", [(aug(31), D)])  # the window now starts on F5's disbursement date
    check(rows, book, "officer", "O1", (aug(31), D), {
        "disbursed_count": 6, "disbursed_amount": "5700.00",  # 4800 + 900
        "fimr_cohort_count": 5, "first_miss_count": 4, "fimr": F(4, 5),
    })


def fees_book() -> Json:
    """Window [09-05, 09-15]: installments and repayments on S−1, S, D and D+1, a closed loan, a reversal."""
    return batch(
        [officer("O1")],
        [
            loan("Y1", "O1", "400.00", "2026-08-01", "2026-09-16"),
            loan("Y2", "O1", "300.00", "2026-08-01", "2026-09-12", closed="2026-09-10"),
        ],
        [
            installment("Y1", 1, "2026-09-04", "100.00", "20.00", "11.00"),  # 131, S−1
            installment("Y1", 2, "2026-09-05", "100.00", "20.00", "12.00"),  # 132, S
            installment("Y1", 3, "2026-09-15", "100.00", "20.00", "13.00"),  # 133, D
            installment("Y1", 4, "2026-09-16", "100.00", "20.00", "14.00"),  # 134, D+1
            installment("Y2", 1, "2026-09-08", "100.00", "0", "20.00"),  # active on its due date
            installment("Y2", 2, "2026-09-10", "100.00", "0", "25.00"),  # due on the closed date: not active
            installment("Y2", 3, "2026-09-12", "100.00", "0", "30.00"),
        ],
        [
            repayment("Y1-a", "Y1", "2026-09-04", "99.00", "21.00", "11.00", waiver="99.00"),  # S−1
            repayment("Y1-b", "Y1", "2026-09-05", "98.00", "22.00", "12.00", waiver="15.00"),  # S
            repayment("Y1-c", "Y1", "2026-09-15", "0", "23.00", "5.00"),  # D
            repayment("Y1-d", "Y1", "2026-09-16", "0", "50.00", "50.00"),  # D+1
            repayment("Y2-a", "Y2", "2026-09-14", "10.00", "9.00", "7.00", backdated=True),  # after closing
            repayment("Y1-r", "Y1", "2026-09-10", "100.00", "100.00", "100.00", waiver="40.00",
                      reversed_on="2026-09-11"),
        ],
    )


async def test_fees_interest_frr_and_window_edges(db: Database) -> None:
    """A repayment on S counts, one on S−1 or D+1 does not; fees due on D count, not for on-time."""
    book = await load(db, fees_book())
    window = (sep(5), sep(15))
    rows = await run(db, "officer", [window])
    check(rows, book, "officer", "O1", window, {
        "fees_collected": "24.00",  # Y1-b 12 + Y1-c 5 + Y2-a 7 (recovery after closing); reversal ignored
        "interest_collected": "54.00",  # 22 + 23 + 9
        "fees_due": "45.00",  # Y1 #2 12 + Y1 #3 13 (due on D) + Y2 #1 20
        "frr": F(8, 15),  # 24/45
        # due in [S, D−1] of loans active then: Y1 #2 (132) and Y2 #1 (120)
        "on_time_due": "252.00",
        # Y1 paid 131 (09-04) + 132 (09-05) = 263 = C2 by 09-05: #2 settled on its due date -> 132; Y2 0
        "on_time_paid": "132.00",
        "on_time_rate": F(11, 21),  # 132/252
        # from 09-01 (not S): 21+11 + 22+12 + 23+5 + 9+7 = 110
        "total_yield": "110.00",
        # no loan is >15 days past due on M = 09-15 (Y1: 263 settles #1, #2; #3 is due on M)
        "par15_mid_month": "0.00", "ayr": None, "ayr_band": None,
    })


async def test_entries_backdated_reversals_and_waivers(db: Database) -> None:
    """Entry counts include reversed repayments; every amount (waivers too) ignores them."""
    book = await load(db, fees_book())
    window = (sep(5), sep(15))
    rows = await run(db, "officer", [window])
    check(rows, book, "officer", "O1", window, {
        "total_entries": 4,  # Y1-b, Y1-c, Y2-a, Y1-r (S−1 and D+1 excluded)
        "backdated_count": 1,  # Y2-a
        "reversals_count": 1,  # Y1-r
        "waivers_amount": "15.00",  # Y1-b only: Y1-a is before S, Y1-r is reversed
        # paid(D) on Y1 = 131 + 132 + 28 = 291: #3 (09-15) alloc = 291 − 263 = 28 -> 105; #4 -> 134
        "amount_due_7d": "239.00",
        # Y1: (400−197) + (80−66) + (50−28) = 203 + 14 + 22 (Y1-d on 09-16 is after D)
        "total_portfolio": "239.00",
        "penalty_inputs": [0, 0, 0, F(15, 239), F(1, 4), F(1, 4), F(7, 15), 0, 0],
        # 100 − (10·15/239 + 10/4 + 10/4 + 10·7/15) = 100 − 10.294 = 89.706 -> 90
        "risk_score": 90, "risk_band": "Green",
        "dqi": 79,  # 100·(0.4·0.9 + 0.35·11/21 + 0.25·1) = 36 + 18.33 + 25 = 79.33 -> 79
        "dqi_band": "Green",
    })


async def test_total_yield_and_ayr_from_the_first_of_the_month(db: Database) -> None:
    """total_yield sums from the first of D's month even when the window starts in August."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("Z1", "O1", "800.00", "2026-07-01", "2026-08-20"),
            loan("Z2", "O1", "1000.00", "2026-08-01", "2026-10-01"),
        ],
        [
            installment("Z1", 1, "2026-08-20", "800.00", "150.00", "50.00"),
            installment("Z2", 1, "2026-10-01", "1000.00", "200.00", "100.00"),
        ],
        [
            repayment("Z1-a", "Z1", "2026-08-25", interest="30.00", fees="10.00"),
            repayment("Z1-b", "Z1", "2026-09-16", interest="40.00", fees="20.00"),
            repayment("Z2-a", "Z2", "2026-08-31", interest="70.00", fees="5.00"),
            repayment("Z2-b", "Z2", "2026-09-01", interest="100.00", fees="60.00"),
        ],
    ))
    window = (aug(20), D)
    rows = await run(db, "officer", [window])
    check(rows, book, "officer", "O1", window, {
        "interest_collected": "240.00",  # 30 + 40 + 70 + 100
        "fees_collected": "95.00",  # 10 + 20 + 5 + 60
        "total_yield": "220.00",  # from 09-01 only: (40+20) + (100+60)
        # M = 09-15: Z1 DPD 11+15 = 26, total_out 800 + (150−30) + (50−10) = 960
        "par15_mid_month": "960.00",
        "ayr": F(11, 48), "ayr_band": "Flag",  # 220/960 = 0.229
        "fees_due": "50.00",  # Z1's fee, due 08-20 = S
        "frr": F(19, 10),  # 95/50: above 1, its penalty input 1 − 19/10 is clamped to 0 points
        # D: Z1 DPD 29, 800 + 80 + 20 = 900; Z2 1000 + 30 + 35 = 1065
        "total_portfolio": "1965.00", "porr": F(60, 131),  # 900/1965
        "on_time_rate": 0,  # Z1 (due 08-20) had nothing by its due date
        "penalty_inputs": [F(60, 131), 0, 0, 0, 0, 0, F(-9, 10), 0, 0],
        "risk_score": 91,  # 100 − 20·60/131 = 100 − 9.16 = 90.84 -> 91
        "dqi": 61, "dqi_band": "Flag",  # 100·(0.4·0.91 + 0.35·0 + 0.25·1) = 61.4 -> 61
    })
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "interest_collected": "140.00",  # 40 + 100
        "total_yield": "220.00",  # unchanged: monthly whatever the window
        "ayr": F(11, 48),
        "fees_due": "0.00", "frr": None,
    })


async def test_on_time_rate_allocates_at_the_due_date(db: Database) -> None:
    """OTI = Σ alloc_i(due_i) / Σ total_due_i over installments due in [S, D−1] of loans active then."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("T1", "O1", "1000.00", "2026-08-01", "2026-09-18"),
            loan("T2", "O1", "750.00", "2026-08-01", "2026-09-08", closed="2026-09-05"),
            loan("T3", "O1", "80.00", "2026-08-01", "2026-09-15"),
        ],
        [
            installment("T1", 1, "2026-08-31", "100.00"),  # S−1
            installment("T1", 2, "2026-09-01", "200.00"),  # S, paid on the day
            installment("T1", 3, "2026-09-10", "300.00"),  # half paid on the day
            installment("T1", 4, "2026-09-18", "400.00"),  # due on D: outside
            installment("T2", 1, "2026-09-03", "250.00"),  # unpaid
            installment("T2", 2, "2026-09-08", "500.00"),  # loan closed on 09-05: outside
            installment("T3", 1, "2026-09-15", "80.00"),  # prepaid
        ],
        [
            repayment("T1-a", "T1", "2026-08-31", principal="100.00"),
            repayment("T1-b", "T1", "2026-09-01", principal="200.00"),
            repayment("T1-c", "T1", "2026-09-10", principal="150.00"),
            repayment("T1-d", "T1", "2026-09-12", principal="150.00"),
            repayment("T3-a", "T3", "2026-09-02", principal="80.00"),
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D), (sep(1), sep(10))])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "on_time_due": "830.00",  # T1 #2 200 + #3 300, T2 #1 250, T3 80
        # T1 #2: paid 300 = C2 on 09-01 -> 200; #3: min(300, 450 − 300) = 150 on 09-10; T2 0; T3 80
        "on_time_paid": "430.00",
        "on_time_rate": F(43, 83),
    })
    check(rows, book, "officer", "O1", (sep(1), sep(10)), {
        "on_time_due": "450.00",  # T1 #2 200, T2 #1 250 (T1 #3 is due on D = 09-10)
        "on_time_paid": "200.00",
        "on_time_rate": F(4, 9),
    })


# --------------------------------------------------------------------------------------------
# Loan shapes: bullets, reversals, closed and written-off loans
# --------------------------------------------------------------------------------------------


async def test_bullet_loans_use_the_implied_installment(db: Database) -> None:
    """No schedule: one installment at maturity, interest round2(amount·rate·term/365), fee = fee_amount."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("B1", "O1", "1000.00", "2026-08-10", "2026-09-09", rate="0.15", fee="25.00"),  # term 30
            loan("B2", "O1", "1000.25", "2026-07-10", "2026-09-21", rate="0.10"),  # term 73, no fee
            loan("B3", "O1", "500.00", "2026-08-20", "2026-09-03", fee="10.00"),  # no rate
        ],
        repayments=[
            repayment("B1-P", "B1", "2026-09-12", principal="500.00"),
            repayment("B2-P", "B2", "2026-09-01", interest="20.01"),
            repayment("B3-P", "B3", "2026-09-03", principal="500.00", fees="10.00"),
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "O1", (sep(1), D), {
        # B1 interest round2(1000·0.15·30/365) = round2(12.3287…) = 12.33; due 1000+12.33+25 = 1037.33
        # B2 interest round2(1000.25·0.10·73/365) = round2(20.005) = 20.01 (half up); due 1020.26
        # B3 interest 0 (no rate), fee 10: due 510, paid in full on its due date
        "active_loans": 3,
        "total_portfolio": "1537.58",  # B1 (1000−500)+12.33+25 = 537.33, B2 1000.25+(20.01−20.01), B3 0
        "bucket_7_30_count": 1, "bucket_7_30_balance": "537.33",  # B1 DPD 18−9 = 9
        "bucket_0_count": 2, "bucket_0_balance": "1000.25",
        "amount_due_7d": "1000.25",  # B2 due 09-21: 1020.26 − 20.01
        "fees_due": "35.00",  # B1 25 (09-09) + B3 10 (09-03)
        "fees_collected": "10.00", "frr": F(2, 7),
        "interest_collected": "20.01",
        "on_time_due": "1547.33",  # B1 1037.33 + B3 510
        "on_time_paid": "510.00",
        # on 09-11 B1 DPD 2 with its full 1037.33; on D DPD 9: moved
        "prev_dpd_1to6_balance": "1037.33", "moved_to_7to30": "1037.33", "roll": 1,
        "all_time_fimr_cohort_count": 2, "all_time_first_miss_count": 1,  # B1 late (09-12), B3 on time
        "fimr_cohort_count": 0, "fimr": None, "fimr_band": None,
    })


async def test_reversal_restores_dpd_and_balances(db: Database) -> None:
    """A repayment re-sent with is_reversed true is ignored on every date, before its reversal too."""
    officers = [officer("O1")]
    loans = [loan("V1", "O1", "2000.00", "2026-08-01", "2026-10-01")]
    schedule = [
        installment("V1", 1, "2026-09-01", "1000.00", "80.00", "20.00"),
        installment("V1", 2, "2026-10-01", "1000.00", "80.00", "20.00"),
    ]
    paid = batch(officers, loans, schedule, [repayment("RV1", "V1", "2026-09-01", "1000.00", "80.00", "20.00")])
    reversal = batch([], [], [], [repayment("RV1", "V1", "2026-09-01", "1000.00", "80.00", "20.00",
                                            reversed_on="2026-09-05")])
    windows = [(aug(1), D), (aug(1), sep(3))]

    book = await load(db, paid)
    rows = await run(db, "officer", windows)
    check(rows, book, "officer", "O1", (aug(1), D), {
        "bucket_0_count": 1, "total_portfolio": "1100.00",  # 2000+160+40 − 1100
        "overdue_15d_amount": "0.00", "porr": 0,
        "interest_collected": "80.00", "fees_collected": "20.00", "fees_due": "20.00", "frr": 1,
        "total_entries": 1, "reversals_count": 0,
        "fimr_cohort_count": 1, "first_miss_count": 0, "fimr": 0, "fimr_band": "Green",
        "on_time_rate": 1,
        "risk_score": 100, "risk_band": "Green", "dqi": 100, "dqi_band": "Green",
    })
    check(rows, book, "officer", "O1", (aug(1), sep(3)), {"bucket_0_count": 1, "total_portfolio": "1100.00"})

    await load(db, reversal)
    book = Book.from_payloads([paid, reversal])  # the reference applies both batches, as ingestion did
    rows = await run(db, "officer", windows)
    check(rows, book, "officer", "O1", (aug(1), D), {
        "bucket_0_count": 0,
        "bucket_7_30_count": 1, "bucket_7_30_balance": "2200.00",  # DPD 17 on the full 2000+160+40
        "total_portfolio": "2200.00",
        "overdue_15d_count": 1, "overdue_15d_amount": "2200.00", "porr": 1,
        "interest_collected": "0.00", "fees_collected": "0.00", "fees_due": "20.00", "frr": 0,
        "total_entries": 1, "reversals_count": 1,
        "fimr_cohort_count": 1, "first_miss_count": 1, "fimr": 1, "fimr_band": "Flag",
        "on_time_paid": "0.00", "on_time_due": "1100.00", "on_time_rate": 0,
        "penalty_inputs": [1, 1, 0, 0, 0, 1, 1, 0, 0],
        "risk_score": 45, "risk_band": "Amber",  # 100 − (20 + 15 + 10 + 10)
        "dqi": 18, "dqi_band": "Flag",  # 100·(0.4·0.45 + 0 + 0)
    })
    # on 09-03, before the reversal date, the reversed payment is already ignored: DPD 2
    check(rows, book, "officer", "O1", (aug(1), sep(3)), {
        "bucket_1_6_count": 1, "bucket_1_6_balance": "2200.00", "dpd_1to6_balance": "2200.00",
        "interest_collected": "0.00", "total_entries": 1, "reversals_count": 1,
    })


async def test_closed_and_written_off_loans_leave_stocks_but_flows_count(db: Database) -> None:
    """Active on D means closed_date > D; a recovery after a write-off still counts as a flow."""
    book = await load(db, batch(
        [officer("O1")],
        [
            loan("W1", "O1", "1000.00", "2026-06-01", "2026-07-01", closed="2026-09-10", status="Written Off"),
            loan("W2", "O1", "1000.00", "2026-08-01", "2026-09-12", closed="2026-09-12"),
            loan("W3", "O1", "500.00", "2026-09-02", "2026-10-01"),
        ],
        [
            installment("W1", 1, "2026-07-01", "1000.00"),
            installment("W2", 1, "2026-09-12", "1000.00"),
            installment("W3", 1, "2026-10-01", "500.00"),
        ],
        [
            repayment("W1-rec", "W1", "2026-09-14", "230.00", "50.00", "20.00"),  # recovery after write-off
            repayment("W2-P", "W2", "2026-09-12", principal="1000.00"),
        ],
    ))
    rows = await run(db, "officer", [(sep(1), D), (sep(1), sep(10)), (sep(1), sep(9))])
    check(rows, book, "officer", "O1", (sep(1), D), {
        "active_loans": 1, "total_portfolio": "500.00",  # W3 only
        "overdue_15d_count": 0, "bucket_61_90_count": 0, "porr": 0,
        "interest_collected": "50.00", "fees_collected": "20.00", "total_yield": "70.00",
        "total_entries": 2,  # W2-P, W1-rec
        "disbursed_count": 1, "disbursed_amount": "500.00",
        # W1 first due 07-01, received 09-14: missed (closed loans included); W2 on time; W3 not due
        "all_time_fimr_cohort_count": 2, "all_time_first_miss_count": 1, "all_time_fimr": F(1, 2),
    })
    check(rows, book, "officer", "O1", (sep(1), sep(10)), {
        "active_loans": 2, "total_portfolio": "1500.00",  # W1 closed on D itself is out: W2 1000 + W3 500
        "overdue_15d_amount": "0.00", "interest_collected": "0.00", "total_entries": 0,
    })
    check(rows, book, "officer", "O1", (sep(1), sep(9)), {
        "active_loans": 3, "total_portfolio": "2500.00",
        "bucket_61_90_count": 1, "bucket_61_90_balance": "1000.00",  # W1 DPD 30+31+9 = 70
        "overdue_15d_amount": "1000.00", "porr": F(2, 5),
    })


async def test_officer_without_window_disbursements_gets_null_fimr_and_neutral_composites(db: Database) -> None:
    """No cohort: fimr and its band null; null ratios stand in neutrally (FIMR 0, OTI 1, FRR 1)."""
    book = await load(db, batch(
        [officer("N", float_gap=True), officer("E"), officer("L")],  # E has no loans at all
        [
            loan("N1", "N", "600.00", "2026-07-01", "2026-10-01"),
            loan("L1", "L", "100.00", "2026-09-12", "2026-10-12"),  # disbursed after 09-10
        ],
        [installment("N1", 1, "2026-08-01", "300.00"), installment("N1", 2, "2026-10-01", "300.00")],
        [repayment("N1-P", "N1", "2026-08-01", principal="300.00")],
    ))
    rows = await run(db, "officer", [(sep(1), sep(10)), (sep(1), D)])
    assert keys_on(rows, "officer", sep(10)) == {"N"}  # rows need a loan disbursed on or before D
    assert keys_on(rows, "officer", D) == {"N", "L"}
    check(rows, book, "officer", "N", (sep(1), sep(10)), {
        "disbursed_count": 0, "fimr_cohort_count": 0, "first_miss_count": 0,
        "fimr": None, "fimr_band": None,
        "all_time_fimr_cohort_count": 1, "all_time_first_miss_count": 0, "all_time_fimr": 0,
        "all_time_fimr_band": "Green",
        "d06_slippage": None, "d06_slippage_band": None,  # nothing due in [09-10, 09-16]
        "roll": None, "roll_band": None, "ayr": None, "ayr_band": None,
        "frr": None, "on_time_rate": None,
        "total_portfolio": "300.00", "porr": 0, "channel_purity": 1,
        "penalty_inputs": [0, 0, 0, 0, 0, 0, 0, 0, 1],
        "had_float_gap": True,
        "risk_score": 90, "risk_band": "Green",  # only the float gap
        "dqi": 96, "dqi_band": "Green",  # 100·(0.4·0.9 + 0.35·1 + 0.25·(1 − 0)) = 36 + 35 + 25
    })
    check(rows, book, "officer", "L", (sep(1), D), {
        "disbursed_count": 1, "disbursed_amount": "100.00", "fimr": None, "fimr_band": None,
        "had_float_gap": False, "risk_score": 100, "dqi": 100,
    })


# --------------------------------------------------------------------------------------------
# Risk score and DQI (§5.6)
# --------------------------------------------------------------------------------------------


async def test_all_nine_penalties_risk_score_and_dqi(db: Database) -> None:
    """Every penalty input non-zero at once; risk score, DQI and their bands by hand."""
    book = await load(db, batch(
        [officer("K", channel="Branch", float_gap=True)],
        [
            loan("K1", "K", "1000.00", "2026-07-01", "2026-08-01"),  # bullet, DPD 48
            loan("K2", "K", "500.00", "2026-08-01", "2026-09-08", channel="Agent"),  # bullet, 1-6 -> 7-30
            loan("K3", "K", "400.00", "2026-09-01", "2026-09-20"),
            loan("K4", "K", "300.00", "2026-09-02", "2026-09-09"),  # bullet, paid on its due date
        ],
        [
            installment("K3", 1, "2026-09-10", "200.00", "0", "10.00"),
            installment("K3", 2, "2026-09-20", "200.00", "0", "10.00"),
        ],
        [
            repayment("K1-r", "K1", "2026-09-05", principal="1000.00", reversed_on="2026-09-06"),
            repayment("K3-a", "K3", "2026-09-12", principal="205.00", fees="5.00", waiver="21.00"),
            repayment("K4-a", "K4", "2026-09-09", principal="300.00", backdated=True),
        ],
    ))
    window = (sep(1), D)
    expected = {
        # D: K1 1000 (DPD 48), K2 500 (DPD 10), K3 (400−205) + (20−5) = 210 (DPD 0), K4 0
        "total_portfolio": "1710.00", "overdue_15d_amount": "1000.00", "porr": F(100, 171),
        "bucket_0_count": 2, "bucket_0_balance": "210.00",
        "bucket_7_30_count": 1, "bucket_7_30_balance": "500.00",
        "bucket_31_60_count": 1, "bucket_31_60_balance": "1000.00",
        "fimr_cohort_count": 2, "first_miss_count": 1, "fimr": F(1, 2),  # K3 paid 09-12 > 09-10; K4 on time
        "all_time_fimr_cohort_count": 4, "all_time_first_miss_count": 3,  # + K1 (reversal only), K2
        "all_time_fimr": F(3, 4),
        # 09-11: K2 DPD 3 (500), K3 DPD 1 (400 + 20 = 420); K1 DPD 41, K4 settled
        "prev_dpd_1to6_balance": "920.00", "moved_to_7to30": "500.00", "roll": F(25, 46),
        "amount_due_7d": "210.00",  # K3 #2 (09-20): paid 210 = C1, alloc 0
        "dpd_1to6_balance": "0.00", "d06_slippage": 0, "d06_slippage_band": "Green",
        "waivers_amount": "21.00",
        "total_entries": 3, "backdated_count": 1, "reversals_count": 1,
        "fees_collected": "5.00", "fees_due": "10.00", "frr": F(1, 2),  # K3 #1 fee 10
        "interest_collected": "0.00",
        "par15_mid_month": "1000.00", "total_yield": "5.00", "ayr": F(1, 200),  # K1 DPD 45 on 09-15
        "channel_pure_count": 3, "channel_purity": F(3, 4),  # K2 is 'Agent'
        "on_time_due": "1010.00",  # K2 500 (09-08), K4 300 (09-09), K3 #1 210 (09-10)
        "on_time_paid": "300.00", "on_time_rate": F(30, 101),  # only K4 by its due date
        "disbursed_count": 2, "disbursed_amount": "700.00",
        "had_float_gap": True,
        "penalty_inputs": [F(100, 171), F(1, 2), F(25, 46), F(1, 10), F(1, 3), F(1, 3), F(1, 2), F(1, 4), 1],
        # points 2000/171 + 7.5 + 125/23 + 1 + 10/3 + 10/3 + 5 + 1.25 + 10 = 48.547;
        # 100 − 48.547 = 51.453 -> 51
        "risk_score": 51, "risk_band": "Amber",
        "fimr_band": "Flag", "all_time_fimr_band": "Flag", "roll_band": "Flag", "ayr_band": "Flag",
    }
    rows = await run(db, "officer", [window])
    # DQI 100·(0.4·0.51 + 0.35·30/101 + 0.25·(1 − 1/2))·3/4 = (20.4 + 10.396 + 12.5)·0.75 = 32.47 -> 32
    check(rows, book, "officer", "K", window, {**expected, "dqi": 32, "dqi_band": "Flag"})
    options = engine.EngineOptions(channel_purity_in_dqi=False)
    rows = await run(db, "officer", [window], options)
    # toggle off: CP' = 1 -> 43.296 -> 43 (the CP penalty stays in the risk score)
    check(rows, book, "officer", "K", window, {**expected, "dqi": 43, "dqi_band": "Flag"}, options)


async def test_risk_score_rounds_half_up_exactly(db: Database) -> None:
    """FIMR 1/6 costs 15/6 = 2.5 points: round(97.5) = 98, not 97 from a rounded 40-digit 1/6."""
    loans = bullets("H6", ["100.00"] * 6, "2026-09-01", "2026-09-15", "H")
    book = await load(db, batch(
        [officer("H6")],
        loans,
        repayments=[repayment(f"H{n}-P", f"H{n}", "2026-09-15", principal="100.00") for n in range(1, 6)],
    ))
    rows = await run(db, "officer", [(sep(1), D)])
    check(rows, book, "officer", "H6", (sep(1), D), {
        "fimr_cohort_count": 6, "first_miss_count": 1, "fimr": F(1, 6),  # H6 unpaid (DPD 3)
        "penalty_inputs": [0, F(1, 6), 0, 0, 0, 0, 0, 0, 0],
        "risk_score": 98, "risk_band": "Green",
        "on_time_rate": F(5, 6),  # 500 / 600
        "dqi": 89,  # 100·(0.4·0.98 + 0.35·5/6 + 0.25·5/6) = 39.2 + 50 = 89.2 -> 89
    })


async def test_risk_band_boundaries(db: Database) -> None:
    """Risk score 80/79, 60/59, 40/39: float gap 10, reversed (and backdated) ghost entries, PORR, FIMR."""
    healthy = ("2026-07-01", "2026-10-15")  # due after D+6: no stock or flow penalty
    old_bad = ("2026-07-01", "2026-08-20")  # DPD 29 on D, 22 on D−7: PORR only
    new_bad = ("2026-09-01", "2026-09-02")  # disbursed in the window, DPD 16: PORR and FIMR 1/1
    # officer: (healthy amount, bad amount, bad dates, ghost entry backdated too)
    cases: dict[str, tuple[str, str | None, tuple[str, str], bool]] = {
        "RB80": ("1000.00", None, old_bad, False),
        "RB79": ("1900.00", "100.00", old_bad, False),
        "RB60": ("1000.00", "1000.00", old_bad, True),
        "RB59": ("900.00", "1100.00", old_bad, True),
        "RB40": ("500.00", "1500.00", new_bad, True),
        "RB39": ("400.00", "1600.00", new_bad, True),
    }
    loans, repayments = [], []
    for name, (good, bad, bad_dates, backdated) in cases.items():
        loans.append(loan(f"{name}-H", name, good, *healthy))
        if bad is not None:
            loans.append(loan(f"{name}-B", name, bad, *bad_dates))
        repayments.append(repayment(f"{name}-ghost", f"{name}-H", "2026-09-10", principal="100.00",
                                    backdated=backdated, reversed_on="2026-09-11"))
    book = await load(db, batch([officer(name, float_gap=True) for name in cases], loans, repayments=repayments))
    window = (sep(1), D)
    rows = await run(db, "officer", [window])
    expected: dict[str, tuple[Any, Any, int, str, int, str]] = {
        # name: (PORR, FIMR, risk, band, DQI, band); penalties 10 (float gap) + 10 (reversal 1/1)
        # [+ 10 backdated 1/1] + 20·PORR [+ 15·FIMR]
        "RB80": (0, None, 80, "Green", 92, "Green"),  # 20 -> 80; DQI 32 + 35 + 25
        "RB79": (F(1, 20), None, 79, "Watch", 92, "Green"),  # 20 + 1; DQI 31.6 + 60 = 91.6 -> 92
        "RB60": (F(1, 2), None, 60, "Watch", 84, "Green"),  # 30 + 10; DQI 24 + 60
        "RB59": (F(11, 20), None, 59, "Amber", 84, "Green"),  # 30 + 11; DQI 23.6 + 60 = 83.6 -> 84
        "RB40": (F(3, 4), 1, 40, "Amber", 16, "Flag"),  # 30 + 15 + 15; DQI 16 + 0 (OTI 0) + 0
        "RB39": (F(4, 5), 1, 39, "Red", 16, "Flag"),  # 30 + 16 + 15; DQI 15.6 -> 16
    }
    for name, (porr, fimr, risk, risk_band, dqi, dqi_band) in expected.items():
        check(rows, book, "officer", name, window, {
            "porr": porr, "fimr": fimr, "total_entries": 1, "reversals_count": 1,
            "backdated_count": 1 if cases[name][3] else 0,
            "risk_score": risk, "risk_band": risk_band, "dqi": dqi, "dqi_band": dqi_band,
        })


async def test_dqi_band_boundaries_and_half_up(db: Database) -> None:
    """DQI 75/74, 65/64 and 64.5 -> 65: risk 90 (float gap), OTI = part paid on the due date / 350."""
    # officer: amount paid on the due date 09-05 of a single 350 installment (the rest on 09-07)
    on_due = {"Q75": "140.00", "Q74": "130.00", "Q65": "40.00", "Q64": "30.00", "Q645": "35.00"}
    loans, schedules, repayments = [], [], []
    for name, part in on_due.items():
        loans.append(loan(f"{name}-L", name, "350.00", "2026-08-01", "2026-09-05"))
        schedules.append(installment(f"{name}-L", 1, "2026-09-05", "350.00"))
        repayments.append(repayment(f"{name}-a", f"{name}-L", "2026-09-05", principal=part))
        rest = str(Decimal("350.00") - Decimal(part))
        repayments.append(repayment(f"{name}-b", f"{name}-L", "2026-09-07", principal=rest))
    book = await load(db, batch([officer(name, float_gap=True) for name in on_due], loans, schedules, repayments))
    window = (sep(1), D)
    rows = await run(db, "officer", [window])
    # DQI = 100·(0.4·0.9 + 0.35·OTI + 0.25·1) = 61 + 35·OTI
    expected = {
        "Q75": (F(2, 5), 75, "Green"),  # 61 + 14
        "Q74": (F(13, 35), 74, "Watch"),  # 61 + 13
        "Q65": (F(4, 35), 65, "Watch"),  # 61 + 4
        "Q64": (F(3, 35), 64, "Flag"),  # 61 + 3
        "Q645": (F(1, 10), 65, "Watch"),  # 61 + 3.5 = 64.5 -> 65 (half up)
    }
    for name, (oti, dqi, band) in expected.items():
        check(rows, book, "officer", name, window, {
            "on_time_rate": oti, "risk_score": 90, "risk_band": "Green", "dqi": dqi, "dqi_band": band,
        })


# --------------------------------------------------------------------------------------------
# Ratio band boundaries (inclusive on both sides)
# --------------------------------------------------------------------------------------------


async def test_fimr_band_boundaries_with_configured_thresholds(db: Database) -> None:
    """FIMR Green ≤ 25%, Watch ≤ 50% (configured): 1/4 Green, 1/3 Watch, 1/2 Watch, 3/5 Flag."""
    cohorts = {"FA": (4, 1), "FB": (3, 1), "FC": (4, 2), "FD": (5, 3)}  # officer: (loans, missed)
    loans, repayments = [], []
    for name, (size, missed) in cohorts.items():
        for n in range(1, size + 1):
            loans.append(loan(f"{name}{n}", name, "100.00", "2026-09-01", "2026-09-10"))
            if n > missed:
                repayments.append(repayment(f"{name}{n}-P", f"{name}{n}", "2026-09-10", principal="100.00"))
    book = await load(db, batch([officer(name) for name in cohorts], loans, repayments=repayments))
    window = (sep(1), D)
    options = engine.EngineOptions(bands=BandThresholds(fimr_green=0.25, fimr_watch=0.5))
    rows = await run(db, "officer", [window], options)
    expected = {"FA": (F(1, 4), "Green"), "FB": (F(1, 3), "Watch"), "FC": (F(1, 2), "Watch"),
                "FD": (F(3, 5), "Flag")}
    for name, (fimr, band) in expected.items():
        check(rows, book, "officer", name, window, {
            "fimr": fimr, "fimr_band": band, "all_time_fimr": fimr, "all_time_fimr_band": band,
        }, options)
    rows = await run(db, "officer", [window])  # default 3% / 6%: 25% is Flag
    check(rows, book, "officer", "FA", window, {"fimr": F(1, 4), "fimr_band": "Flag"})


async def test_d06_slippage_band_boundaries(db: Database) -> None:
    """Slippage Green ≤ 5%, Watch ≤ 8%: a 1-6 balance of x against 1000 due in the week."""
    amounts = {"S50": "50.00", "S51": "51.00", "S80": "80.00", "S81": "81.00"}
    loans = []
    for name, late in amounts.items():
        loans.append(loan(f"{name}-a", name, late, "2026-08-01", "2026-09-15"))  # DPD 3 on D
        loans.append(loan(f"{name}-b", name, "1000.00", "2026-08-01", "2026-09-20"))  # due in [D, D+6]
    book = await load(db, batch([officer(name) for name in amounts], loans))
    window = (sep(1), D)
    rows = await run(db, "officer", [window])
    expected = {"S50": (F(5, 100), "Green"), "S51": (F(51, 1000), "Watch"), "S80": (F(8, 100), "Watch"),
                "S81": (F(81, 1000), "Flag")}
    for name, (slippage, band) in expected.items():
        check(rows, book, "officer", name, window, {
            "dpd_1to6_balance": amounts[name], "amount_due_7d": "1000.00",
            "d06_slippage": slippage, "d06_slippage_band": band,
        })


async def test_roll_band_boundaries(db: Database) -> None:
    """Roll Green ≤ 25%, Watch ≤ 35%: x moves to 7-30, 1000 − x is cured after D−7."""
    moved = {"L25": "250.00", "L26": "260.00", "L35": "350.00", "L36": "360.00"}
    loans, repayments = [], []
    for name, x in moved.items():
        cured = str(Decimal("1000.00") - Decimal(x))
        loans.append(loan(f"{name}-m", name, x, "2026-08-01", "2026-09-08"))  # DPD 3 on 09-11, 10 on D
        loans.append(loan(f"{name}-c", name, cured, "2026-08-01", "2026-09-08"))
        repayments.append(repayment(f"{name}-P", f"{name}-c", "2026-09-14", principal=cured))
    book = await load(db, batch([officer(name) for name in moved], loans, repayments=repayments))
    window = (sep(1), D)
    rows = await run(db, "officer", [window])
    expected = {"L25": (F(1, 4), "Green"), "L26": (F(13, 50), "Watch"), "L35": (F(7, 20), "Watch"),
                "L36": (F(9, 25), "Flag")}
    for name, (roll, band) in expected.items():
        check(rows, book, "officer", name, window, {
            "prev_dpd_1to6_balance": "1000.00", "moved_to_7to30": moved[name], "roll": roll, "roll_band": band,
        })


async def test_ayr_band_boundaries(db: Database) -> None:
    """AYR Green ≥ 0.50, Watch ≥ 0.30: interest y paid after M on a 1000 loan >15 days late on M."""
    interest = {"A50": "500.00", "A49": "499.99", "A30": "300.00", "A29": "299.99"}
    loans, repayments = [], []
    for name, y in interest.items():
        loans.append(loan(f"{name}-L", name, "1000.00", "2026-07-01", "2026-08-01"))  # DPD 45 on 09-15
        repayments.append(repayment(f"{name}-P", f"{name}-L", "2026-09-16", interest=y))
    book = await load(db, batch([officer(name) for name in interest], loans, repayments=repayments))
    window = (sep(1), D)
    rows = await run(db, "officer", [window])
    expected = {"A50": (F(1, 2), "Green"), "A49": (F(49999, 100000), "Watch"), "A30": (F(3, 10), "Watch"),
                "A29": (F(29999, 100000), "Flag")}
    for name, (ayr, band) in expected.items():
        check(rows, book, "officer", name, window, {
            "par15_mid_month": "1000.00", "total_yield": interest[name], "ayr": ayr, "ayr_band": band,
        })


# --------------------------------------------------------------------------------------------
# Branch, region and all (§5.7)
# --------------------------------------------------------------------------------------------


async def test_branch_region_and_all_sum_components(db: Database) -> None:
    """Group ratios come from summed components (not averages); total_officers; main_region."""
    later = ("2026-08-01", "2026-10-15")
    book = await load(db, batch(
        [officer("G1", float_gap=True), officer("G2"), officer("G3", branch="Beta", region="South")],
        [
            loan("g1a", "G1", "1000.00", "2026-07-01", "2026-08-01"),  # DPD 48
            loan("g1b", "G1", "500.00", *later, region="South"),  # the loan's own region counts
            loan("g2a", "G2", "2500.00", *later),
            loan("g2b", "G2", "200.00", *later, closed="2026-09-10"),
            loan("g3a", "G3", "2000.00", *later, branch="Beta", region="South"),
        ],
    ))
    window = (sep(1), D)
    rows = await run(db, ("officer", "branch", "region", "all"), [window])
    assert keys_on(rows, "branch", D) == {"Alpha", "Beta"}
    assert keys_on(rows, "region", D) == {"North", "South"}
    # G1: PORR 1000/1500 = 2/3 -> 100 − 40/3 − 10 = 76.67 -> 77;  G2: PORR 0
    check(rows, book, "officer", "G1", window, {"porr": F(2, 3), "risk_score": 77, "risk_band": "Watch"})
    check(rows, book, "officer", "G2", window, {"porr": 0, "risk_score": 100})
    check(rows, book, "branch", "Alpha", window, {
        "active_loans": 3, "total_portfolio": "4000.00",  # 1000 + 500 + 2500 (g2b closed)
        "overdue_15d_amount": "1000.00",
        "porr": F(1, 4),  # 1000/4000, not the officers' average (2/3 + 0)/2 = 1/3
        "total_officers": 2,
        "main_region": "North",  # g1a, g2a, g2b North; g1b South
        "had_float_gap": False,  # G1's float gap is an officer flag only
        "risk_score": 95,  # 100 − 20·1/4
        "dqi": 98,  # 100·(0.4·0.95 + 0.35 + 0.25)
    })
    check(rows, book, "region", "North", window, {
        "active_loans": 2, "total_portfolio": "3500.00", "porr": F(2, 7), "total_officers": 2,
        "risk_score": 94,  # 100 − 40/7 = 94.29 -> 94
    })
    check(rows, book, "region", "South", window, {
        "active_loans": 2, "total_portfolio": "2500.00", "porr": 0, "total_officers": 2,  # G1 (g1b), G3
    })
    check(rows, book, "all", "all", window, {
        "active_loans": 4, "total_portfolio": "6000.00", "porr": F(1, 6), "total_officers": 3,
        "had_float_gap": False,
        "risk_score": 97,  # 100 − 20/6 = 96.67 -> 97
    })
