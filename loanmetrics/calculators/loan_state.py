"""Loan state of SPEC §5.1–5.3 and the computed loan fields of §5.8, written formula for formula.

This is the slow, obviously right definition: DPD scans installments, max_dpd_ever visits every day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from loanmetrics.calculators.book import Book, Loan, Repayment, ScheduleRow
from loanmetrics.calculators.money import ZERO, round2

TOLERANCE = Decimal("0.01")


@dataclass(frozen=True)
class Installment:
    """An effective installment (§5.1–5.2): a stored row with total_due > 0, or the implied bullet."""

    installment_number: int | None  # None for the implied bullet installment
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    total_due: Decimal
    implied: bool = False


@dataclass(frozen=True)
class LoanHistory:
    """Everything §5 needs about one loan under current knowledge, gathered once.

    `settlement[k]` is settled_at of `installments[k]` (§5.2); it does not depend on the as-of date.
    """

    loan: Loan
    rows: tuple[ScheduleRow, ...]  # stored schedule rows by installment_number, total_due 0 included
    installments: tuple[Installment, ...]  # effective installments, in installment_number order
    repayments: tuple[Repayment, ...]  # non-reversed repayments (the only ones that count, §5.1)
    entries: tuple[Repayment, ...]  # every repayment, reversed ones included (entry counts of §5.5)
    settlement: tuple[date | None, ...]


@dataclass(frozen=True)
class InstallmentState:
    """A schedule row's stored computed fields as of the business date (§5.2); None when ignored."""

    installment_number: int | None
    due_date: date
    total_due: Decimal
    implied: bool
    ignored: bool
    cumulative_due: Decimal | None
    settled_at: date | None
    amount_paid: Decimal | None
    payment_date: date | None
    payment_status: str | None


@dataclass(frozen=True)
class LoanFields:
    """The 14 computed loan fields of SPEC §3/§5.8, as of the business date."""

    current_dpd: int
    max_dpd_ever: int
    first_payment_missed: bool
    first_payment_due_date: date | None
    first_payment_received_date: date | None
    principal_outstanding: Decimal
    interest_outstanding: Decimal
    fees_outstanding: Decimal
    total_outstanding: Decimal
    total_principal_paid: Decimal
    total_interest_paid: Decimal
    total_fees_paid: Decimal
    fimr_tagged: bool
    early_indicator_tagged: bool


# --- §5.1 Repayments and installments ----------------------------------------------------------


def implied_interest(loan_amount: Decimal, interest_rate: Decimal | None, loan_term_days: int) -> Decimal:
    """The interest a loan without schedule rows owes (§5.1): simple interest over its term."""
    if interest_rate is None:
        return ZERO
    return round2(Fraction(loan_amount) * Fraction(interest_rate) * loan_term_days / 365)


def implied_installment(loan: Loan) -> Installment:
    """The single installment of a loan without schedule rows (§5.1): a bullet due at maturity."""
    interest = implied_interest(loan.loan_amount, loan.interest_rate, loan.loan_term_days)
    fee = loan.fee_amount if loan.fee_amount is not None else ZERO
    return Installment(
        installment_number=None,
        due_date=loan.maturity_date,
        principal_due=loan.loan_amount,
        interest_due=interest,
        fee_due=fee,
        total_due=loan.loan_amount + interest + fee,
        implied=True,
    )


def effective_installments(loan: Loan, rows: tuple[ScheduleRow, ...]) -> tuple[Installment, ...]:
    """The installments that count (§5.1–5.2): rows with total_due ≠ 0 by number, else the bullet."""
    if not rows:
        return (implied_installment(loan),)
    ordered = sorted(rows, key=lambda r: r.installment_number)
    return tuple(
        Installment(
            installment_number=r.installment_number,
            due_date=r.due_date,
            principal_due=r.principal_due,
            interest_due=r.interest_due,
            fee_due=r.fee_due,
            total_due=r.total_due,
        )
        for r in ordered
        if r.total_due != 0
    )


def coverage(repayment: Repayment) -> Decimal:
    """What a repayment settles (§5.1): principal + interest + fees (not penalties, not waivers)."""
    return repayment.principal_paid + repayment.interest_paid + repayment.fees_paid


def loan_history(book: Book, loan_id: str) -> LoanHistory:
    """Gather one loan's rows, effective installments, counted repayments and settlement dates."""
    loan = book.loans[loan_id]
    rows = tuple(sorted(book.schedules.get(loan_id, ()), key=lambda r: r.installment_number))
    installments = effective_installments(loan, rows)
    entries = tuple(sorted(book.repayments.get(loan_id, ()), key=lambda r: r.payment_date))
    counted = tuple(r for r in entries if not r.is_reversed)
    settlement = tuple(_settled_at(installments, counted, k) for k in range(len(installments)))
    return LoanHistory(
        loan=loan,
        rows=rows,
        installments=installments,
        repayments=counted,
        entries=entries,
        settlement=settlement,
    )


