"""Set-based writes of validated records, one statement per entity and chunk (SPEC §4 semantics).

Each statement expands the chunk's JSON records, inserts new keys and rewrites stored rows only
where their ETL fields differ, and in the same statement appends to ``metric_dirty`` the
officers/branches whose metrics the change touches and the earliest date it touches, so the
incremental recalculation knows what to restate. Loans the batch creates are written with their
schedules and computed fields; repayment statements also finish the loan state of loans whose
records are all written (db/loan_state.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

import asyncpg
import orjson

from loanmetrics.db.loan_state import (
    SCHEDULE_ARRAYS,
    TAG_COUNT_DELTAS,
    Finish,
    as_of,
    finish_payments,
    schedule_fields,
    unpaid_schedule_fields,
)

# asyncpg keeps a prepared statement for reuse only when its text is at most this long
# (``max_cacheable_statement_size``, 15 KiB); a longer one is prepared again on every execution.
# That costs a second round trip, and the statement's work then waits for the Python checking it
# was meant to overlap (``service.alongside`` sends the first message only): measured, a
# repayment batch's chunk statements ran one after the other with the check of the next chunk.
CACHEABLE_STATEMENT_CHARS = 15 * 1024


def compact(sql: str) -> str:
    """The statement without comments and runs of whitespace (outside quoted literals), so that
    the long composed statements stay cacheable."""
    out: list[str] = []
    quoted = False
    i = 0
    while i < len(sql):
        char = sql[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and sql.startswith("--", i):
            i = sql.find("\n", i)
            if i < 0:
                break
            continue
        if not quoted and char.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(char)
        i += 1
    return "".join(out).strip()


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact: PostgreSQL reads it back with numeric's own input function
    raise TypeError(f"cannot send {type(value).__name__} to PostgreSQL")


@dataclass(frozen=True)
class Columns:
    """The ETL columns of one table with their PostgreSQL types, and the defaults of absent ones.

    A batch travels to PostgreSQL as one JSON document of its validated records, each record an
    array of its column values in this order, expanded by ``jsonb_array_elements`` and read by
    position (``->>``). Encoding it is a tenth of what binary arrays of numerics and texts cost
    the driver; PostgreSQL parses it in C, a third of the time ``json_to_recordset`` takes over
    the same records as objects (measured: 20 against 60 ms for 10k repayments), which builds
    a hash table of every object's keys."""

    table: str
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    defaults: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def document(self, records: list[Any]) -> str:
        """The records as one JSON array of arrays in column order (absent optional fields null)."""
        names = self.names
        every, width = itemgetter(*names), len(names)  # a record holding every field: one C call
        values = [every(record) if len(record) == width else [record.get(name) for name in names]
                  for record in records]
        return orjson.dumps(values, default=_json_default).decode()

    def incoming(self, param: int = 1, *, positions: bool = False) -> str:
        """The records of JSON parameter ``$param`` as rows, absent fields null or their default
        (``positions``: and each record's 1-based position in the list, as ``position``)."""
        defaults = dict(self.defaults)
        fields = []
        for index, (name, kind) in enumerate(self.columns):
            value = f"r.e->>{index}" if kind == "text" else f"(r.e->>{index})::{kind}"
            value = f"coalesce({value}, {defaults[name]})" if name in defaults else value
            fields.append(f"{value} AS {name}")
        ordinal = " WITH ORDINALITY AS r(e, position)" if positions else " AS r(e)"
        return (f"SELECT {', '.join(fields)}{', r.position' if positions else ''} "
                f"FROM jsonb_array_elements(${param}::jsonb){ordinal}")

    @property
    def values(self) -> list[str]:
        return [name for name in self.names if name not in self.key]

    def insert_or_update(self, returning: str, *, source: str = "incoming") -> str:
        """CTEs ``inserted``, ``updated`` and ``written`` (both, with ``inserted`` true or false) of
        a statement whose CTE ``old`` holds the stored rows of the batch's keys: new keys are
        inserted plainly, stored rows rewritten only when one of their ETL fields differs.

        ``INSERT … ON CONFLICT`` inserts every row speculatively (a conflict check, then a
        confirmation record per row): 50 ms more than a plain insert for 10k repayments, and the
        statement reads the stored rows anyway. The ingestion lock keeps another writer from
        adding a key in between; if anything did, the primary key fails the batch whole."""
        keys = ", ".join(self.key)
        columns = ", ".join(self.names)
        stored = " AND ".join(f"o.{name} = s.{name}" for name in self.key)
        target = " AND ".join(f"t.{name} = s.{name}" for name in self.key)
        assignments = ", ".join(f"{name} = s.{name}" for name in self.values)
        current = ", ".join(f"t.{name}" for name in self.values)
        sent = ", ".join(f"s.{name}" for name in self.values)
        return (
            f"inserted AS (INSERT INTO {self.table} AS t ({columns}) SELECT {columns} FROM {source} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM old o WHERE {stored}) RETURNING {returning}),\n"
            f"updated AS (UPDATE {self.table} AS t SET {assignments}, updated_at = now() "
            f"FROM {source} s JOIN old o USING ({keys}) "
            f"WHERE {target} AND ({current}) IS DISTINCT FROM ({sent}) RETURNING {returning}),\n"
            "written AS (SELECT *, true AS inserted FROM inserted UNION ALL SELECT *, false FROM updated)"
        )

    def upsert(
        self, returning: str, *, source: str = "incoming", derived: tuple[str, ...] = (), compared: tuple[str, ...] = ()
    ) -> str:
        """INSERT … ON CONFLICT that rewrites a row only when one of its ETL fields differs.

        ``derived`` columns (computed from the ETL fields) are written with the row; of those,
        the ``compared`` ones also make a stored row be rewritten when they differ.
        """
        keys = ", ".join(self.key)
        columns = [*self.names, *derived]
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in [*self.values, *derived])
        current = ", ".join(f"t.{name}" for name in [*self.values, *compared])
        excluded = ", ".join(f"EXCLUDED.{name}" for name in [*self.values, *compared])
        return (
            f"INSERT INTO {self.table} AS t ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM {source} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {assignments}, updated_at = now() "
            f"WHERE ({current}) IS DISTINCT FROM ({excluded}) "
            f"RETURNING {returning}"
        )


