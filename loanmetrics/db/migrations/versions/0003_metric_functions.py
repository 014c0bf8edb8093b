"""Metric-engine SQL: effective installments, ratios, risk score, DQI, bands, metrics generation.

SPEC §5.5-5.6 as plain SQL functions (inlined by the planner). Ratios divide at 40 decimal
places; bands compare numerator and denominator exactly (n <= t * d), never a rounded value.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATEMENTS = [
    # Every installment that counts (SPEC §5.1-5.2), schedule rows with total_due > 0 and the implied
    # bullet installment of loans without schedule rows, in cents, with C_i and alloc_i(due_date_i).
    """
    CREATE VIEW effective_installments AS
    SELECT loan_id, due_date,
           (total_due * 100)::bigint AS total_c,
           (fee_due * 100)::bigint AS fee_c,
           (cumulative_due * 100)::bigint AS cum_c,
           (paid_by_due_date * 100)::bigint AS paid_by_due_c
    FROM loan_schedule
    WHERE total_due > 0
    UNION ALL
    SELECT loan_id, implied_due_date, implied_total_due_c, implied_fee_due_c, implied_total_due_c,
           implied_paid_by_due_c
    FROM loan_state
    WHERE implied
    """,
    # numerator / denominator at 40 decimal places; null when the denominator is 0.
    """
    CREATE FUNCTION lm_ratio(n numeric, d numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN d = 0 THEN NULL ELSE round(round(n, 40) / d, 40) END
    $$
    """,
    # c(x): x clamped to [0, 1].
    """
    CREATE FUNCTION lm_clamp(x numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT greatest(0, least(1, x)) $$
    """,
    # The nine penalty inputs of SPEC §5.6, in order (neutral values for null ratios).
    """
    CREATE FUNCTION lm_penalty_inputs(
      porr_n numeric, porr_d numeric, fimr_n numeric, fimr_d numeric, roll_n numeric, roll_d numeric,
      waivers numeric, due_7d numeric, backdated numeric, reversals numeric, entries numeric,
      fees_collected numeric, fees_due numeric, pure numeric, active numeric, float_gap boolean
    ) RETURNS numeric[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT ARRAY[
        coalesce(lm_ratio(porr_n, porr_d), 0),
        coalesce(lm_ratio(fimr_n, fimr_d), 0),
        coalesce(lm_ratio(roll_n, roll_d), 0),
        coalesce(lm_ratio(waivers, due_7d), 0),
        coalesce(lm_ratio(backdated, entries), 0),
        coalesce(lm_ratio(reversals, entries), 0),
        1 - coalesce(lm_ratio(fees_collected, fees_due), 1),
        1 - coalesce(lm_ratio(pure, active), 1),
        CASE WHEN float_gap THEN 1 ELSE 0 END
      ]::numeric[]
    $$
    """,
    # Points per penalty: weight * c(input).
    """
    CREATE FUNCTION lm_penalty_points(inputs numeric[]) RETURNS numeric[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT ARRAY[20 * lm_clamp(inputs[1]), 15 * lm_clamp(inputs[2]), 10 * lm_clamp(inputs[3]),
                   10 * lm_clamp(inputs[4]), 10 * lm_clamp(inputs[5]), 10 * lm_clamp(inputs[6]),
                   10 * lm_clamp(inputs[7]), 5 * lm_clamp(inputs[8]), 10 * lm_clamp(inputs[9])]::numeric[]
    $$
    """,
    # Exact rational arithmetic for the rounded scores: a 40-digit decimal sum can land a hair
    # below an exact .5 (15 * 1/6 = 2.5), so risk score and DQI add fractions of integers instead.
    # A penalty term weight * c(n / d) as the fraction [numerator, denominator].
    """
    CREATE FUNCTION lm_term(weight integer, n numeric, d numeric, shortfall boolean) RETURNS numeric[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE
        WHEN d = 0 THEN ARRAY[0, 1]
        WHEN NOT shortfall AND n <= 0 THEN ARRAY[0, 1]
        WHEN NOT shortfall AND n >= d THEN ARRAY[weight, 1]
        WHEN NOT shortfall THEN ARRAY[weight * n, d]
        WHEN d - n <= 0 THEN ARRAY[0, 1]
        WHEN n <= 0 THEN ARRAY[weight, 1]
        ELSE ARRAY[weight * (d - n), d]
      END::numeric[]
    $$
    """,
    # Sum of fractions [n, d], [n, d], ... (flattened), reduced by their gcd as it goes.
    """
    CREATE FUNCTION lm_fraction_sum(terms numeric[]) RETURNS numeric[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
    DECLARE
      num numeric := 0;
      den numeric := 1;
      g numeric;
    BEGIN
      FOR i IN 1 .. coalesce(array_length(terms, 1), 0) / 2 LOOP
        num := num * terms[2 * i] + terms[2 * i - 1] * den;
        den := den * terms[2 * i];
        g := gcd(num, den);
        IF g > 1 THEN
          num := num / g;
          den := den / g;
        END IF;
      END LOOP;
      RETURN ARRAY[num, den];
    END
    $$
    """,
    # round half up of a non-negative fraction num / den, exactly.
    """
    CREATE FUNCTION lm_round_fraction(f numeric[]) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT div(2 * f[1] + f[2], 2 * f[2])::integer $$
    """,
    # risk_score = max(0, round(100 - penalties)) (SPEC §5.6), money in integer cents.
    """
    CREATE FUNCTION lm_risk_score(
      porr_n numeric, porr_d numeric, fimr_n numeric, fimr_d numeric, roll_n numeric, roll_d numeric,
      waivers numeric, due_7d numeric, backdated numeric, reversals numeric, entries numeric,
      fees_collected numeric, fees_due numeric, pure numeric, active numeric, float_gap boolean
    ) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT greatest(0, lm_round_fraction(ARRAY[100 * p[2] - p[1], p[2]]))
      FROM (SELECT lm_fraction_sum(
              lm_term(20, porr_n, porr_d, false) || lm_term(15, fimr_n, fimr_d, false)
              || lm_term(10, roll_n, roll_d, false) || lm_term(10, waivers, due_7d, false)
              || lm_term(10, backdated, entries, false) || lm_term(10, reversals, entries, false)
              || lm_term(10, fees_collected, fees_due, true) || lm_term(5, pure, active, true)
              || ARRAY[CASE WHEN float_gap THEN 10 ELSE 0 END, 1]::numeric[]) AS p) penalties
    $$
    """,
    # DQI = round(100 (0.4 c(RQ) + 0.35 c(OTI) + 0.25 (1 - c(FIMR))) CP'), RQ = risk_score / 100,
    # neutral OTI 1 and FIMR 0; CP' = c(CP) (1 without active loans), or 1 when the toggle is off.
    """
    CREATE FUNCTION lm_dqi(risk_score integer, oti_n numeric, oti_d numeric, fimr_n numeric, fimr_d numeric,
                           pure numeric, active numeric, purity_counts boolean) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT lm_round_fraction(ARRAY[q[1] * cp[1], q[2] * cp[2]])
      FROM (SELECT lm_fraction_sum(
                     ARRAY[2 * least(greatest(risk_score, 0), 100), 5]::numeric[]
                     || CASE WHEN oti_d = 0 THEN ARRAY[35, 1]::numeric[]
                             ELSE lm_term(35, oti_n, oti_d, false) END
                     || CASE WHEN fimr_d = 0 THEN ARRAY[25, 1]::numeric[]
                             ELSE lm_term(25, fimr_n, fimr_d, true) END) AS q,
                   CASE WHEN NOT purity_counts OR active = 0 OR pure >= active THEN ARRAY[1, 1]::numeric[]
                        WHEN pure <= 0 THEN ARRAY[0, 1]::numeric[]
                        ELSE ARRAY[pure, active]::numeric[] END AS cp) parts
    $$
    """,
    # Bands where lower is better (FIMR, slippage, roll): exact comparison n <= t * d.
    """
    CREATE FUNCTION lm_band_at_most(n numeric, d numeric, green numeric, watch numeric) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN d = 0 THEN NULL WHEN n <= green * d THEN 'Green' WHEN n <= watch * d THEN 'Watch'
                  ELSE 'Flag' END
    $$
    """,
    # Bands where higher is better (AYR): exact comparison n >= t * d.
    """
    CREATE FUNCTION lm_band_at_least(n numeric, d numeric, green numeric, watch numeric) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN d = 0 THEN NULL WHEN n >= green * d THEN 'Green' WHEN n >= watch * d THEN 'Watch'
                  ELSE 'Flag' END
    $$
    """,
    """
    CREATE FUNCTION lm_risk_band(score integer, green integer, watch integer, amber integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN score >= green THEN 'Green' WHEN score >= watch THEN 'Watch'
                  WHEN score >= amber THEN 'Amber' ELSE 'Red' END
    $$
    """,
    """
    CREATE FUNCTION lm_dqi_band(dqi integer, green integer, watch integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN dqi >= green THEN 'Green' WHEN dqi >= watch THEN 'Watch' ELSE 'Flag' END
    $$
    """,
    # M: the latest 15th of a month on or before d (SPEC §5.5 par15_mid_month).
    """
    CREATE FUNCTION lm_mid_month(d date) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN extract(day FROM d) >= 15 THEN date_trunc('month', d)::date + 14
                  ELSE (date_trunc('month', d) - interval '1 month')::date + 14 END
    $$
    """,
    # Bumped after every committed write that changes what readers see; the cache keys on it.
    "CREATE SEQUENCE metrics_generation",
]

DROPS = [
    "DROP SEQUENCE IF EXISTS metrics_generation",
    "DROP FUNCTION IF EXISTS lm_mid_month(date)",
    "DROP FUNCTION IF EXISTS lm_dqi_band(integer, integer, integer)",
    "DROP FUNCTION IF EXISTS lm_risk_band(integer, integer, integer, integer)",
    "DROP FUNCTION IF EXISTS lm_band_at_least(numeric, numeric, numeric, numeric)",
    "DROP FUNCTION IF EXISTS lm_band_at_most(numeric, numeric, numeric, numeric)",
    "DROP FUNCTION IF EXISTS lm_dqi(integer, numeric, numeric, numeric, numeric, numeric, numeric, boolean)",
    "DROP FUNCTION IF EXISTS lm_risk_score(numeric, numeric, numeric, numeric, numeric, numeric, numeric,"
    " numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, boolean)",
    "DROP FUNCTION IF EXISTS lm_round_fraction(numeric[])",
    "DROP FUNCTION IF EXISTS lm_fraction_sum(numeric[])",
    "DROP FUNCTION IF EXISTS lm_term(integer, numeric, numeric, boolean)",
    "DROP FUNCTION IF EXISTS lm_penalty_points(numeric[])",
    "DROP FUNCTION IF EXISTS lm_penalty_inputs(numeric, numeric, numeric, numeric, numeric, numeric, numeric,"
    " numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, boolean)",
    "DROP FUNCTION IF EXISTS lm_clamp(numeric)",
    "DROP FUNCTION IF EXISTS lm_ratio(numeric, numeric)",
    "DROP VIEW IF EXISTS effective_installments",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROPS:
        op.execute(statement)
