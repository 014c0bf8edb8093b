"""Maintained loan state (SPEC §5.1-5.3, §5.8), recomputed set-based in SQL.

The state splits along what changes it, so a batch of repayments never re-reads schedules:
1. schedule part (a loan or its schedule changed; the schedule writer stores C_i with each
   row, ``rebuild_all`` recomputes it): in ``loan_state`` the settlement thresholds,
   suffix-minimum due dates, component totals due and the implied bullet installment;
2. payment part (its repayments changed): the payment dates with cumulative amounts paid and
   waived, and the entry dates with cumulative entry, backdated and reversal counts;
3. as-of part (either changed, or the business date moved): the stored ``loan_schedule`` fields
   (amount_paid, settlement payment_date, payment_status, the on-time part alloc_i(due_i)), the
   installments in due-date order with cumulative fee, total and on-time amounts, and the 14
   computed ``loans`` fields.
Everything runs in the caller's transaction and writes only rows whose values changed.
``calculators/loan_state.py`` is the reference these statements are property-tested against.
"""

from __future__ import annotations

from datetime import date

import asyncpg

# C_i on every schedule row of the loans (null where total_due is 0: ignored rows).
_CUMULATIVE = """
WITH ordered AS (
    SELECT loan_id, installment_number, total_due,
           sum(total_due) OVER (PARTITION BY loan_id ORDER BY installment_number) AS cumulative
    FROM ({ids}) ids JOIN loan_schedule USING (loan_id)
)
UPDATE loan_schedule s
SET cumulative_due = CASE WHEN o.total_due > 0 THEN o.cumulative END,
    amount_paid = CASE WHEN o.total_due > 0 THEN s.amount_paid END,
    payment_date = CASE WHEN o.total_due > 0 THEN s.payment_date END,
    payment_status = CASE WHEN o.total_due > 0 THEN s.payment_status END,
    paid_by_due_date = CASE WHEN o.total_due > 0 THEN s.paid_by_due_date END,
    updated_at = now()
FROM ordered o
WHERE s.loan_id = o.loan_id AND s.installment_number = o.installment_number
  AND (s.cumulative_due IS DISTINCT FROM CASE WHEN o.total_due > 0 THEN o.cumulative END
       OR (o.total_due = 0 AND (s.amount_paid, s.payment_date, s.payment_status, s.paid_by_due_date)
                               IS DISTINCT FROM (NULL::numeric, NULL::date, NULL::text, NULL::numeric)))
"""

