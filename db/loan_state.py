"""Maintained loan state (SPEC §5.1-5.3, §5.8), recomputed set-based in SQL.

Three statements per set of loans, all inside the caller's transaction:
1. ``loan_state``: the date-independent per-loan arrays the metric engine reads (thresholds of
   cumulative due, suffix-minimum due dates, payment dates with cumulative paid amounts);
2. the computed ``loan_schedule`` fields (amount_paid, settlement payment_date, payment_status)
   as of the business date, plus C_i and the on-time paid part alloc_i(due_date_i);
3. the 14 computed ``loans`` fields as of the business date.
Rows are written only where a value changed. ``calculators/loan_state.py`` is the reference.
"""

from __future__ import annotations

from datetime import date

import asyncpg

_STATE = """
WITH target AS (
    SELECT loan_id, officer_id, branch, region, channel, disbursement_date, closed_date, maturity_date,
           (loan_amount * 100)::bigint AS principal_c,
           (round(loan_amount * coalesce(interest_rate, 0) * loan_term_days / 365, 2) * 100)::bigint
               AS implied_interest_c,
           (coalesce(fee_amount, 0) * 100)::bigint AS implied_fee_c
    FROM loans WHERE {loans}
),
scheduled AS (
    SELECT DISTINCT loan_id FROM loan_schedule WHERE {loans}
),
effective AS (
    SELECT loan_id, installment_number, due_date,
           (interest_due * 100)::bigint AS interest_c,
           (fee_due * 100)::bigint AS fee_c,
           sum((total_due * 100)::bigint) OVER (PARTITION BY loan_id ORDER BY installment_number)::bigint AS cum_c,
           min(due_date) OVER (PARTITION BY loan_id ORDER BY installment_number DESC) AS suffix_min
    FROM loan_schedule
    WHERE {loans} AND total_due > 0
),
schedule_arrays AS (
    SELECT loan_id,
           array_agg(cum_c - 1 ORDER BY installment_number) AS settle_thresholds,
           array_agg(suffix_min ORDER BY installment_number) AS suffix_min_due,
           sum(interest_c)::bigint AS interest_due_c,
           sum(fee_c)::bigint AS fee_due_c,
           (array_agg(due_date ORDER BY installment_number))[1] AS first_due_date
    FROM effective GROUP BY loan_id
),
payment_days AS (
    SELECT loan_id, payment_date,
           sum((principal_paid + interest_paid + fees_paid) * 100)::bigint AS coverage_c,
           sum(principal_paid * 100)::bigint AS principal_c,
           sum(interest_paid * 100)::bigint AS interest_c,
           sum(fees_paid * 100)::bigint AS fees_c
    FROM repayments
    WHERE {loans} AND NOT is_reversed
    GROUP BY loan_id, payment_date
    HAVING sum(principal_paid + interest_paid + fees_paid) > 0
),
payment_arrays AS (
    SELECT loan_id,
           array_agg(payment_date ORDER BY payment_date) AS pay_dates,
           array_agg(cum_coverage ORDER BY payment_date) AS pay_cum,
           array_agg(cum_principal ORDER BY payment_date) AS pay_cum_principal,
           array_agg(cum_interest ORDER BY payment_date) AS pay_cum_interest,
           array_agg(cum_fees ORDER BY payment_date) AS pay_cum_fees
    FROM (
        SELECT loan_id, payment_date,
               (sum(coverage_c) OVER w)::bigint AS cum_coverage,
               (sum(principal_c) OVER w)::bigint AS cum_principal,
               (sum(interest_c) OVER w)::bigint AS cum_interest,
               (sum(fees_c) OVER w)::bigint AS cum_fees
        FROM payment_days
        WINDOW w AS (PARTITION BY loan_id ORDER BY payment_date)
    ) cumulative
    GROUP BY loan_id
),
assembled AS (
    SELECT t.loan_id, t.officer_id, t.branch, t.region, t.channel, t.disbursement_date, t.closed_date,
           t.principal_c,
           s.loan_id IS NULL AS implied,
           t.maturity_date,
           t.principal_c + t.implied_interest_c + t.implied_fee_c AS implied_total_c,
           t.implied_interest_c, t.implied_fee_c,
           sa.settle_thresholds, sa.suffix_min_due, sa.interest_due_c, sa.fee_due_c, sa.first_due_date,
           coalesce(pa.pay_dates, '{{}}') AS pay_dates,
           coalesce(pa.pay_cum, '{{}}') AS pay_cum,
           coalesce(pa.pay_cum_principal, '{{}}') AS pay_cum_principal,
           coalesce(pa.pay_cum_interest, '{{}}') AS pay_cum_interest,
           coalesce(pa.pay_cum_fees, '{{}}') AS pay_cum_fees
    FROM target t
    LEFT JOIN scheduled s USING (loan_id)
    LEFT JOIN schedule_arrays sa USING (loan_id)
    LEFT JOIN payment_arrays pa USING (loan_id)
)
INSERT INTO loan_state AS st (
    loan_id, officer_id, branch, region, channel, disbursement_date, closed_date,
    principal_c, interest_due_c, fee_due_c, implied, first_due_date,
    settle_thresholds, suffix_min_due,
    pay_dates, pay_cum, pay_cum_principal, pay_cum_interest, pay_cum_fees,
    implied_due_date, implied_total_due_c, implied_fee_due_c, implied_paid_by_due_c, updated_at
)
SELECT loan_id, officer_id, branch, region, channel, disbursement_date, closed_date,
       principal_c,
       CASE WHEN implied THEN implied_interest_c ELSE coalesce(interest_due_c, 0) END,
       CASE WHEN implied THEN implied_fee_c ELSE coalesce(fee_due_c, 0) END,
       implied,
       CASE WHEN implied THEN maturity_date ELSE first_due_date END,
       CASE WHEN implied THEN ARRAY[implied_total_c - 1] ELSE coalesce(settle_thresholds, '{{}}') END,
       CASE WHEN implied THEN ARRAY[maturity_date] ELSE coalesce(suffix_min_due, '{{}}') END,
       pay_dates, pay_cum, pay_cum_principal, pay_cum_interest, pay_cum_fees,
       CASE WHEN implied THEN maturity_date END,
       CASE WHEN implied THEN implied_total_c END,
       CASE WHEN implied THEN implied_fee_c END,
       CASE WHEN implied THEN
           lm_alloc_c(implied_total_c, implied_total_c, lm_paid_c(pay_dates, pay_cum, maturity_date))
       END,
       now()
FROM assembled
ON CONFLICT (loan_id) DO UPDATE SET
    officer_id = EXCLUDED.officer_id, branch = EXCLUDED.branch, region = EXCLUDED.region,
    channel = EXCLUDED.channel, disbursement_date = EXCLUDED.disbursement_date,
    closed_date = EXCLUDED.closed_date, principal_c = EXCLUDED.principal_c,
    interest_due_c = EXCLUDED.interest_due_c, fee_due_c = EXCLUDED.fee_due_c,
    implied = EXCLUDED.implied, first_due_date = EXCLUDED.first_due_date,
    settle_thresholds = EXCLUDED.settle_thresholds, suffix_min_due = EXCLUDED.suffix_min_due,
    pay_dates = EXCLUDED.pay_dates, pay_cum = EXCLUDED.pay_cum,
    pay_cum_principal = EXCLUDED.pay_cum_principal, pay_cum_interest = EXCLUDED.pay_cum_interest,
    pay_cum_fees = EXCLUDED.pay_cum_fees, implied_due_date = EXCLUDED.implied_due_date,
    implied_total_due_c = EXCLUDED.implied_total_due_c, implied_fee_due_c = EXCLUDED.implied_fee_due_c,
    implied_paid_by_due_c = EXCLUDED.implied_paid_by_due_c, updated_at = now()
"""

