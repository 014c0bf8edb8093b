"""The calculators' input: a loan book (officers, loans, schedules, repayments) as frozen records.

`Book.from_payload` reads an ETL payload of SPEC §4 with its upsert semantics, money kept exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Officer:
    """An officer (SPEC §3 `officers`); metrics use primary_channel and had_float_gap."""

    officer_id: str
    officer_name: str
    region: str
    branch: str
    officer_phone: str | None = None
    officer_email: str | None = None
    employment_status: str = "Active"
    hire_date: date | None = None
    termination_date: date | None = None
    primary_channel: str | None = None
    had_float_gap: bool = False


@dataclass(frozen=True)
class Loan:
    """The 20 ETL fields of a loan (SPEC §3 `loans`)."""

    loan_id: str
    customer_id: str
    customer_name: str
    officer_id: str
    officer_name: str
    region: str
    branch: str
    loan_amount: Decimal
    disbursement_date: date
    maturity_date: date
    loan_term_days: int
    channel: str
    status: str
    customer_phone: str | None = None
    officer_phone: str | None = None
    state: str | None = None
    interest_rate: Decimal | None = None
    fee_amount: Decimal | None = None
    channel_partner: str | None = None
    closed_date: date | None = None


@dataclass(frozen=True)
class ScheduleRow:
    """One stored installment of a loan's schedule, as the ETL sent it (SPEC §3 `loan_schedule`)."""

    loan_id: str
    installment_number: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    total_due: Decimal


@dataclass(frozen=True)
class Repayment:
    """The 19 ETL fields of a repayment (SPEC §3 `repayments`); None money means 0."""

    repayment_id: str
    loan_id: str
    payment_date: date
    payment_amount: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    fees_paid: Decimal
    payment_method: str
    is_reversed: bool
    penalty_paid: Decimal | None = None
    payment_reference: str | None = None
    payment_channel: str | None = None
    dpd_at_payment: int | None = None
    is_backdated: bool = False
    reversal_date: date | None = None
    reversal_reason: str | None = None
    waiver_amount: Decimal | None = None
    waiver_type: str | None = None
    waiver_approved_by: str | None = None


@dataclass(frozen=True)
class Book:
    """A whole loan book, with schedules and repayments indexed by loan_id."""

    officers: Mapping[str, Officer] = field(default_factory=dict)
    loans: Mapping[str, Loan] = field(default_factory=dict)
    schedules: Mapping[str, tuple[ScheduleRow, ...]] = field(default_factory=dict)
    repayments: Mapping[str, tuple[Repayment, ...]] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Book:
        """Build a book from one ETL payload (the SPEC §4 envelope, or just its `data` object)."""
        return cls.from_payloads([payload])

    @classmethod
    def from_payloads(cls, payloads: Iterable[Mapping[str, Any]]) -> Book:
        """Build a book from ETL batches applied in order with SPEC §4 semantics.

        Records upsert by primary key; a batch's schedule rows replace the loan's whole schedule;
        a loan naming an unknown officer creates a minimal one (no primary_channel, no float gap).
        """
        officers: dict[str, Officer] = {}
        loans: dict[str, Loan] = {}
        schedules: dict[str, dict[int, ScheduleRow]] = {}
        repayments: dict[str, Repayment] = {}
        for payload in payloads:
            data: Mapping[str, Any] = payload.get("data", payload)
            for raw in data.get("officers") or []:
                officer = _officer(raw)
                officers[officer.officer_id] = officer
            for raw in data.get("loans") or []:
                loan = _loan(raw)
                loans[loan.loan_id] = loan
                if loan.officer_id not in officers:
                    officers[loan.officer_id] = Officer(
                        officer_id=loan.officer_id,
                        officer_name=loan.officer_name,
                        officer_phone=loan.officer_phone,
                        region=loan.region,
                        branch=loan.branch,
                    )
            batch_schedules: dict[str, dict[int, ScheduleRow]] = {}
            for raw in data.get("loan_schedules") or []:
                row = _schedule_row(raw)
                batch_schedules.setdefault(row.loan_id, {})[row.installment_number] = row
            schedules.update(batch_schedules)
            for raw in data.get("repayments") or []:
                repayment = _repayment(raw)
                repayments[repayment.repayment_id] = repayment
        by_loan: dict[str, list[Repayment]] = {}
        for repayment in repayments.values():
            by_loan.setdefault(repayment.loan_id, []).append(repayment)
        return cls(
            officers=officers,
            loans=loans,
            schedules={loan_id: tuple(rows[n] for n in sorted(rows)) for loan_id, rows in schedules.items()},
            repayments={
                loan_id: tuple(sorted(rs, key=lambda r: (r.payment_date, r.repayment_id)))
                for loan_id, rs in by_loan.items()
            },
        )


