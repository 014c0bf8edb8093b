"""Every GraphQL query on the example book, through the real HTTP app, against exact values:
book-expected-metrics.json for officer, branch and region metrics (the default window from the
daily tables and a custom window computed on demand), book-expected-loans.json for loans,
drilldowns, schedules and repayments; sorting, keyset pagination, filters and ranks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.db import metric_engine as engine
from loanmetrics.resolvers.metric_rows import snapshot_from_row
from tests.conftest import BUSINESS_DATE, EXAMPLES
from tests.graphql_support import (
    CUSTOM,
    CUSTOM_PERIOD,
    EXPECTED_LOANS,
    HISTORY_START,
    LOAN_FIELDS,
    METRICS_FIELDS,
    MTD,
    PAYLOAD,
    RATIOS,
    REPAYMENT_FIELDS,
    SCHEDULE_FIELDS,
    Book,
    band_of_score,
    expected_loan,
    expected_metrics,
    expected_repayments,
    expected_schedule,
    loaded_book,
    main_region,
    money,
    rebanded,
    same_book_with,
)

WINDOWS = {"default": (None, {**MTD, "window": "month_to_date"}),
           "custom": (CUSTOM_PERIOD, {**CUSTOM, "window": "custom"})}
PAR: dict[str, Any] = json.loads((EXAMPLES / "book-expected-par.json").read_text())
OFFICERS = {o["officer_id"]: o for o in PAYLOAD["officers"]}


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


def officer_fields(officer_id: str) -> dict[str, Any]:
    o = OFFICERS[officer_id]
    return {"officerId": officer_id, "officerName": o["officer_name"], "officerPhone": o["officer_phone"],
            "region": o["region"], "branch": o["branch"], "employmentStatus": o["employment_status"],
            "primaryChannel": o["primary_channel"]}


def expected_rank(spec: dict[str, Any], officer_id: str, among: list[str] | None = None) -> int:
    scores = {key: spec["officer"][key]["risk_score"] for key in (among or spec["officer"])}
    return 1 + sum(1 for score in scores.values() if score > scores[officer_id])


OFFICER_LIST = """
query List($period: PeriodInput, $sort: OfficerSort, $filter: OfficerFilter, $first: Int, $after: String) {
  officers(period: $period, sort: $sort, filter: $filter, first: $first, after: $after) {
    totalCount calculationDate periodStart
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { officerId rank } }
  }
}
"""


async def officer_page(book: Book, **variables: Any) -> dict[str, Any]:
    data = await book.gql(OFFICER_LIST, variables)
    page: dict[str, Any] = data["officers"]
    return page


async def officer_ids(book: Book, **variables: Any) -> list[str]:
    page = await officer_page(book, first=500, **variables)
    return [edge["node"]["officerId"] for edge in page["edges"]]


# --- officers: values ------------------------------------------------------------------------


@pytest.mark.parametrize("window", WINDOWS)
async def test_officers_equal_the_expected_book(book: Book, window: str) -> None:
    period, spec = WINDOWS[window]
    data = await book.gql(
        f"""query($period: PeriodInput) {{ officers(period: $period) {{
              totalCount calculationDate periodStart
              nodes {{ officerId officerName officerPhone region branch employmentStatus primaryChannel rank
                       metrics {{ {METRICS_FIELDS} }} }} }} }}""",
        {"period": period},
    )
    officers = data["officers"]
    assert officers["totalCount"] == 6
    assert (officers["calculationDate"], officers["periodStart"]) == (spec["end"], spec["start"])
    nodes = officers["nodes"]
    # default order: risk score, highest first, then officer id
    assert [n["officerId"] for n in nodes] == sorted(
        spec["officer"], key=lambda key: (-spec["officer"][key]["risk_score"], key))
    for node in nodes:
        key = node["officerId"]
        assert node["metrics"] == expected_metrics(spec["officer"][key]), key
        assert {k: v for k, v in node.items() if k not in ("metrics", "rank")} == officer_fields(key)
        assert node["rank"] == expected_rank(spec, key)


async def test_officer_metrics_of_another_window_inside_a_list(book: Book) -> None:
    """A list of the default window asking each officer's metrics for the custom window (and the
    reverse) gets the other window's values, not the prefetched ones."""
    data = await book.gql(
        f"""query($custom: PeriodInput) {{
              daily: officers {{ nodes {{ officerId metrics(period: $custom) {{ {METRICS_FIELDS} }} }} }}
              custom: officers(period: $custom) {{ nodes {{ officerId metrics {{ {METRICS_FIELDS} }}
                                                         mtd: metrics(period: {{}}) {{ {METRICS_FIELDS} }} }} }}
            }}""",
        {"custom": CUSTOM_PERIOD},
    )
    for node in data["daily"]["nodes"]:
        assert node["metrics"] == expected_metrics(CUSTOM["officer"][node["officerId"]])
    for node in data["custom"]["nodes"]:
        assert node["metrics"] == expected_metrics(CUSTOM["officer"][node["officerId"]])
        assert node["mtd"] == expected_metrics(MTD["officer"][node["officerId"]])


# --- officers: sorting and pagination ----------------------------------------------------------

SORTS = {
    "RISK_SCORE": "risk_score", "DQI": "dqi", "FIMR": "fimr", "ALL_TIME_FIMR": "all_time_fimr",
    "D06_SLIPPAGE": "d06_slippage", "ROLL": "roll", "FRR": "frr", "AYR": "ayr", "PORR": "porr",
    "ON_TIME_RATE": "on_time_rate", "CHANNEL_PURITY": "channel_purity", "ACTIVE_LOANS": "active_loans",
    "TOTAL_PORTFOLIO": "total_portfolio", "OVERDUE_15D_AMOUNT": "overdue_15d_amount",
    "OVERDUE_15D_COUNT": "overdue_15d_count", "DISBURSED_COUNT": "disbursed_count",
    "DISBURSED_AMOUNT": "disbursed_amount", "TOTAL_YIELD": "total_yield", "INTEREST_COLLECTED": "interest_collected",
    "FEES_COLLECTED": "fees_collected", "FEES_DUE": "fees_due", "WAIVERS_AMOUNT": "waivers_amount",
    "TOTAL_ENTRIES": "total_entries", "BACKDATED_COUNT": "backdated_count", "REVERSALS_COUNT": "reversals_count",
    "AMOUNT_DUE_7D": "amount_due_7d", "PAR15_MID_MONTH": "par15_mid_month",
    "OFFICER_NAME": "officer_name", "OFFICER_ID": "officer_id",
    # portfolio at risk (values from book-expected-par.json)
    "PAR1": "par1", "PAR30": "par30", "PAR60": "par60", "PAR90": "par90",
    "GROSS_LOAN_PORTFOLIO": "gross_loan_portfolio",
    **{f"PAR{n}_{part.upper()}": f"par{n}_{part}" for n in (1, 30, 60, 90) for part in ("amount", "count")},
}


