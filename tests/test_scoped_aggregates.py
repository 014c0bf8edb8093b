"""A scoped caller's aggregates count only the loans in its scope (SPEC §10), for every officer it
sees, in every window, on every route, from the daily tables too.

A hand-built book: officer X (own branch Alpha) has loans in Alpha and in Beta; officer Y (own
branch Beta) has one loan in Alpha. A viewer scoped to Alpha must see exactly the numbers an
unscoped caller sees on the same book with the Beta loans removed (a second database holding
only the Alpha loans): officer list (SQL-built nodes and resolver path), officer detail, history,
the loan's officer outside the scope, branches, regions, REST list and detail; default window
(daily tables: the fine groups rolled up within the scope) and a custom window (the engine). The
hand-computed figures anchor both books; the unscoped caller sees the whole book.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators import registry
from tests.graphql_support import Book, loaded_book

ALPHA = {"branches": ("Alpha",)}
CUSTOM = {"startDate": "2026-08-25", "endDate": "2026-09-18"}


def _officer(officer_id: str, branch: str, region: str) -> dict[str, Any]:
    return {"officer_id": officer_id, "officer_name": f"Officer {officer_id}", "officer_phone": f"+234{officer_id}",
            "region": region, "branch": branch, "employment_status": "Active", "primary_channel": None}


def _loan(loan_id: str, officer_id: str, branch: str, amount: str, disbursed: str, maturity: str) -> dict[str, Any]:
    region = {"Alpha": "North", "Beta": "South"}[branch]
    return {"loan_id": loan_id, "customer_id": f"C{loan_id}", "customer_name": f"Customer {loan_id}",
            "customer_phone": "+2348000000000", "officer_id": officer_id, "officer_name": f"Officer {officer_id}",
            "region": region, "branch": branch, "loan_amount": amount, "disbursement_date": disbursed,
            "maturity_date": maturity,
            "loan_term_days": (date.fromisoformat(maturity) - date.fromisoformat(disbursed)).days,
            "channel": "Branch", "status": "Active"}


BOOK: dict[str, Any] = {"data": {
    "officers": [_officer("X", "Alpha", "North"), _officer("Y", "Beta", "South")],
    "loans": [
        _loan("XA1", "X", "Alpha", "1000.00", "2026-07-01", "2026-08-18"),  # DPD 31 on D; 200 principal paid
        _loan("XA2", "X", "Alpha", "2000.00", "2026-09-05", "2026-10-30"),  # DPD 0
        _loan("XB1", "X", "Beta", "4000.00", "2026-08-28", "2026-09-17"),  # DPD 1
        _loan("XB2", "X", "Beta", "3000.00", "2026-04-01", "2026-06-01"),  # DPD 109
        _loan("YA1", "Y", "Alpha", "500.00", "2026-08-01", "2026-09-10"),  # DPD 8 (1 on D−7)
        _loan("YB1", "Y", "Beta", "800.00", "2026-09-02", "2026-11-01"),  # DPD 0
    ],
    "repayments": [{"repayment_id": "XA1-P", "loan_id": "XA1", "payment_date": "2026-08-20",
                    "payment_amount": "200.00", "principal_paid": "200.00", "interest_paid": "0",
                    "fees_paid": "0", "payment_method": "Cash", "is_reversed": False}],
}}


def _alpha_only(book: dict[str, Any]) -> dict[str, Any]:
    alpha = copy.deepcopy(book)
    alpha["data"]["loans"] = [loan for loan in alpha["data"]["loans"] if loan["branch"] == "Alpha"]
    return alpha


@pytest.fixture(scope="module")
async def books() -> AsyncIterator[tuple[Book, Book]]:
    """(the whole book, the same book with the Alpha loans only)."""
    async with loaded_book(document=BOOK) as whole, loaded_book(document=_alpha_only(BOOK)) as alpha:
        yield whole, alpha


RATIO = "value numerator denominator band"
METRICS = (
    "calculationDate periodStart periodEnd "
    + " ".join(f"{to_camel_case(r.name)} {{ {RATIO} }}" for r in registry.RATIOS)
    + " riskScore riskBand dqi dqiBand riskPenalties { name weight input points } portfolio { "
    + " ".join(to_camel_case(c.name) for c in registry.COMPONENTS if c.portfolio)
    + " buckets { bucket count balance } }"
)
IDENTITY = "officerId officerName officerPhone region branch employmentStatus primaryChannel"


def _document(template: str) -> str:
    """A GraphQL document with every registry metric (METRICS) and the officer's identity (IDENTITY)."""
    return template.replace("METRICS", METRICS).replace("IDENTITY", IDENTITY)