# Stored schedule fields as of the business date $1 (SPEC §5.2); rows with total_due 0 keep nulls.
_SCHEDULE = """
WITH ordered AS (
    SELECT s.loan_id, s.installment_number, s.due_date,
           (s.total_due * 100)::bigint AS total_c,
           (sum((s.total_due * 100)::bigint) OVER (PARTITION BY s.loan_id ORDER BY s.installment_number))::bigint
               AS cum_c
    FROM loan_schedule s
    WHERE {loans}
),
computed AS (
    SELECT o.loan_id, o.installment_number, o.due_date, o.total_c, o.cum_c,
           lm_paid_c(st.pay_dates, st.pay_cum, $1::date) AS paid_c,
           lm_alloc_c(o.total_c, o.cum_c, lm_paid_c(st.pay_dates, st.pay_cum, o.due_date)) AS on_time_c,
           st.pay_dates[width_bucket(o.cum_c - 2, st.pay_cum) + 1] AS settled_at
    FROM ordered o JOIN loan_state st USING (loan_id)
),
fields AS (
    SELECT loan_id, installment_number,
           CASE WHEN total_c > 0 THEN cum_c / 100.0 END AS cumulative_due,
           CASE WHEN total_c > 0 THEN on_time_c / 100.0 END AS paid_by_due_date,
           CASE WHEN total_c > 0 THEN lm_alloc_c(total_c, cum_c, paid_c) / 100.0 END AS amount_paid,
           CASE WHEN total_c > 0 AND paid_c >= cum_c - 1 THEN settled_at END AS payment_date,
           CASE WHEN total_c = 0 THEN NULL
                WHEN paid_c >= cum_c - 1 THEN 'Paid'
                WHEN due_date < $1::date THEN 'Overdue'
                WHEN lm_alloc_c(total_c, cum_c, paid_c) > 0 THEN 'Partial'
                ELSE 'Pending' END AS payment_status
    FROM computed
)
UPDATE loan_schedule s
SET cumulative_due = f.cumulative_due, paid_by_due_date = f.paid_by_due_date,
    amount_paid = f.amount_paid, payment_date = f.payment_date, payment_status = f.payment_status,
    updated_at = now()
FROM fields f
WHERE s.loan_id = f.loan_id AND s.installment_number = f.installment_number
  AND (s.cumulative_due, s.paid_by_due_date, s.amount_paid, s.payment_date, s.payment_status)
      IS DISTINCT FROM (f.cumulative_due, f.paid_by_due_date, f.amount_paid, f.payment_date, f.payment_status)
"""