def test_every_metric_has_a_sort_field() -> None:
    """SPEC §6: sorting covers every metric. Each scalar of OfficerMetrics and Portfolio (the
    bucket list aside) has an OfficerSortField, and the sort test below runs all of them."""
    from strawberry.utils.str_converters import to_camel_case

    from loanmetrics.graph import types as t
    from loanmetrics.graph.schema import build_schema
    from tests.conftest import make_settings

    schema = build_schema(make_settings(None))._schema
    metric_fields = {name for type_name in ("OfficerMetrics", "Portfolio")
                     for name in schema.get_type(type_name).fields}  # type: ignore[union-attr]
    metric_fields -= {"calculationDate", "periodStart", "periodEnd", "riskBand", "dqiBand", "riskPenalties",
                      "portfolio", "buckets"}
    sort_fields = {to_camel_case(field.value) for field in t.OfficerSortField} - {"officerName", "officerId"}
    assert sort_fields == metric_fields
    assert set(SORTS) == {field.name for field in t.OfficerSortField}


def sort_value(spec: dict[str, Any], officer_id: str, name: str) -> Any:
    if name == "officer_name":
        return OFFICERS[officer_id]["officer_name"]
    if name == "officer_id":
        return officer_id
    want = spec["officer"][officer_id]
    if name not in want:  # portfolio at risk: the same window of book-expected-par.json
        want = PAR["windows"][spec["window"]]["officer"][officer_id]
    value = want[name]["value"] if isinstance(want[name], dict) else want[name]
    return None if value is None else Decimal(str(value))


def expected_order(spec: dict[str, Any], name: str, descending: bool) -> list[str]:
    keys = sorted(spec["officer"])  # ties: officer id ascending
    present = [k for k in keys if sort_value(spec, k, name) is not None]
    missing = [k for k in keys if sort_value(spec, k, name) is None]
    present.sort(key=lambda k: sort_value(spec, k, name), reverse=descending)
    return present + missing


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("field", SORTS)
async def test_officers_sort_on_every_metric_both_ways(book: Book, window: str, field: str) -> None:
    period, spec = WINDOWS[window]
    for direction in ("ASC", "DESC"):
        order = {"field": field, "direction": direction}
        got = await officer_ids(book, period=period, sort=order)
        assert got == expected_order(spec, SORTS[field], direction == "DESC"), (field, direction)
        # the keyset cursors of this ordering: pages of two concatenate to the same list
        assert await walk_officer_pages(book, 2, period=period, sort=order) == got, (field, direction)


NULLS_DAY = "2026-09-12"  # two officers have no roll and two no FIMR on this day


@pytest.mark.parametrize("period", [{"endDate": NULLS_DAY}, {"startDate": "2026-09-02", "endDate": NULLS_DAY}],
                         ids=["daily", "custom"])
@pytest.mark.parametrize("field", ["FIMR", "ROLL"])
async def test_null_ratios_sort_last_in_both_directions(book: Book, period: dict[str, str], field: str) -> None:
    start = date.fromisoformat(period.get("startDate", "2026-09-01"))
    end = date.fromisoformat(NULLS_DAY)
    async with book.app.db.raw_reader() as conn:
        rows = await engine.compute(conn, "officer", [(start, end)])
    values = {row["group_key"]: row[SORTS[field]] for row in rows}
    assert 0 < sum(v is None for v in values.values()) < len(values)
    for direction in ("ASC", "DESC"):
        present = sorted((k for k, v in values.items() if v is not None),
                         key=lambda k: (-values[k] if direction == "DESC" else values[k], k))
        missing = sorted(k for k, v in values.items() if v is None)
        got = await officer_ids(book, period=period, sort={"field": field, "direction": direction})
        assert got == present + missing, direction
        # and page by page, across the boundary between values and nulls
        assert await walk_officer_pages(book, 2, period=period, sort={"field": field, "direction": direction}) == got


async def walk_officer_pages(book: Book, size: int, **variables: Any) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(20):
        page = await officer_page(book, first=size, after=after, **variables)
        ids = [edge["node"]["officerId"] for edge in page["edges"]]
        assert len(ids) <= size
        assert page["totalCount"] == 6 if not variables.get("filter") else True
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if ids:
            assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen.extend(ids)
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("sort", [("RISK_SCORE", "DESC"), ("DQI", "ASC"), ("AYR", "DESC"), ("OFFICER_NAME", "ASC"),
                                  ("TOTAL_PORTFOLIO", "ASC"), ("DISBURSED_COUNT", "DESC")])
async def test_keyset_pages_concatenate_to_the_full_list(book: Book, window: str, sort: tuple[str, str]) -> None:
    period, _ = WINDOWS[window]
    order = {"field": sort[0], "direction": sort[1]}
    full = await officer_ids(book, period=period, sort=order)
    for size in (1, 2, 4):
        pages = await walk_officer_pages(book, size, period=period, sort=order)
        assert pages == full
        assert len(set(pages)) == len(pages)


@pytest.mark.parametrize("window", WINDOWS)
async def test_a_cursor_is_rejected_by_another_ordering(book: Book, window: str) -> None:
    period, _ = WINDOWS[window]
    page = await officer_page(book, period=period, first=2, sort={"field": "RISK_SCORE", "direction": "DESC"})
    cursor = page["pageInfo"]["endCursor"]
    for other in ({"field": "DQI", "direction": "DESC"}, {"field": "RISK_SCORE", "direction": "ASC"},
                  {"field": "OFFICER_NAME", "direction": "DESC"}):
        errors = await book.errors(OFFICER_LIST, {"period": period, "sort": other, "first": 2, "after": cursor})
        assert errors[0]["extensions"]["code"] == "BAD_REQUEST", other
    for garbage in ("not-a-cursor", "W10=", "WzEsMiwzXQ==", "e30=", "bnVsbA==", cursor[:-4]):
        errors = await book.errors(OFFICER_LIST, {"period": period, "first": 2, "after": garbage})
        assert errors[0]["extensions"]["code"] == "BAD_REQUEST", garbage


