"""Pre-aggregated daily rows (SPEC §3): officer_metrics_daily, branch_metrics_daily,
dpd_transitions and par15_snapshots, written set-based from the metric engine.

Every calculated date also keeps the engine's fine level, ``metric_fine_daily``: per
(officer, branch, region) the loan count and every additive component in cents. The officer and
branch rows are roll-ups of it, so a date can be brought up to date in two ways:
- ``restate``: recompute every loan (or every loan of some officers) from ``loan_state``;
- ``apply_changes``: for the loans ingestion changed, subtract the per-loan values of their
  before-images (``loan_state_prior``) and add those of their current state, then roll up only
  the officers and branches whose groups moved. The cost follows the changed loans, not the book.
All in the caller's transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from loanmetrics.calculators import registry
from loanmetrics.db import metric_engine as engine
from loanmetrics.db import metric_sql
from loanmetrics.db.models import FINE_COMPONENTS
from loanmetrics.db.params import Params, Statement

RATIO_LIMIT = "100000000000000"  # NUMERIC(20,6) holds |x| < 1e14; larger stored ratios read as null

_DAILY_COLUMNS = (
    "period_start",
    *(c.name for c in registry.COMPONENTS if c.daily),
    *(r.name for r in registry.RATIOS),
    "had_float_gap", "risk_score", "risk_band", "dqi", "dqi_band",
)
_MONEY = frozenset(c.name for c in registry.COMPONENTS if c.money)
_RATIOS = frozenset(r.name for r in registry.RATIOS)


def _select_columns() -> str:
    parts = ["period_start"]
    for name in _DAILY_COLUMNS[1:]:
        if name in _MONEY:
            parts.append(f"{name} / 100.0")
        elif name in _RATIOS:
            parts.append(f"CASE WHEN abs({name}) < {RATIO_LIMIT} THEN round({name}, 6) END")
        else:
            parts.append(name)
    return ", ".join(parts)


@dataclass(frozen=True)
class Restated:
    """How many rows one restatement wrote."""

    officer_rows: int
    branch_rows: int
    transitions: int
    snapshots: int

    @property
    def total(self) -> int:
        return self.officer_rows + self.branch_rows + self.transitions + self.snapshots

    def __add__(self, other: Restated) -> Restated:
        return Restated(self.officer_rows + other.officer_rows, self.branch_rows + other.branch_rows,
                        self.transitions + other.transitions, self.snapshots + other.snapshots)


NOTHING = Restated(0, 0, 0, 0)

_FINE_LIST = ", ".join(FINE_COMPONENTS)
_WRITE_FINE = f"""
INSERT INTO metric_fine_daily (calculation_date, officer_id, branch, region, {_FINE_LIST})
SELECT d, officer_id, branch, region, {", ".join(f"{name}::bigint" for name in FINE_COMPONENTS)}
FROM fine
RETURNING officer_id, branch
"""


def _transitions() -> Statement:
    """The transitions on the ``dates`` of the changed ``loans`` (a full restatement writes every
    loan's from the engine's own pass)."""
    params = Params()
    return Statement(f"""
WITH days AS (SELECT unnest({params.slot("dates", "date[]")}) AS d)
INSERT INTO dpd_transitions (loan_id, officer_id, branch, transition_date, from_dpd_bucket, to_dpd_bucket,
                             outstanding_balance)
SELECT loan_id, officer_id, branch, d, from_bucket, to_bucket, out_c / 100.0
FROM (
SELECT moves.*, {metric_sql.bucket_label("from_dpd")} AS from_bucket, {metric_sql.bucket_label("to_dpd")} AS to_bucket
FROM (
    SELECT st.loan_id, st.officer_id, st.branch, days.d,
           lm_dpd(st.settle_thresholds, st.suffix_min_due,
                  lm_paid_c(st.pay_dates, st.pay_cum, days.d - 1), days.d - 1) AS from_dpd,
           lm_dpd(st.settle_thresholds, st.suffix_min_due,
                  lm_paid_c(st.pay_dates, st.pay_cum, days.d), days.d) AS to_dpd,
           lm_total_out_c(st.principal_c, st.interest_due_c, st.fee_due_c, st.pay_cum_principal,
                          st.pay_cum_interest, st.pay_cum_fees, lm_pay_index(st.pay_dates, days.d)) AS out_c
    FROM days JOIN loan_state st ON st.disbursement_date <= days.d - 1
    WHERE lm_active(st.disbursement_date, st.closed_date, days.d - 1)
      AND lm_active(st.disbursement_date, st.closed_date, days.d)
      AND st.loan_id = ANY({params.slot("loans", "text[]")})
) moves
) labelled
WHERE from_bucket <> to_bucket
""", params)


_TRANSITIONS = _transitions()


def _windows(days: Sequence[date]) -> tuple[list[date], list[date]]:
    """The calculation dates and their default windows' starts (month to date)."""
    ends = sorted(set(days))
    return ends, [date(d.year, d.month, 1) for d in ends]