# The schedule part of loan_state (reads the C_i written just before). New loans get a row with
# empty payment arrays, filled by the payment part when they have repayments.
_SCHEDULE_STATE = """
WITH target AS (
    SELECT loan_id, officer_id, branch, region, channel, disbursement_date, closed_date, maturity_date,
           (loan_amount * 100)::bigint AS principal_c,
           (round(loan_amount * coalesce(interest_rate, 0) * loan_term_days / 365, 2) * 100)::bigint
               AS implied_interest_c,
           (coalesce(fee_amount, 0) * 100)::bigint AS implied_fee_c,
           EXISTS (SELECT 1 FROM loan_schedule s WHERE s.loan_id = loans.loan_id) AS scheduled
    FROM ({ids}) ids JOIN loans USING (loan_id)
),
effective AS (
    SELECT loan_id, installment_number, due_date, interest_due, fee_due,
           (cumulative_due * 100)::bigint AS cum_c,
           min(due_date) OVER (PARTITION BY loan_id ORDER BY installment_number DESC) AS suffix_min
    FROM ({ids}) ids JOIN loan_schedule USING (loan_id)
    WHERE total_due > 0
),
schedule_arrays AS (
    SELECT loan_id,
           array_agg(cum_c - 1 ORDER BY installment_number) AS settle_thresholds,
           array_agg(suffix_min ORDER BY installment_number) AS suffix_min_due,
           (sum(interest_due) * 100)::bigint AS interest_due_c,
           (sum(fee_due) * 100)::bigint AS fee_due_c,
           (array_agg(due_date ORDER BY installment_number))[1] AS first_due_date
    FROM effective GROUP BY loan_id
),
assembled AS (
    SELECT t.*, sa.settle_thresholds, sa.suffix_min_due, sa.interest_due_c, sa.fee_due_c, sa.first_due_date,
           t.principal_c + t.implied_interest_c + t.implied_fee_c AS implied_total_c
    FROM target t LEFT JOIN schedule_arrays sa USING (loan_id)
)
INSERT INTO loan_state AS st (
    loan_id, officer_id, branch, region, channel, disbursement_date, closed_date,
    principal_c, interest_due_c, fee_due_c, implied, first_due_date, settle_thresholds, suffix_min_due,
    pay_dates, pay_cum, pay_cum_principal, pay_cum_interest, pay_cum_fees,
    implied_due_date, implied_total_due_c, implied_fee_due_c, updated_at
)
SELECT loan_id, officer_id, branch, region, channel, disbursement_date, closed_date, principal_c,
       CASE WHEN scheduled THEN coalesce(interest_due_c, 0) ELSE implied_interest_c END,
       CASE WHEN scheduled THEN coalesce(fee_due_c, 0) ELSE implied_fee_c END,
       NOT scheduled,
       CASE WHEN scheduled THEN first_due_date ELSE maturity_date END,
       CASE WHEN scheduled THEN coalesce(settle_thresholds, '{{}}') ELSE ARRAY[implied_total_c - 1] END,
       CASE WHEN scheduled THEN coalesce(suffix_min_due, '{{}}') ELSE ARRAY[maturity_date] END,
       '{{}}', '{{}}', '{{}}', '{{}}', '{{}}',
       CASE WHEN NOT scheduled THEN maturity_date END,
       CASE WHEN NOT scheduled THEN implied_total_c END,
       CASE WHEN NOT scheduled THEN implied_fee_c END,
       now()
FROM assembled
ON CONFLICT (loan_id) DO UPDATE SET
    officer_id = EXCLUDED.officer_id, branch = EXCLUDED.branch, region = EXCLUDED.region,
    channel = EXCLUDED.channel, disbursement_date = EXCLUDED.disbursement_date,
    closed_date = EXCLUDED.closed_date, principal_c = EXCLUDED.principal_c,
    interest_due_c = EXCLUDED.interest_due_c, fee_due_c = EXCLUDED.fee_due_c,
    implied = EXCLUDED.implied, first_due_date = EXCLUDED.first_due_date,
    settle_thresholds = EXCLUDED.settle_thresholds, suffix_min_due = EXCLUDED.suffix_min_due,
    implied_due_date = EXCLUDED.implied_due_date, implied_total_due_c = EXCLUDED.implied_total_due_c,
    implied_fee_due_c = EXCLUDED.implied_fee_due_c, updated_at = now()
"""

