-- Loan-state functions: SPEC §5.1-5.3 on the per-loan state arrays of loan_state.
-- Plain SQL functions (the planner inlines them: no per-row call overhead), so every statement
-- that needs "paid by D", "DPD on D" or "outstanding on D" spells the same definition.
-- Applied by `loanmetrics migrate` after the Alembic migrations, whenever this file changes:
-- every statement must be safe to run again (CREATE OR REPLACE; DROP ... IF EXISTS first to
-- change a signature or a return type).

-- Index into the payment arrays: how many payment dates fall on or before d.
CREATE OR REPLACE FUNCTION lm_pay_index(pay_dates date[], d date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT width_bucket(d, pay_dates) $$;

-- The settlement level on d in cents: paid(L, d), the cumulative coverage of the non-reversed
-- repayments dated on or before d, or -1 before the first of them (an installment settles only
-- at a payment date, so even a threshold of 0 is not met before any repayment).
CREATE OR REPLACE FUNCTION lm_paid_c(pay_dates date[], pay_cum bigint[], d date) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(pay_cum[width_bucket(d, pay_dates)], -1) $$;

-- DPD(L, d): settled installments are a prefix (paid only grows, thresholds C_i - 1 cent ascend),
-- so the oldest unsettled due date is the suffix minimum after the settled prefix.
CREATE OR REPLACE FUNCTION lm_dpd(settle_thresholds bigint[], suffix_min_due date[], paid_c bigint, d date)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(0, d - suffix_min_due[width_bucket(paid_c, settle_thresholds) + 1])
$$;

-- total_out(L, d) in cents, from the component totals due and the cumulative components paid
-- through payment index i (i = lm_pay_index(pay_dates, d)).
CREATE OR REPLACE FUNCTION lm_total_out_c(
  principal_c bigint, interest_due_c bigint, fee_due_c bigint,
  pay_cum_principal bigint[], pay_cum_interest bigint[], pay_cum_fees bigint[], i integer
) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(0, principal_c - coalesce(pay_cum_principal[i], 0))
       + greatest(0, interest_due_c - coalesce(pay_cum_interest[i], 0))
       + greatest(0, fee_due_c - coalesce(pay_cum_fees[i], 0))
$$;

-- alloc_i(t): the part of installment i covered when paid(L, t) = paid_c, with C_i = cum_c.
CREATE OR REPLACE FUNCTION lm_alloc_c(total_c bigint, cum_c bigint, paid_c bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN paid_c >= cum_c - 1 THEN total_c
              ELSE least(total_c, greatest(0, paid_c - (cum_c - total_c))) END
$$;

-- Active on d: disbursed on or before d and not closed on or before d.
CREATE OR REPLACE FUNCTION lm_active(disbursement_date date, closed_date date, d date) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT disbursement_date <= d AND (closed_date IS NULL OR closed_date > d)
$$;

-- lm_sum_c(bigint): a sum of integer cents that stays a bigint. The loan-state statements build
-- running sums of cents over every repayment and installment of the loans a batch touches;
-- sum(bigint) accumulates and returns numeric (then cast back), built for every row of a running
-- window sum. int8pl as the transition keeps the state a plain bigint, exact, and raises on
-- overflow like the cast did. NULL inputs are skipped and an all-NULL group gives NULL, as with sum.
CREATE OR REPLACE AGGREGATE lm_sum_c(bigint) (
  sfunc = int8pl, stype = bigint, combinefunc = int8pl, parallel = safe
);