def loan_histories(book: Book) -> dict[str, LoanHistory]:
    """The LoanHistory of every loan of the book, by loan_id."""
    return {loan_id: loan_history(book, loan_id) for loan_id in book.loans}


def paid(h: LoanHistory, t: date) -> Decimal:
    """paid(L, t): coverage of the loan's counted repayments dated on or before t (§5.1)."""
    return _paid_through(h.repayments, t)


def principal_paid(h: LoanHistory, t: date) -> Decimal:
    """principal_paid(L, t) of §5.1."""
    return sum((r.principal_paid for r in h.repayments if r.payment_date <= t), ZERO)


def interest_paid(h: LoanHistory, t: date) -> Decimal:
    """interest_paid(L, t) of §5.1."""
    return sum((r.interest_paid for r in h.repayments if r.payment_date <= t), ZERO)


def fees_paid(h: LoanHistory, t: date) -> Decimal:
    """fees_paid(L, t) of §5.1."""
    return sum((r.fees_paid for r in h.repayments if r.payment_date <= t), ZERO)


# --- §5.2 Settlement ---------------------------------------------------------------------------


def cumulative_due(h: LoanHistory, k: int) -> Decimal:
    """C of the installment at position k (0-based) of h.installments; C(-1) = C_0 = 0 (§5.2)."""
    return _cumulative(h.installments, k)


def settled_at(h: LoanHistory, k: int) -> date | None:
    """The first payment_date t with paid(L, t) ≥ C_k − 0.01, or None: never settled (§5.2)."""
    return h.settlement[k]


def is_settled_by(h: LoanHistory, k: int, t: date) -> bool:
    """Whether installment k is settled on or before t."""
    when = h.settlement[k]
    return when is not None and when <= t


def alloc(h: LoanHistory, k: int, t: date) -> Decimal:
    """alloc_k(t): the part of installment k covered by date t (§5.2)."""
    total_due = h.installments[k].total_due
    if is_settled_by(h, k, t):
        return total_due
    return min(total_due, max(ZERO, paid(h, t) - cumulative_due(h, k - 1)))


def schedule_state(h: LoanHistory, business_date: date) -> tuple[InstallmentState, ...]:
    """The stored computed fields of every schedule row as of the business date B (§5.2).

    Rows with total_due 0 keep None fields; a loan without rows reports its implied installment.
    """
    if not h.rows:
        return tuple(_installment_state(h, k, business_date) for k in range(len(h.installments)))
    positions = {inst.installment_number: k for k, inst in enumerate(h.installments)}
    states: list[InstallmentState] = []
    for row in h.rows:
        if row.total_due == 0:
            states.append(
                InstallmentState(
                    installment_number=row.installment_number,
                    due_date=row.due_date,
                    total_due=row.total_due,
                    implied=False,
                    ignored=True,
                    cumulative_due=None,
                    settled_at=None,
                    amount_paid=None,
                    payment_date=None,
                    payment_status=None,
                )
            )
        else:
            states.append(_installment_state(h, positions[row.installment_number], business_date))
    return tuple(states)


# --- §5.3 Loan state on a date D ---------------------------------------------------------------


def active(loan: Loan, d: date) -> bool:
    """Active on D: disbursed on or before D and not closed on or before D (§5.3)."""
    return loan.disbursement_date <= d and (loan.closed_date is None or loan.closed_date > d)


def dpd(h: LoanHistory, d: date) -> int:
    """DPD(L, D): D − the earliest due date before D among installments not settled by D (§5.3)."""
    overdue = [
        inst.due_date for k, inst in enumerate(h.installments) if inst.due_date < d and not is_settled_by(h, k, d)
    ]
    return (d - min(overdue)).days if overdue else 0


def principal_outstanding(h: LoanHistory, d: date) -> Decimal:
    """max(0, loan_amount − principal_paid(L, D)) (§5.3)."""
    return max(ZERO, h.loan.loan_amount - principal_paid(h, d))


def interest_outstanding(h: LoanHistory, d: date) -> Decimal:
    """max(0, Σ interest_due − interest_paid(L, D)) over the effective installments (§5.3)."""
    due = sum((inst.interest_due for inst in h.installments), ZERO)
    return max(ZERO, due - interest_paid(h, d))


def fees_outstanding(h: LoanHistory, d: date) -> Decimal:
    """max(0, Σ fee_due − fees_paid(L, D)) over the effective installments (§5.3)."""
    due = sum((inst.fee_due for inst in h.installments), ZERO)
    return max(ZERO, due - fees_paid(h, d))


