"""Maintained loan state (SPEC §5.1-5.3, §5.8), recomputed set-based in SQL.

Statements per set of loans, inside the caller's transaction, each reading its source rows once:
1. payment part (``PAYMENT_ARRAYS``): per date of the non-reversed repayments the cumulative
   coverage, components and waivers, and per date of all repayments the cumulative entry,
   backdated and reversal counts;
2. schedule pass (loans whose terms or schedule changed): reads the loan and its schedule rows
   (or its implied bullet installment) once, rewrites the schedule rows' stored fields that
   changed (amount_paid, settlement payment_date, payment_status, the on-time part
   alloc_i(due_i)) and sets the schedule part of ``loan_state`` (``SCHEDULE_ARRAYS``):
   settlement thresholds C_i - 1 cent and suffix-minimum due dates in installment order, the
   installments in due-date order with cumulative fee, total and on-time amounts, and the
   component totals due. A loan the batch creates gets this part from the schedule writer
   instead (db/ingestion/writer.py), built from the rows it has just written;
2b. payments pass (loans whose repayments alone changed): the payment part, the schedule rows'
   stored fields and the on-time amounts in one statement;
3. the 14 computed ``loans`` fields as of the business date.
Rows are written only where a value changed. ``calculators/loan_state.py`` is the reference
these statements are property-tested against. 2b and 3 are also CTE lists (``payments_pass``,
``as_of``, ``finish_payments``) that the writer's statements carry, so that a batch finishes the
loans whose records are all written while it checks the next chunk (``BatchLoans``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from loanmetrics.db import models


def schedule_fields(row: str, state: str, business_date: str, paid: str | None = None) -> dict[str, str]:
    """SQL expressions of the stored schedule fields (SPEC §5.2) of schedule row ``row`` (with
    ``total_due``, ``cumulative_due`` and ``due_date``), from the payment arrays of ``state``, as
    of ``business_date`` (``paid``: paid(L, business date) when already computed). Null on
    ignored rows (total_due 0). Used by the schedule writer and by the schedule passes, so all
    spell one definition."""
    total = f"({row}.total_due * 100)::bigint"
    cum = f"({row}.cumulative_due * 100)::bigint"
    paid = paid or f"lm_paid_c({state}.pay_dates, {state}.pay_cum, {business_date})"
    settled = f"{paid} >= {cum} - 1"
    allocated = f"lm_alloc_c({total}, {cum}, {paid})"
    return {
        "paid_by_due_date": f"CASE WHEN {total} > 0 THEN lm_alloc_c({total}, {cum}, "
        f"lm_paid_c({state}.pay_dates, {state}.pay_cum, {row}.due_date)) / 100.0 END",
        "amount_paid": f"CASE WHEN {total} > 0 THEN {allocated} / 100.0 END",
        "payment_date": f"CASE WHEN {total} > 0 AND {settled} "
        f"THEN {state}.pay_dates[width_bucket({cum} - 2, {state}.pay_cum) + 1] END",
        "payment_status": f"CASE WHEN {total} = 0 THEN NULL WHEN {settled} THEN 'Paid' "
        f"WHEN {row}.due_date < {business_date} THEN 'Overdue' "
        f"WHEN {allocated} > 0 THEN 'Partial' ELSE 'Pending' END",
    }


def unpaid_schedule_fields(row: str, business_date: str) -> dict[str, str]:
    """``schedule_fields`` of a loan without repayments, where paid(L, t) is -1 on every date (no
    payment date to settle at): nothing is settled and every allocation is 0, so the expressions
    reduce to these (the schedule writer's rows of new loans: no arrays, no numeric arithmetic)."""
    return {
        "paid_by_due_date": f"CASE WHEN {row}.total_due > 0 THEN 0 END",
        "amount_paid": f"CASE WHEN {row}.total_due > 0 THEN 0 END",
        "payment_date": "NULL::date",
        "payment_status": f"CASE WHEN {row}.total_due = 0 THEN NULL "
        f"WHEN {row}.due_date < {business_date} THEN 'Overdue' ELSE 'Pending' END",
    }


# C_i of every schedule row (null on ignored rows): the writer stores it with each batch's rows;
# this repairs it for ``rebuild_all``.
_CUMULATIVE = """
WITH ordered AS (
    SELECT loan_id, installment_number, total_due,
           sum(total_due) OVER (PARTITION BY loan_id ORDER BY installment_number) AS cumulative
    FROM ({ids}) ids JOIN loan_schedule USING (loan_id)
)
UPDATE loan_schedule s
SET cumulative_due = CASE WHEN o.total_due > 0 THEN o.cumulative END, updated_at = now()
FROM ordered o
WHERE s.loan_id = o.loan_id AND s.installment_number = o.installment_number
  AND s.cumulative_due IS DISTINCT FROM CASE WHEN o.total_due > 0 THEN o.cumulative END
"""

# Per loan, from its repayments (joined to ``{ids}``): per date of the non-reversed repayments the
# cumulative coverage, components and waivers, and per date of all repayments the cumulative
# entry, backdated and reversal counts, as ``payments``. Spelled once for the payment-state
# statement and the payments pass.
PAYMENT_ARRAYS = """
days AS (
    SELECT loan_id, payment_date,
           count(*) FILTER (WHERE NOT is_reversed) AS counted,
           coalesce(lm_sum_c(((principal_paid + interest_paid + fees_paid) * 100)::bigint)
                    FILTER (WHERE NOT is_reversed), 0) AS coverage_c,
           coalesce(lm_sum_c((principal_paid * 100)::bigint) FILTER (WHERE NOT is_reversed), 0) AS principal_c,
           coalesce(lm_sum_c((interest_paid * 100)::bigint) FILTER (WHERE NOT is_reversed), 0) AS interest_c,
           coalesce(lm_sum_c((fees_paid * 100)::bigint) FILTER (WHERE NOT is_reversed), 0) AS fees_c,
           coalesce(lm_sum_c((coalesce(waiver_amount, 0) * 100)::bigint) FILTER (WHERE NOT is_reversed), 0)
               AS waivers_c,
           count(*) AS entries,
           count(*) FILTER (WHERE is_backdated) AS backdated,
           count(*) FILTER (WHERE is_reversed) AS reversed
    FROM {ids} JOIN repayments USING (loan_id)
    GROUP BY loan_id, payment_date
),
cumulative AS (
    SELECT loan_id, payment_date, counted, coverage_c,
           lm_sum_c(coverage_c) OVER w AS cum_coverage,
           lm_sum_c(principal_c) OVER w AS cum_principal,
           lm_sum_c(interest_c) OVER w AS cum_interest,
           lm_sum_c(fees_c) OVER w AS cum_fees,
           lm_sum_c(waivers_c) OVER w AS cum_waivers,
           (lm_sum_c(entries) OVER w)::integer AS cum_entries,
           (lm_sum_c(backdated) OVER w)::integer AS cum_backdated,
           (lm_sum_c(reversed) OVER w)::integer AS cum_reversed
    FROM days
    WINDOW w AS (PARTITION BY loan_id ORDER BY payment_date ROWS UNBOUNDED PRECEDING)
),
-- one pass over the loan's repayments: the payment arrays keep the dates with a counted
-- (non-reversed) repayment, the entry arrays every date. Whole-partition window aggregates read
-- the rows in the window's date order once; per-group ORDER BY aggregates would sort each loan's
-- rows once per array (measured: a fifth of this part)
payments AS (
    SELECT DISTINCT ON (loan_id) loan_id,
           array_agg(payment_date) FILTER (WHERE counted > 0) OVER whole AS pay_dates,
           array_agg(cum_coverage) FILTER (WHERE counted > 0) OVER whole AS pay_cum,
           array_agg(cum_principal) FILTER (WHERE counted > 0) OVER whole AS pay_cum_principal,
           array_agg(cum_interest) FILTER (WHERE counted > 0) OVER whole AS pay_cum_interest,
           array_agg(cum_fees) FILTER (WHERE counted > 0) OVER whole AS pay_cum_fees,
           array_agg(cum_waivers) FILTER (WHERE counted > 0) OVER whole AS pay_cum_waivers,
           min(payment_date) FILTER (WHERE counted > 0 AND coverage_c > 0) OVER whole AS first_received_date,
           array_agg(payment_date) OVER whole AS entry_dates,
           array_agg(cum_entries) OVER whole AS entry_cum,
           array_agg(cum_backdated) OVER whole AS entry_backdated_cum,
           array_agg(cum_reversed) OVER whole AS entry_reversed_cum
    FROM cumulative
    WINDOW whole AS (PARTITION BY loan_id ORDER BY payment_date
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ORDER BY loan_id, payment_date
)
"""



def payment_arrays(ids: str) -> str:
    """``PAYMENT_ARRAYS`` over the loans of relation ``ids``."""
    return PAYMENT_ARRAYS.strip().replace("{ids}", ids)


# 1. The payment part. A new loan gets its loan_state row here (the schedule pass fills the rest).
_PAYMENT_STATE = """
WITH ids AS ({ids}),
{payment_arrays}
INSERT INTO loan_state AS st (
    loan_id, officer_id, branch, region, channel, disbursement_date, closed_date, principal_c,
    interest_due_c, fee_due_c, implied, settle_thresholds, suffix_min_due,
    pay_dates, pay_cum, pay_cum_principal, pay_cum_interest, pay_cum_fees, pay_cum_waivers,
    first_received_date, entry_dates, entry_cum, entry_backdated_cum, entry_reversed_cum
)
SELECT l.loan_id, l.officer_id, l.branch, l.region, l.channel, l.disbursement_date, l.closed_date,
       (l.loan_amount * 100)::bigint, 0, 0, true, '{{}}', '{{}}',
       coalesce(p.pay_dates, '{{}}'), coalesce(p.pay_cum, '{{}}'), coalesce(p.pay_cum_principal, '{{}}'),
       coalesce(p.pay_cum_interest, '{{}}'), coalesce(p.pay_cum_fees, '{{}}'), coalesce(p.pay_cum_waivers, '{{}}'),
       p.first_received_date, coalesce(p.entry_dates, '{{}}'), coalesce(p.entry_cum, '{{}}'),
       coalesce(p.entry_backdated_cum, '{{}}'), coalesce(p.entry_reversed_cum, '{{}}')
FROM ids JOIN loans l USING (loan_id) LEFT JOIN payments p USING (loan_id)
ON CONFLICT (loan_id) DO UPDATE SET
    pay_dates = EXCLUDED.pay_dates, pay_cum = EXCLUDED.pay_cum, pay_cum_principal = EXCLUDED.pay_cum_principal,
    pay_cum_interest = EXCLUDED.pay_cum_interest, pay_cum_fees = EXCLUDED.pay_cum_fees,
    pay_cum_waivers = EXCLUDED.pay_cum_waivers, first_received_date = EXCLUDED.first_received_date,
    entry_dates = EXCLUDED.entry_dates, entry_cum = EXCLUDED.entry_cum,
    entry_backdated_cum = EXCLUDED.entry_backdated_cum, entry_reversed_cum = EXCLUDED.entry_reversed_cum,
    updated_at = now()
""".replace("{payment_arrays}", PAYMENT_ARRAYS.strip().replace("{ids}", "ids"))

# The schedule part of loan_state from each loan's effective installments (``effective``:
# loan_id, installment_number, due_date, total_c, cum_c, interest_c, fee_c, on_time_c; rows with
# total_due > 0, or the implied bullet installment): settlement thresholds and suffix-minimum due
# dates in installment order, then cumulative fee, total and on-time amounts in due-date order.
# Spelled once, used by the schedule pass and by the schedule writer for loans a batch creates.
SCHEDULE_ARRAYS = """
ordered AS (
    SELECT e.*,
           min(due_date) OVER (PARTITION BY loan_id ORDER BY installment_number DESC ROWS UNBOUNDED PRECEDING)
               AS suffix_min,
           lm_sum_c(fee_c) OVER by_due AS fee_cum,
           lm_sum_c(total_c) OVER by_due AS total_cum,
           lm_sum_c(on_time_c) OVER by_due AS on_time_cum
    FROM effective e
    WINDOW by_due AS (PARTITION BY loan_id ORDER BY due_date, installment_number ROWS UNBOUNDED PRECEDING)
),
arrays AS (  -- whole-partition window aggregates: two sorts in all, not one per loan and array
    SELECT DISTINCT ON (loan_id) loan_id,
           array_agg(cum_c - 1) OVER by_number AS settle_thresholds,
           array_agg(suffix_min) OVER by_number AS suffix_min_due,
           first_value(due_date) OVER by_number AS first_due_date,
           lm_sum_c(interest_c) OVER by_number AS interest_due_c,
           lm_sum_c(fee_c) OVER by_number AS fee_due_c,
           array_agg(due_date) OVER by_due AS due_dates,
           array_agg(fee_cum) OVER by_due AS due_fee_cum,
           array_agg(total_cum) OVER by_due AS due_total_cum,
           array_agg(on_time_cum) OVER by_due AS due_on_time_cum,
           array_agg(total_c) OVER by_due AS due_total,
           array_agg(cum_c) OVER by_due AS due_cumulative
    FROM ordered
    WINDOW by_number AS (PARTITION BY loan_id ORDER BY installment_number
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING),
           by_due AS (PARTITION BY loan_id ORDER BY due_date, installment_number
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ORDER BY loan_id
)
"""

_FIELDS = schedule_fields("s", "st", "$1::date", paid="st.paid_c")

# 2. The schedule pass ($1 business date, ids from $2 or all loans).
_SCHEDULE_PASS = """
WITH ids AS ({ids}),
base AS (
    SELECT l.loan_id, l.officer_id, l.branch, l.region, l.channel, l.disbursement_date, l.closed_date,
           l.maturity_date,
           (l.loan_amount * 100)::bigint AS principal_c,
           (round(l.loan_amount * coalesce(l.interest_rate, 0) * l.loan_term_days / 365, 2) * 100)::bigint
               AS implied_interest_c,
           (coalesce(l.fee_amount, 0) * 100)::bigint AS implied_fee_c,
           st.pay_dates, st.pay_cum, lm_paid_c(st.pay_dates, st.pay_cum, $1::date) AS paid_c
    FROM ids JOIN loans l USING (loan_id) JOIN loan_state st USING (loan_id)
),
rows AS (
    SELECT s.ctid AS row_id, s.loan_id, s.installment_number, s.due_date,
           (s.total_due * 100)::bigint AS total_c, (s.cumulative_due * 100)::bigint AS cum_c,
           (s.interest_due * 100)::bigint AS interest_c, (s.fee_due * 100)::bigint AS fee_c,
           s.paid_by_due_date, s.amount_paid, s.payment_date, s.payment_status,
           {fields}
    FROM base st JOIN loan_schedule s USING (loan_id)
),
rewritten AS (
    UPDATE loan_schedule s
    SET paid_by_due_date = r.new_paid_by_due_date, amount_paid = r.new_amount_paid,
        payment_date = r.new_payment_date, payment_status = r.new_payment_status, updated_at = now()
    FROM rows r
    WHERE s.ctid = r.row_id
      AND (r.paid_by_due_date, r.amount_paid, r.payment_date, r.payment_status)
          IS DISTINCT FROM (r.new_paid_by_due_date, r.new_amount_paid, r.new_payment_date, r.new_payment_status)
    RETURNING 1
),
scheduled AS (
    SELECT DISTINCT loan_id FROM rows
),
effective AS (
    SELECT loan_id, installment_number, due_date, total_c, cum_c, interest_c, fee_c,
           (new_paid_by_due_date * 100)::bigint AS on_time_c
    FROM rows WHERE total_c > 0
    UNION ALL
    SELECT b.loan_id, 1, b.maturity_date, b.principal_c + b.implied_interest_c + b.implied_fee_c,
           b.principal_c + b.implied_interest_c + b.implied_fee_c, b.implied_interest_c, b.implied_fee_c,
           lm_alloc_c(b.principal_c + b.implied_interest_c + b.implied_fee_c,
                      b.principal_c + b.implied_interest_c + b.implied_fee_c,
                      lm_paid_c(b.pay_dates, b.pay_cum, b.maturity_date))
    FROM base b WHERE b.loan_id NOT IN (SELECT loan_id FROM scheduled)
),
{schedule_arrays}computed AS (
    SELECT b.loan_id, b.officer_id, b.branch, b.region, b.channel, b.disbursement_date, b.closed_date,
           b.principal_c,
           b.loan_id NOT IN (SELECT loan_id FROM scheduled) AS implied,
           coalesce(a.interest_due_c, 0) AS interest_due_c, coalesce(a.fee_due_c, 0) AS fee_due_c,
           a.first_due_date,
           coalesce(a.settle_thresholds, '{{}}') AS settle_thresholds,
           coalesce(a.suffix_min_due, '{{}}') AS suffix_min_due,
           coalesce(a.due_dates, '{{}}') AS due_dates, coalesce(a.due_fee_cum, '{{}}') AS due_fee_cum,
           coalesce(a.due_total_cum, '{{}}') AS due_total_cum,
           coalesce(a.due_on_time_cum, '{{}}') AS due_on_time_cum,
           coalesce(a.due_total, '{{}}') AS due_total, coalesce(a.due_cumulative, '{{}}') AS due_cumulative
    FROM base b LEFT JOIN arrays a USING (loan_id)
)
UPDATE loan_state st
SET officer_id = c.officer_id, branch = c.branch, region = c.region, channel = c.channel,
    disbursement_date = c.disbursement_date, closed_date = c.closed_date, principal_c = c.principal_c,
    implied = c.implied, interest_due_c = c.interest_due_c, fee_due_c = c.fee_due_c,
    first_due_date = c.first_due_date, settle_thresholds = c.settle_thresholds,
    suffix_min_due = c.suffix_min_due, due_dates = c.due_dates, due_fee_cum = c.due_fee_cum,
    due_total_cum = c.due_total_cum, due_on_time_cum = c.due_on_time_cum, due_total = c.due_total,
    due_cumulative = c.due_cumulative, updated_at = now()
FROM computed c
WHERE st.loan_id = c.loan_id
  AND (st.officer_id, st.branch, st.region, st.channel, st.disbursement_date, st.closed_date, st.principal_c,
       st.implied, st.interest_due_c, st.fee_due_c, st.first_due_date, st.settle_thresholds, st.suffix_min_due,
       st.due_dates, st.due_fee_cum, st.due_total_cum, st.due_on_time_cum, st.due_total, st.due_cumulative)
      IS DISTINCT FROM
      (c.officer_id, c.branch, c.region, c.channel, c.disbursement_date, c.closed_date, c.principal_c,
       c.implied, c.interest_due_c, c.fee_due_c, c.first_due_date, c.settle_thresholds, c.suffix_min_due,
       c.due_dates, c.due_fee_cum, c.due_total_cum, c.due_on_time_cum, c.due_total, c.due_cumulative)
""".replace("{fields}", ",\n           ".join(f"{expr} AS new_{name}" for name, expr in _FIELDS.items())).replace(
    "{schedule_arrays}", SCHEDULE_ARRAYS.strip() + ",\n"
)

# Tagged-loan counts per (officer, branch, region), kept exact by every statement that changes a
# loan's tags or its group (migration 0010): drilldown totals read them instead of counting
# hundreds of thousands of tagged loans. ``{source}`` yields officer_id, branch, region,
# fimr_delta, early_delta.
TAG_COUNT_DELTAS = """
INSERT INTO loan_tag_counts AS c (officer_id, branch, region, fimr_count, early_count)
SELECT officer_id, branch, region, sum(fimr_delta), sum(early_delta)
FROM {source}
WHERE fimr_delta <> 0 OR early_delta <> 0
GROUP BY officer_id, branch, region
ON CONFLICT (officer_id, branch, region) DO UPDATE SET
    fimr_count = c.fimr_count + EXCLUDED.fimr_count, early_count = c.early_count + EXCLUDED.early_count,
    updated_at = now()
"""

# The statements below are built from CTE lists (the text after WITH) so that a writer statement
# can carry the loan-state work of loans whose records are all written (db/ingestion/writer.py):
# all CTEs of a statement read the snapshot it started with, so each part reads the rows the
# previous statements wrote, and a before-image taken in the same statement is the state before it.


def payments_pass(ids: str, business_date: str) -> str:
    """2b. CTEs recomputing, for the loans in ``ids`` (a relation of loan_id) whose repayments alone
    changed, the payment part (as in 1.), the schedule rows' stored fields and the on-time amounts
    in due-date order from the new payment arrays, with one write of each loan's state: the last
    CTE, ``paid_state``, returns the new loan_state rows. The schedule-derived arrays stay."""
    new = schedule_fields("s", "st", business_date, paid="st.paid_c")
    return f"""{payment_arrays(ids)},
paid_base AS (
    SELECT st.loan_id, coalesce(p.pay_dates, '{{}}') AS pay_dates, coalesce(p.pay_cum, '{{}}') AS pay_cum,
           st.implied, st.due_dates, st.due_total, st.due_cumulative,
           lm_paid_c(coalesce(p.pay_dates, '{{}}'), coalesce(p.pay_cum, '{{}}'), {business_date}) AS paid_c
    FROM {ids} JOIN loan_state st USING (loan_id) LEFT JOIN payments p USING (loan_id)
),
-- the rows are updated where the loan's index scan finds them: a join by ctid rescans the
-- relation's size (an lseek) for every row
paid_rewritten AS (
    UPDATE loan_schedule s
    SET paid_by_due_date = {new["paid_by_due_date"]}, amount_paid = {new["amount_paid"]},
        payment_date = {new["payment_date"]}, payment_status = {new["payment_status"]}, updated_at = now()
    FROM paid_base st
    WHERE s.loan_id = st.loan_id AND NOT st.implied
      AND (s.paid_by_due_date, s.amount_paid, s.payment_date, s.payment_status) IS DISTINCT FROM
          ({new["paid_by_due_date"]}, {new["amount_paid"]}, {new["payment_date"]}, {new["payment_status"]})
    RETURNING 1
),
on_time AS (  -- one window pass over every installment, not one per loan
    SELECT DISTINCT ON (loan_id) loan_id, array_agg(running) OVER whole AS due_on_time_cum
    FROM (
        SELECT b.loan_id, u.n,
               lm_sum_c(lm_alloc_c(u.total_c, u.cum_c, lm_paid_c(b.pay_dates, b.pay_cum, u.due_date)))
                   OVER (PARTITION BY b.loan_id ORDER BY u.n ROWS UNBOUNDED PRECEDING) AS running
        FROM paid_base b,
             unnest(b.due_dates, b.due_total, b.due_cumulative) WITH ORDINALITY AS u(due_date, total_c, cum_c, n)
    ) installments
    WINDOW whole AS (PARTITION BY loan_id ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ORDER BY loan_id, n
),
paid_state AS (
    UPDATE loan_state st
    SET pay_dates = b.pay_dates, pay_cum = b.pay_cum, pay_cum_principal = coalesce(p.pay_cum_principal, '{{}}'),
        pay_cum_interest = coalesce(p.pay_cum_interest, '{{}}'), pay_cum_fees = coalesce(p.pay_cum_fees, '{{}}'),
        pay_cum_waivers = coalesce(p.pay_cum_waivers, '{{}}'), first_received_date = p.first_received_date,
        entry_dates = coalesce(p.entry_dates, '{{}}'), entry_cum = coalesce(p.entry_cum, '{{}}'),
        entry_backdated_cum = coalesce(p.entry_backdated_cum, '{{}}'),
        entry_reversed_cum = coalesce(p.entry_reversed_cum, '{{}}'),
        due_on_time_cum = coalesce(o.due_on_time_cum, '{{}}'), updated_at = now()
    FROM paid_base b LEFT JOIN payments p USING (loan_id) LEFT JOIN on_time o USING (loan_id)
    WHERE st.loan_id = b.loan_id
    RETURNING st.*
)"""


def as_of(source: str, business_date: str, *, write: bool = True) -> str:
    """3. CTEs computing the 14 loan fields as of ``business_date`` (SPEC §5.8) of the loans in
    ``source`` (a FROM item of rows ``st`` with loan_state's columns), in ``as_of_fields``, and
    (``write``) writing the loans whose fields differ and moving the tag counts with their tags.
    max_dpd_ever: DPD only grows between payment dates, so its maximum over active days is reached
    the day before a payment date or on the last active day."""
    d = business_date
    computing = f"""as_of_base AS (
    SELECT st.*, lm_pay_index(st.pay_dates, {d}) AS i,
           lm_active(st.disbursement_date, st.closed_date, {d}) AS active_now,
           CASE WHEN st.closed_date IS NOT NULL AND st.closed_date <= {d}
                THEN st.closed_date - 1 ELSE {d} END AS last_active_day
    FROM {source}
),
as_of_computed AS (
    SELECT b.loan_id,
           CASE WHEN b.active_now
                THEN lm_dpd(b.settle_thresholds, b.suffix_min_due, coalesce(b.pay_cum[b.i], -1), {d})
                ELSE 0 END AS current_dpd,
           greatest(
               CASE WHEN b.last_active_day >= b.disbursement_date
                    THEN lm_dpd(b.settle_thresholds, b.suffix_min_due,
                                lm_paid_c(b.pay_dates, b.pay_cum, b.last_active_day), b.last_active_day)
                    ELSE 0 END,
               (SELECT max(lm_dpd(b.settle_thresholds, b.suffix_min_due, coalesce(b.pay_cum[p.n - 1], -1), p.d - 1))
                FROM unnest(b.pay_dates) WITH ORDINALITY AS p(d, n)
                WHERE p.d - 1 >= b.disbursement_date AND p.d - 1 <= b.last_active_day),
               0
           ) AS max_dpd_ever,
           b.first_due_date,
           CASE WHEN b.first_received_date <= {d} THEN b.first_received_date END AS first_received,
           greatest(0, b.principal_c - coalesce(b.pay_cum_principal[b.i], 0)) AS principal_out_c,
           greatest(0, b.interest_due_c - coalesce(b.pay_cum_interest[b.i], 0)) AS interest_out_c,
           greatest(0, b.fee_due_c - coalesce(b.pay_cum_fees[b.i], 0)) AS fees_out_c,
           coalesce(b.pay_cum_principal[b.i], 0) AS principal_paid_c,
           coalesce(b.pay_cum_interest[b.i], 0) AS interest_paid_c,
           coalesce(b.pay_cum_fees[b.i], 0) AS fees_paid_c
    FROM as_of_base b
),
as_of_fields AS MATERIALIZED (  -- once per loan: inlined, the UPDATE's filter and SET would each evaluate it
    SELECT loan_id, current_dpd, max_dpd_ever,
           coalesce(first_due_date < {d} AND (first_received IS NULL OR first_received > first_due_date),
                    false) AS missed,
           first_due_date, first_received,
           principal_out_c / 100.0 AS principal_outstanding,
           interest_out_c / 100.0 AS interest_outstanding,
           fees_out_c / 100.0 AS fees_outstanding,
           (principal_out_c + interest_out_c + fees_out_c) / 100.0 AS total_outstanding,
           principal_paid_c / 100.0 AS total_principal_paid,
           interest_paid_c / 100.0 AS total_interest_paid,
           fees_paid_c / 100.0 AS total_fees_paid,
           current_dpd BETWEEN 1 AND 6 AS early
    FROM as_of_computed
)"""
    if not write:
        return computing
    return computing + f""",
as_of_updated AS (
    UPDATE loans l
    SET current_dpd = f.current_dpd, max_dpd_ever = f.max_dpd_ever,
        first_payment_missed = f.missed, fimr_tagged = f.missed,
        first_payment_due_date = f.first_due_date, first_payment_received_date = f.first_received,
        principal_outstanding = f.principal_outstanding, interest_outstanding = f.interest_outstanding,
        fees_outstanding = f.fees_outstanding, total_outstanding = f.total_outstanding,
        total_principal_paid = f.total_principal_paid, total_interest_paid = f.total_interest_paid,
        total_fees_paid = f.total_fees_paid, early_indicator_tagged = f.early,
        updated_at = now()
    FROM as_of_fields f
    JOIN loans o ON o.loan_id = f.loan_id  -- the row as it was: the tags before this update
    WHERE l.loan_id = f.loan_id
      AND (l.current_dpd, l.max_dpd_ever, l.first_payment_missed, l.first_payment_due_date,
           l.first_payment_received_date, l.principal_outstanding, l.interest_outstanding, l.fees_outstanding,
           l.total_outstanding, l.total_principal_paid, l.total_interest_paid, l.total_fees_paid,
           l.early_indicator_tagged)
          IS DISTINCT FROM
          (f.current_dpd, f.max_dpd_ever, f.missed, f.first_due_date, f.first_received,
           f.principal_outstanding, f.interest_outstanding, f.fees_outstanding, f.total_outstanding,
           f.total_principal_paid, f.total_interest_paid, f.total_fees_paid, f.early)
    RETURNING l.officer_id, l.branch, l.region,
              l.fimr_tagged::int - o.fimr_tagged::int AS fimr_delta,
              l.early_indicator_tagged::int - o.early_indicator_tagged::int AS early_delta
),
as_of_tags AS ({TAG_COUNT_DELTAS.format(source="as_of_updated").strip()})"""


# Before-images for the incremental recalculation (db/daily_metrics.py): the state each loan a
# batch touches had before the batch, or ``existed`` false for a loan the batch creates.
_STATE_COLUMNS = [column.name for column in models.loan_state.columns if column.name not in ("loan_id", "updated_at")]


def capture(ids: str, fresh: str) -> str:
    """The INSERT of the before-images of the loans in ``ids`` (a FROM item ``ids`` of loan_id);
    those in the text[] ``fresh`` got their state from this batch's schedule writer: none before
    (``NOT IN`` a subquery is a hashed lookup, where ``<> ALL`` compares every pair)."""
    return f"""INSERT INTO loan_state_prior (existed, loan_id, {", ".join(_STATE_COLUMNS)})
SELECT st.loan_id IS NOT NULL, ids.loan_id, {", ".join(f"st.{name}" for name in _STATE_COLUMNS)}
FROM {ids} LEFT JOIN loan_state st
    ON st.loan_id = ids.loan_id AND ids.loan_id NOT IN (SELECT unnest({fresh}::text[]))"""


def finish_payments(ids: str, capture_ids: str, fresh: str, business_date: str) -> str:
    """CTEs bringing up to date, in one go, loans whose repayments alone changed and are all
    written (text[] ``ids``): the before-images of ``capture_ids`` (those not yet taken in this
    batch), the payments pass and the as-of fields from its new state."""
    return f"""finish_ids AS (SELECT unnest({ids}::text[]) AS loan_id),
captured AS ({capture(f"(SELECT unnest({capture_ids}::text[]) AS loan_id) ids", fresh)}),
{payments_pass("finish_ids", business_date)},
{as_of("paid_state st", business_date)}"""


_SOME = "SELECT unnest({param}::text[]) AS loan_id"
_ALL = "SELECT loan_id FROM loans"

PAYMENT_STATE = _PAYMENT_STATE.format(ids=_SOME.format(param="$1"))
SCHEDULE_PASS = _SCHEDULE_PASS.format(ids=_SOME.format(param="$2"))
PAYMENTS_PASS = (f"WITH paid_ids AS ({_SOME.format(param='$2')}),\n{payments_pass('paid_ids', '$1::date')}\n"
                 "SELECT count(*) FROM paid_state")
FINISH_PAYMENTS = f"WITH {finish_payments('$2', '$3', '$4', '$1::date')}\nSELECT count(*) FROM paid_state"
_SOME_2 = _SOME.format(param="$2")
LOANS_AS_OF = (f"WITH {as_of(f'({_SOME_2}) ids JOIN loan_state st USING (loan_id)', '$1::date')}\n"
               "SELECT count(*) FROM as_of_updated")
CAPTURE = capture(f"({_SOME.format(param='$1')}) ids", "$2")
ALL = {
    "capture": capture(f"({_ALL} EXCEPT SELECT unnest($2::text[])) ids", "$1"),
    "cumulative": _CUMULATIVE.format(ids=_ALL),
    "payment_state": _PAYMENT_STATE.format(ids=_ALL),
    "schedule_pass": _SCHEDULE_PASS.format(ids=_ALL),
    "loans": f"WITH {as_of(f'({_ALL}) ids JOIN loan_state st USING (loan_id)', '$1::date')}\n"
             "SELECT count(*) FROM as_of_updated",
}


@dataclass(frozen=True)
class Finish:
    """Loans a writer statement brings up to date besides its own records (``finish_payments``):
    their repayments alone changed and no later unit of the batch names them."""

    loan_ids: list[str]
    capture_ids: list[str]  # those whose before-image the batch has not taken yet
    fresh: list[str]  # loans the batch created: no state before it


@dataclass
class BatchLoans:
    """The loans a batch touches and how far their state is, as its units are written in order.

    Loans whose repayments alone changed are finished (before-image, payments pass, as-of
    fields) by the statement of the next unit that does not name them, so that work runs while
    the server checks the following records; loans the batch creates get theirs from the schedule
    writer. What remains (terms or schedules of stored loans, loans without schedule rows) is
    rebuilt after the last unit by ``rebuild_loans``."""

    schedule_changed: set[str] = field(default_factory=set)
    payments_changed: set[str] = field(default_factory=set)
    fresh: set[str] = field(default_factory=set)  # created with their schedule state and as-of fields
    captured: set[str] = field(default_factory=set)  # before-image taken
    done: set[str] = field(default_factory=set)  # state and as-of fields current
    pending: set[str] = field(default_factory=set)  # repayments changed, to finish

    @property
    def touched(self) -> set[str]:
        return self.schedule_changed | self.payments_changed

    def created(self, loan_ids: Sequence[str]) -> None:
        """The schedule writer built these new loans' state, before-image and as-of fields."""
        self.fresh.update(loan_ids)
        self.captured.update(loan_ids)
        self.done.update(loan_ids)

    def paid(self, loan_ids: Sequence[str]) -> None:
        """These loans' repayments changed (written by a statement that has completed)."""
        self.payments_changed.update(loan_ids)
        rebuilt = self.schedule_changed - self.fresh  # their schedule pass comes first, at the end
        self.pending.update(loan_id for loan_id in loan_ids if loan_id not in rebuilt)
        self.done.difference_update(loan_ids)

    def finishable(self, named_later: set[str]) -> Finish | None:
        """The pending loans no later unit names, now taken as finished by the caller's statement."""
        ready = sorted(self.pending - named_later)
        if not ready:
            return None
        self.pending.difference_update(ready)
        self.done.update(ready)
        capture_ids = [loan_id for loan_id in ready if loan_id not in self.captured]
        self.captured.update(capture_ids)
        return Finish(ready, capture_ids, sorted(self.fresh))

    async def complete(self, conn: asyncpg.Connection, business_date: date) -> None:
        """After the last unit: finish the pending loans, then rebuild the rest."""
        finish = self.finishable(set())
        if finish is not None:
            await conn.execute(FINISH_PAYMENTS, business_date, finish.loan_ids, finish.capture_ids, finish.fresh)
        await rebuild_loans(
            conn, schedule_changed=sorted(self.schedule_changed - self.done),
            payments_changed=sorted(self.payments_changed - self.done), business_date=business_date,
            fresh=sorted(self.fresh), captured=self.captured,
        )


async def rebuild_loans(
    conn: asyncpg.Connection, *, schedule_changed: list[str], payments_changed: list[str], business_date: date,
    fresh: Sequence[str] = (), captured: Collection[str] = (),
) -> list[str]:
    """Recompute the state of the touched loans and their as-of fields; returns their ids.

    ``schedule_changed`` must include every loan inserted or updated in the batch (and not
    brought up to date by the batch's statements); ``fresh`` lists the loans the batch created
    whose schedule state the schedule writer already built from the incoming rows; ``captured``
    the loans whose before-image the batch already took.
    """
    touched = sorted(set(schedule_changed) | set(payments_changed))
    if not touched:
        return touched
    uncaptured = [loan_id for loan_id in touched if loan_id not in captured]
    if uncaptured:
        await conn.execute(CAPTURE, uncaptured, list(fresh))
    existing = set()
    if schedule_changed:
        existing = {row["loan_id"] for row in await conn.fetch(
            "SELECT loan_id FROM loan_state WHERE loan_id = ANY($1::text[])", schedule_changed)}
    rescheduled = set(schedule_changed) - set(fresh)
    payments_only = set(payments_changed) - rescheduled  # their state exists: its schedule part is current
    needs_payments = sorted((set(payments_changed) & rescheduled) | (set(schedule_changed) - existing))
    if needs_payments:
        await conn.execute(PAYMENT_STATE, needs_payments)
    if rescheduled:
        await conn.execute(SCHEDULE_PASS, business_date, sorted(rescheduled))
    if payments_only:
        await conn.execute(PAYMENTS_PASS, business_date, sorted(payments_only))
    await conn.execute(LOANS_AS_OF, business_date, touched)
    return touched


async def rebuild_all(
    conn: asyncpg.Connection, business_date: date, fresh: Sequence[str] = (), captured: Collection[str] = ()
) -> None:
    """Recompute every loan from the raw tables (a ``full`` sync, or a repair); ``captured``: the
    loans whose before-image the batch already took."""
    await conn.execute(ALL["capture"], list(fresh), sorted(captured))
    await conn.execute(ALL["cumulative"])
    await conn.execute(ALL["payment_state"])
    await conn.execute(ALL["schedule_pass"], business_date)
    await conn.execute(ALL["loans"], business_date)


async def refresh_for_date(conn: asyncpg.Connection, business_date: date) -> None:
    """A new business date: state is date-independent, so only the as-of fields move."""
    await conn.execute(ALL["schedule_pass"], business_date)
    await conn.execute(ALL["loans"], business_date)