OFFICERS = Columns("officers", ("officer_id",), (
    ("officer_id", "text"), ("officer_name", "text"), ("officer_phone", "text"), ("officer_email", "text"),
    ("region", "text"), ("branch", "text"), ("employment_status", "text"), ("hire_date", "date"),
    ("termination_date", "date"), ("primary_channel", "text"), ("had_float_gap", "boolean"),
), defaults=(("employment_status", "'Active'"), ("had_float_gap", "false")))
CUSTOMERS = Columns("customers", ("customer_id",), (
    ("customer_id", "text"), ("customer_name", "text"), ("customer_phone", "text"), ("customer_email", "text"),
    ("date_of_birth", "date"), ("gender", "text"), ("state", "text"), ("lga", "text"), ("address", "text"),
    ("kyc_status", "text"), ("kyc_verified_date", "date"),
))
LOANS = Columns("loans", ("loan_id",), (
    ("loan_id", "text"), ("customer_id", "text"), ("customer_name", "text"), ("customer_phone", "text"),
    ("officer_id", "text"), ("officer_name", "text"), ("officer_phone", "text"), ("region", "text"),
    ("branch", "text"), ("state", "text"), ("loan_amount", "numeric"), ("disbursement_date", "date"),
    ("maturity_date", "date"), ("loan_term_days", "integer"), ("interest_rate", "numeric"),
    ("fee_amount", "numeric"), ("channel", "text"), ("channel_partner", "text"), ("status", "text"),
    ("closed_date", "date"),
))
SCHEDULES = Columns("loan_schedule", ("loan_id", "installment_number"), (
    ("loan_id", "text"), ("installment_number", "integer"), ("due_date", "date"), ("principal_due", "numeric"),
    ("interest_due", "numeric"), ("fee_due", "numeric"), ("total_due", "numeric"),
))
REPAYMENTS = Columns("repayments", ("repayment_id",), (
    ("repayment_id", "text"), ("loan_id", "text"), ("payment_date", "date"), ("payment_amount", "numeric"),
    ("principal_paid", "numeric"), ("interest_paid", "numeric"), ("fees_paid", "numeric"),
    ("penalty_paid", "numeric"), ("payment_method", "text"), ("payment_reference", "text"),
    ("payment_channel", "text"), ("dpd_at_payment", "integer"), ("is_backdated", "boolean"),
    ("is_reversed", "boolean"), ("reversal_date", "date"), ("reversal_reason", "text"),
    ("waiver_amount", "numeric"), ("waiver_type", "text"), ("waiver_approved_by", "text"),
), defaults=(("is_backdated", "false"),))