def total_out(h: LoanHistory, d: date) -> Decimal:
    """total_out(L, D): the contractual outstanding, the balance every metric uses (§5.3)."""
    return principal_outstanding(h, d) + interest_outstanding(h, d) + fees_outstanding(h, d)


def first_payment_due_date(h: LoanHistory) -> date | None:
    """Due date of the lowest-numbered effective installment (§5.3); None if there is none."""
    return h.installments[0].due_date if h.installments else None


def first_payment_received_date(h: LoanHistory, d: date) -> date | None:
    """Earliest payment_date ≤ D of a counted repayment with coverage above 0 (§5.3)."""
    dates = [r.payment_date for r in h.repayments if r.payment_date <= d and coverage(r) > 0]
    return min(dates) if dates else None


def fimr_eligible(h: LoanHistory, d: date) -> bool:
    """FIMR-eligible on D: the first payment fell due before D (§5.3)."""
    due = first_payment_due_date(h)
    return due is not None and due < d


def missed(h: LoanHistory, d: date) -> bool:
    """Missed on D: eligible, and nothing received by D or received after the first due date."""
    if not fimr_eligible(h, d):
        return False
    due = first_payment_due_date(h)
    received = first_payment_received_date(h, d)
    return received is None or (due is not None and received > due)


def days_late(h: LoanHistory, d: date) -> int | None:
    """received − due, or D − due when nothing was received by D (§5.3); None without installments."""
    due = first_payment_due_date(h)
    if due is None:
        return None
    received = first_payment_received_date(h, d)
    return ((received if received is not None else d) - due).days


# --- §5.8 Computed loan fields -----------------------------------------------------------------


def current_dpd(h: LoanHistory, business_date: date) -> int:
    """DPD on the business date while the loan is active there, else 0 (§5.8)."""
    return dpd(h, business_date) if active(h.loan, business_date) else 0


def max_dpd_ever(h: LoanHistory, business_date: date) -> int:
    """The largest DPD on any day the loan was active up to the business date, 0 if none (§5.8)."""
    worst = 0
    day = h.loan.disbursement_date
    while day <= business_date:
        if active(h.loan, day):
            worst = max(worst, dpd(h, day))
        day += timedelta(days=1)
    return worst


def compute_loan_fields(h: LoanHistory, business_date: date) -> LoanFields:
    """The 14 computed loan fields of §5.8 for one gathered loan."""
    b = business_date
    current = current_dpd(h, b)
    first_missed = missed(h, b)
    return LoanFields(
        current_dpd=current,
        max_dpd_ever=max_dpd_ever(h, b),
        first_payment_missed=first_missed,
        first_payment_due_date=first_payment_due_date(h),
        first_payment_received_date=first_payment_received_date(h, b),
        principal_outstanding=principal_outstanding(h, b),
        interest_outstanding=interest_outstanding(h, b),
        fees_outstanding=fees_outstanding(h, b),
        total_outstanding=total_out(h, b),
        total_principal_paid=principal_paid(h, b),
        total_interest_paid=interest_paid(h, b),
        total_fees_paid=fees_paid(h, b),
        fimr_tagged=first_missed,
        early_indicator_tagged=1 <= current <= 6,
    )


def loan_fields(book: Book, loan_id: str, business_date: date) -> LoanFields:
    """The 14 computed loan fields of §5.8 for a loan of the book on business date B."""
    return compute_loan_fields(loan_history(book, loan_id), business_date)


# --- helpers -----------------------------------------------------------------------------------


def _paid_through(repayments: tuple[Repayment, ...], t: date) -> Decimal:
    return sum((coverage(r) for r in repayments if r.payment_date <= t), ZERO)


def _cumulative(installments: tuple[Installment, ...], k: int) -> Decimal:
    return sum((inst.total_due for inst in installments[: k + 1]), ZERO)


def _settled_at(installments: tuple[Installment, ...], repayments: tuple[Repayment, ...], k: int) -> date | None:
    threshold = _cumulative(installments, k) - TOLERANCE
    for t in sorted({r.payment_date for r in repayments}):
        if _paid_through(repayments, t) >= threshold:
            return t
    return None


def _installment_state(h: LoanHistory, k: int, b: date) -> InstallmentState:
    inst = h.installments[k]
    amount_paid = alloc(h, k, b)
    settled = is_settled_by(h, k, b)
    if settled:
        status = "Paid"
    elif inst.due_date < b:
        status = "Overdue"
    elif amount_paid > 0:
        status = "Partial"
    else:
        status = "Pending"
    return InstallmentState(
        installment_number=inst.installment_number,
        due_date=inst.due_date,
        total_due=inst.total_due,
        implied=inst.implied,
        ignored=False,
        cumulative_due=cumulative_due(h, k),
        settled_at=settled_at(h, k),
        amount_paid=amount_paid,
        payment_date=settled_at(h, k) if settled else None,
        payment_status=status,
    )