def _figures(metrics: dict[str, Any]) -> dict[str, Any]:
    p = metrics["portfolio"]
    return {"active": p["activeLoans"], "total": p["totalPortfolio"], "gross": p["grossLoanPortfolio"],
            "par": [metrics[f"par{n}"]["value"] for n in (1, 30, 60, 90)], "par30_band": metrics["par30"]["band"],
            "porr": metrics["porr"]["value"], "risk": metrics["riskScore"], "dqi": metrics["dqi"],
            "disbursed": p["disbursedCount"]}


# X's figures worked out by hand (SPEC §5.5-5.6; bullets without interest: total_out = principal_out)
X_IN_ALPHA = {  # XA1 800 (DPD 31) and XA2 2000 (DPD 0)
    "active": 2, "total": 2800.0, "gross": 2800.0, "par": [2 / 7, 2 / 7, 0.0, 0.0], "par30_band": "FLAG",
    "porr": 2 / 7,
    "risk": 94,  # 100 − 20 · 2/7 = 94.29; no FIMR cohort, roll, OTI or fee in play
    "dqi": 98,  # 100 · (0.4 · 0.94 + 0.35 · 1 + 0.25 · 1) = 97.6
}
X_WHOLE = {  # and XB1 4000 (DPD 1), XB2 3000 (DPD 109): 9800
    "active": 4, "total": 9800.0, "gross": 9800.0, "par": [39 / 49, 19 / 49, 15 / 49, 15 / 49],
    "par30_band": "FLAG", "porr": 19 / 49,
    "risk": 92,  # 100 − 20 · 19/49 = 92.24
    "dqi": 62,  # 100 · (0.4 · 0.92 + 0.35 · 0 (XB1 unpaid on its due date, 09-17) + 0.25 · 1) = 61.8
}


def _close(got: dict[str, Any], want: dict[str, Any]) -> bool:
    return all(got[k] == pytest.approx(v, rel=1e-12) if not isinstance(v, str) else got[k] == v
               for k, v in want.items())


async def test_the_scoped_list_counts_only_loans_in_scope(books: tuple[Book, Book]) -> None:
    whole, alpha = books
    for period in (None, CUSTOM):
        query = _document("""query($period: PeriodInput, $filter: OfficerFilter) {
            officers(period: $period, filter: $filter) { totalCount calculationDate periodStart
              nodes { IDENTITY rank metrics { METRICS } } }
            resolvers: officers(period: $period, filter: $filter) { nodes { ...O } } }
            fragment O on Officer { officerId rank metrics { METRICS } }""")
        scoped = await whole.gql(query, {"period": period}, role="viewer", scope=ALPHA)
        reference = await alpha.gql(query, {"period": period, "filter": {"branch": "Alpha"}}, role="viewer")
        assert scoped == reference, period
        assert [n["officerId"] for n in scoped["officers"]["nodes"]] == ["X"]
        x = scoped["officers"]["nodes"][0]["metrics"]
        assert _close(_figures(x), {**X_IN_ALPHA, "disbursed": 1})  # XA2; the custom window adds XB1 to the book
        unscoped = await whole.gql(query, {"period": period}, role="viewer")
        mine = next(n for n in unscoped["officers"]["nodes"] if n["officerId"] == "X")["metrics"]
        want = {**X_WHOLE, "disbursed": 1} if period is None else {
            **X_WHOLE, "disbursed": 2, "risk": 77, "dqi": 31}  # XB1: FIMR cohort 1/1 (−15), OTI 0
        assert _close(_figures(mine), want), period


async def test_officer_detail_history_and_rest_count_only_loans_in_scope(books: tuple[Book, Book]) -> None:
    whole, alpha = books
    query = _document("""query($custom: PeriodInput) { officer(officerId: "X") { IDENTITY metrics { METRICS }
        custom: metrics(period: $custom) { METRICS }
        history(startDate: "2026-08-25", endDate: "2026-09-18") { METRICS } } }""")
    scoped = await whole.gql(query, {"custom": CUSTOM}, role="viewer", scope=ALPHA)
    assert scoped == await alpha.gql(query, {"custom": CUSTOM}, role="viewer")
    assert len(scoped["officer"]["history"]) == 25
    assert _close(_figures(scoped["officer"]["metrics"]), X_IN_ALPHA)
    assert _close(_figures(scoped["officer"]["history"][-1]), X_IN_ALPHA)
    unscoped = await whole.gql(query, {"custom": CUSTOM}, role="viewer")
    assert _close(_figures(unscoped["officer"]["history"][-1]), X_WHOLE)
    assert unscoped["officer"]["history"] != scoped["officer"]["history"]

    for path in ("/api/v1/metrics/officers/X", "/api/v1/metrics/officers/X?date=2026-09-10",
                 "/api/v1/metrics/officers?branch=Alpha", "/api/v1/metrics/officers?branch=Alpha&start_date=2026-08-25",
                 "/api/v1/metrics/branches"):
        got = await whole.http.get(path, headers=whole.headers("viewer", ALPHA))
        want = await alpha.http.get(path, headers=alpha.headers("viewer"))
        assert got.status_code == want.status_code == 200, (path, got.text)
        assert got.json() == want.json(), path
    rows = (await whole.http.get("/api/v1/metrics/officers", headers=whole.headers("viewer", ALPHA))).json()["data"]
    assert [(r["officer_id"], r["active_loans"], r["portfolio_total"], r["gross_loan_portfolio"], r["risk_score"])
            for r in rows] == [("X", 2, 2800.0, 2800.0, 94)]
    assert rows[0]["par30"] == pytest.approx(2 / 7, rel=1e-12)
    everyone = (await whole.http.get("/api/v1/metrics/officers?branch=Alpha",
                                     headers=whole.headers("viewer"))).json()["data"]
    assert [(r["officer_id"], r["active_loans"], r["gross_loan_portfolio"], r["risk_score"]) for r in everyone] == [
        ("X", 4, 9800.0, 92)]


