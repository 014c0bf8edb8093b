"""Business rules of SPEC §4 that span fields of one record or need the business date.

Each rule returns ``(field, error_code, message)`` tuples; the caller adds the record's path.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from loanmetrics.calculators.loan_state import implied_interest
from loanmetrics.db.ingestion.records import MAX_MONEY, LoanRecord, RepaymentRecord, ScheduleRecord

Violation = tuple[str, str, str]
TOLERANCE = Decimal("0.01")
LOAN_STATUSES = ("Active", "Closed", "Written Off")


def loan_rules(loan: LoanRecord, business_date: date) -> list[Violation]:
    found: list[Violation] = []
    status, disbursed, closed = loan["status"], loan["disbursement_date"], loan.get("closed_date")
    if loan["loan_amount"] <= 0:
        found.append(("loan_amount", "INVALID_AMOUNT", "loan_amount must be greater than 0"))
    if implied_interest(loan["loan_amount"], loan.get("interest_rate"), loan["loan_term_days"]) > MAX_MONEY:
        # the interest a loan without a schedule owes (SPEC §5.1) is a money amount too
        found.append(("interest_rate", "AMOUNT_TOO_LARGE",
                      f"loan_amount x interest_rate x loan_term_days / 365 must not exceed {MAX_MONEY}"))
    if disbursed > business_date:
        found.append(("disbursement_date", "FUTURE_DATE", "disbursement_date is after the business date"))
    if loan["maturity_date"] < disbursed:
        found.append(("maturity_date", "DATE_ORDER", "maturity_date is before disbursement_date"))
    if status not in LOAN_STATUSES:
        found.append(("status", "INVALID_STATUS", "status must be 'Active', 'Closed' or 'Written Off'"))
    elif status == "Active" and closed is not None:
        found.append(("closed_date", "UNEXPECTED_CLOSED_DATE", "an Active loan has no closed_date"))
    elif status != "Active" and closed is None:
        found.append(("closed_date", "MISSING_CLOSED_DATE", f"a {status} loan needs a closed_date"))
    if closed is not None:
        if closed < disbursed:
            found.append(("closed_date", "DATE_ORDER", "closed_date is before disbursement_date"))
        if closed > business_date:
            found.append(("closed_date", "FUTURE_DATE", "closed_date is after the business date"))
    return found


def schedule_rules(row: ScheduleRecord, business_date: date) -> list[Violation]:
    if abs(row["principal_due"] + row["interest_due"] + row["fee_due"] - row["total_due"]) > TOLERANCE:
        return [("total_due", "AMOUNT_MISMATCH", "total_due must equal principal_due + interest_due + fee_due")]
    return []


def repayment_rules(payment: RepaymentRecord, business_date: date) -> list[Violation]:
    found: list[Violation] = []
    paid_on, reversed_on = payment["payment_date"], payment.get("reversal_date")
    parts = payment["principal_paid"] + payment["interest_paid"] + payment["fees_paid"]
    parts += payment.get("penalty_paid") or 0
    if abs(parts - payment["payment_amount"]) > TOLERANCE:
        found.append((
            "payment_amount",
            "AMOUNT_MISMATCH",
            "payment_amount must equal principal_paid + interest_paid + fees_paid + penalty_paid",
        ))
    if paid_on > business_date:
        found.append(("payment_date", "FUTURE_DATE", "payment_date is after the business date"))
    if reversed_on is not None and reversed_on > business_date:
        found.append(("reversal_date", "FUTURE_DATE", "reversal_date is after the business date"))
    if payment["is_reversed"]:
        if reversed_on is None:
            found.append(("reversal_date", "MISSING_REVERSAL_DATE", "a reversed repayment needs a reversal_date"))
        elif reversed_on < paid_on:
            found.append(("reversal_date", "DATE_ORDER", "reversal_date is before payment_date"))
        if not payment.get("reversal_reason"):
            found.append((
                "reversal_reason", "MISSING_REVERSAL_REASON", "a reversed repayment needs a reversal_reason"
            ))
    return found


def no_rules(record: Any, business_date: date) -> list[Violation]:
    return []