async def restate(
    conn: asyncpg.Connection,
    dates: Sequence[date],
    *,
    officers: Sequence[str] | None = None,
    options: engine.EngineOptions,
) -> Restated:
    """Recompute the fine groups and daily rows of ``dates`` (default window: month to date)
    from every loan, or from every loan of ``officers`` (whose branches are rolled up again)."""
    if not dates or (officers is not None and not officers):
        return NOTHING
    ends, starts = _windows(dates)
    if officers is None:
        officer_rows, branch_rows, transitions = await _replace_all(conn, ends, starts, options)
        snapshots = await _replace_snapshots(conn, [d for d in ends if d.day == 15], None)
        return Restated(officer_rows, branch_rows, transitions, snapshots)
    chosen = sorted(set(officers))
    before = await conn.fetch(
        "DELETE FROM metric_fine_daily WHERE calculation_date = ANY($1::date[]) AND officer_id = ANY($2::text[])"
        " RETURNING branch", ends, chosen,
    )
    after = await conn.fetch(_RESTATE_FINE.sql, *_RESTATE_FINE.args(
        dates=ends, starts=starts, officers=chosen, branches=None, regions=None))
    branches = sorted({row["branch"] for row in [*before, *after]})
    return await _roll_up(conn, ends, starts, chosen, branches, options)


def _restate_fine() -> Statement:
    """Fine groups of the ``dates`` from every loan within the scope bound, written."""
    params = Params()
    return Statement(f"WITH {engine.dates_cte(params)},{engine.loan_fine_sql(params)}\n{_WRITE_FINE}", params)


_RESTATE_FINE = _restate_fine()


def _prior(params: Params) -> str:
    """Each changed loan's earliest before-image among the ``prior_ids`` (loans that existed)."""
    return f"""(
    SELECT earliest.* FROM (
        SELECT DISTINCT ON (loan_id) * FROM loan_state_prior
        WHERE id = ANY({params.slot("prior_ids", "bigint[]")}) ORDER BY loan_id, id
    ) earliest
    WHERE earliest.existed
)"""


def _delta() -> Statement:
    """The fine groups' differences on the ``dates`` between the changed ``loans``' current state
    and their earliest before-images, added into metric_fine_daily; the groups that moved."""
    params = Params()
    return Statement(f"""
WITH {engine.dates_cte(params)},
{engine.loan_fine_sql(params, "new_", "loan_state", f"st.loan_id = ANY({params.slot('loans', 'text[]')})")},
{engine.loan_fine_sql(params, "old_", _prior(params), "TRUE")},
delta AS (
    SELECT d, officer_id, branch, region, {", ".join(f"sum({name})::bigint AS {name}" for name in FINE_COMPONENTS)}
    FROM (
        SELECT d, officer_id, branch, region, {_FINE_LIST} FROM new_fine
        UNION ALL
        SELECT d, officer_id, branch, region, {", ".join(f"-{name}" for name in FINE_COMPONENTS)} FROM old_fine
    ) both_states
    GROUP BY d, officer_id, branch, region
),
applied AS (
    INSERT INTO metric_fine_daily AS f (calculation_date, officer_id, branch, region, {_FINE_LIST})
    SELECT d, officer_id, branch, region, {_FINE_LIST} FROM delta
    WHERE ({_FINE_LIST}) IS DISTINCT FROM ({", ".join("0" for _ in FINE_COMPONENTS)})
    ON CONFLICT (calculation_date, officer_id, branch, region) DO UPDATE SET
        {", ".join(f"{name} = f.{name} + EXCLUDED.{name}" for name in FINE_COMPONENTS)}, updated_at = now()
    RETURNING officer_id, branch
)
SELECT DISTINCT officer_id, branch FROM applied
""", params)


_DELTA = _delta()


