"""GraphQL loan types (SPEC §6): a loan with its schedule and repayments, and loan pages, built
from the rows the queries read (``resolvers/loans.py``).

A loan always carries its officer, which whoever builds the page supplies (the drilldowns read it
in the page's own statement; an officer's loans page reuses that officer): this module names the
``Officer`` type lazily and never builds one, so the officer types can build loans.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, cast

import orjson
import strawberry
from strawberry.types import Info

from loanmetrics.graph.fast_execution import PREFETCHED, Prebuilt
from loanmetrics.graph.types.connections import PageInfo
from loanmetrics.principal import Role
from loanmetrics.resolvers.context import RequestContext
from loanmetrics.resolvers.loans import LoanPage, customer_phone
from loanmetrics.resolvers.pagination import Cursor

if TYPE_CHECKING:
    from loanmetrics.graph.types.officer import Officer


def _money(value: Any) -> float | None:
    return None if value is None else float(value)


@strawberry.type
class Installment:
    installment_number: int
    due_date: date
    principal_due: float
    interest_due: float
    fee_due: float
    total_due: float
    amount_paid: float | None
    payment_date: date | None
    payment_status: str | None

    @classmethod
    def from_row(cls, row: Any) -> Installment:
        """From a loan_schedule row."""
        return cls(
            installment_number=row["installment_number"], due_date=row["due_date"],
            principal_due=float(row["principal_due"]), interest_due=float(row["interest_due"]),
            fee_due=float(row["fee_due"]), total_due=float(row["total_due"]),
            amount_paid=_money(row["amount_paid"]), payment_date=row["payment_date"],
            payment_status=row["payment_status"],
        )


@strawberry.type
class Repayment:
    repayment_id: strawberry.ID
    payment_date: date
    payment_amount: float
    principal_paid: float
    interest_paid: float
    fees_paid: float
    penalty_paid: float | None
    payment_method: str
    payment_channel: str | None
    is_backdated: bool
    is_reversed: bool
    reversal_date: date | None
    reversal_reason: str | None
    waiver_amount: float | None
    waiver_type: str | None

    @classmethod
    def from_row(cls, row: Any) -> Repayment:
        """From a repayments row."""
        return cls(
            repayment_id=row["repayment_id"], payment_date=row["payment_date"],
            payment_amount=float(row["payment_amount"]), principal_paid=float(row["principal_paid"]),
            interest_paid=float(row["interest_paid"]), fees_paid=float(row["fees_paid"]),
            penalty_paid=_money(row["penalty_paid"]), payment_method=row["payment_method"],
            payment_channel=row["payment_channel"], is_backdated=row["is_backdated"],
            is_reversed=row["is_reversed"], reversal_date=row["reversal_date"],
            reversal_reason=row["reversal_reason"], waiver_amount=_money(row["waiver_amount"]),
            waiver_type=row["waiver_type"],
        )


@strawberry.type
class Loan:
    loan_id: strawberry.ID
    officer_id: strawberry.ID = strawberry.field(description="The loan's officer, also when out of the caller's scope.")
    customer_id: strawberry.ID
    customer_name: str
    customer_phone: str | None
    region: str
    branch: str
    channel: str | None
    status: str
    loan_amount: float
    disbursement_date: date
    maturity_date: date
    current_dpd: int
    max_dpd_ever: int
    first_payment_due_date: date | None
    first_payment_received_date: date | None
    days_late: int | None
    fimr_tagged: bool
    early_indicator_tagged: bool
    total_outstanding: float
    last_payment_date: date | None
    next_payment_due: date | None
    officer_name: str
    loan_officer: strawberry.Private[Officer | None] = None
    """The loan's officer, supplied by whoever built the page."""
    prebuilt_json: strawberry.Private[Any] = None
    """The node's whole answer as JSON built in SQL (resolvers/loan_json.py), or None."""

    @classmethod
    def from_row(cls, row: Any, role: Role, officer: Officer) -> Loan:
        """From a row of ``loans.loan_columns``; the customer phone as ``role`` may see it."""
        return cls(
            loan_id=row["loan_id"], officer_id=row["officer_id"], officer_name=row["officer_name"],
            customer_id=row["customer_id"], customer_name=row["customer_name"],
            customer_phone=customer_phone(row["customer_phone"], role),
            region=row["region"], branch=row["branch"], channel=row["channel"], status=row["status"],
            loan_amount=float(row["loan_amount"]), disbursement_date=row["disbursement_date"],
            maturity_date=row["maturity_date"], current_dpd=row["current_dpd"], max_dpd_ever=row["max_dpd_ever"],
            first_payment_due_date=row["first_payment_due_date"],
            first_payment_received_date=row["first_payment_received_date"], days_late=row["days_late"],
            fimr_tagged=row["fimr_tagged"], early_indicator_tagged=row["early_indicator_tagged"],
            total_outstanding=float(row["total_outstanding"]), last_payment_date=row["last_payment_date"],
            next_payment_due=row["next_payment_due"], loan_officer=officer,
        )

    @classmethod
    def prebuilt(cls, node_json: str) -> Loan:
        """A loan whose answer the page statement built for this very selection."""
        return cast(Loan, Prebuilt(orjson.Fragment(node_json)))

    @strawberry.field(description="The loan's officer. When the officer's own branch or region is outside the "
                      "caller's scope (a loan of a scoped branch may belong to another branch's officer), only its "
                      "id and name are given (phone, employment status and primary channel null, branch and "
                      "region empty), audit is null, and its metrics, history and loans count only loans in the "
                      "caller's scope, as every officer's do for a scoped caller.",
                      metadata={PREFETCHED: "loan_officer"})
    def officer(self) -> Annotated[Officer, strawberry.lazy("loanmetrics.graph.types.officer")]:
        assert self.loan_officer is not None, "every page supplies its loans' officer"
        return self.loan_officer

    @strawberry.field
    async def schedule(self, info: Info[RequestContext, None]) -> list[Installment]:
        rows = await info.context.loaders.schedules.load(str(self.loan_id))
        return [Installment.from_row(row) for row in rows]

    @strawberry.field
    async def repayments(self, info: Info[RequestContext, None]) -> list[Repayment]:
        rows = await info.context.loaders.repayments.load(str(self.loan_id))
        return [Repayment.from_row(row) for row in rows]