ENTITY_COLUMNS = {"officers": OFFICERS, "customers": CUSTOMERS, "loans": LOANS, "loan_schedules": SCHEDULES,
                  "repayments": REPAYMENTS}


@dataclass(frozen=True)
class Rows:
    """Validated records of one entity and their JSON document, encoded when the rows are
    prepared (beside the previous write) rather than when they are sent."""

    entity: str
    records: list[Any]
    document: str

    @classmethod
    def of(cls, entity: str, records: list[Any]) -> Rows:
        return cls(entity, records, ENTITY_COLUMNS[entity].document(records))


@dataclass
class Written:
    """What one entity's statement did: counts and the loans whose state must be rebuilt."""

    inserted: int = 0
    updated: int = 0
    loan_ids: tuple[str, ...] = ()
    fresh: tuple[str, ...] = ()  # loans created by the batch whose schedule state the writer built

    def __add__(self, other: Written) -> Written:
        return Written(self.inserted + other.inserted, self.updated + other.updated,
                       self.loan_ids + other.loan_ids, self.fresh + other.fresh)


def _count(row: asyncpg.Record | None) -> Written:
    if row is None:
        return Written()
    return Written(row["inserted"] or 0, row["updated"] or 0, tuple(row["loan_ids"] or ()))


_COUNTS = (
    "SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated, "
    "{loans} AS loan_ids FROM written"
)

# Officer attributes that feed metrics: channel purity and the float-gap penalty, on every date.
_OFFICERS_SQL = f"""
WITH incoming AS ({OFFICERS.incoming()}),
old AS (
    SELECT o.officer_id, o.primary_channel, o.had_float_gap
    FROM officers o JOIN incoming USING (officer_id)
),
written AS ({OFFICERS.upsert("t.officer_id, (xmax = 0) AS inserted, t.primary_channel, t.had_float_gap")}),
dirty AS (
    INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id)
    SELECT w.officer_id, NULL, NULL, '-infinity'::date, $2
    FROM written w JOIN old o USING (officer_id)
    WHERE (o.primary_channel, o.had_float_gap) IS DISTINCT FROM (w.primary_channel, w.had_float_gap)
)
{_COUNTS.format(loans="NULL::text[]")}
"""

_CUSTOMERS_SQL = f"""
WITH incoming AS ({CUSTOMERS.incoming()}),
written AS ({CUSTOMERS.upsert("(xmax = 0) AS inserted")})
{_COUNTS.format(loans="NULL::text[]")}
"""

