"""Typed ETL records (SPEC §4): field names, required fields and value types.

Pydantic checks shape and types in Rust; the business rules that need more than one field or
the business date live in ``rules.py`` so each error carries its own code and field path.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

MAX_MONEY = Decimal("9999999999999.99")  # NUMERIC(15,2)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError("INVALID_DATE", "must be a date written YYYY-MM-DD")


def _parse_rate(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PydanticCustomError("INVALID_RATE", "must be a decimal annual fraction (0.15 is 15%)")
    try:
        rate = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise PydanticCustomError("INVALID_RATE", "must be a decimal annual fraction") from None
    if not rate.is_finite() or rate < 0 or rate > 1000:
        raise PydanticCustomError("INVALID_RATE", "must be an annual fraction between 0 and 1000")
    if rate != rate.quantize(Decimal("0.00000001")):
        raise PydanticCustomError("INVALID_RATE", "must have at most 8 decimal places")
    return rate


MONEY_FIELDS = frozenset({
    "loan_amount", "fee_amount", "payment_amount", "principal_paid", "interest_paid", "fees_paid", "penalty_paid",
    "waiver_amount", "principal_due", "interest_due", "fee_due", "total_due",
})
IsoDate = Annotated[date, BeforeValidator(_parse_date)]
# Native pydantic-core constraints (no Python call per value): >= 0, NUMERIC(15,2), whole cents.
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False)]
Rate = Annotated[Decimal, BeforeValidator(_parse_rate)]
Key = Annotated[str, Field(min_length=1, max_length=100, strict=True)]
Text = Annotated[str, Field(max_length=1000, strict=True)]
Name = Annotated[str, Field(min_length=1, max_length=1000, strict=True)]
Count = Annotated[int, Field(strict=True, ge=0, le=2_000_000_000)]


class Record(BaseModel):
    """Unknown and computed fields are ignored (SPEC §4: computed fields are never accepted)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class OfficerRecord(Record):
    officer_id: Key
    officer_name: Name
    officer_phone: Text | None = None
    officer_email: Text | None = None
    region: Name
    branch: Name
    employment_status: Text | None = None
    hire_date: IsoDate | None = None
    termination_date: IsoDate | None = None
    primary_channel: Text | None = None
    had_float_gap: StrictBool | None = None


class CustomerRecord(Record):
    customer_id: Key
    customer_name: Name
    customer_phone: Text | None = None
    customer_email: Text | None = None
    date_of_birth: IsoDate | None = None
    gender: Text | None = None
    state: Text | None = None
    lga: Text | None = None
    address: Text | None = None
    kyc_status: Text | None = None
    kyc_verified_date: IsoDate | None = None


class LoanRecord(Record):
    loan_id: Key
    customer_id: Key
    customer_name: Name
    customer_phone: Text | None = None
    officer_id: Key
    officer_name: Name
    officer_phone: Text | None = None
    region: Name
    branch: Name
    state: Text | None = None
    loan_amount: Money
    disbursement_date: IsoDate
    maturity_date: IsoDate
    loan_term_days: Count
    interest_rate: Rate | None = None
    fee_amount: Money | None = None
    channel: Name
    channel_partner: Text | None = None
    status: Name
    closed_date: IsoDate | None = None


class ScheduleRecord(Record):
    loan_id: Key
    installment_number: Annotated[int, Field(strict=True, ge=0, le=100_000)]
    due_date: IsoDate
    principal_due: Money
    interest_due: Money
    fee_due: Money
    total_due: Money


class RepaymentRecord(Record):
    repayment_id: Key
    loan_id: Key
    payment_date: IsoDate
    payment_amount: Money
    principal_paid: Money
    interest_paid: Money
    fees_paid: Money
    penalty_paid: Money | None = None
    payment_method: Name
    payment_reference: Text | None = None
    payment_channel: Text | None = None
    dpd_at_payment: Count | None = None
    is_backdated: StrictBool | None = None
    is_reversed: StrictBool
    reversal_date: IsoDate | None = None
    reversal_reason: Text | None = None
    waiver_amount: Money | None = None
    waiver_type: Text | None = None
    waiver_approved_by: Text | None = None
