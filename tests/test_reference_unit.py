"""Hand-built edge cases for the reference calculators of SPEC §5 (no database needed)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from loanmetrics.calculators import loan_state as ls
from loanmetrics.calculators.bands import Band, BandThresholds, dqi_band, ratio_band, risk_band
from loanmetrics.calculators.book import Book
from loanmetrics.calculators.groups import make_window, mid_month_date, officers_with_daily_row
from loanmetrics.calculators.metrics import all_group_metrics, group_metrics, officer_daily_metrics
from loanmetrics.calculators.money import clamp, round2, round_half_up
from loanmetrics.calculators.registry import bucket_of
from loanmetrics.calculators.scores import PENALTY_WEIGHTS

D = date(2026, 9, 18)


def officer(officer_id: str = "OFF1", **extra: Any) -> dict[str, Any]:
    return {
        "officer_id": officer_id,
        "officer_name": "Officer " + officer_id,
        "region": "North",
        "branch": "Alpha",
    } | extra


def loan(loan_id: str = "L1", **extra: Any) -> dict[str, Any]:
    row = {
        "loan_id": loan_id,
        "customer_id": "C1",
        "customer_name": "Customer",
        "officer_id": "OFF1",
        "officer_name": "Officer OFF1",
        "region": "North",
        "branch": "Alpha",
        "loan_amount": "1000.00",
        "disbursement_date": "2026-08-01",
        "maturity_date": "2026-08-31",
        "loan_term_days": 30,
        "interest_rate": None,
        "fee_amount": None,
        "channel": "Branch",
        "status": "Active",
        "closed_date": None,
    }
    return row | extra


def installment(
    loan_id: str, number: int, due: str, principal: str, interest: str = "0", fee: str = "0"
) -> dict[str, Any]:
    total = Decimal(principal) + Decimal(interest) + Decimal(fee)
    return {
        "loan_id": loan_id,
        "installment_number": number,
        "due_date": due,
        "principal_due": principal,
        "interest_due": interest,
        "fee_due": fee,
        "total_due": str(total),
    }


_counter = iter(range(1, 10**6))


def repayment(
    loan_id: str, when: str, principal: str, interest: str = "0", fees: str = "0", **extra: Any
) -> dict[str, Any]:
    total = Decimal(principal) + Decimal(interest) + Decimal(fees)
    row = {
        "repayment_id": f"R{next(_counter)}",
        "loan_id": loan_id,
        "payment_date": when,
        "payment_amount": str(total),
        "principal_paid": principal,
        "interest_paid": interest,
        "fees_paid": fees,
        "payment_method": "Cash",
        "is_reversed": False,
    }
    return row | extra


def book_of(
    loans: list[dict[str, Any]],
    schedules: list[dict[str, Any]] | None = None,
    repayments: list[dict[str, Any]] | None = None,
    officers: list[dict[str, Any]] | None = None,
) -> Book:
    return Book.from_payload(
        {
            "sync_type": "full",
            "data": {
                "officers": officers if officers is not None else [officer()],
                "loans": loans,
                "loan_schedules": schedules or [],
                "repayments": repayments or [],
            },
        }
    )


def history(book: Book, loan_id: str = "L1") -> ls.LoanHistory:
    return ls.loan_history(book, loan_id)


# --- money --------------------------------------------------------------------------------------


def test_rounding_is_half_up_and_exact() -> None:
    assert round2(Fraction(5, 1000)) == Decimal("0.01")  # banker's rounding would give 0.00
    assert round2(Fraction(4999, 1000000)) == Decimal("0.00")
    assert round2(Decimal("2.345")) == Decimal("2.35")
    assert round_half_up(Fraction(885, 10)) == 89
    assert round_half_up(Fraction(8849, 100)) == 88
    assert round_half_up(Fraction(-5, 2)) == -3
    assert clamp(Fraction(-1, 3)) == 0
    assert clamp(Fraction(4, 3)) == 1
    assert clamp(Fraction(1, 3)) == Fraction(1, 3)


# --- book ---------------------------------------------------------------------------------------


def test_payload_parsing_keeps_money_exact_and_creates_minimal_officers() -> None:
    book = book_of(
        [loan("L1", officer_id="GHOST", officer_name="Ghost", loan_amount=1000.1, interest_rate=0.15)],
        repayments=[repayment("L1", "2026-08-10", "10.00", penalty_paid=None, waiver_amount=None)],
        officers=[],
    )
    assert book.loans["L1"].loan_amount == Decimal("1000.1")
    assert book.loans["L1"].interest_rate == Decimal("0.15")
    ghost = book.officers["GHOST"]
    assert (ghost.officer_name, ghost.region, ghost.branch) == ("Ghost", "North", "Alpha")
    assert ghost.primary_channel is None
    assert ghost.had_float_gap is False
    assert book.repayments["L1"][0].penalty_paid is None
    assert book.repayments["L1"][0].is_backdated is False


def test_later_batches_upsert_and_replace_whole_schedules() -> None:
    first = {
        "loans": [loan("L1")],
        "loan_schedules": [
            installment("L1", 1, "2026-08-10", "500.00"),
            installment("L1", 2, "2026-08-20", "500.00"),
        ],
        "repayments": [repayment("L1", "2026-08-10", "500.00", repayment_id="R1")],
    }
    second = {
        "loan_schedules": [installment("L1", 1, "2026-08-31", "1000.00")],
        "repayments": [
            repayment(
                "L1",
                "2026-08-10",
                "500.00",
                repayment_id="R1",
                is_reversed=True,
                reversal_date="2026-08-12",
                reversal_reason="bounced",
            )
        ],
    }
    book = Book.from_payloads([{"data": {"officers": [officer()]} | first}, {"data": second}])
    assert [r.installment_number for r in book.schedules["L1"]] == [1]
    assert book.schedules["L1"][0].total_due == Decimal("1000.00")
    assert len(book.repayments["L1"]) == 1
    assert book.repayments["L1"][0].is_reversed


# --- §5.1 implied bullet installment ------------------------------------------------------------


def test_bullet_loan_without_schedule() -> None:
    book = book_of(
        [
            loan("L1", loan_amount="10000.00", interest_rate="0.15", fee_amount="200.00", maturity_date="2026-08-31"),
            loan("L2", loan_amount="365.00", interest_rate="0.005", loan_term_days=1),
            loan("L3", loan_amount="500.00"),
        ]
    )
    h = history(book, "L1")
    (bullet,) = h.installments
    assert bullet.implied
    assert bullet.installment_number is None
    assert bullet.due_date == date(2026, 8, 31)
    assert bullet.principal_due == Decimal("10000.00")
    assert bullet.interest_due == Decimal("123.29")  # 10000 × 0.15 × 30 / 365 = 123.2876…
    assert bullet.fee_due == Decimal("200.00")
    assert bullet.total_due == Decimal("10323.29")
    assert ls.first_payment_due_date(h) == date(2026, 8, 31)
    assert ls.dpd(h, date(2026, 8, 31)) == 0
    assert ls.dpd(h, date(2026, 9, 1)) == 1
    assert ls.total_out(h, D) == Decimal("10323.29")
    (state,) = ls.schedule_state(h, D)
    assert (state.implied, state.payment_status, state.amount_paid) == (True, "Overdue", Decimal("0"))

    assert history(book, "L2").installments[0].interest_due == Decimal("0.01")  # exact half cent, up
    no_rate = history(book, "L3").installments[0]
    assert (no_rate.interest_due, no_rate.fee_due, no_rate.total_due) == (Decimal(0), Decimal(0), Decimal("500.00"))


# --- §5.2 settlement ----------------------------------------------------------------------------


def test_rows_with_total_due_zero_are_ignored_everywhere() -> None:
    book = book_of(
        [loan("L1", loan_amount="200.00")],
        schedules=[
            installment("L1", 1, "2026-08-05", "0"),
            installment("L1", 2, "2026-08-10", "100.00", fee="0"),
            installment("L1", 3, "2026-08-12", "0"),
            installment("L1", 4, "2026-08-20", "100.00"),
        ],
        repayments=[repayment("L1", "2026-08-10", "100.00")],
    )
    h = history(book)
    assert [i.installment_number for i in h.installments] == [2, 4]
    assert ls.first_payment_due_date(h) == date(2026, 8, 10)
    assert ls.dpd(h, date(2026, 8, 15)) == 0  # the zero row due 08-12 is not overdue
    assert ls.dpd(h, date(2026, 8, 21)) == 1
    assert not ls.missed(h, D)
    states = ls.schedule_state(h, D)
    assert [s.installment_number for s in states] == [1, 2, 3, 4]
    for ignored in (states[0], states[2]):
        assert ignored.ignored
        assert (ignored.amount_paid, ignored.payment_date, ignored.payment_status) == (None, None, None)
    assert (states[1].payment_status, states[1].payment_date) == ("Paid", date(2026, 8, 10))
    assert states[1].cumulative_due == Decimal("100.00")
    assert states[3].payment_status == "Overdue"


def test_settlement_within_a_cent_tolerance() -> None:
    schedule = [installment(lid, 1, "2026-08-10", "100.00") for lid in ("L1", "L2")]
    schedule += [installment(lid, 2, "2026-08-20", "100.00") for lid in ("L1", "L2")]
    book = book_of(
        [loan("L1", loan_amount="200.00"), loan("L2", loan_amount="200.00")],
        schedules=schedule,
        repayments=[repayment("L1", "2026-08-09", "99.99"), repayment("L2", "2026-08-09", "99.98")],
    )
    short_by_a_cent = history(book, "L1")
    assert ls.settled_at(short_by_a_cent, 0) == date(2026, 8, 9)
    assert ls.alloc(short_by_a_cent, 0, date(2026, 8, 9)) == Decimal("100.00")  # settled: the whole due
    assert ls.alloc(short_by_a_cent, 1, date(2026, 8, 9)) == 0
    assert ls.dpd(short_by_a_cent, date(2026, 8, 15)) == 0
    short_by_two = history(book, "L2")
    assert ls.settled_at(short_by_two, 0) is None
    assert ls.alloc(short_by_two, 0, date(2026, 8, 9)) == Decimal("99.98")
    assert ls.dpd(short_by_two, date(2026, 8, 15)) == 5
    state = ls.schedule_state(short_by_two, date(2026, 8, 10))[0]
    assert (state.payment_status, state.amount_paid, state.payment_date) == ("Partial", Decimal("99.98"), None)
    assert ls.schedule_state(short_by_two, date(2026, 8, 9))[0].payment_status == "Partial"
    assert ls.schedule_state(short_by_two, date(2026, 8, 11))[0].payment_status == "Overdue"


def test_oldest_installment_first_and_overpayment_rolls_forward() -> None:
    book = book_of(
        [loan("L1", loan_amount="300.00")],
        schedules=[installment("L1", n, f"2026-08-{9 + n}", "100.00") for n in (1, 2, 3)],
        repayments=[repayment("L1", "2026-08-05", "150.00"), repayment("L1", "2026-08-15", "60.00")],
    )
    h = history(book)
    assert [ls.settled_at(h, k) for k in range(3)] == [date(2026, 8, 5), date(2026, 8, 15), None]
    assert ls.alloc(h, 1, date(2026, 8, 10)) == Decimal("50.00")
    assert ls.alloc(h, 2, date(2026, 8, 15)) == Decimal("10.00")
    assert ls.dpd(h, date(2026, 8, 12)) == 1  # installment 2 due 08-11, half paid
    assert ls.dpd(h, date(2026, 8, 15)) == 3  # installment 3 due 08-12
    assert ls.paid(h, date(2026, 8, 15)) == Decimal("210.00")


# --- §5.1 reversals -----------------------------------------------------------------------------


def test_reversed_repayment_is_ignored_on_every_date_but_counted_as_an_entry() -> None:
    book = book_of(
        [loan("L1", loan_amount="100.00", fee_amount="10.00")],
        schedules=[installment("L1", 1, "2026-09-05", "100.00", fee="10.00")],
        repayments=[
            repayment(
                "L1",
                "2026-09-05",
                "100.00",
                fees="10.00",
                is_reversed=True,
                reversal_date="2026-09-12",
                reversal_reason="bounced",
                is_backdated=True,
                waiver_amount="5.00",
            )
        ],
    )
    h = history(book)
    assert ls.paid(h, date(2026, 9, 6)) == 0  # before its reversal date too
    assert ls.settled_at(h, 0) is None
    assert ls.dpd(h, date(2026, 9, 6)) == 1
    assert ls.first_payment_received_date(h, D) is None
    assert ls.missed(h, D)
    assert ls.total_out(h, D) == Decimal("110.00")
    c = group_metrics(book, "officer", "OFF1", D).components
    assert (c.total_entries, c.reversals_count, c.backdated_count) == (1, 1, 1)
    assert c.fees_collected == 0
    assert c.waivers_amount == 0


# --- §5.3 DPD on and after the due date ---------------------------------------------------------


def test_payment_on_due_date_is_on_time() -> None:
    book = book_of(
        [loan("L1", loan_amount="100.00"), loan("L2", loan_amount="100.00")],
        schedules=[installment("L1", 1, "2026-08-10", "100.00"), installment("L2", 1, "2026-08-10", "100.00")],
        repayments=[repayment("L1", "2026-08-10", "100.00")],
    )
    paid_on_time, unpaid = history(book, "L1"), history(book, "L2")
    due = date(2026, 8, 10)
    assert ls.dpd(unpaid, due) == 0  # nothing is past due on its due date
    assert ls.dpd(unpaid, due + timedelta(days=1)) == 1
    assert ls.dpd(paid_on_time, due) == 0
    assert ls.dpd(paid_on_time, due + timedelta(days=1)) == 0
    assert ls.days_late(paid_on_time, D) == 0
    assert not ls.missed(paid_on_time, D)
    assert ls.days_late(unpaid, D) == (D - due).days
    assert ls.missed(unpaid, D)
    assert not ls.fimr_eligible(unpaid, due)  # eligible only once the due date has passed
    assert ls.alloc(paid_on_time, 0, due) == Decimal("100.00")  # counts in the on-time rate


def test_bucket_labels() -> None:
    expected = {0: "0", 1: "1-6", 6: "1-6", 7: "7-30", 30: "7-30", 31: "31-60", 60: "31-60"}
    expected |= {61: "61-90", 90: "61-90", 91: "90+"}
    assert {n: bucket_of(n).label for n in expected} == expected


# --- closed and written-off loans ---------------------------------------------------------------


def test_closed_and_written_off_loans() -> None:
    book = book_of(
        [
            loan("CL", loan_amount="100.00", status="Closed", closed_date="2026-08-15"),
            loan("WO", loan_amount="100.00", status="Written Off", closed_date="2026-09-01", fee_amount="20.00"),
        ],
        schedules=[
            installment("CL", 1, "2026-08-10", "100.00"),
            installment("WO", 1, "2026-08-10", "50.00", fee="10.00"),
            installment("WO", 2, "2026-09-10", "50.00", fee="10.00"),
        ],
        repayments=[
            repayment("CL", "2026-08-15", "100.00"),
            repayment("WO", "2026-09-05", "0.00", interest="0.00", fees="10.00"),  # recovery after write-off
        ],
    )
    closed, written_off = history(book, "CL"), history(book, "WO")
    assert ls.active(closed.loan, date(2026, 8, 14))
    assert not ls.active(closed.loan, date(2026, 8, 15))  # closed_date itself is not active
    fields = ls.compute_loan_fields(closed, D)
    assert fields.current_dpd == 0
    assert fields.max_dpd_ever == 4  # 08-14, its last active day
    assert fields.first_payment_missed  # closed loans are tagged too
    assert fields.total_outstanding == 0

    wo = ls.compute_loan_fields(written_off, D)
    assert wo.current_dpd == 0
    assert ls.dpd(written_off, D) == 39  # DPD itself is still defined
    assert wo.max_dpd_ever == 21  # 08-31
    assert wo.total_outstanding == Decimal("110.00")
    assert not wo.early_indicator_tagged

    m = group_metrics(book, "officer", "OFF1", D, date(2026, 8, 1))
    c = m.components
    assert c.active_loans == 0
    assert c.total_portfolio == 0
    assert c.total_officers == 0
    assert c.fees_collected == Decimal("10.00")  # flows count inactive loans
    assert c.fees_due == Decimal("10.00")  # WO's 09-10 fee is due after the write-off
    assert c.on_time_due == Decimal("160.00")
    assert c.on_time_paid == 0
    assert c.all_time_fimr_cohort_count == 2
    assert c.all_time_first_miss_count == 2
    assert m.ratios.channel_purity.value == 1


# --- groups and windows -------------------------------------------------------------------------


def test_windows() -> None:
    assert make_window(D).start == date(2026, 9, 1)
    assert make_window(D, D).start == D
    with pytest.raises(ValueError):
        make_window(D, D + timedelta(days=1))
    with pytest.raises(ValueError):
        group_metrics(Book(), "all", "all", D, D + timedelta(days=1))
    assert mid_month_date(date(2026, 9, 15)) == date(2026, 9, 15)
    assert mid_month_date(date(2026, 9, 14)) == date(2026, 8, 15)
    assert mid_month_date(date(2026, 1, 3)) == date(2025, 12, 15)
    w = make_window(date(2026, 9, 3), date(2026, 8, 20))
    assert (w.d_minus_7, w.month_start) == (date(2026, 8, 27), date(2026, 9, 1))


def test_officer_without_loans_has_null_ratios_and_neutral_penalties() -> None:
    book = book_of(
        [loan("L1", officer_id="BUSY")],
        officers=[officer("BUSY"), officer("IDLE", primary_channel="Mobile", had_float_gap=False)],
    )
    m = all_group_metrics(book, "officer", D)["IDLE"]
    c = m.components
    assert (c.active_loans, c.loan_count, c.total_entries) == (0, 0, 0)
    for name, r in m.ratios.by_name().items():
        if name == "channel_purity":
            assert (r.numerator, r.denominator, r.value) == (0, 0, Fraction(1))
        else:
            assert r.value is None, name
        assert m.ratio_bands[name] is None
    assert [p.name for p in m.penalties] == [name for name, _ in PENALTY_WEIGHTS]
    assert [p.name for p in m.penalties] == [
        "porr",
        "fimr",
        "roll",
        "waivers",
        "backdated",
        "reversals",
        "frr",
        "channel_purity",
        "float_gap",
    ]
    assert all(p.input == 0 and p.points == 0 for p in m.penalties)
    assert (m.risk_score, m.risk_band, m.dqi_raw, m.dqi, m.dqi_band) == (
        100,
        Band.GREEN,
        Fraction(100),
        100,
        Band.GREEN,
    )
    # Only officers with a loan disbursed on or before the date get a daily row.
    assert officers_with_daily_row(book, D) == ["BUSY"]
    assert list(officer_daily_metrics(book, D)) == ["BUSY"]
    assert officer_daily_metrics(book, date(2026, 7, 31)) == {}


def test_float_gap_channel_purity_and_toggle() -> None:
    book = book_of(
        [loan("L1", channel="Branch"), loan("L2", channel="Mobile"), loan("L3", channel="mobile")],
        officers=[officer("OFF1", primary_channel="Mobile", had_float_gap=True)],
    )
    on = group_metrics(book, "officer", "OFF1", D)
    off = group_metrics(book, "officer", "OFF1", D, channel_purity_in_dqi=False)
    assert on.ratios.channel_purity.value == Fraction(1, 3)  # exact match only: 'mobile' is impure
    penalties = {p.name: p for p in on.penalties}
    assert penalties["channel_purity"].input == Fraction(2, 3)
    assert penalties["channel_purity"].points == Fraction(10, 3)
    assert penalties["float_gap"].points == 10
    assert {p.name: p.points for p in off.penalties} == {p.name: p.points for p in on.penalties}
    assert off.risk_score == on.risk_score
    assert off.dqi_raw == on.dqi_raw * 3
    branch = group_metrics(book, "branch", "Alpha", D)
    assert branch.components.had_float_gap is False
    assert branch.components.total_officers == 1


def test_roll_slippage_and_amount_due_7d() -> None:
    book = book_of(
        [loan("L1", loan_amount="300.00"), loan("L2", loan_amount="100.00")],
        schedules=[
            installment("L1", 1, "2026-09-08", "100.00"),
            installment("L1", 2, "2026-09-18", "100.00"),
            installment("L1", 3, "2026-09-30", "100.00"),
            installment("L2", 1, "2026-09-20", "100.00"),
        ],
        repayments=[repayment("L1", "2026-09-02", "20.00"), repayment("L2", "2026-09-17", "30.00")],
    )
    m = group_metrics(book, "all", "all", D)
    c = m.components
    # L1: DPD 3 on 09-11 (balance 280.00), DPD 10 on 09-18: it rolled into 7-30.
    assert (c.prev_dpd_1to6_count, c.prev_dpd_1to6_balance) == (1, Decimal("280.00"))
    assert (c.moved_to_7to30_count, c.moved_to_7to30, c.moved_to_7to30_balance_on_d) == (
        1,
        Decimal("280.00"),
        Decimal("280.00"),
    )
    assert m.ratios.roll.value == 1
    # Due in [09-18, 09-24]: L1#2 (100.00, nothing allocated) and L2#1 (100.00 − 30.00).
    assert c.amount_due_7d == Decimal("170.00")
    assert c.dpd_1to6_balance == 0
    assert m.ratios.d06_slippage.value == 0
    assert m.ratio_bands["d06_slippage"] == Band.GREEN
    assert m.ratio_bands["roll"] == Band.FLAG


# --- §5.6 bands, boundaries inclusive -----------------------------------------------------------


def test_risk_and_dqi_band_boundaries() -> None:
    assert [risk_band(s) for s in (100, 80, 79, 60, 59, 40, 39, 0)] == [
        Band.GREEN,
        Band.GREEN,
        Band.WATCH,
        Band.WATCH,
        Band.AMBER,
        Band.AMBER,
        Band.RED,
        Band.RED,
    ]
    assert [dqi_band(s) for s in (75, 74, 65, 64)] == [Band.GREEN, Band.WATCH, Band.WATCH, Band.FLAG]
    assert Band.WATCH.title_case == "Watch"


@pytest.mark.parametrize(
    ("name", "green_edge", "watch_edge"),
    [
        ("fimr", Fraction(3, 100), Fraction(6, 100)),
        ("all_time_fimr", Fraction(3, 100), Fraction(6, 100)),
        ("d06_slippage", Fraction(5, 100), Fraction(8, 100)),
        ("roll", Fraction(25, 100), Fraction(35, 100)),
    ],
)
def test_upper_bound_ratio_band_boundaries(name: str, green_edge: Fraction, watch_edge: Fraction) -> None:
    tiny = Fraction(1, 10**12)
    assert ratio_band(name, Fraction(0)) == Band.GREEN
    assert ratio_band(name, green_edge) == Band.GREEN
    assert ratio_band(name, green_edge + tiny) == Band.WATCH
    assert ratio_band(name, watch_edge) == Band.WATCH
    assert ratio_band(name, watch_edge + tiny) == Band.FLAG
    assert ratio_band(name, None) is None


def test_ayr_and_unbanded_ratios() -> None:
    tiny = Fraction(1, 10**12)
    assert ratio_band("ayr", Fraction(1, 2)) == Band.GREEN
    assert ratio_band("ayr", Fraction(1, 2) - tiny) == Band.WATCH
    assert ratio_band("ayr", Fraction(3, 10)) == Band.WATCH
    assert ratio_band("ayr", Fraction(3, 10) - tiny) == Band.FLAG
    assert ratio_band("ayr", None) is None
    for name in ("porr", "frr", "on_time_rate", "channel_purity"):
        assert ratio_band(name, Fraction(1, 2)) is None


def test_thresholds_are_configurable() -> None:
    strict = BandThresholds(risk_green=90, fimr_green=Decimal("0.01"))
    assert risk_band(85, strict) == Band.WATCH
    assert ratio_band("fimr", Fraction(2, 100), strict) == Band.WATCH
    book = book_of([loan("L1")])
    assert group_metrics(book, "all", "all", D, thresholds=strict).risk_band == risk_band(
        group_metrics(book, "all", "all", D).risk_score, strict
    )


def test_risk_score_rounds_half_up_exactly() -> None:
    # One reversal among two entries: 10 · 1/2 = 5 points; one backdated among them: 5 more.
    # A loan due in the next 7 days with a waiver of 35% of it: 3.5 points → 100 − 13.5 = 86.5 → 87
    # (half up: banker's rounding would give 86).
    book = book_of(
        [loan("L1", loan_amount="100.00", maturity_date="2026-09-20")],
        schedules=[installment("L1", 1, "2026-09-20", "100.00")],
        repayments=[
            repayment("L1", "2026-09-02", "0.00", waiver_amount="35.00", is_backdated=True),
            repayment("L1", "2026-09-03", "10.00", is_reversed=True, reversal_date="2026-09-04", reversal_reason="x"),
        ],
    )
    m = group_metrics(book, "officer", "OFF1", D)
    assert m.components.amount_due_7d == Decimal("100.00")
    assert m.penalties_total == Fraction(27, 2)
    assert m.risk_score == 87
    assert m.risk_band == Band.GREEN