async def test_a_loans_officer_outside_the_scope_shows_its_id_and_name_only(books: tuple[Book, Book]) -> None:
    whole, alpha = books
    query = _document("""query($custom: PeriodInput) { loan(loanId: "YA1") { officer { IDENTITY rank
        audit { auditStatus } metrics { METRICS } custom: metrics(period: $custom) { METRICS }
        history(startDate: "2026-08-25", endDate: "2026-09-18") { METRICS } } } }""")
    scoped = (await whole.gql(query, {"custom": CUSTOM}, role="viewer", scope=ALPHA))["loan"]["officer"]
    reference = (await alpha.gql(query, {"custom": CUSTOM}, role="viewer"))["loan"]["officer"]
    assert {k: scoped.pop(k) for k in IDENTITY.split()} == {
        "officerId": "Y", "officerName": "Officer Y", "officerPhone": None, "region": "", "branch": "",
        "employmentStatus": None, "primaryChannel": None}
    assert (scoped.pop("rank"), scoped.pop("audit")) == (None, None)
    for key in ("metrics", "custom", "history"):  # Y's loans in Alpha only: YA1
        assert scoped[key] == reference[key], key
    y = scoped["metrics"]
    assert (y["portfolio"]["activeLoans"], y["portfolio"]["totalPortfolio"], y["par1"]["value"], y["riskScore"]) == (
        1, 500.0, 1.0, 90)  # YA1 500 at DPD 8 (1 on D−7): roll 1, 10 points off
    # the unscoped caller sees Y whole: its own branch and both loans
    whole_y = (await whole.gql(query, {"custom": CUSTOM}, role="viewer"))["loan"]["officer"]
    assert (whole_y["branch"], whole_y["officerPhone"], whole_y["metrics"]["portfolio"]["activeLoans"]) == (
        "Beta", "+234Y", 2)


async def test_branches_and_regions_count_only_loans_in_scope(books: tuple[Book, Book]) -> None:
    whole, alpha = books
    query = _document("""query($period: PeriodInput) { branches(period: $period) { branch region totalOfficers METRICS }
        regions(period: $period) { region totalOfficers METRICS } }""")
    for period in (None, CUSTOM):
        scoped = await whole.gql(query, {"period": period}, role="viewer", scope=ALPHA)
        assert scoped == await alpha.gql(query, {"period": period}, role="viewer")
        assert [b["branch"] for b in scoped["branches"]] == ["Alpha"]
        assert [r["region"] for r in scoped["regions"]] == ["North"]
        assert scoped["branches"][0]["portfolio"]["grossLoanPortfolio"] == 3300.0  # XA1 800, XA2 2000, YA1 500


async def test_dates_without_fine_groups_are_computed_by_the_engine(books: tuple[Book, Book]) -> None:
    """A calculated date whose fine groups are not kept (queued for restatement, migration 0013)
    still answers a scoped caller over its loans only: the engine computes it."""
    whole, alpha = books
    query = _document("""{ officers { nodes { IDENTITY rank metrics { METRICS } } }
        officer(officerId: "X") { history(startDate: "2026-09-10", endDate: "2026-09-18") { METRICS } }
        loan(loanId: "YA1") { officer { history(startDate: "2026-09-10", endDate: "2026-09-18") { METRICS } } } }""")
    reference = await alpha.gql(query.replace("officers {", 'officers(filter: {branch: "Alpha"}) {'), role="viewer")
    async with whole.app.db.raw_transaction() as conn:
        kept = [r["calculation_date"] for r in await conn.fetch(
            "DELETE FROM metric_calculated_dates WHERE calculation_date IN ('2026-09-12', '2026-09-18')"
            " RETURNING calculation_date")]
    assert len(kept) == 2
    await whole.app.data_changed()
    try:
        assert await whole.gql(query, role="viewer", scope=ALPHA) == reference
    finally:
        async with whole.app.db.raw_transaction() as conn:
            await conn.execute("INSERT INTO metric_calculated_dates (calculation_date) SELECT unnest($1::date[])", kept)
        await whole.app.data_changed()