async def apply_changes(
    conn: asyncpg.Connection,
    dates: Sequence[date],
    *,
    prior_ids: Sequence[int],
    loans: Sequence[str],
    options: engine.EngineOptions,
) -> Restated:
    """Bring ``dates`` (which have fine rows) up to date with the changed ``loans``: their
    earliest before-images among ``prior_ids`` out, their current state in; then the moved
    officers and branches rolled up, and the loans' transitions rewritten."""
    if not dates or not loans:
        return NOTHING
    ends, starts = _windows(dates)
    moved = await conn.fetch(_DELTA.sql, *_DELTA.args(dates=ends, starts=starts, loans=sorted(set(loans)),
                                                      prior_ids=list(prior_ids)))
    await conn.execute(
        "DELETE FROM metric_fine_daily WHERE calculation_date = ANY($1::date[]) AND loans = 0", ends
    )
    officers = sorted({row["officer_id"] for row in moved})
    branches = sorted({row["branch"] for row in moved})
    rolled = await _roll_up(conn, ends, starts, officers, branches, options, snapshots=False)
    transitions = await _replace_transitions(conn, ends, loans=sorted(set(loans)))
    snapshots = await _replace_snapshots(conn, [d for d in ends if d.day == 15], officers)
    return rolled + Restated(0, 0, transitions, snapshots)


def _from_fine(params: Params) -> str:
    """The CTEs ``dates`` and ``fine``: the stored fine groups of the ``dates`` (the engine's
    ``fine`` shape) of the ``officers`` or ``branches`` bound (null: every one)."""
    dates = engine.dates_cte(params)
    officers, branches = params.slot("officers", "text[]"), params.slot("branches", "text[]")
    return f"""
WITH {dates},
fine AS (
    SELECT f.calculation_date AS d, f.officer_id, f.branch, f.region,
           coalesce(o.had_float_gap, false) AS had_float_gap, {", ".join(f"f.{name}" for name in FINE_COMPONENTS)}
    FROM metric_fine_daily f LEFT JOIN officers o ON o.officer_id = f.officer_id
    WHERE f.calculation_date = ANY({params.slot("dates", "date[]")})
      AND ({officers} IS NULL OR f.officer_id = ANY({officers}))
      AND ({branches} IS NULL OR f.branch = ANY({branches}))
)
"""

_TABLES = {
    "officer": ("officer_metrics_daily", "officer_id", ""),
    "branch": ("branch_metrics_daily", "branch", "region, total_officers, "),
}
_EXTRA_VALUES = {"officer": "", "branch": "main_region, total_officers, "}


async def _roll_up(
    conn: asyncpg.Connection,
    ends: list[date],
    starts: list[date],
    officers: list[str],
    branches: list[str],
    options: engine.EngineOptions,
    *,
    snapshots: bool = True,
) -> Restated:
    """Replace the daily rows of ``officers`` and ``branches`` on ``ends`` by roll-ups of their
    stored fine groups (an officer or branch left without loans loses its row)."""
    officer_rows = await _replace_from_fine(conn, "officer", ends, starts, officers, options)
    branch_rows = await _replace_from_fine(conn, "branch", ends, starts, branches, options)
    written = 0
    if snapshots:
        written = await _replace_snapshots(conn, [d for d in ends if d.day == 15], officers)
    return Restated(officer_rows, branch_rows, 0, written)


async def _replace_from_fine(
    conn: asyncpg.Connection,
    kind: engine.GroupKind,
    ends: list[date],
    starts: list[date],
    keys: list[str],
    options: engine.EngineOptions,
) -> int:
    if not keys:
        return 0
    table, key, _ = _TABLES[kind]
    await conn.execute(
        f"DELETE FROM {table} WHERE calculation_date = ANY($1::date[]) AND {key} = ANY($2::text[])", ends, keys,
    )
    statement = _roll_up_statement(kind, options)
    status = await conn.execute(statement.sql, *statement.args(
        dates=ends, starts=starts, officers=keys if kind == "officer" else None,
        branches=keys if kind == "branch" else None))
    return _count(status)


@functools.lru_cache(maxsize=16)
def _roll_up_statement(kind: engine.GroupKind, options: engine.EngineOptions) -> Statement:
    """The daily rows of one kind written from the stored fine groups (``_from_fine``)."""
    table, key, extra = _TABLES[kind]
    params = Params()
    return Statement(
        f"INSERT INTO {table} ({key}, calculation_date, {extra}{', '.join(_DAILY_COLUMNS)}) "
        f"SELECT group_key, calculation_date, {_EXTRA_VALUES[kind]}{_select_columns()} "
        f"FROM ({_from_fine(params)}{engine.scored_sql((kind,), options)}) computed",
        params,
    )


async def _replace_transitions(conn: asyncpg.Connection, ends: list[date], *, loans: list[str]) -> int:
    """dpd_transitions of ``ends`` for ``loans``, from their current state."""
    await conn.execute(
        "DELETE FROM dpd_transitions WHERE transition_date = ANY($1::date[]) AND loan_id = ANY($2::text[])",
        ends, loans,
    )
    return _count(await conn.execute(_TRANSITIONS.sql, *_TRANSITIONS.args(dates=ends, loans=loans)))