def money(value: Any) -> Decimal:
    """An exact Decimal from a JSON number or decimal string (via str, never a binary float)."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"not a money value: {value!r}")
    return Decimal(str(value))


def _money_or_none(value: Any) -> Decimal | None:
    return None if value is None else money(value)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _date_or_none(value: Any) -> date | None:
    return None if value is None else _date(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _officer(raw: Mapping[str, Any]) -> Officer:
    return Officer(
        officer_id=str(raw["officer_id"]),
        officer_name=str(raw["officer_name"]),
        region=str(raw["region"]),
        branch=str(raw["branch"]),
        officer_phone=_str_or_none(raw.get("officer_phone")),
        officer_email=_str_or_none(raw.get("officer_email")),
        employment_status=str(raw.get("employment_status") or "Active"),
        hire_date=_date_or_none(raw.get("hire_date")),
        termination_date=_date_or_none(raw.get("termination_date")),
        primary_channel=_str_or_none(raw.get("primary_channel")),
        had_float_gap=bool(raw.get("had_float_gap") or False),
    )


def _loan(raw: Mapping[str, Any]) -> Loan:
    return Loan(
        loan_id=str(raw["loan_id"]),
        customer_id=str(raw["customer_id"]),
        customer_name=str(raw["customer_name"]),
        officer_id=str(raw["officer_id"]),
        officer_name=str(raw["officer_name"]),
        region=str(raw["region"]),
        branch=str(raw["branch"]),
        loan_amount=money(raw["loan_amount"]),
        disbursement_date=_date(raw["disbursement_date"]),
        maturity_date=_date(raw["maturity_date"]),
        loan_term_days=int(raw["loan_term_days"]),
        channel=str(raw["channel"]),
        status=str(raw["status"]),
        customer_phone=_str_or_none(raw.get("customer_phone")),
        officer_phone=_str_or_none(raw.get("officer_phone")),
        state=_str_or_none(raw.get("state")),
        interest_rate=_money_or_none(raw.get("interest_rate")),
        fee_amount=_money_or_none(raw.get("fee_amount")),
        channel_partner=_str_or_none(raw.get("channel_partner")),
        closed_date=_date_or_none(raw.get("closed_date")),
    )


def _schedule_row(raw: Mapping[str, Any]) -> ScheduleRow:
    return ScheduleRow(
        loan_id=str(raw["loan_id"]),
        installment_number=int(raw["installment_number"]),
        due_date=_date(raw["due_date"]),
        principal_due=money(raw["principal_due"]),
        interest_due=money(raw["interest_due"]),
        fee_due=money(raw["fee_due"]),
        total_due=money(raw["total_due"]),
    )


def _repayment(raw: Mapping[str, Any]) -> Repayment:
    dpd_at_payment = raw.get("dpd_at_payment")
    return Repayment(
        repayment_id=str(raw["repayment_id"]),
        loan_id=str(raw["loan_id"]),
        payment_date=_date(raw["payment_date"]),
        payment_amount=money(raw["payment_amount"]),
        principal_paid=money(raw["principal_paid"]),
        interest_paid=money(raw["interest_paid"]),
        fees_paid=money(raw["fees_paid"]),
        payment_method=str(raw["payment_method"]),
        is_reversed=bool(raw["is_reversed"]),
        penalty_paid=_money_or_none(raw.get("penalty_paid")),
        payment_reference=_str_or_none(raw.get("payment_reference")),
        payment_channel=_str_or_none(raw.get("payment_channel")),
        dpd_at_payment=None if dpd_at_payment is None else int(dpd_at_payment),
        is_backdated=bool(raw.get("is_backdated") or False),
        reversal_date=_date_or_none(raw.get("reversal_date")),
        reversal_reason=_str_or_none(raw.get("reversal_reason")),
        waiver_amount=_money_or_none(raw.get("waiver_amount")),
        waiver_type=_str_or_none(raw.get("waiver_type")),
        waiver_approved_by=_str_or_none(raw.get("waiver_approved_by")),
    )
