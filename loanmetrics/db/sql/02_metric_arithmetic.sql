-- Arithmetic the metric engine's generated SQL calls (db/metric_sql.py): exact ratios, exact
-- fractions for the rounded scores, clamping, and the mid-month date. Nothing here spells a
-- metric's definition (weights, neutral values, band thresholds, bucket edges): those are
-- generated from the metric registry (calculators/registry.py).
-- Applied by `loanmetrics migrate` after the Alembic migrations, whenever this file changes:
-- every statement must be safe to run again.

-- numerator / denominator at 40 decimal places; null when the denominator is 0.
CREATE OR REPLACE FUNCTION lm_ratio(n numeric, d numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d = 0 THEN NULL ELSE round(round(n, 40) / d, 40) END
$$;

-- c(x): x clamped to [0, 1].
CREATE OR REPLACE FUNCTION lm_clamp(x numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT greatest(0, least(1, x)) $$;

-- Exact rational arithmetic for the rounded scores: a 40-digit decimal sum can land a hair below
-- an exact .5 (15 * 1/6 = 2.5), so risk score and DQI add fractions of integers instead.
-- A penalty term weight * c(n / d) as the fraction [numerator, denominator]; ``shortfall``: the
-- term of 1 - n / d instead.
CREATE OR REPLACE FUNCTION lm_term(weight integer, n numeric, d numeric, shortfall boolean) RETURNS numeric[]
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
$$;

-- Sum of fractions [n, d], [n, d], ... (flattened), reduced by their gcd as it goes.
CREATE OR REPLACE FUNCTION lm_fraction_sum(terms numeric[]) RETURNS numeric[]
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
$$;

-- round half up of a non-negative fraction num / den, exactly.
CREATE OR REPLACE FUNCTION lm_round_fraction(f numeric[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT div(2 * f[1] + f[2], 2 * f[2])::integer $$;

-- M: the latest 15th of a month on or before d (SPEC §5.5 par15_mid_month).
CREATE OR REPLACE FUNCTION lm_mid_month(d date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN extract(day FROM d) >= 15 THEN date_trunc('month', d)::date + 14
              ELSE (date_trunc('month', d) - interval '1 month')::date + 14 END
$$;