async def test_first_zero_and_offset(book: Book) -> None:
    page = await officer_page(book, first=0)
    assert page["edges"] == []
    assert page["totalCount"] == 6
    assert page["pageInfo"]["hasNextPage"] is True
    full = await officer_ids(book)
    data = await book.gql("{ officers(first: 2, offset: 3) { nodes { officerId } pageInfo { hasPreviousPage } } }")
    assert [n["officerId"] for n in data["officers"]["nodes"]] == full[3:5]
    assert data["officers"]["pageInfo"]["hasPreviousPage"] is True


# --- officers: filters and rank ----------------------------------------------------------------

FILTERS: list[tuple[dict[str, Any], set[str]]] = [
    ({"region": "Lagos"}, {"OFF0004", "OFF0005", "OFF0006"}),
    ({"region": "Abuja", "branch": "Wuse"}, {"OFF0001"}),
    ({"branch": "Lekki"}, set()),
    ({"officerId": "OFF0003"}, {"OFF0003"}),
    ({"officerId": "OFF9999"}, set()),
    ({"auditStatus": "NOT_ASSIGNED"}, set(OFFICERS)),
    ({"auditStatus": "IN_PROGRESS"}, set()),
    ({"search": "ola wil"}, {"OFF0001"}),
    ({"search": "LOLA"}, {"OFF0001"}),
    ({"search": "off000"}, set(OFFICERS)),
    ({"search": "%"}, set()),
    ({"search": "_"}, set()),
    ({"search": "a"}, {k for k, o in OFFICERS.items() if "a" in o["officer_name"].lower()}),
]


@pytest.mark.parametrize("window", WINDOWS)
async def test_officer_filters(book: Book, window: str) -> None:
    period, spec = WINDOWS[window]
    for filter, wanted in FILTERS:
        page = await officer_page(book, period=period, filter=filter, first=50)
        ids = [edge["node"]["officerId"] for edge in page["edges"]]
        assert set(ids) == wanted, filter
        assert page["totalCount"] == len(wanted)
        # rank is the position by risk score within the filtered list
        for edge in page["edges"]:
            key = edge["node"]["officerId"]
            assert edge["node"]["rank"] == expected_rank(spec, key, ids), filter
    for band in ("GREEN", "WATCH", "AMBER", "RED"):
        wanted = {key for key, want in spec["officer"].items() if want["risk_band"] == band}
        assert set(await officer_ids(book, period=period, filter={"riskBand": band})) == wanted, band
    combined = await officer_ids(book, period=period, filter={"region": "Lagos", "riskBand": "GREEN"})
    assert set(combined) == {k for k in ("OFF0004", "OFF0005", "OFF0006") if spec["officer"][k]["risk_band"] == "GREEN"}


# --- bands under other thresholds --------------------------------------------------------------

# thresholds that move most bands of the example book away from the defaults'
OTHER_BANDS = BandThresholds(risk_green=90, risk_watch=85, risk_amber=80, dqi_green=60, dqi_watch=30,
                           fimr_green=0.3, fimr_watch=0.6, slippage_green=0.6, slippage_watch=1.0,
                           roll_green=0.1, roll_watch=0.3, ayr_green=0.2, ayr_watch=0.1)


@pytest.mark.parametrize("window", WINDOWS)
async def test_every_band_follows_the_current_thresholds(book: Book, window: str) -> None:
    """Daily rows store the bands of the recalculation that wrote them; a server started with
    other thresholds answers every band, score bands and ratio bands alike, under its own (the
    stored scores and exact parts do not change), in lists, filters, aggregates and history."""
    period, spec = WINDOWS[window]
    query = f"""query($period: PeriodInput) {{
          officers(period: $period) {{ nodes {{ officerId metrics {{ {METRICS_FIELDS} }} }} }}
          branches(period: $period) {{ branch {METRICS_FIELDS} }}
          officer(officerId: "OFF0001") {{ history(startDate: "2026-09-01", endDate: "2026-09-18") {{
            riskScore riskBand dqi dqiBand {" ".join(f"{f} {{ numerator denominator band }}" for f in RATIOS)} }} }}
        }}"""
    async with same_book_with(book, bands=OTHER_BANDS) as other:
        data = await other.gql(query, {"period": period})
        by_band = {band: set(await officer_ids(other, period=period, filter={"riskBand": band}))
                   for band in ("GREEN", "WATCH", "AMBER", "RED")}
    moved = 0
    for node in data["officers"]["nodes"]:
        want = expected_metrics(spec["officer"][node["officerId"]])
        assert node["metrics"] == rebanded(want, OTHER_BANDS), node["officerId"]
        moved += node["metrics"] != want
    assert moved == 6  # every officer has at least one band that the new thresholds moved
    for row in data["branches"]:
        want = expected_metrics(spec["branch"][row["branch"]])
        assert {k: v for k, v in row.items() if k != "branch"} == rebanded(want, OTHER_BANDS), row["branch"]
    history = data["officer"]["history"]
    assert len(history) == 18
    for entry in history:
        assert entry == rebanded(entry, OTHER_BANDS)
    # the filter selects by the band under the current thresholds, not the stored one
    scores = {key: spec["officer"][key]["risk_score"] for key in spec["officer"]}
    assert by_band == {band: {k for k, score in scores.items() if band_of_score(score, 90, 85, 80) == band}
                       for band in ("GREEN", "WATCH", "AMBER", "RED")}
    assert by_band["RED"] == {"OFF0004", "OFF0005"}
    # the book's own server (default thresholds) still answers the defaults
    data = await book.gql(query, {"period": period})
    for node in data["officers"]["nodes"]:
        assert node["metrics"] == expected_metrics(spec["officer"][node["officerId"]])