# A change to amounts, dates, channel or ownership restates metrics from disbursement; a status
# change alone from the (earlier) closing date; names and phones restate nothing.
_LOANS_SQL = f"""
WITH incoming AS ({LOANS.incoming(positions=True)}),
-- Officers and customers first named by a loan get a minimal row (SPEC §4), from the first loan
-- naming them; no foreign key orders them before the loans.
new_officers AS (
    INSERT INTO officers (officer_id, officer_name, officer_phone, region, branch)
    SELECT DISTINCT ON (officer_id) officer_id, officer_name, officer_phone, region, branch
    FROM incoming ORDER BY officer_id, position
    ON CONFLICT (officer_id) DO NOTHING
    RETURNING 1
),
new_customers AS (
    INSERT INTO customers (customer_id, customer_name, customer_phone)
    SELECT DISTINCT ON (customer_id) customer_id, customer_name, customer_phone
    FROM incoming ORDER BY customer_id, position
    ON CONFLICT (customer_id) DO NOTHING
    RETURNING 1
),
-- the loans this statement writes: new loans whose schedule rows the batch holds ($3) are
-- inserted by the schedule writer instead, with their computed fields
kept AS (SELECT * FROM incoming WHERE loan_id NOT IN (SELECT unnest($3::text[]))),
old AS MATERIALIZED (
    SELECT l.loan_id, l.officer_id, l.branch, l.region, l.channel, l.loan_amount, l.disbursement_date,
           l.maturity_date, l.loan_term_days, l.interest_rate, l.fee_amount, l.status, l.closed_date,
           l.fimr_tagged, l.early_indicator_tagged
    FROM loans l JOIN kept USING (loan_id)
),
{LOANS.insert_or_update(
    "t.loan_id, t.officer_id, t.branch, t.region, t.channel, t.loan_amount, "
    "t.disbursement_date, t.maturity_date, t.loan_term_days, t.interest_rate, t.fee_amount, t.status, t.closed_date",
    source="kept",
)},
changes AS (
    SELECT w.loan_id, w.officer_id, w.branch, w.region,
           o.officer_id AS old_officer_id, o.branch AS old_branch, o.region AS old_region,
           CASE WHEN o.loan_id IS NULL THEN w.disbursement_date
                WHEN (o.officer_id, o.branch, o.region, o.channel, o.loan_amount, o.disbursement_date,
                      o.maturity_date, o.loan_term_days, o.interest_rate, o.fee_amount)
                     IS DISTINCT FROM
                     (w.officer_id, w.branch, w.region, w.channel, w.loan_amount, w.disbursement_date,
                      w.maturity_date, w.loan_term_days, w.interest_rate, w.fee_amount)
                     THEN least(o.disbursement_date, w.disbursement_date)
                WHEN (o.status, o.closed_date) IS DISTINCT FROM (w.status, w.closed_date)
                     THEN least(o.closed_date, w.closed_date)
           END AS from_date
    FROM written w LEFT JOIN old o USING (loan_id)
),
dirty AS (
    INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id)
    SELECT officer_id, branch, region, min(from_date), $2
    FROM (
        SELECT officer_id, branch, region, from_date FROM changes
        UNION ALL
        SELECT old_officer_id, old_branch, old_region, from_date FROM changes
        WHERE old_officer_id IS NOT NULL
          AND (old_officer_id, old_branch, old_region) IS DISTINCT FROM (officer_id, branch, region)
    ) touched
    WHERE from_date IS NOT NULL
    GROUP BY officer_id, branch, region
),
regrouped AS (  -- a tagged loan moved to another officer, branch or region takes its tags along
    SELECT w.officer_id, w.branch, w.region, o.fimr_tagged::int AS fimr_delta,
           o.early_indicator_tagged::int AS early_delta
    FROM written w JOIN old o USING (loan_id)
    WHERE (o.officer_id, o.branch, o.region) IS DISTINCT FROM (w.officer_id, w.branch, w.region)
    UNION ALL
    SELECT o.officer_id, o.branch, o.region, -o.fimr_tagged::int, -o.early_indicator_tagged::int
    FROM written w JOIN old o USING (loan_id)
    WHERE (o.officer_id, o.branch, o.region) IS DISTINCT FROM (w.officer_id, w.branch, w.region)
),
tag_counts AS ({TAG_COUNT_DELTAS.format(source="regrouped")})
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated,
       array_agg(loan_id) AS loan_ids,
       (SELECT count(*) FROM new_officers) AS officers, (SELECT count(*) FROM new_customers) AS customers
FROM written
"""

# Schedule rows of the batch's loans replace those loans' whole schedules, so C_i (cumulative_due)
# is a window over the incoming rows themselves. The stored as-of fields are computed on the way in
# from the loan's current payment state; the loan-state refresh afterwards rewrites only the rows
# that the batch's own repayments change.
_CUMULATIVE_INCOMING = f"""
    SELECT *, CASE WHEN total_due > 0
                   THEN sum(total_due) OVER (PARTITION BY loan_id ORDER BY installment_number
                                             ROWS UNBOUNDED PRECEDING) END AS cumulative_due
    FROM ({SCHEDULES.incoming()}) rows
"""
_SCHEDULE_AS_OF = schedule_fields("i", "st", "$4::date")
_NEW_SCHEDULE_AS_OF = unpaid_schedule_fields("i", "$4::date")
_SCHEDULE_COLUMNS = (*SCHEDULES.names, "cumulative_due", *_SCHEDULE_AS_OF)

