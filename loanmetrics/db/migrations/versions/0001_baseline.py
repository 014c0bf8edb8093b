"""Baseline: the whole schema of the first release, in one migration.

The development migrations 0001-0013 were squashed into this one before any release; a database
still carrying one of their revision ids is refused by ``loanmetrics migrate`` and ``serve``
(``db/migrate.py``: ``SQUASHED_REVISIONS``). The tables are created exactly as that chain left
them, column order included (``tests/test_migrations.py`` compares ``pg_dump --schema-only`` of
the two). The SQL functions (``lm_*``) are not part of any migration: they live in the versioned
files of ``db/sql/``, which ``migrate`` applies after the migrations.

Decisions the chain recorded, kept here where they shape the DDL:
- ``loan_schedule``, ``repayments`` and ``loan_state`` reference ``loans``, and ``loans``
  references ``officers`` and ``customers``, without foreign-key constraints: a foreign key is a
  per-row trigger (about 50 ms of a 10k-record batch per child table, 30 ms of a batch of 770
  new loans for the two on ``loans``). Ingestion is the only writer of these tables, checks every
  reference inside the batch's transaction under the ingestion lock, creates the minimal officer
  and customer a loan names just before the loan, and nothing deletes loans, officers or
  customers, so a reference cannot dangle.
- Planner hints: per-batch statements probe ``loan_schedule`` and ``repayments`` by loan id, and
  ANALYZE's sample misjudges rows per loan while a bulk load grows the tables (index probes
  flipped into full scans); a fixed ratio of distinct loan ids to rows (about 20 installments
  and 10 repayments per loan) keeps the estimate right at any size.
- Drilldown pages come in their default order straight from partial indexes (FIMR: newest
  disbursement first; early indicators and an officer's loans: DPD, balance), so a page is an
  index scan of ``first`` entries. No other index on ``loans``, ``loan_schedule`` or
  ``repayments``: every insert of a batch pays for each one.
- ``metric_fine_daily`` keeps, per calculated date (``metric_calculated_dates``) and (officer,
  branch, region), the loan count and every additive component in integer cents: the daily rows
  are its roll-ups, and incremental runs add per-loan deltas to it. ``loan_state_prior`` holds the
  before-images ingestion writes for the loans a batch touches.
- ``loan_tag_counts``: tagged loans per (officer, branch, region), the drilldowns' totals.
- ``metrics_generation``: one counter per kind of writer, bumped inside each write's own
  transaction (a sequence bumped after the commit could be lost, and ``nextval`` is not
  transactional); the generation the response cache keys on is their sum.
- ``applied_sql_files``: which version (SHA-256) of each ``db/sql/`` file the database holds.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPS = """created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now()"""

# The daily-metric columns of officer_metrics_daily and branch_metrics_daily (SPEC §3), in the
# order the development chain left them: portfolio at risk was added last.
METRIC_COLUMNS = f"""period_start date NOT NULL,
    total_portfolio numeric(15,2) NOT NULL,
    overdue_15d_amount numeric(15,2) NOT NULL,
    dpd_1to6_balance numeric(15,2) NOT NULL,
    amount_due_7d numeric(15,2) NOT NULL,
    prev_dpd_1to6_balance numeric(15,2) NOT NULL,
    moved_to_7to30 numeric(15,2) NOT NULL,
    par15_mid_month numeric(15,2) NOT NULL,
    disbursed_amount numeric(15,2) NOT NULL,
    fees_collected numeric(15,2) NOT NULL,
    fees_due numeric(15,2) NOT NULL,
    interest_collected numeric(15,2) NOT NULL,
    total_yield numeric(15,2) NOT NULL,
    on_time_paid numeric(15,2) NOT NULL,
    on_time_due numeric(15,2) NOT NULL,
    waivers_amount numeric(15,2) NOT NULL,
    active_loans integer NOT NULL,
    overdue_15d_count integer NOT NULL,
    disbursed_count integer NOT NULL,
    fimr_cohort_count integer NOT NULL,
    first_miss_count integer NOT NULL,
    all_time_fimr_cohort_count integer NOT NULL,
    all_time_first_miss_count integer NOT NULL,
    total_entries integer NOT NULL,
    backdated_count integer NOT NULL,
    reversals_count integer NOT NULL,
    channel_pure_count integer NOT NULL,
    porr numeric(20,6),
    d06_slippage numeric(20,6),
    roll numeric(20,6),
    channel_purity numeric(20,6),
    fimr numeric(20,6),
    all_time_fimr numeric(20,6),
    frr numeric(20,6),
    ayr numeric(20,6),
    on_time_rate numeric(20,6),
    bucket_0_count integer NOT NULL,
    bucket_0_balance numeric(15,2) NOT NULL,
    bucket_1_6_count integer NOT NULL,
    bucket_1_6_balance numeric(15,2) NOT NULL,
    bucket_7_30_count integer NOT NULL,
    bucket_7_30_balance numeric(15,2) NOT NULL,
    bucket_31_60_count integer NOT NULL,
    bucket_31_60_balance numeric(15,2) NOT NULL,
    bucket_61_90_count integer NOT NULL,
    bucket_61_90_balance numeric(15,2) NOT NULL,
    bucket_90_plus_count integer NOT NULL,
    bucket_90_plus_balance numeric(15,2) NOT NULL,
    had_float_gap boolean NOT NULL,
    risk_score integer NOT NULL,
    risk_band text NOT NULL,
    dqi integer NOT NULL,
    dqi_band text NOT NULL,
    calculated_at timestamp with time zone NOT NULL DEFAULT now(),
    {TIMESTAMPS},
    gross_loan_portfolio numeric(15,2) NOT NULL,
    par1_amount numeric(15,2) NOT NULL,
    par1_count integer NOT NULL,
    par1 numeric(20,6),
    par30_amount numeric(15,2) NOT NULL,
    par30_count integer NOT NULL,
    par30 numeric(20,6),
    par60_amount numeric(15,2) NOT NULL,
    par60_count integer NOT NULL,
    par60 numeric(20,6),
    par90_amount numeric(15,2) NOT NULL,
    par90_count integer NOT NULL,
    par90 numeric(20,6)"""

# The maintained per-loan state (db/loan_state.py); loan_state_prior repeats it, nullable.
LOAN_STATE_COLUMNS = (
    ("officer_id", "text"), ("branch", "text"), ("region", "text"), ("channel", "text"),
    ("disbursement_date", "date"), ("closed_date", "date"), ("principal_c", "bigint"), ("interest_due_c", "bigint"),
    ("fee_due_c", "bigint"), ("implied", "boolean"), ("first_due_date", "date"), ("settle_thresholds", "bigint[]"),
    ("suffix_min_due", "date[]"), ("pay_dates", "date[]"), ("pay_cum", "bigint[]"), ("pay_cum_principal", "bigint[]"),
    ("pay_cum_interest", "bigint[]"), ("pay_cum_fees", "bigint[]"), ("first_received_date", "date"),
    ("pay_cum_waivers", "bigint[]"), ("entry_dates", "date[]"), ("entry_cum", "integer[]"),
    ("entry_backdated_cum", "integer[]"), ("entry_reversed_cum", "integer[]"), ("due_dates", "date[]"),
    ("due_fee_cum", "bigint[]"), ("due_total_cum", "bigint[]"), ("due_on_time_cum", "bigint[]"),
    ("due_total", "bigint[]"), ("due_cumulative", "bigint[]"),
)
NULLABLE_STATE = {"closed_date", "first_due_date", "first_received_date"}
EMPTY_BY_DEFAULT = {"pay_cum_waivers", "entry_dates", "entry_cum", "entry_backdated_cum", "entry_reversed_cum",
                    "due_dates", "due_fee_cum", "due_total_cum", "due_on_time_cum", "due_total", "due_cumulative"}


def _state_column(name: str, kind: str) -> str:
    nullable = "" if name in NULLABLE_STATE else " NOT NULL"
    default = " DEFAULT '{}'" if name in EMPTY_BY_DEFAULT else ""
    return f"{name} {kind}{nullable}{default}"


FINE_COMPONENTS = (
    "loans", "active_loans", "overdue_15d_count", "disbursed_count", "fimr_cohort_count", "first_miss_count",
    "all_time_fimr_cohort_count", "all_time_first_miss_count", "total_entries", "backdated_count",
    "reversals_count", "channel_pure_count", "par15_mid_month_count", "bucket_0_count", "bucket_1_6_count",
    "bucket_7_30_count", "bucket_31_60_count", "bucket_61_90_count", "bucket_90_plus_count", "total_portfolio",
    "overdue_15d_amount", "dpd_1to6_balance", "amount_due_7d", "prev_dpd_1to6_balance", "moved_to_7to30",
    "par15_mid_month", "disbursed_amount", "fees_collected", "fees_due", "interest_collected", "total_yield",
    "on_time_paid", "on_time_due", "waivers_amount", "bucket_0_balance", "bucket_1_6_balance",
    "bucket_7_30_balance", "bucket_31_60_balance", "bucket_61_90_balance", "bucket_90_plus_balance",
)
FINE_PAR = ("gross_loan_portfolio", "par1_amount", "par1_count", "par30_amount", "par30_count", "par60_amount",
            "par60_count", "par90_amount", "par90_count")

SEPARATOR = ",\n    "

FIMR_ORDER = "disbursement_date DESC NULLS LAST, total_outstanding DESC NULLS LAST, loan_id"
EARLY_ORDER = "current_dpd DESC NULLS LAST, total_outstanding DESC NULLS LAST, loan_id"

TABLES = (
    f"""CREATE TABLE officers (
    officer_id text PRIMARY KEY,
    officer_name text NOT NULL,
    officer_phone text,
    officer_email text,
    region text NOT NULL,
    branch text NOT NULL,
    employment_status text NOT NULL DEFAULT 'Active',
    hire_date date,
    termination_date date,
    primary_channel text,
    had_float_gap boolean NOT NULL DEFAULT false,
    {TIMESTAMPS}
)""",
    "CREATE INDEX ix_officers_branch ON officers (branch)",
    "CREATE INDEX ix_officers_region ON officers (region)",
    f"""CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    customer_name text NOT NULL,
    customer_phone text,
    customer_email text,
    date_of_birth date,
    gender text,
    state text,
    lga text,
    address text,
    kyc_status text,
    kyc_verified_date date,
    {TIMESTAMPS}
)""",
    # customer_id and officer_id reference customers and officers; ensured by ingestion
    f"""CREATE TABLE loans (
    loan_id text PRIMARY KEY,
    customer_id text NOT NULL,
    customer_name text NOT NULL,
    customer_phone text,
    officer_id text NOT NULL,
    officer_name text NOT NULL,
    officer_phone text,
    region text NOT NULL,
    branch text NOT NULL,
    state text,
    loan_amount numeric(15,2) NOT NULL,
    disbursement_date date NOT NULL,
    maturity_date date NOT NULL,
    loan_term_days integer NOT NULL,
    interest_rate numeric(12,8),
    fee_amount numeric(15,2),
    channel text NOT NULL,
    channel_partner text,
    status text NOT NULL,
    closed_date date,
    current_dpd integer NOT NULL DEFAULT '0',
    max_dpd_ever integer NOT NULL DEFAULT '0',
    first_payment_missed boolean NOT NULL DEFAULT false,
    first_payment_due_date date,
    first_payment_received_date date,
    principal_outstanding numeric(15,2) NOT NULL DEFAULT '0',
    interest_outstanding numeric(15,2) NOT NULL DEFAULT '0',
    fees_outstanding numeric(15,2) NOT NULL DEFAULT '0',
    total_outstanding numeric(15,2) NOT NULL DEFAULT '0',
    total_principal_paid numeric(15,2) NOT NULL DEFAULT '0',
    total_interest_paid numeric(15,2) NOT NULL DEFAULT '0',
    total_fees_paid numeric(15,2) NOT NULL DEFAULT '0',
    fimr_tagged boolean NOT NULL DEFAULT false,
    early_indicator_tagged boolean NOT NULL DEFAULT false,
    {TIMESTAMPS},
    CONSTRAINT ck_loans_status CHECK (status IN ('Active', 'Closed', 'Written Off')),
    CONSTRAINT ck_loans_amount_positive CHECK (loan_amount > 0),
    CONSTRAINT ck_loans_maturity CHECK (maturity_date >= disbursement_date),
    CONSTRAINT ck_loans_closed_date_matches_status CHECK ((status = 'Active') = (closed_date IS NULL))
)""",
    "CREATE INDEX ix_loans_branch ON loans (branch, disbursement_date)",
    "CREATE INDEX ix_loans_region ON loans (region)",
    f"CREATE INDEX ix_loans_officer_order ON loans (officer_id, {EARLY_ORDER})",
    f"CREATE INDEX ix_loans_fimr_order ON loans ({FIMR_ORDER}) WHERE fimr_tagged",
    f"CREATE INDEX ix_loans_fimr_officer ON loans (officer_id, {FIMR_ORDER}) WHERE fimr_tagged",
    f"CREATE INDEX ix_loans_early_order ON loans ({EARLY_ORDER}) WHERE early_indicator_tagged",
    f"CREATE INDEX ix_loans_early_officer ON loans (officer_id, {EARLY_ORDER}) WHERE early_indicator_tagged",
    # loan_id references loans; checked by ingestion
    f"""CREATE TABLE repayments (
    repayment_id text PRIMARY KEY,
    loan_id text NOT NULL,
    payment_date date NOT NULL,
    payment_amount numeric(15,2) NOT NULL,
    principal_paid numeric(15,2) NOT NULL,
    interest_paid numeric(15,2) NOT NULL,
    fees_paid numeric(15,2) NOT NULL,
    penalty_paid numeric(15,2),
    payment_method text NOT NULL,
    payment_reference text,
    payment_channel text,
    dpd_at_payment integer,
    is_backdated boolean NOT NULL DEFAULT false,
    is_reversed boolean NOT NULL DEFAULT false,
    reversal_date date,
    reversal_reason text,
    waiver_amount numeric(15,2),
    waiver_type text,
    waiver_approved_by text,
    {TIMESTAMPS}
)""",
    "CREATE INDEX ix_repayments_loan ON repayments (loan_id, payment_date)",
    "ALTER TABLE repayments ALTER COLUMN loan_id SET (n_distinct = -0.1)",
    # loan_id references loans; checked by ingestion. Room for HOT updates of the computed fields.
    f"""CREATE TABLE loan_schedule (
    loan_id text NOT NULL,
    installment_number integer NOT NULL,
    due_date date NOT NULL,
    principal_due numeric(15,2) NOT NULL,
    interest_due numeric(15,2) NOT NULL,
    fee_due numeric(15,2) NOT NULL,
    total_due numeric(15,2) NOT NULL,
    amount_paid numeric(15,2),
    payment_date date,
    payment_status text,
    cumulative_due numeric(15,2),
    paid_by_due_date numeric(15,2),
    {TIMESTAMPS},
    CONSTRAINT pk_loan_schedule PRIMARY KEY (loan_id, installment_number),
    CONSTRAINT ck_schedule_status CHECK (payment_status IN ('Pending', 'Partial', 'Paid', 'Overdue'))
) WITH (fillfactor = 85)""",
    "ALTER TABLE loan_schedule ALTER COLUMN loan_id SET (n_distinct = -0.05)",
    f"""CREATE TABLE loan_state (
    loan_id text PRIMARY KEY,
    {SEPARATOR.join(_state_column(name, kind) for name, kind in LOAN_STATE_COLUMNS)},
    updated_at timestamp with time zone NOT NULL DEFAULT now()
) WITH (fillfactor = 80)""",
    "CREATE INDEX ix_loan_state_officer ON loan_state (officer_id)",
    "CREATE INDEX ix_loan_state_branch ON loan_state (branch)",
    f"""CREATE TABLE loan_state_prior (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    existed boolean NOT NULL,
    loan_id text NOT NULL,
    {SEPARATOR.join(f"{name} {kind}" for name, kind in LOAN_STATE_COLUMNS)},
    created_at timestamp with time zone NOT NULL DEFAULT now()
)""",
    "CREATE INDEX ix_loan_state_prior_loan ON loan_state_prior (loan_id, id)",
    f"""CREATE TABLE loan_tag_counts (
    officer_id text NOT NULL,
    branch text NOT NULL,
    region text NOT NULL,
    fimr_count bigint NOT NULL,
    early_count bigint NOT NULL,
    {TIMESTAMPS},
    CONSTRAINT pk_loan_tag_counts PRIMARY KEY (officer_id, branch, region)
)""",
    f"""CREATE TABLE metric_fine_daily (
    calculation_date date NOT NULL,
    officer_id text NOT NULL,
    branch text NOT NULL,
    region text NOT NULL,
    {SEPARATOR.join(f"{name} bigint NOT NULL" for name in FINE_COMPONENTS)},
    {TIMESTAMPS},
    {SEPARATOR.join(f"{name} bigint NOT NULL" for name in FINE_PAR)},
    CONSTRAINT pk_metric_fine_daily PRIMARY KEY (calculation_date, officer_id, branch, region)
)""",
    "CREATE INDEX ix_metric_fine_daily_branch ON metric_fine_daily (branch, calculation_date)",
    f"""CREATE TABLE metric_calculated_dates (
    calculation_date date PRIMARY KEY,
    {TIMESTAMPS}
)""",
    """CREATE TABLE metric_dirty (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    officer_id text,
    branch text,
    region text,
    from_date date,
    sync_id text,
    created_at timestamp with time zone NOT NULL DEFAULT now()
)""",
    f"""CREATE TABLE metrics_generation (
    source text PRIMARY KEY,
    generation bigint NOT NULL DEFAULT '0',
    {TIMESTAMPS}
)""",
    "INSERT INTO metrics_generation (source) VALUES ('ingestion'), ('audit'), ('recalculation'), ('loan_refresh')",
    f"""CREATE TABLE app_state (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    {TIMESTAMPS}
)""",
    f"""CREATE TABLE dpd_transitions (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    loan_id text NOT NULL REFERENCES loans (loan_id) ON DELETE CASCADE,
    officer_id text NOT NULL,
    branch text NOT NULL,
    transition_date date NOT NULL,
    from_dpd_bucket text NOT NULL,
    to_dpd_bucket text NOT NULL,
    outstanding_balance numeric(15,2) NOT NULL,
    {TIMESTAMPS},
    CONSTRAINT uq_dpd_transitions_loan_date UNIQUE (loan_id, transition_date)
)""",
    "CREATE INDEX ix_dpd_transitions_officer ON dpd_transitions (officer_id, transition_date)",
    "CREATE INDEX ix_dpd_transitions_date ON dpd_transitions (transition_date)",
    f"""CREATE TABLE par15_snapshots (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    officer_id text NOT NULL,
    snapshot_date date NOT NULL,
    par15_exposure numeric(15,2) NOT NULL,
    par15_count integer NOT NULL,
    {TIMESTAMPS},
    CONSTRAINT uq_par15_officer_date UNIQUE (officer_id, snapshot_date)
)""",
    "CREATE INDEX ix_par15_date ON par15_snapshots (snapshot_date)",
    f"""CREATE TABLE officer_metrics_daily (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    officer_id text NOT NULL,
    calculation_date date NOT NULL,
    {METRIC_COLUMNS},
    CONSTRAINT uq_officer_metrics_daily UNIQUE (officer_id, calculation_date)
)""",
    "CREATE INDEX ix_officer_metrics_daily_date ON officer_metrics_daily (calculation_date, risk_score)",
    f"""CREATE TABLE branch_metrics_daily (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    branch text NOT NULL,
    calculation_date date NOT NULL,
    region text NOT NULL,
    total_officers integer NOT NULL,
    {METRIC_COLUMNS},
    CONSTRAINT uq_branch_metrics_daily UNIQUE (branch, calculation_date)
)""",
    "CREATE INDEX ix_branch_metrics_daily_date ON branch_metrics_daily (calculation_date)",
    f"""CREATE TABLE team_members (
    member_id text PRIMARY KEY,
    member_name text NOT NULL,
    member_email text,
    member_phone text,
    role text,
    department text,
    is_active boolean NOT NULL DEFAULT true,
    {TIMESTAMPS}
)""",
    f"""CREATE TABLE audit_tracking (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    officer_id text NOT NULL UNIQUE REFERENCES officers (officer_id),
    assignee_id text REFERENCES team_members (member_id),
    assignee_name text,
    assigned_date timestamp with time zone,
    audit_status text NOT NULL DEFAULT 'Not Assigned',
    status_changed_date timestamp with time zone,
    last_audit_date date,
    audit_notes text,
    risk_level text,
    action_type text,
    action_date timestamp with time zone,
    action_notes text,
    version integer NOT NULL DEFAULT '0',
    {TIMESTAMPS},
    CONSTRAINT ck_audit_status CHECK (audit_status IN ('Not Assigned', 'Assigned', 'In Progress', 'Resolved'))
)""",
    "CREATE INDEX ix_audit_tracking_status ON audit_tracking (audit_status)",
    f"""CREATE TABLE audit_actions (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    officer_id text NOT NULL REFERENCES officers (officer_id),
    action_kind text NOT NULL,
    action_type text NOT NULL,
    actor text,
    action_date timestamp with time zone NOT NULL DEFAULT now(),
    from_status text,
    to_status text,
    assignee_id text,
    notes text,
    {TIMESTAMPS}
)""",
    "CREATE INDEX ix_audit_actions_officer ON audit_actions (officer_id, action_date)",
    f"""CREATE TABLE metric_calculation_log (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    calculation_type text NOT NULL,
    calculation_date date NOT NULL,
    start_date date,
    start_time timestamp with time zone NOT NULL DEFAULT now(),
    end_time timestamp with time zone,
    duration numeric(12,3),
    records_processed integer NOT NULL DEFAULT '0',
    records_updated integer NOT NULL DEFAULT '0',
    records_failed integer NOT NULL DEFAULT '0',
    status text NOT NULL DEFAULT 'Running',
    error_message text,
    {TIMESTAMPS},
    CONSTRAINT ck_calc_log_status CHECK (status IN ('Running', 'Completed', 'Failed'))
)""",
    "CREATE INDEX ix_calc_log_start ON metric_calculation_log (start_time)",
    """CREATE TABLE applied_sql_files (
    file text PRIMARY KEY,
    sha256 text NOT NULL,
    applied_at timestamp with time zone NOT NULL DEFAULT now()
)""",
)

DROPPED = (
    "applied_sql_files", "metric_calculation_log", "audit_actions", "audit_tracking", "team_members",
    "branch_metrics_daily", "officer_metrics_daily", "par15_snapshots", "dpd_transitions", "app_state",
    "metrics_generation", "metric_dirty", "metric_calculated_dates", "metric_fine_daily", "loan_tag_counts",
    "loan_state_prior", "loan_state", "loan_schedule", "repayments", "loans", "customers", "officers",
)


def upgrade() -> None:
    for statement in TABLES:
        op.execute(statement)


def downgrade() -> None:
    for table in DROPPED:
        op.execute(f"DROP TABLE {table}")