# --- one officer -------------------------------------------------------------------------------


async def test_officer_by_id_with_both_windows(book: Book) -> None:
    data = await book.gql(
        f"""query($custom: PeriodInput) {{
              officer(officerId: "OFF0005") {{ officerId officerName officerPhone region branch employmentStatus
                primaryChannel rank
                metrics {{ {METRICS_FIELDS} }}
                custom: metrics(period: $custom) {{ {METRICS_FIELDS} }}
                explicit: metrics(period: {{startDate: "2026-09-01", endDate: "2026-09-18"}}) {{ riskScore dqi }}
                audit {{ officerId auditStatus version assigneeId actions {{ id }} }} }}
              missing: officer(officerId: "OFF9999") {{ officerId }}
            }}""",
        {"custom": CUSTOM_PERIOD},
    )
    officer = data["officer"]
    assert {k: officer[k] for k in officer_fields("OFF0005")} == officer_fields("OFF0005")
    assert officer["rank"] is None
    assert officer["metrics"] == expected_metrics(MTD["officer"]["OFF0005"])
    assert officer["custom"] == expected_metrics(CUSTOM["officer"]["OFF0005"])
    assert officer["explicit"] == {"riskScore": MTD["officer"]["OFF0005"]["risk_score"],
                                   "dqi": MTD["officer"]["OFF0005"]["dqi"]}
    assert officer["audit"] == {"officerId": "OFF0005", "auditStatus": "NOT_ASSIGNED", "version": 0,
                                "assigneeId": None, "actions": []}
    assert data["missing"] is None


async def test_officer_history_matches_the_engine_day_by_day(book: Book) -> None:
    data = await book.gql(
        """{ officer(officerId: "OFF0002") {
               history(startDate: "2026-08-20", endDate: "2026-09-18") {
                 calculationDate periodStart periodEnd riskScore riskBand dqi dqiBand
                 fimr { value numerator denominator band } roll { value band }
                 portfolio { activeLoans totalPortfolio disbursedCount totalYield } } }
             empty: officer(officerId: "OFF0002") { history(startDate: "2026-01-01", endDate: "2026-01-31") { dqi } }
           }"""
    )
    history = data["officer"]["history"]
    days = [HISTORY_START + timedelta(days=n) for n in range((BUSINESS_DATE - HISTORY_START).days + 1)]
    assert [h["calculationDate"] for h in history] == [d.isoformat() for d in days]  # oldest first
    windows = [(d.replace(day=1), d) for d in days]
    async with book.app.db.raw_reader() as conn:
        rows = {row["calculation_date"]: row for row in await engine.compute(
            conn, "officer", windows, scope=engine.Scope(officers=("OFF0002",)))}
    for entry, day in zip(history, days, strict=True):
        snap = snapshot_from_row(rows[day], key_column="group_key", cents=True)
        assert entry["periodStart"] == day.replace(day=1).isoformat()
        assert entry["periodEnd"] == day.isoformat()
        assert (entry["riskScore"], entry["riskBand"], entry["dqi"], entry["dqiBand"]) == (
            snap.risk_score, snap.risk_band.upper(), snap.dqi, snap.dqi_band.upper()), day
        fimr = snap.ratios["fimr"]
        assert entry["fimr"] == {"value": fimr.value, "numerator": float(fimr.numerator),
                                 "denominator": float(fimr.denominator),
                                 "band": fimr.band.upper() if fimr.band else None}, day
        assert entry["roll"]["value"] == snap.ratios["roll"].value
        assert entry["portfolio"] == {
            "activeLoans": snap.components["active_loans"], "totalPortfolio": float(snap.components["total_portfolio"]),
            "disbursedCount": snap.components["disbursed_count"], "totalYield": float(snap.components["total_yield"])}
    assert history[-1]["riskScore"] == MTD["officer"]["OFF0002"]["risk_score"]
    assert data["empty"]["history"] == []
    errors = await book.errors('{ officer(officerId: "OFF0002") { history(startDate: "2026-09-18", '
                               'endDate: "2026-09-01") { dqi } } }')
    assert errors[0]["extensions"]["code"] == "BAD_REQUEST"


OFFICER_LOANS = f"""
query($id: ID!, $first: Int, $after: String, $filter: LoanFilter, $sort: LoanSort) {{
  officer(officerId: $id) {{
    loans(first: $first, after: $after, filter: $filter, sort: $sort) {{
      totalCount pageInfo {{ hasNextPage hasPreviousPage endCursor }} nodes {{ {LOAN_FIELDS} }} }} }}
}}
"""


def officer_loan_ids(officer_id: str, **match: Any) -> list[str]:
    """An officer's loans in the default order: current DPD, then outstanding (both highest
    first), then loan id."""
    ids = [loan["loan_id"] for loan in PAYLOAD["loans"] if loan["officer_id"] == officer_id
           and all(loan[k] == v for k, v in match.items())]
    return sorted(ids, key=lambda k: (-EXPECTED_LOANS[k]["current_dpd"],
                                      -Decimal(EXPECTED_LOANS[k]["total_outstanding"]), k))