# Loans stored before the batch ($2): their old rows are compared, kept, rewritten or removed.
_SCHEDULES_SQL = f"""
WITH incoming AS ({_CUMULATIVE_INCOMING}),
priced AS (
    SELECT i.*, {", ".join(f"{expr} AS {name}" for name, expr in _SCHEDULE_AS_OF.items())}
    FROM incoming i
    LEFT JOIN (SELECT * FROM loan_state WHERE loan_id = ANY($2::text[])) st USING (loan_id)
),
removed AS (
    DELETE FROM loan_schedule s
    USING unnest($2::text[]) AS replaced(loan_id)
    WHERE s.loan_id = replaced.loan_id
      AND NOT EXISTS (
          SELECT 1 FROM incoming i
          WHERE i.loan_id = s.loan_id AND i.installment_number = s.installment_number)
    RETURNING s.loan_id
),
old AS (
    SELECT s.loan_id, s.installment_number, {", ".join(f"s.{name}" for name in SCHEDULES.values)}
    FROM unnest($2::text[]) AS stored(loan_id) JOIN loan_schedule s USING (loan_id)
),
written AS ({SCHEDULES.upsert(
    "t.*", source="priced", derived=("cumulative_due", *_SCHEDULE_AS_OF), compared=("cumulative_due",)
)}),
counted AS (
    SELECT w.loan_id, o.loan_id IS NULL AS inserted,
           ({", ".join(f"o.{name}" for name in SCHEDULES.values)}) IS DISTINCT FROM
           ({", ".join(f"w.{name}" for name in SCHEDULES.values)}) AS changed
    FROM written w LEFT JOIN old o USING (loan_id, installment_number)
),
touched AS (
    SELECT loan_id FROM written UNION SELECT loan_id FROM removed
),
dirty AS (
    INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id)
    SELECT l.officer_id, l.branch, l.region, min(l.disbursement_date), $3
    FROM touched JOIN loans l USING (loan_id)
    GROUP BY l.officer_id, l.branch, l.region
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE changed AND NOT inserted) AS updated,
       (SELECT array_agg(loan_id) FROM touched) AS loan_ids
FROM counted
"""