# The payment part: per date of the non-reversed repayments, cumulative coverage, components and
# waivers; per date of all repayments (reversed ones too), cumulative entry, backdated and reversal
# counts. Loans left without repayments get empty arrays.
_PAYMENT_STATE = """
WITH payment_days AS (
    SELECT loan_id, payment_date,
           sum((principal_paid + interest_paid + fees_paid) * 100)::bigint AS coverage_c,
           sum(principal_paid * 100)::bigint AS principal_c,
           sum(interest_paid * 100)::bigint AS interest_c,
           sum(fees_paid * 100)::bigint AS fees_c,
           sum(coalesce(waiver_amount, 0) * 100)::bigint AS waivers_c
    FROM ({ids}) ids JOIN repayments USING (loan_id)
    WHERE NOT is_reversed
    GROUP BY loan_id, payment_date
),
payments AS (
    SELECT loan_id,
           array_agg(payment_date ORDER BY payment_date) AS pay_dates,
           array_agg(cum_coverage ORDER BY payment_date) AS pay_cum,
           array_agg(cum_principal ORDER BY payment_date) AS pay_cum_principal,
           array_agg(cum_interest ORDER BY payment_date) AS pay_cum_interest,
           array_agg(cum_fees ORDER BY payment_date) AS pay_cum_fees,
           array_agg(cum_waivers ORDER BY payment_date) AS pay_cum_waivers,
           min(payment_date) FILTER (WHERE coverage_c > 0) AS first_received_date
    FROM (
        SELECT loan_id, payment_date, coverage_c,
               (sum(coverage_c) OVER w)::bigint AS cum_coverage,
               (sum(principal_c) OVER w)::bigint AS cum_principal,
               (sum(interest_c) OVER w)::bigint AS cum_interest,
               (sum(fees_c) OVER w)::bigint AS cum_fees,
               (sum(waivers_c) OVER w)::bigint AS cum_waivers
        FROM payment_days
        WINDOW w AS (PARTITION BY loan_id ORDER BY payment_date)
    ) cumulative
    GROUP BY loan_id
),
entries AS (
    SELECT loan_id,
           array_agg(payment_date ORDER BY payment_date) AS entry_dates,
           array_agg(cum_entries ORDER BY payment_date) AS entry_cum,
           array_agg(cum_backdated ORDER BY payment_date) AS entry_backdated_cum,
           array_agg(cum_reversed ORDER BY payment_date) AS entry_reversed_cum
    FROM (
        SELECT loan_id, payment_date,
               (sum(count(*)) OVER w)::integer AS cum_entries,
               (sum(count(*) FILTER (WHERE is_backdated)) OVER w)::integer AS cum_backdated,
               (sum(count(*) FILTER (WHERE is_reversed)) OVER w)::integer AS cum_reversed
        FROM ({ids}) ids JOIN repayments USING (loan_id)
        GROUP BY loan_id, payment_date
        WINDOW w AS (PARTITION BY loan_id ORDER BY payment_date)
    ) cumulative
    GROUP BY loan_id
)
UPDATE loan_state st
SET pay_dates = coalesce(p.pay_dates, '{{}}'), pay_cum = coalesce(p.pay_cum, '{{}}'),
    pay_cum_principal = coalesce(p.pay_cum_principal, '{{}}'),
    pay_cum_interest = coalesce(p.pay_cum_interest, '{{}}'),
    pay_cum_fees = coalesce(p.pay_cum_fees, '{{}}'),
    pay_cum_waivers = coalesce(p.pay_cum_waivers, '{{}}'),
    first_received_date = p.first_received_date,
    entry_dates = coalesce(e.entry_dates, '{{}}'), entry_cum = coalesce(e.entry_cum, '{{}}'),
    entry_backdated_cum = coalesce(e.entry_backdated_cum, '{{}}'),
    entry_reversed_cum = coalesce(e.entry_reversed_cum, '{{}}'),
    updated_at = now()
FROM ({ids}) target LEFT JOIN payments p USING (loan_id) LEFT JOIN entries e USING (loan_id)
WHERE st.loan_id = target.loan_id
"""