# The 14 computed loan fields as of the business date $1 (SPEC §5.8). max_dpd_ever: DPD only
# grows between payment dates, so its maximum over active days is reached the day before a
# payment date or on the last active day.
_LOANS = """
WITH base AS (
    SELECT st.*, lm_pay_index(st.pay_dates, $1::date) AS i,
           lm_active(st.disbursement_date, st.closed_date, $1::date) AS active_now,
           CASE WHEN st.closed_date IS NOT NULL AND st.closed_date <= $1::date
                THEN st.closed_date - 1 ELSE $1::date END AS last_active_day
    FROM loan_state st
    WHERE {loans}
),
computed AS (
    SELECT b.loan_id,
           CASE WHEN b.active_now
                THEN lm_dpd(b.settle_thresholds, b.suffix_min_due, coalesce(b.pay_cum[b.i], 0), $1::date)
                ELSE 0 END AS current_dpd,
           greatest(
               CASE WHEN b.last_active_day >= b.disbursement_date
                    THEN lm_dpd(b.settle_thresholds, b.suffix_min_due,
                                lm_paid_c(b.pay_dates, b.pay_cum, b.last_active_day), b.last_active_day)
                    ELSE 0 END,
               (SELECT max(lm_dpd(b.settle_thresholds, b.suffix_min_due, coalesce(b.pay_cum[p.n - 1], 0), p.d - 1))
                FROM unnest(b.pay_dates) WITH ORDINALITY AS p(d, n)
                WHERE p.d - 1 >= b.disbursement_date AND p.d - 1 <= b.last_active_day),
               0
           ) AS max_dpd_ever,
           b.first_due_date,
           CASE WHEN b.pay_dates[1] <= $1::date THEN b.pay_dates[1] END AS first_received,
           greatest(0, b.principal_c - coalesce(b.pay_cum_principal[b.i], 0)) AS principal_out_c,
           greatest(0, b.interest_due_c - coalesce(b.pay_cum_interest[b.i], 0)) AS interest_out_c,
           greatest(0, b.fee_due_c - coalesce(b.pay_cum_fees[b.i], 0)) AS fees_out_c,
           coalesce(b.pay_cum_principal[b.i], 0) AS principal_paid_c,
           coalesce(b.pay_cum_interest[b.i], 0) AS interest_paid_c,
           coalesce(b.pay_cum_fees[b.i], 0) AS fees_paid_c
    FROM base b
),
fields AS (
    SELECT loan_id, current_dpd, max_dpd_ever,
           coalesce(first_due_date < $1::date AND (first_received IS NULL OR first_received > first_due_date),
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
    FROM computed
)
UPDATE loans l
SET current_dpd = f.current_dpd, max_dpd_ever = f.max_dpd_ever,
    first_payment_missed = f.missed, fimr_tagged = f.missed,
    first_payment_due_date = f.first_due_date, first_payment_received_date = f.first_received,
    principal_outstanding = f.principal_outstanding, interest_outstanding = f.interest_outstanding,
    fees_outstanding = f.fees_outstanding, total_outstanding = f.total_outstanding,
    total_principal_paid = f.total_principal_paid, total_interest_paid = f.total_interest_paid,
    total_fees_paid = f.total_fees_paid, early_indicator_tagged = f.early,
    updated_at = now()
FROM fields f
WHERE l.loan_id = f.loan_id
  AND (l.current_dpd, l.max_dpd_ever, l.first_payment_missed, l.first_payment_due_date,
       l.first_payment_received_date, l.principal_outstanding, l.interest_outstanding, l.fees_outstanding,
       l.total_outstanding, l.total_principal_paid, l.total_interest_paid, l.total_fees_paid,
       l.early_indicator_tagged)
      IS DISTINCT FROM
      (f.current_dpd, f.max_dpd_ever, f.missed, f.first_due_date, f.first_received,
       f.principal_outstanding, f.interest_outstanding, f.fees_outstanding, f.total_outstanding,
       f.total_principal_paid, f.total_interest_paid, f.total_fees_paid, f.early)
"""