# Loans the batch creates (their records $5, those with rows $2): nothing stored to compare or
# remove, so their rows are inserted plainly (no speculative insertion), with the as-of fields
# of a loan without payments. Their schedule state, before-image and computed loan fields come
# from the rows just written, in the same statement, and the loans are inserted here with those
# fields: the loan-state refresh after the last unit neither re-reads their rows nor writes their
# state or loan row a second time (an update of a new loan row rewrote all eight of its indexes),
# and the work runs while the next chunk is checked.
_LOAN_FIELDS = {  # the computed loan fields from ``as_of_fields`` f, or the columns' defaults
    "current_dpd": "coalesce(f.current_dpd, 0)", "max_dpd_ever": "coalesce(f.max_dpd_ever, 0)",
    "first_payment_missed": "coalesce(f.missed, false)", "first_payment_due_date": "f.first_due_date",
    "first_payment_received_date": "f.first_received",
    **{name: f"coalesce(f.{name}, 0)" for name in (
        "principal_outstanding", "interest_outstanding", "fees_outstanding", "total_outstanding",
        "total_principal_paid", "total_interest_paid", "total_fees_paid")},
    "fimr_tagged": "coalesce(f.missed, false)", "early_indicator_tagged": "coalesce(f.early, false)",
}
_NEW_SCHEDULES_SQL = f"""
WITH incoming AS ({_CUMULATIVE_INCOMING}),
new_loans AS ({LOANS.incoming(5)}),
written AS (
    INSERT INTO loan_schedule ({", ".join(_SCHEDULE_COLUMNS)})
    SELECT {", ".join(f"i.{name}" for name in (*SCHEDULES.names, "cumulative_due"))},
           {", ".join(_NEW_SCHEDULE_AS_OF.values())}
    FROM incoming i
    RETURNING loan_id, installment_number, due_date, total_due, cumulative_due, interest_due, fee_due,
              paid_by_due_date
),
fresh AS (  -- the new loans with schedule rows ($2)
    SELECT loan_id, officer_id, branch, region, channel, disbursement_date, closed_date,
           (loan_amount * 100)::bigint AS principal_c
    FROM new_loans
    WHERE loan_id = ANY($2::text[])
),
dirty AS (
    INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id)
    SELECT officer_id, branch, region, min(disbursement_date), $3
    FROM new_loans
    GROUP BY officer_id, branch, region
),
effective AS (
    SELECT w.loan_id, w.installment_number, w.due_date, (w.total_due * 100)::bigint AS total_c,
           (w.cumulative_due * 100)::bigint AS cum_c, (w.interest_due * 100)::bigint AS interest_c,
           (w.fee_due * 100)::bigint AS fee_c, (w.paid_by_due_date * 100)::bigint AS on_time_c
    FROM written w
    WHERE w.total_due > 0
),
{SCHEDULE_ARRAYS.strip()},
created_state AS (
    INSERT INTO loan_state (
        loan_id, officer_id, branch, region, channel, disbursement_date, closed_date, principal_c, interest_due_c,
        fee_due_c, implied, first_due_date, settle_thresholds, suffix_min_due, due_dates, due_fee_cum,
        due_total_cum, due_on_time_cum, due_total, due_cumulative,
        pay_dates, pay_cum, pay_cum_principal, pay_cum_interest, pay_cum_fees
    )
    SELECT f.loan_id, f.officer_id, f.branch, f.region, f.channel, f.disbursement_date, f.closed_date,
           f.principal_c, coalesce(a.interest_due_c, 0), coalesce(a.fee_due_c, 0), false, a.first_due_date,
           coalesce(a.settle_thresholds, '{{}}'), coalesce(a.suffix_min_due, '{{}}'), coalesce(a.due_dates, '{{}}'),
           coalesce(a.due_fee_cum, '{{}}'), coalesce(a.due_total_cum, '{{}}'), coalesce(a.due_on_time_cum, '{{}}'),
           coalesce(a.due_total, '{{}}'), coalesce(a.due_cumulative, '{{}}'), '{{}}', '{{}}', '{{}}', '{{}}', '{{}}'
    FROM fresh f LEFT JOIN arrays a USING (loan_id)
    RETURNING *
),
-- their before-image (none), then the loans themselves with their fields as of the business
-- date, computed from the state just built: one write of each, no update of a new row
created_prior AS (INSERT INTO loan_state_prior (existed, loan_id) SELECT false, loan_id FROM created_state),
{as_of("created_state st", "$4::date", write=False)},
inserted_loans AS (
    INSERT INTO loans ({", ".join([*LOANS.names, *_LOAN_FIELDS])})
    SELECT {", ".join([*(f"n.{name}" for name in LOANS.names), *_LOAN_FIELDS.values()])}
    FROM new_loans n LEFT JOIN as_of_fields f USING (loan_id)
    RETURNING officer_id, branch, region, fimr_tagged::int AS fimr_delta, early_indicator_tagged::int AS early_delta
),
new_tags AS ({TAG_COUNT_DELTAS.format(source="inserted_loans").strip()})
SELECT (SELECT count(*) FROM written) AS inserted, 0 AS updated,
       (SELECT array_agg(loan_id) FROM new_loans) AS loan_ids,
       (SELECT array_agg(loan_id) FROM created_state) AS fresh,
       (SELECT count(*) FROM inserted_loans) AS loans_inserted
"""

