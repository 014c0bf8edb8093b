"""Windows (SPEC §5.4) and loan groups (§5.5, §5.7): which dates and which loans a metric covers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from loanmetrics.calculators.book import Book, Loan

GroupKind = Literal["officer", "branch", "region", "all"]
GROUP_KINDS: tuple[GroupKind, ...] = ("officer", "branch", "region", "all")
ALL_KEY = "all"


@dataclass(frozen=True)
class Window:
    """A metric window [start, end]: stocks are taken on `end` (D), flows sum over start..end."""

    start: date
    end: date

    @property
    def d_minus_7(self) -> date:
        """D − 7, the other end of roll's seven-day step."""
        return self.end - timedelta(days=7)

    @property
    def mid_month(self) -> date:
        """M: the latest 15th of a month on or before D (par15_mid_month)."""
        return mid_month_date(self.end)

    @property
    def month_start(self) -> date:
        """The first day of D's month (total_yield is monthly whatever the window)."""
        return self.end.replace(day=1)


def make_window(end: date, start: date | None = None) -> Window:
    """The window [S, D]; S defaults to the first of D's month; S after D is a ValueError (§5.4)."""
    s = end.replace(day=1) if start is None else start
    if s > end:
        raise ValueError(f"window start {s.isoformat()} is after its end {end.isoformat()}")
    return Window(start=s, end=end)


def mid_month_date(d: date) -> date:
    """The latest 15th of a month on or before d."""
    if d.day >= 15:
        return d.replace(day=15)
    last_of_previous = d.replace(day=1) - timedelta(days=1)
    return last_of_previous.replace(day=15)


def group_key(loan: Loan, kind: GroupKind) -> str:
    """The key of the group of `kind` a loan belongs to: its own officer_id, branch or region."""
    if kind == "officer":
        return loan.officer_id
    if kind == "branch":
        return loan.branch
    if kind == "region":
        return loan.region
    return ALL_KEY


def loans_in_group(book: Book, kind: GroupKind, key: str) -> list[Loan]:
    """Every loan of the group (active or not), in loan_id order."""
    return [book.loans[i] for i in sorted(book.loans) if group_key(book.loans[i], kind) == key]


def group_keys(book: Book, kind: GroupKind) -> list[str]:
    """The groups of one kind: every officer of the book; every branch or region a loan carries."""
    if kind == "officer":
        return sorted(set(book.officers) | {loan.officer_id for loan in book.loans.values()})
    return sorted({group_key(loan, kind) for loan in book.loans.values()})


def officers_with_daily_row(book: Book, day: date) -> list[str]:
    """Officers that get an officer_metrics_daily row on `day`: a loan disbursed on or before it (§3)."""
    return sorted({loan.officer_id for loan in book.loans.values() if loan.disbursement_date <= day})


def branch_region(book: Book, branch: str, day: date | None = None) -> str | None:
    """The region most of the branch's loans carry (§3 branch_metrics_daily); ties: alphabetical.

    With ``day``, only the loans disbursed on or before it (the branch as it stood that day).
    """
    counts = Counter(
        loan.region
        for loan in book.loans.values()
        if loan.branch == branch and (day is None or loan.disbursement_date <= day)
    )
    if not counts:
        return None
    return min(counts, key=lambda region: (-counts[region], region))
