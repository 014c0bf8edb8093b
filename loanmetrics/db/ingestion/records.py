"""Typed ETL records (SPEC §4): field names, required fields and value types.

Pydantic checks shape and types in Rust; the business rules that need more than one field or
the business date live in ``rules.py`` so each error carries its own code and field path.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, NotRequired

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

# The largest amount of any money field (docs/ARCHITECTURE.md, "Money bounds"): far below what
# NUMERIC(15,2) holds, so a loan's own running totals and every group's sums fit their columns.
MAX_MONEY = Decimal("9999999999.99")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def storable_text(value: str) -> bool:
    """Whether PostgreSQL can store ``value`` as text: no NUL, and valid Unicode (UTF-8 encodable)."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def printable(value: str) -> str:
    """``value`` for a JSON response: lone surrogates (which no encoder accepts) written as escapes."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode()
    return value


def _parse_date(value: Any) -> date:
    """Exactly YYYY-MM-DD (pydantic's lax date would also take timestamps)."""
    if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-" and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif isinstance(value, date) and not isinstance(value, datetime):
        return value
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
# Native pydantic-core constraints (no Python call per value): >= 0, <= MAX_MONEY, whole cents.
Money = Annotated[Decimal, Field(ge=0, le=MAX_MONEY, decimal_places=2, allow_inf_nan=False)]
Rate = Annotated[Decimal, BeforeValidator(_parse_rate)]
# PostgreSQL text cannot hold NUL: refuse it here rather than fail the batch's statement. Text
# that is not valid Unicode (lone surrogates) pydantic refuses itself (``string_unicode``).
NO_NUL = r"^[^\x00]*$"
Key = Annotated[str, Field(min_length=1, max_length=100, strict=True, pattern=NO_NUL)]
Text = Annotated[str, Field(max_length=1000, strict=True, pattern=NO_NUL)]
Name = Annotated[str, Field(min_length=1, max_length=1000, strict=True, pattern=NO_NUL)]
Count = Annotated[int, Field(strict=True, ge=0, le=2_000_000_000)]


class Record(TypedDict):
    """Validated records are plain dicts (cheaper than models on the hot path); absent optional
    fields are absent keys. Unknown and computed fields are dropped (SPEC §4: computed fields
    are never accepted)."""

    __pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[misc]


class OfficerRecord(Record):
    officer_id: Key
    officer_name: Name
    officer_phone: NotRequired[Text | None]
    officer_email: NotRequired[Text | None]
    region: Name
    branch: Name
    employment_status: NotRequired[Text | None]
    hire_date: NotRequired[IsoDate | None]
    termination_date: NotRequired[IsoDate | None]
    primary_channel: NotRequired[Text | None]
    had_float_gap: NotRequired[StrictBool | None]


class CustomerRecord(Record):
    customer_id: Key
    customer_name: Name
    customer_phone: NotRequired[Text | None]
    customer_email: NotRequired[Text | None]
    date_of_birth: NotRequired[IsoDate | None]
    gender: NotRequired[Text | None]
    state: NotRequired[Text | None]
    lga: NotRequired[Text | None]
    address: NotRequired[Text | None]
    kyc_status: NotRequired[Text | None]
    kyc_verified_date: NotRequired[IsoDate | None]


class LoanRecord(Record):
    loan_id: Key
    customer_id: Key
    customer_name: Name
    customer_phone: NotRequired[Text | None]
    officer_id: Key
    officer_name: Name
    officer_phone: NotRequired[Text | None]
    region: Name
    branch: Name
    state: NotRequired[Text | None]
    loan_amount: Money
    disbursement_date: IsoDate
    maturity_date: IsoDate
    loan_term_days: Count
    interest_rate: NotRequired[Rate | None]
    fee_amount: NotRequired[Money | None]
    channel: Name
    channel_partner: NotRequired[Text | None]
    status: Name
    closed_date: NotRequired[IsoDate | None]


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
    penalty_paid: NotRequired[Money | None]
    payment_method: Name
    payment_reference: NotRequired[Text | None]
    payment_channel: NotRequired[Text | None]
    dpd_at_payment: NotRequired[Count | None]
    is_backdated: NotRequired[StrictBool | None]
    is_reversed: StrictBool
    reversal_date: NotRequired[IsoDate | None]
    reversal_reason: NotRequired[Text | None]
    waiver_amount: NotRequired[Money | None]
    waiver_type: NotRequired[Text | None]
    waiver_approved_by: NotRequired[Text | None]