_REPAYMENT_CTES = f"""
incoming AS ({REPAYMENTS.incoming()}),
old AS MATERIALIZED (
    SELECT r.repayment_id, r.loan_id, r.payment_date FROM repayments r JOIN incoming USING (repayment_id)
),
{REPAYMENTS.insert_or_update("t.repayment_id, t.loan_id, t.payment_date")},
changes AS (
    SELECT w.loan_id, least(w.payment_date, o.payment_date) AS from_date FROM written w
    LEFT JOIN old o USING (repayment_id)
    UNION ALL
    SELECT o.loan_id, o.payment_date FROM written w JOIN old o USING (repayment_id) WHERE o.loan_id <> w.loan_id
),
changed_loans AS (
    SELECT loan_id, min(from_date) AS from_date FROM changes GROUP BY loan_id
),
dirty AS (
    -- per changed loan, not per repayment: a few hundred index probes of loans, never a scan
    INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id)
    SELECT l.officer_id, l.branch, l.region, min(c.from_date), $2
    FROM changed_loans c JOIN loans l USING (loan_id)
    GROUP BY l.officer_id, l.branch, l.region
)"""
_REPAYMENT_COUNTS = """
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated,
       (SELECT array_agg(loan_id) FROM changed_loans) AS loan_ids
FROM written
"""
_REPAYMENTS_SQL = f"WITH {_REPAYMENT_CTES.strip()}{_REPAYMENT_COUNTS}"
# The same, also finishing the loans of an earlier chunk ($3 business date, $4 their ids, $5 those
# to capture, $6 the batch's new loans): a separate part of the statement, on other loans.
_REPAYMENTS_FINISHING_SQL = compact(
    f"WITH {_REPAYMENT_CTES.strip()},\n{finish_payments('$4', '$5', '$6', '$3::date')}{_REPAYMENT_COUNTS}"
)


async def write_officers(conn: asyncpg.Connection, rows: Rows, sync_id: str) -> Written:
    return _count(await conn.fetchrow(_OFFICERS_SQL, rows.document, sync_id))


async def write_customers(conn: asyncpg.Connection, rows: Rows) -> Written:
    return _count(await conn.fetchrow(_CUSTOMERS_SQL, rows.document))


async def write_loans(
    conn: asyncpg.Connection, rows: Rows, sync_id: str, deferred: Collection[str] = ()
) -> tuple[Written, int, int]:
    """Upsert the loans, creating the officers and customers they first name: (the loans' counts,
    officers created, customers created). ``deferred``: new loans left to ``write_schedules``."""
    row = await conn.fetchrow(_LOANS_SQL, rows.document, sync_id, sorted(deferred))
    assert row is not None
    return _count(row), int(row["officers"]), int(row["customers"])


async def write_schedules(
    conn: asyncpg.Connection, rows: Rows, sync_id: str, business_date: date, stored: list[str], loans: Rows
) -> tuple[Written, Written]:
    """Replace the schedules of the rows' loans; ``stored``: those of them stored before this
    batch. ``loans``: the new loans whose schedules this unit holds (``write_loans`` deferred
    them), inserted here with their state and computed fields. Returns the counts of schedule
    rows and of loans."""
    known = set(stored)
    new = [record for record in rows.records if record["loan_id"] not in known]
    missing = {record["loan_id"] for record in new} - {loan["loan_id"] for loan in loans.records}
    if missing:  # every new loan with accepted rows is deferred to the unit holding its rows
        raise RuntimeError(f"schedule rows of new loans not written with them: {sorted(missing)[:5]}")
    schedules, written_loans = Written(), Written()
    if new or loans.records:
        part = rows if len(new) == len(rows.records) else Rows.of(rows.entity, new)
        row = await conn.fetchrow(_NEW_SCHEDULES_SQL, part.document, sorted({record["loan_id"] for record in new}),
                                  sync_id, business_date, loans.document)
        assert row is not None
        schedules = Written(row["inserted"], 0, tuple(row["loan_ids"] or ()), tuple(row["fresh"] or ()))
        written_loans = Written(inserted=row["loans_inserted"])
    if len(new) < len(rows.records):
        part = rows if not new else Rows.of(rows.entity, [r for r in rows.records if r["loan_id"] in known])
        loan_ids = sorted({record["loan_id"] for record in part.records})
        schedules = schedules + _count(await conn.fetchrow(_SCHEDULES_SQL, part.document, loan_ids, sync_id,
                                                           business_date))
    return schedules, written_loans


async def write_repayments(
    conn: asyncpg.Connection, rows: Rows, sync_id: str, business_date: date, finish: Finish | None = None
) -> Written:
    """Upsert the repayments and, in the same statement, bring ``finish``'s loans up to date."""
    if finish is None:
        return _count(await conn.fetchrow(_REPAYMENTS_SQL, rows.document, sync_id))
    return _count(await conn.fetchrow(
        _REPAYMENTS_FINISHING_SQL, rows.document, sync_id, business_date, finish.loan_ids, finish.capture_ids,
        finish.fresh,
    ))