@pytest.mark.parametrize("officer_id", ["OFF0001", "OFF0004"])
async def test_officer_loans_paged_and_filtered(book: Book, officer_id: str) -> None:
    wanted = officer_loan_ids(officer_id)
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        data = await book.gql(OFFICER_LOANS, {"id": officer_id, "first": 7, "after": after})
        loans = data["officer"]["loans"]
        assert loans["totalCount"] == len(wanted)
        assert loans["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen.extend(loans["nodes"])
        if not loans["pageInfo"]["hasNextPage"]:
            break
        after = loans["pageInfo"]["endCursor"]
    assert [loan["loanId"] for loan in seen] == wanted
    assert seen == [expected_loan(key) for key in wanted]
    for filter, match in (({"status": "Closed"}, {"status": "Closed"}), ({"branch": "Ikeja"}, {"branch": "Ikeja"}),
                          ({"channel": "Mobile"}, {"channel": "Mobile"})):
        data = await book.gql(OFFICER_LOANS, {"id": officer_id, "first": 500, "filter": filter})
        assert [n["loanId"] for n in data["officer"]["loans"]["nodes"]] == officer_loan_ids(officer_id, **match)
        assert data["officer"]["loans"]["totalCount"] == len(officer_loan_ids(officer_id, **match))
    data = await book.gql(OFFICER_LOANS, {"id": officer_id, "first": 500,
                                          "sort": {"field": "LOAN_AMOUNT", "direction": "ASC"}})
    amounts = [(n["loanAmount"], -n["totalOutstanding"], n["loanId"]) for n in data["officer"]["loans"]["nodes"]]
    assert amounts == sorted(amounts)


async def test_loans_of_every_officer_in_one_list(book: Book) -> None:
    data = await book.gql("{ officers { nodes { officerId loans(first: 3) { totalCount nodes { loanId } } } } }")
    for node in data["officers"]["nodes"]:
        wanted = officer_loan_ids(node["officerId"])
        assert node["loans"]["totalCount"] == len(wanted)
        assert [n["loanId"] for n in node["loans"]["nodes"]] == wanted[:3]


# --- branches and regions ---------------------------------------------------------------------


@pytest.mark.parametrize("window", WINDOWS)
async def test_branches_equal_the_expected_book(book: Book, window: str) -> None:
    period, spec = WINDOWS[window]
    data = await book.gql(
        f"""query($period: PeriodInput) {{
              branches(period: $period) {{ branch region totalOfficers {METRICS_FIELDS} }}
              lagos: branches(period: $period, filter: {{region: "Lagos"}}) {{ branch riskScore dqi }}
              yaba: branches(period: $period, filter: {{branch: "Yaba"}}) {{ branch riskScore dqi }}
              none: branches(period: $period, filter: {{branch: "Yaba", region: "Abuja"}}) {{ branch }}
            }}""",
        {"period": period},
    )
    branches = data["branches"]
    assert [b["branch"] for b in branches] == sorted(spec["branch"])
    for row in branches:
        want = spec["branch"][row["branch"]]
        assert row.pop("region") == main_region(row["branch"])
        assert row.pop("totalOfficers") == want["total_officers"]
        del row["branch"]
        assert row == expected_metrics(want)
    lagos = sorted(k for k in spec["branch"] if main_region(k) == "Lagos")
    assert [(b["branch"], b["riskScore"], b["dqi"]) for b in data["lagos"]] == [
        (k, spec["branch"][k]["risk_score"], spec["branch"][k]["dqi"]) for k in lagos]
    assert data["yaba"] == [{"branch": "Yaba", "riskScore": spec["branch"]["Yaba"]["risk_score"],
                             "dqi": spec["branch"]["Yaba"]["dqi"]}]
    assert data["none"] == []


@pytest.mark.parametrize("window", WINDOWS)
async def test_regions_equal_the_expected_book(book: Book, window: str) -> None:
    period, spec = WINDOWS[window]
    data = await book.gql(
        f"query($period: PeriodInput) {{ regions(period: $period) {{ region totalOfficers {METRICS_FIELDS} }} }}",
        {"period": period},
    )
    assert [r["region"] for r in data["regions"]] == sorted(spec["region"])
    for row in data["regions"]:
        want = spec["region"][row.pop("region")]
        assert row.pop("totalOfficers") == want["total_officers"]
        assert row == expected_metrics(want)


# A hand-built book: branch Alpha's loans carry two regions (two North, one South: its region is
# North); Beta's are all South, Gamma's North. Bullet loans without rate or fee, disbursed on
# 2026-09-02 and unpaid, so each one's balance is its amount.
MIXED_LOANS = (("A1", "O1", "Alpha", "North", "1000.00"), ("A2", "O1", "Alpha", "North", "2000.00"),
               ("A3", "O2", "Alpha", "South", "4000.00"), ("B1", "O2", "Beta", "South", "500.00"),
               ("B2", "O2", "Beta", "South", "700.00"), ("G1", "O3", "Gamma", "North", "300.00"))
MIXED_BOOK = {
    "sync_timestamp": "2026-09-18T12:00:00Z", "sync_type": "incremental",
    "data": {
        "officers": [{"officer_id": officer_id, "officer_name": f"Officer {officer_id}", "branch": branch,
                      "region": region} for officer_id, branch, region in
                     (("O1", "Alpha", "North"), ("O2", "Beta", "South"), ("O3", "Gamma", "North"))],
        "loans": [{"loan_id": loan_id, "customer_id": f"C{loan_id}", "customer_name": f"Customer {loan_id}",
                   "officer_id": officer_id, "officer_name": f"Officer {officer_id}", "branch": branch,
                   "region": region, "loan_amount": amount, "disbursement_date": "2026-09-02",
                   "maturity_date": "2026-12-31", "loan_term_days": 120, "channel": "Branch", "status": "Active"}
                  for loan_id, officer_id, branch, region, amount in MIXED_LOANS],
    },
}
# branch -> (region, totalOfficers, activeLoans, totalPortfolio): every loan of the branch
MIXED_BRANCHES = {"Alpha": ("North", 2, 3, 7000.0), "Beta": ("South", 1, 2, 1200.0),
                  "Gamma": ("North", 1, 1, 300.0)}


@pytest.fixture(scope="module")
async def mixed_book() -> AsyncIterator[Book]:
    async with loaded_book(history_from=date(2026, 9, 1), document=MIXED_BOOK) as loaded:
        yield loaded


@pytest.mark.parametrize("period", [None, {"startDate": "2026-08-15", "endDate": "2026-09-18"}],
                         ids=["daily", "custom"])
async def test_branches_filtered_by_region_keep_their_whole_metrics(mixed_book: Book,
                                                                     period: dict[str, str] | None) -> None:
    """SPEC §3: a branch's region is the region most of its loans carry. A region filter selects
    the branches of that region, each with all its loans (not the loans of that region)."""
    query = """query($period: PeriodInput, $filter: BranchFilter) {
                 branches(period: $period, filter: $filter) { branch region totalOfficers
                   portfolio { activeLoans totalPortfolio disbursedCount disbursedAmount } } }"""

    def rows(*names: str) -> list[dict[str, Any]]:
        result = []
        for name in names:
            region, officers, loans, balance = MIXED_BRANCHES[name]
            result.append({"branch": name, "region": region, "totalOfficers": officers, "portfolio": {
                "activeLoans": loans, "totalPortfolio": balance, "disbursedCount": loans,
                "disbursedAmount": balance}})
        return result

    async def branches(filter: dict[str, str] | None, **scope: tuple[str, ...]) -> list[dict[str, Any]]:
        data = await mixed_book.gql(query, {"period": period, "filter": filter}, role="viewer", scope=scope)
        return data["branches"]  # type: ignore[no-any-return]

    assert await branches(None) == rows("Alpha", "Beta", "Gamma")
    assert await branches({"region": "North"}) == rows("Alpha", "Gamma")
    assert await branches({"region": "South"}) == rows("Beta")
    assert await branches({"region": "East"}) == []
    assert await branches({"region": "North", "branch": "Alpha"}) == rows("Alpha")
    assert await branches({"region": "South", "branch": "Alpha"}) == []
    # a branch scope still applies in SQL, the filter selects among its branches
    assert await branches({"region": "North"}, branches=("Alpha", "Beta")) == rows("Alpha")
    assert await branches({"region": "South"}, branches=("Alpha", "Gamma")) == []
    # a region-scoped caller sees a branch as the loans of its scope: Alpha's one South loan
    alpha_south = {"branch": "Alpha", "region": "South", "totalOfficers": 1, "portfolio": {
        "activeLoans": 1, "totalPortfolio": 4000.0, "disbursedCount": 1, "disbursedAmount": 4000.0}}
    assert await branches(None, regions=("South",)) == [alpha_south, *rows("Beta")]
    assert await branches({"region": "South"}, regions=("South",)) == [alpha_south, *rows("Beta")]
    assert await branches({"region": "North"}, regions=("South",)) == []
    assert await branches({"region": "North"}, regions=("North",)) == [
        {"branch": "Alpha", "region": "North", "totalOfficers": 1, "portfolio": {
            "activeLoans": 2, "totalPortfolio": 3000.0, "disbursedCount": 2, "disbursedAmount": 3000.0}},
        *rows("Gamma")]


async def test_rest_branches_filtered_by_region(mixed_book: Book) -> None:
    response = await mixed_book.http.get("/api/v1/metrics/branches", params={"region": "South"},
                                         headers=mixed_book.headers("viewer"))
    assert response.status_code == 200, response.text
    assert [(row["branch"], row["region"], row["active_loans"], row["portfolio_total"])
            for row in response.json()["data"]] == [("Beta", "South", 2, 1200.0)]
    response = await mixed_book.http.get("/api/v1/metrics/branches", params={"region": "North"},
                                         headers=mixed_book.headers("viewer"))
    assert [(row["branch"], row["region"], row["active_loans"], row["portfolio_total"])
            for row in response.json()["data"]] == [("Alpha", "North", 3, 7000.0), ("Gamma", "North", 1, 300.0)]


async def test_a_bad_period_is_a_client_error(book: Book) -> None:
    for period in ({"startDate": "2026-09-10", "endDate": "2026-09-01"}, {"endDate": "2026-09-19"}):
        for query in ("query($p: PeriodInput) { officers(period: $p) { totalCount } }",
                      "query($p: PeriodInput) { branches(period: $p) { branch } }",
                      "query($p: PeriodInput) { regions(period: $p) { region } }"):
            errors = await book.errors(query, {"p": period})
            assert errors[0]["extensions"]["code"] == "BAD_REQUEST", (query, period)


async def test_a_window_of_several_years_counts_every_flow(book: Book) -> None:
    """SPEC §5.4 makes only S after D an error: a window opening long before the book's first
    loan is computed, and its flows are the whole book's (the FIMR cohort is the all-time one)."""
    period = {"startDate": "2020-01-01", "endDate": BUSINESS_DATE.isoformat()}
    portfolio = "portfolio { disbursedCount disbursedAmount }"
    data = await book.gql(
        f"""query($p: PeriodInput) {{
              officers(period: $p) {{ periodStart calculationDate nodes {{ officerId metrics {{ periodStart
                fimr {{ numerator denominator }} allTimeFimr {{ numerator denominator }} {portfolio} }} }} }}
              branches(period: $p) {{ branch periodStart {portfolio} }}
              regions(period: $p) {{ region {portfolio} }} }}""",
        {"p": period},
    )
    assert (data["officers"]["periodStart"], data["officers"]["calculationDate"]) == ("2020-01-01", "2026-09-18")

    def disbursed(key: str, value: str) -> dict[str, Any]:
        mine = [loan for loan in PAYLOAD["loans"] if loan[key] == value]
        return {"disbursedCount": len(mine), "disbursedAmount": money(str(sum(Decimal(loan["loan_amount"])
                                                                                  for loan in mine)))}

    assert len(data["officers"]["nodes"]) == 6
    for node in data["officers"]["nodes"]:
        metrics = node["metrics"]
        assert metrics["periodStart"] == "2020-01-01"
        assert metrics["portfolio"] == disbursed("officer_id", node["officerId"])
        assert metrics["fimr"] == metrics["allTimeFimr"]
        want = MTD["officer"][node["officerId"]]
        assert metrics["fimr"]["denominator"] == want["all_time_fimr_cohort_count"]
    assert sum(n["metrics"]["portfolio"]["disbursedCount"] for n in data["officers"]["nodes"]) == 240
    for row in data["branches"]:
        assert row["periodStart"] == "2020-01-01"
        assert row["portfolio"] == disbursed("branch", row["branch"]), row["branch"]
    for row in data["regions"]:
        assert row["portfolio"] == disbursed("region", row["region"]), row["region"]


# --- drilldowns and loans ---------------------------------------------------------------------

DRILLDOWN = f"""
query($first: Int, $after: String, $filter: LoanFilter, $sort: LoanSort, $offset: Int! = 0) {{
  fimr: fimrDrilldown(first: $first, after: $after, filter: $filter, sort: $sort, offset: $offset) {{
    totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    edges {{ cursor node {{ {LOAN_FIELDS} }} }} }}
}}
"""
EARLY = DRILLDOWN.replace("fimr: fimrDrilldown", "fimr: earlyIndicatorsDrilldown")


def tagged(tag: str, **match: Any) -> list[str]:
    return [k for k, v in EXPECTED_LOANS.items() if v[tag] and all(
        (dict(PAYLOAD_LOANS[k], **v))[name] == value for name, value in match.items())]


PAYLOAD_LOANS = {loan["loan_id"]: loan for loan in PAYLOAD["loans"]}


def in_order(ids: list[str], field: str, descending: bool = True) -> list[str]:
    def value(key: str) -> Any:
        if field == "disbursement_date":
            return date.fromisoformat(PAYLOAD_LOANS[key]["disbursement_date"]).toordinal()
        if field == "loan_amount":
            return Decimal(PAYLOAD_LOANS[key]["loan_amount"])
        return Decimal(str(EXPECTED_LOANS[key][field]))

    return sorted(ids, key=lambda k: ((-value(k) if descending else value(k)),
                                      -Decimal(EXPECTED_LOANS[k]["total_outstanding"]), k))


async def walk_loans(book: Book, document: str, size: int, **variables: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(100):
        data = await book.gql(document, {"first": size, "after": after, **variables})
        page = data["fimr"]
        assert len(page["edges"]) <= size
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        nodes.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


async def test_fimr_drilldown_lists_every_tagged_loan_with_its_fields(book: Book) -> None:
    wanted = in_order(tagged("fimr_tagged"), "disbursement_date")
    assert len(wanted) == 62
    data = await book.gql(DRILLDOWN, {"first": 500})
    assert data["fimr"]["totalCount"] == 62
    assert [e["node"] for e in data["fimr"]["edges"]] == [expected_loan(k) for k in wanted]
    assert await walk_loans(book, DRILLDOWN, 9) == [expected_loan(k) for k in wanted]
    # the others (not tagged), on request
    others = await walk_loans(book, DRILLDOWN, 100, filter={"fimrTagged": False})
    assert [n["loanId"] for n in others] == in_order(
        [k for k, v in EXPECTED_LOANS.items() if not v["fimr_tagged"]], "disbursement_date")
    assert others == [expected_loan(n["loanId"]) for n in others]


async def test_early_indicator_drilldown_lists_every_tagged_loan(book: Book) -> None:
    wanted = in_order(tagged("early_indicator_tagged"), "current_dpd")
    assert len(wanted) == 17
    assert all(1 <= EXPECTED_LOANS[k]["current_dpd"] <= 6 for k in wanted)
    assert await walk_loans(book, EARLY, 4) == [expected_loan(k) for k in wanted]
    data = await book.gql(EARLY, {"first": 5})
    assert data["fimr"]["totalCount"] == 17
    assert data["fimr"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("document", [DRILLDOWN, EARLY], ids=["fimr", "early"])
async def test_drilldown_filters(book: Book, document: str) -> None:
    tag = "fimr_tagged" if document is DRILLDOWN else "early_indicator_tagged"
    base = tagged(tag)

    def loans(predicate: Any) -> set[str]:
        return {k for k in base if predicate(PAYLOAD_LOANS[k], EXPECTED_LOANS[k])}

    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"region": "Lagos"}, loans(lambda p, e: p["region"] == "Lagos")),
        ({"branch": "Surulere"}, loans(lambda p, e: p["branch"] == "Surulere")),
        ({"officerId": "OFF0002"}, loans(lambda p, e: p["officer_id"] == "OFF0002")),
        ({"status": "Written Off"}, loans(lambda p, e: p["status"] == "Written Off")),
        ({"status": "Closed"}, loans(lambda p, e: p["status"] == "Closed")),
        ({"channel": "Agent"}, loans(lambda p, e: p["channel"] == "Agent")),
        ({"disbursedFrom": "2026-08-01", "disbursedTo": "2026-08-31"},
         loans(lambda p, e: "2026-08-01" <= p["disbursement_date"] <= "2026-08-31")),
        ({"dpdMin": 3, "dpdMax": 40}, loans(lambda p, e: 3 <= e["current_dpd"] <= 40)),
        ({"dpdMin": 91}, loans(lambda p, e: e["current_dpd"] >= 91)),
        ({"search": "LN000001"}, loans(lambda p, e: "LN000001" in p["loan_id"])),
        ({"search": "ibrahim"}, loans(lambda p, e: "ibrahim" in p["customer_name"].lower())),
        ({"search": "%"}, set()),
        ({"region": "Lagos", "officerId": "OFF0001"},
         loans(lambda p, e: p["region"] == "Lagos" and p["officer_id"] == "OFF0001")),
    ]
    assert any(wanted for _, wanted in cases[:4])
    for filter, wanted in cases:
        data = await book.gql(document, {"first": 500, "filter": filter})
        got = [e["node"]["loanId"] for e in data["fimr"]["edges"]]
        assert set(got) == wanted, filter
        assert data["fimr"]["totalCount"] == len(wanted), filter
    # a filter on the other tag narrows the tagged loans
    both = {k for k in base if EXPECTED_LOANS[k]["fimr_tagged"] and EXPECTED_LOANS[k]["early_indicator_tagged"]}
    other = "earlyIndicatorTagged" if tag == "fimr_tagged" else "fimrTagged"
    data = await book.gql(document, {"first": 500, "filter": {other: True}})
    assert {e["node"]["loanId"] for e in data["fimr"]["edges"]} == both