# Effective installments in due-date order, for the installment flows of the metric engine
# (fees due, on-time rate, amount due in the next seven days): cumulative fee, total and on-time
# paid, and each installment's total and C_i. Runs after the schedule rows' as-of fields.
_INSTALLMENT_ARRAYS = """
WITH installments AS (
    SELECT s.loan_id, s.due_date, s.installment_number, (s.fee_due * 100)::bigint AS fee_c,
           (s.total_due * 100)::bigint AS total_c, (s.cumulative_due * 100)::bigint AS cum_c,
           (s.paid_by_due_date * 100)::bigint AS on_time_c
    FROM ({ids}) ids JOIN loan_schedule s USING (loan_id)
    WHERE s.total_due > 0
    UNION ALL
    SELECT st.loan_id, st.implied_due_date, 0, st.implied_fee_due_c, st.implied_total_due_c,
           st.implied_total_due_c, st.implied_paid_by_due_c
    FROM ({ids}) ids JOIN loan_state st USING (loan_id)
    WHERE st.implied
),
cumulative AS (
    SELECT loan_id, due_date, installment_number, total_c, cum_c,
           (sum(fee_c) OVER w)::bigint AS fee_cum,
           (sum(total_c) OVER w)::bigint AS total_cum,
           (sum(on_time_c) OVER w)::bigint AS on_time_cum
    FROM installments
    WINDOW w AS (PARTITION BY loan_id ORDER BY due_date, installment_number ROWS UNBOUNDED PRECEDING)
),
arrays AS (
    SELECT loan_id,
           array_agg(due_date ORDER BY due_date, installment_number) AS due_dates,
           array_agg(fee_cum ORDER BY due_date, installment_number) AS due_fee_cum,
           array_agg(total_cum ORDER BY due_date, installment_number) AS due_total_cum,
           array_agg(on_time_cum ORDER BY due_date, installment_number) AS due_on_time_cum,
           array_agg(total_c ORDER BY due_date, installment_number) AS due_total,
           array_agg(cum_c ORDER BY due_date, installment_number) AS due_cumulative
    FROM cumulative GROUP BY loan_id
)
UPDATE loan_state st
SET due_dates = coalesce(a.due_dates, '{{}}'), due_fee_cum = coalesce(a.due_fee_cum, '{{}}'),
    due_total_cum = coalesce(a.due_total_cum, '{{}}'), due_on_time_cum = coalesce(a.due_on_time_cum, '{{}}'),
    due_total = coalesce(a.due_total, '{{}}'), due_cumulative = coalesce(a.due_cumulative, '{{}}'),
    updated_at = now()
FROM ({ids}) target LEFT JOIN arrays a USING (loan_id)
WHERE st.loan_id = target.loan_id
  AND (st.due_dates, st.due_fee_cum, st.due_total_cum, st.due_on_time_cum, st.due_total, st.due_cumulative)
      IS DISTINCT FROM
      (coalesce(a.due_dates, '{{}}'), coalesce(a.due_fee_cum, '{{}}'), coalesce(a.due_total_cum, '{{}}'),
       coalesce(a.due_on_time_cum, '{{}}'), coalesce(a.due_total, '{{}}'), coalesce(a.due_cumulative, '{{}}'))
"""

# alloc(maturity) of the implied installment: the on-time part the metric engine sums.
_IMPLIED_ON_TIME = """
UPDATE loan_state st
SET implied_paid_by_due_c = lm_alloc_c(implied_total_due_c, implied_total_due_c,
                                       lm_paid_c(pay_dates, pay_cum, implied_due_date))
FROM ({ids}) ids
WHERE st.loan_id = ids.loan_id AND st.implied
  AND st.implied_paid_by_due_c IS DISTINCT FROM
      lm_alloc_c(implied_total_due_c, implied_total_due_c, lm_paid_c(pay_dates, pay_cum, implied_due_date))
"""


def schedule_fields(row: str, state: str, business_date: str) -> dict[str, str]:
    """SQL expressions of the stored schedule fields (SPEC §5.2) of schedule row ``row`` (with
    ``total_due`` and ``cumulative_due``), from the payment arrays of ``state``, as of
    ``business_date``. Null on ignored rows (total_due 0). Used by the schedule writer and by the
    as-of refresh, so both spell one definition."""
    total = f"({row}.total_due * 100)::bigint"
    cum = f"({row}.cumulative_due * 100)::bigint"
    paid = f"lm_paid_c({state}.pay_dates, {state}.pay_cum, {business_date})"
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


# Stored schedule fields as of the business date $1 for the schedule rows of the loans.
_FIELDS = schedule_fields("s", "st", "$1::date")
_SCHEDULE = (
    "WITH computed AS (\n"
    "    SELECT s.ctid AS row_id, "
    + ", ".join(f"{expr} AS {name}" for name, expr in _FIELDS.items())
    + "\n    FROM ({ids}) ids JOIN loan_schedule s USING (loan_id) JOIN loan_state st USING (loan_id)\n"
    "    WHERE s.total_due > 0\n"
    ")\n"
    "UPDATE loan_schedule s SET "
    + ", ".join(f"{name} = c.{name}" for name in _FIELDS)
    + ", updated_at = now()\nFROM computed c\nWHERE s.ctid = c.row_id AND ("
    + ", ".join(f"s.{name}" for name in _FIELDS)
    + ") IS DISTINCT FROM ("
    + ", ".join(f"c.{name}" for name in _FIELDS)
    + ")"
)