async def _replace_snapshots(conn: asyncpg.Connection, fifteenths: list[date], officers: list[str] | None) -> int:
    """PAR15 on each 15th restated, per officer (SPEC §3 par15_snapshots), from its daily rows."""
    if not fifteenths or (officers is not None and not officers):
        return 0
    await conn.execute(
        "DELETE FROM par15_snapshots WHERE snapshot_date = ANY($1::date[])"
        " AND ($2::text[] IS NULL OR officer_id = ANY($2::text[]))", fifteenths, officers,
    )
    return _count(await conn.execute(
        """
        INSERT INTO par15_snapshots (officer_id, snapshot_date, par15_exposure, par15_count)
        SELECT officer_id, calculation_date, overdue_15d_amount, overdue_15d_count
        FROM officer_metrics_daily
        WHERE calculation_date = ANY($1::date[]) AND ($2::text[] IS NULL OR officer_id = ANY($2::text[]))
        """,
        fifteenths, officers,
    ))


async def _replace_all(
    conn: asyncpg.Connection, ends: list[date], starts: list[date], options: engine.EngineOptions
) -> tuple[int, int, int]:
    """Everyone's fine groups, officer rows, branch rows and transitions from one engine pass
    (the loans are read once)."""
    for table in ("officer_metrics_daily", "branch_metrics_daily", "metric_fine_daily"):
        await conn.execute(f"DELETE FROM {table} WHERE calculation_date = ANY($1::date[])", ends)
    await conn.execute("DELETE FROM dpd_transitions WHERE transition_date = ANY($1::date[])", ends)
    await conn.execute(
        "INSERT INTO metric_calculated_dates (calculation_date) SELECT unnest($1::date[])"
        " ON CONFLICT (calculation_date) DO UPDATE SET updated_at = now()", ends,
    )
    statement = _restate_all_statement(options)
    row = await conn.fetchrow(statement.sql, *statement.args(
        dates=ends, starts=starts, officers=None, branches=None, regions=None))
    assert row is not None
    return int(row["officers"]), int(row["branches"]), int(row["transitions"])


@functools.lru_cache(maxsize=16)
def _restate_all_statement(options: engine.EngineOptions) -> Statement:
    """Everyone's fine groups, transitions, officer and branch rows of the ``dates`` in one engine
    pass (scope bound to null: every loan); the counts written."""
    params = Params()
    columns = ", ".join(_DAILY_COLUMNS)
    values = _select_columns()
    from_bucket, to_bucket = metric_sql.bucket_label("dpd_prev"), metric_sql.bucket_label("dpd_d")
    return Statement(f"""
        WITH {engine.dates_cte(params)},{engine.loan_fine_sql(params, transitions=True)},
        fine_rows AS ({_WRITE_FINE}),
        transitions AS (
            INSERT INTO dpd_transitions (loan_id, officer_id, branch, transition_date, from_dpd_bucket,
                                         to_dpd_bucket, outstanding_balance)
            SELECT m.loan_id, f.officer_id, f.branch, f.d, {from_bucket}, {to_bucket}, m.out_d / 100.0
            FROM fine f
            CROSS JOIN LATERAL unnest(f.moved_loans, f.moved_from, f.moved_to, f.moved_out)
                AS m(loan_id, dpd_prev, dpd_d, out_d)
            RETURNING 1
        ),
        computed AS (
            WITH {engine.scored_sql(("officer", "branch"), options).lstrip().removeprefix(",").lstrip()}
        ),
        officer_rows AS (
            INSERT INTO officer_metrics_daily (officer_id, calculation_date, {columns})
            SELECT group_key, calculation_date, {values} FROM computed WHERE group_kind = 'officer'
            RETURNING 1
        ),
        branch_rows AS (
            INSERT INTO branch_metrics_daily (branch, calculation_date, region, total_officers, {columns})
            SELECT group_key, calculation_date, main_region, total_officers, {values}
            FROM computed WHERE group_kind = 'branch'
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM officer_rows) AS officers, (SELECT count(*) FROM branch_rows) AS branches,
               (SELECT count(*) FROM fine_rows) AS fine, (SELECT count(*) FROM transitions) AS transitions
        """, params)


async def calculated_dates(conn: asyncpg.Connection, first: date, last: date) -> list[date]:
    """The calculated dates in [first, last] (each keeps its fine groups: a restatement writes both
    in one transaction)."""
    rows = await conn.fetch(
        "SELECT calculation_date FROM metric_calculated_dates WHERE calculation_date BETWEEN $1 AND $2"
        " ORDER BY calculation_date",
        first, last,
    )
    return [row["calculation_date"] for row in rows]


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'INSERT 0 42'."""
    return int(status.rsplit(" ", 1)[-1])