@pytest.mark.parametrize("sort", [("LOAN_AMOUNT", "ASC", "loan_amount"), ("CURRENT_DPD", "DESC", "current_dpd"),
                                  ("DAYS_LATE", "DESC", "days_late"), ("TOTAL_OUTSTANDING", "ASC", None),
                                  ("DISBURSEMENT_DATE", "ASC", "disbursement_date")])
async def test_drilldown_sorts_and_pages(book: Book, sort: tuple[str, str, str | None]) -> None:
    field, direction, name = sort
    order = {"field": field, "direction": direction}
    ids = tagged("fimr_tagged")
    if name is None:
        wanted = sorted(ids, key=lambda k: (Decimal(EXPECTED_LOANS[k]["total_outstanding"]), k))
    else:
        wanted = in_order(ids, name, descending=direction == "DESC")
    nodes = await walk_loans(book, DRILLDOWN, 10, sort=order)
    assert [n["loanId"] for n in nodes] == wanted
    page = (await book.gql(DRILLDOWN, {"first": 10, "sort": order}))["fimr"]
    errors = await book.errors(DRILLDOWN, {"first": 10, "after": page["pageInfo"]["endCursor"],
                                           "sort": {"field": "LOAN_AMOUNT" if field != "LOAN_AMOUNT" else "CURRENT_DPD",
                                                    "direction": direction}})
    assert errors[0]["extensions"]["code"] == "BAD_REQUEST"