# The 14 computed loan fields as of the business date $1 (SPEC §5.8). max_dpd_ever: DPD only
# grows between payment dates, so its maximum over active days is reached the day before a
# payment date or on the last active day.
_LOANS = """
WITH base AS (
    SELECT st.*, lm_pay_index(st.pay_dates, $1::date) AS i,
           lm_active(st.disbursement_date, st.closed_date, $1::date) AS active_now,
           CASE WHEN st.closed_date IS NOT NULL AND st.closed_date <= $1::date
                THEN st.closed_date - 1 ELSE $1::date END AS last_active_day
    FROM ({ids}) ids JOIN loan_state st USING (loan_id)
),
computed AS (
    SELECT b.loan_id,
           CASE WHEN b.active_now
                THEN lm_dpd(b.settle_thresholds, b.suffix_min_due, coalesce(b.pay_cum[b.i], -1), $1::date)
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
           CASE WHEN b.first_received_date <= $1::date THEN b.first_received_date END AS first_received,
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


def _statements(ids: str) -> dict[str, str]:
    """Every statement driven by ``ids``, a query yielding the loan ids to recompute.

    Driving from an unnest of the ids (not ``loan_id = ANY(...)`` filters) lets the planner see
    how few loans a batch touches and probe the indexes instead of scanning the tables.
    """
    return {
        name: sql.format(ids=ids)
        for name, sql in (
            ("cumulative", _CUMULATIVE),
            ("schedule_state", _SCHEDULE_STATE),
            ("payment_state", _PAYMENT_STATE),
            ("implied_on_time", _IMPLIED_ON_TIME),
            ("installment_arrays", _INSTALLMENT_ARRAYS),
        )
    }


SOME = _statements("SELECT unnest($1::text[]) AS loan_id")
ALL = _statements("SELECT loan_id FROM loans")
AS_OF_SOME = {name: sql.format(ids="SELECT unnest($2::text[]) AS loan_id") for name, sql in
              (("schedule", _SCHEDULE), ("loans", _LOANS))}
AS_OF_ALL = {name: sql.format(ids="SELECT loan_id FROM loans") for name, sql in
             (("schedule", _SCHEDULE), ("loans", _LOANS))}


async def rebuild_loans(
    conn: asyncpg.Connection, *, schedule_changed: list[str], payments_changed: list[str], business_date: date
) -> list[str]:
    """Recompute the state parts each change needs, then the as-of fields of every touched loan.

    ``schedule_changed`` must include every loan inserted or updated (its loan_state row is
    (re)built there); returns the touched loan ids.
    """
    touched = sorted(set(schedule_changed) | set(payments_changed))
    if not touched:
        return touched
    if schedule_changed:
        await conn.execute(SOME["schedule_state"], schedule_changed)
    if payments_changed:
        await conn.execute(SOME["payment_state"], payments_changed)
    await conn.execute(SOME["implied_on_time"], touched)
    await conn.execute(AS_OF_SOME["schedule"], business_date, touched)
    await conn.execute(SOME["installment_arrays"], touched)
    await conn.execute(AS_OF_SOME["loans"], business_date, touched)
    return touched


async def rebuild_all(conn: asyncpg.Connection, business_date: date) -> None:
    """Recompute every loan from the raw tables (a ``full`` sync, or a repair)."""
    for name in ("cumulative", "schedule_state", "payment_state", "implied_on_time"):
        await conn.execute(ALL[name])
    await conn.execute(AS_OF_ALL["schedule"], business_date)
    await conn.execute(ALL["installment_arrays"])
    await conn.execute(AS_OF_ALL["loans"], business_date)


async def refresh_for_date(conn: asyncpg.Connection, business_date: date) -> None:
    """A new business date: state is date-independent, so only the as-of fields move."""
    await conn.execute(AS_OF_ALL["schedule"], business_date)
    await conn.execute(AS_OF_ALL["loans"], business_date)