_SOME = "loan_id = ANY($2::text[])"
_SOME_STATE = "loan_id = ANY($1::text[])"
_ALL = "TRUE"

STATE_FOR_LOANS = _STATE.format(loans=_SOME_STATE)
STATE_FOR_ALL = _STATE.format(loans=_ALL)
SCHEDULE_FOR_LOANS = _SCHEDULE.format(loans="s." + _SOME)
SCHEDULE_FOR_ALL = _SCHEDULE.format(loans=_ALL)
LOANS_FOR_LOANS = _LOANS.format(loans="st." + _SOME)
LOANS_FOR_ALL = _LOANS.format(loans=_ALL)

async def rebuild_loans(conn: asyncpg.Connection, loan_ids: list[str], business_date: date) -> None:
    """Recompute state, schedule fields and loan fields of ``loan_ids`` (inside the caller's transaction)."""
    if not loan_ids:
        return
    await conn.execute(STATE_FOR_LOANS, loan_ids)
    await conn.execute(SCHEDULE_FOR_LOANS, business_date, loan_ids)
    await conn.execute(LOANS_FOR_LOANS, business_date, loan_ids)


async def rebuild_all(conn: asyncpg.Connection, business_date: date) -> None:
    """Recompute every loan from the raw tables (a ``full`` sync, or a repair)."""
    await conn.execute(STATE_FOR_ALL)
    await conn.execute(SCHEDULE_FOR_ALL, business_date)
    await conn.execute(LOANS_FOR_ALL, business_date)


async def refresh_for_date(conn: asyncpg.Connection, business_date: date) -> None:
    """A new business date: state is date-independent, so only the as-of fields move."""
    await conn.execute(SCHEDULE_FOR_ALL, business_date)
    await conn.execute(LOANS_FOR_ALL, business_date)