async def test_every_loan_with_schedule_and_repayments(book: Book) -> None:
    document = f"""query($tag: Boolean, $first: Int) {{
        fimr: fimrDrilldown(filter: {{fimrTagged: $tag}}, first: $first) {{
          edges {{ node {{ {LOAN_FIELDS} schedule {{ {SCHEDULE_FIELDS} }} repayments {{ {REPAYMENT_FIELDS} }} }} }} }}
    }}"""
    nodes: list[dict[str, Any]] = []
    for tag in (True, False):
        data = await book.gql(document, {"tag": tag, "first": 200})
        nodes.extend(e["node"] for e in data["fimr"]["edges"])
    assert sorted(n["loanId"] for n in nodes) == sorted(EXPECTED_LOANS)
    for node in nodes:
        key = node["loanId"]
        assert node.pop("schedule") == expected_schedule(key), key
        assert node.pop("repayments") == expected_repayments(key), key
        assert node == expected_loan(key)


async def test_one_loan(book: Book) -> None:
    implied = next(k for k, v in EXPECTED_LOANS.items() if v["implied_schedule"])
    reversed_ = next(r["loan_id"] for r in PAYLOAD["repayments"] if r["is_reversed"])
    closed = next(k for k, v in PAYLOAD_LOANS.items() if v["status"] == "Closed")
    written_off = next(k for k, v in PAYLOAD_LOANS.items() if v["status"] == "Written Off")
    for key in ("LN0000001", implied, reversed_, closed, written_off):
        data = await book.gql(
            f"""query($id: ID!) {{ loan(loanId: $id) {{ {LOAN_FIELDS}
                  officer {{ officerId officerName branch }}
                  schedule {{ {SCHEDULE_FIELDS} }} repayments {{ {REPAYMENT_FIELDS} }} }} }}""",
            {"id": key},
        )
        loan = data["loan"]
        officer_id = PAYLOAD_LOANS[key]["officer_id"]
        assert loan.pop("officer") == {"officerId": officer_id, "officerName": OFFICERS[officer_id]["officer_name"],
                                       "branch": OFFICERS[officer_id]["branch"]}
        assert loan.pop("schedule") == expected_schedule(key)
        assert loan.pop("repayments") == expected_repayments(key)
        assert loan == expected_loan(key)
    assert (await book.gql('{ loan(loanId: "LN9999999") { loanId } }'))["loan"] is None
    assert any(r["isReversed"] for r in expected_repayments(reversed_))
    assert expected_schedule(implied) == []


