"""The components of SPEC §5.5 for a group of loans and a window [S, D]: each the registry's sum
of a per-loan quantity over the loans meeting its conditions (``calculators/registry.py``).

Stocks are taken on D over the loans active on D; flows sum over S..D over every loan of the group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from loanmetrics.calculators.book import Book
from loanmetrics.calculators.groups import GroupKind, Window
from loanmetrics.calculators.loan_state import LoanHistory
from loanmetrics.calculators.money import ZERO
from loanmetrics.calculators.quantities import LoanInWindow, Value
from loanmetrics.calculators.registry import BUCKETS, COMPONENTS, QUANTITY, Component

BUCKET_LABELS: tuple[str, ...] = tuple(bucket.label for bucket in BUCKETS)


@dataclass(frozen=True)
class BucketTotal:
    """Count and Σ total_out(D) of the active loans in one DPD bucket."""

    count: int
    balance: Decimal


class Components:
    """Every registry component of one group and window, as attributes named like the
    officer_metrics_daily columns, plus the buckets by label and a few counts beside them
    (``had_float_gap``, ``total_officers``, ``loan_count``, ``regions``, and the counts the
    worked example reports: ``dpd_1to6_count``, ``prev_dpd_1to6_count``, ``moved_to_7to30_count``,
    ``moved_to_7to30_balance_on_d``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)

    def of(self, name: str) -> Decimal | int:
        """One registry component by name."""
        value: Decimal | int = self.__dict__[name]
        return value

    @property
    def buckets(self) -> Mapping[str, BucketTotal]:
        return {b.label: BucketTotal(int(self.of(f"bucket_{b.key}_count")),
                                     Decimal(self.of(f"bucket_{b.key}_balance")))
                for b in BUCKETS}


class _Loan:
    """One loan's quantities on one window, each computed once when first asked for."""

    def __init__(self, book: Book, history: LoanHistory, window: Window) -> None:
        self.subject = LoanInWindow(book, history, window)
        self.values: dict[str, Value] = {}

    def __call__(self, quantity: str) -> Value:
        if quantity not in self.values:
            self.values[quantity] = QUANTITY[quantity].reference(self.subject)
        return self.values[quantity]


def component_value(component: Component, loans: Sequence[_Loan]) -> Decimal | int:
    """Σ of the component's quantity (a count without one) over the loans meeting its conditions."""
    counted = [loan for loan in loans if all(c.holds(loan(c.quantity)) for c in component.where)]
    if component.sums is None:
        return len(counted)
    total = sum((loan(component.sums) for loan in counted), ZERO if component.money else 0)
    return total if component.money else int(total)


def compute_components(
    book: Book, kind: GroupKind, key: str, loans: Sequence[LoanHistory], window: Window
) -> Components:
    """All components of the group ``kind``/``key`` whose loans are ``loans``, over ``window``.

    A loan disbursed after D counts in nothing (it is neither active nor paid by then)."""
    d = window.end
    present = [_Loan(book, h, window) for h in loans if h.loan.disbursement_date <= d]
    values: dict[str, Any] = {c.name: component_value(c, present) for c in COMPONENTS}
    officer = book.officers.get(key) if kind == "officer" else None
    values.update(
        had_float_gap=officer.had_float_gap if officer is not None else False,
        total_officers=len({loan.subject.history.loan.officer_id for loan in present if loan("active_d")}),
        loan_count=len(loans),
        regions=tuple(sorted({h.loan.region for h in loans})),
        **_example_counts(present),
    )
    return Components(values)


def _example_counts(loans: Sequence[_Loan]) -> dict[str, Decimal | int]:
    """Counts the worked example reports beside the components (not product metrics)."""
    d_1to6 = [x for x in loans if x("active_d") and 1 <= int(x("dpd_d")) <= 6]
    prev = [x for x in loans if x("active_7") and 1 <= int(x("dpd_7")) <= 6]
    moved = [x for x in prev if x("active_d") and 7 <= int(x("dpd_d")) <= 30]
    return {
        "dpd_1to6_count": len(d_1to6),
        "prev_dpd_1to6_count": len(prev),
        "moved_to_7to30_count": len(moved),
        "moved_to_7to30_balance_on_d": sum((Decimal(x("out_d")) for x in moved), ZERO),
    }