def _edge_cursor(root: LoanEdge) -> str:
    return root.cursor_text


@strawberry.type
class LoanEdge:
    cursor: str = strawberry.field(resolver=_edge_cursor, metadata={PREFETCHED: "cursor_text"})
    node: Loan
    lazy_cursor: strawberry.Private[Cursor]

    @property
    def cursor_text(self) -> str:
        """Encoded when selected (``resolvers.pagination.Cursor``)."""
        return str(self.lazy_cursor)


@strawberry.type
class LoanConnection:
    edges: list[LoanEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: LoanPage, role: Role, officer_of: Callable[[Any], Officer]) -> LoanConnection:
        """The page's loans, each with its officer: ``officer_of(row)`` (or prebuilt: ``page.node_json``)."""
        if page.node_json:
            edges = [LoanEdge(lazy_cursor=cursor, node=Loan.prebuilt(row["node_json"])) for cursor, row in page.items]
        else:
            edges = [LoanEdge(lazy_cursor=cursor, node=Loan.from_row(row, role, officer_of(row)))
                     for cursor, row in page.items]
        return cls(edges=edges, total_count=page.total_count,
                   page_info=PageInfo.of(page.items, has_next=page.has_next, has_previous=page.has_previous))

    @property
    def node_list(self) -> list[Loan]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="The nodes of the edges, without cursors.", metadata={PREFETCHED: "node_list"})
    def nodes(self) -> list[Loan]:
        return self.node_list