# --- team, filter options, calculation runs ---------------------------------------------------


async def test_team_members(book: Book) -> None:
    fields = "memberId memberName memberEmail memberPhone role department isActive"
    data = await book.gql(
        f"{{ active: teamMembers {{ {fields} }} all: teamMembers(activeOnly: false) {{ memberId }} }}")
    assert data["active"] == [
        {"memberId": "TM1", "memberName": "Ada Auditor", "memberEmail": "ada@lender.example", "memberPhone": None,
         "role": "Auditor", "department": "Internal Audit", "isActive": True},
        {"memberId": "TM2", "memberName": "Bayo Reviewer", "memberEmail": "bayo@lender.example", "memberPhone": None,
         "role": "Reviewer", "department": "Risk", "isActive": True},
    ]
    assert [m["memberId"] for m in data["all"]] == ["TM1", "TM2", "TM3"]


async def test_filter_options(book: Book) -> None:
    data = await book.gql("""{ filterOptions { regions branches channels loanStatuses riskBands auditStatuses
                                calculatedDates officers { officerId officerName branch region } } }""")
    options = data["filterOptions"]
    assert options["regions"] == ["Abuja", "Lagos"]
    assert options["branches"] == sorted({loan["branch"] for loan in PAYLOAD["loans"]})
    assert options["channels"] == ["Agent", "Branch", "Mobile", "Partner"]
    assert options["loanStatuses"] == ["Active", "Closed", "Written Off"]
    assert options["riskBands"] == ["GREEN", "WATCH", "AMBER", "RED"]
    assert options["auditStatuses"] == ["NOT_ASSIGNED", "ASSIGNED", "IN_PROGRESS", "RESOLVED"]
    days = (BUSINESS_DATE - HISTORY_START).days
    assert options["calculatedDates"] == [(BUSINESS_DATE - timedelta(days=n)).isoformat() for n in range(days + 1)]
    assert options["officers"] == sorted(
        ({"officerId": k, "officerName": o["officer_name"], "branch": o["branch"], "region": o["region"]}
         for k, o in OFFICERS.items()), key=lambda o: (o["officerName"], o["officerId"]))


async def test_calculation_runs(book: Book) -> None:
    data = await book.gql("""{ calculationRuns { id calculationType calculationDate startDate status errorMessage
                                recordsProcessed recordsUpdated recordsFailed startTime endTime durationSeconds }
                              none: calculationRuns(first: 0) { id } }""")
    (run,) = data["calculationRuns"]
    assert {k: run[k] for k in ("calculationType", "calculationDate", "startDate", "status", "errorMessage",
                                "recordsFailed")} == {
        "calculationType": "scheduled", "calculationDate": "2026-09-18", "startDate": HISTORY_START.isoformat(),
        "status": "Completed", "errorMessage": None, "recordsFailed": 0}
    async with book.app.db.raw_reader() as conn:
        log = await conn.fetchrow("SELECT * FROM metric_calculation_log")
    assert log is not None
    assert (run["id"], run["recordsProcessed"], run["recordsUpdated"]) == (
        str(log["id"]), log["records_processed"], log["records_updated"])
    assert run["recordsUpdated"] > 0
    assert run["endTime"] >= run["startTime"]
    assert run["durationSeconds"] == float(log["duration"])
    assert data["none"] == []
    assert RATIOS  # the shared selection names every ratio

