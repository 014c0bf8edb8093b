"""SQLAlchemy table definitions: the schema of SPEC §3 plus the engine's own state tables.

The migrations in ``db/migrations`` are the source of truth for the database; these definitions
mirror them for typed queries and for the drift test that compares the two (column order aside:
every statement names its columns).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from loanmetrics.calculators import registry

metadata = MetaData()

MONEY = Numeric(15, 2)  # one record's amount (ingestion bounds it by MAX_MONEY)
SUM_MONEY = Numeric(20, 2)  # a sum over loans: the daily tables and PAR15 snapshots (migration 0002)
RATIO = Numeric(20, 6)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


officers = Table(
    "officers",
    metadata,
    Column("officer_id", Text, primary_key=True),
    Column("officer_name", Text, nullable=False),
    Column("officer_phone", Text),
    Column("officer_email", Text),
    Column("region", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("employment_status", Text, nullable=False, server_default="Active"),
    Column("hire_date", Date),
    Column("termination_date", Date),
    Column("primary_channel", Text),
    Column("had_float_gap", Boolean, nullable=False, server_default=text("false")),
    *_timestamps(),
    Index("ix_officers_branch", "branch"),
    Index("ix_officers_region", "region"),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("customer_name", Text, nullable=False),
    Column("customer_phone", Text),
    Column("customer_email", Text),
    Column("date_of_birth", Date),
    Column("gender", Text),
    Column("state", Text),
    Column("lga", Text),
    Column("address", Text),
    Column("kyc_status", Text),
    Column("kyc_verified_date", Date),
    *_timestamps(),
)

loans = Table(
    "loans",
    metadata,
    Column("loan_id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),  # references customers; ensured by ingestion (no FK)
    Column("customer_name", Text, nullable=False),
    Column("customer_phone", Text),
    Column("officer_id", Text, nullable=False),  # references officers; ensured by ingestion (no FK)
    Column("officer_name", Text, nullable=False),
    Column("officer_phone", Text),
    Column("region", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("state", Text),
    Column("loan_amount", MONEY, nullable=False),
    Column("disbursement_date", Date, nullable=False),
    Column("maturity_date", Date, nullable=False),
    Column("loan_term_days", Integer, nullable=False),
    Column("interest_rate", Numeric(12, 8)),
    Column("fee_amount", MONEY),
    Column("channel", Text, nullable=False),
    Column("channel_partner", Text),
    Column("status", Text, nullable=False),
    Column("closed_date", Date),
    # computed as of the business date (SPEC §5.8)
    Column("current_dpd", Integer, nullable=False, server_default="0"),
    Column("max_dpd_ever", Integer, nullable=False, server_default="0"),
    Column("first_payment_missed", Boolean, nullable=False, server_default=text("false")),
    Column("first_payment_due_date", Date),
    Column("first_payment_received_date", Date),
    Column("principal_outstanding", MONEY, nullable=False, server_default="0"),
    Column("interest_outstanding", MONEY, nullable=False, server_default="0"),
    Column("fees_outstanding", MONEY, nullable=False, server_default="0"),
    Column("total_outstanding", MONEY, nullable=False, server_default="0"),
    Column("total_principal_paid", MONEY, nullable=False, server_default="0"),
    Column("total_interest_paid", MONEY, nullable=False, server_default="0"),
    Column("total_fees_paid", MONEY, nullable=False, server_default="0"),
    Column("fimr_tagged", Boolean, nullable=False, server_default=text("false")),
    Column("early_indicator_tagged", Boolean, nullable=False, server_default=text("false")),
    *_timestamps(),
    CheckConstraint("status IN ('Active', 'Closed', 'Written Off')", name="ck_loans_status"),
    CheckConstraint("loan_amount > 0", name="ck_loans_amount_positive"),
    CheckConstraint("maturity_date >= disbursement_date", name="ck_loans_maturity"),
    CheckConstraint(
        "(status = 'Active') = (closed_date IS NULL)", name="ck_loans_closed_date_matches_status"
    ),
    Index("ix_loans_officer_order", "officer_id", text("current_dpd DESC NULLS LAST"),
          text("total_outstanding DESC NULLS LAST"), "loan_id"),
    Index("ix_loans_branch", "branch", "disbursement_date"),
    Index("ix_loans_region", "region"),
    # drilldown pages in their default order
    *(
        Index(name, *lead, text(f"{first} DESC NULLS LAST"), text("total_outstanding DESC NULLS LAST"),
              "loan_id", postgresql_where=text(tag))
        for name, lead, first, tag in (
            ("ix_loans_fimr_order", (), "disbursement_date", "fimr_tagged"),
            ("ix_loans_fimr_officer", ("officer_id",), "disbursement_date", "fimr_tagged"),
            ("ix_loans_early_order", (), "current_dpd", "early_indicator_tagged"),
            ("ix_loans_early_officer", ("officer_id",), "current_dpd", "early_indicator_tagged"),
        )
    ),
)

repayments = Table(
    "repayments",
    metadata,
    Column("repayment_id", Text, primary_key=True),
    Column("loan_id", Text, nullable=False),  # references loans; checked by ingestion (no FK)
    Column("payment_date", Date, nullable=False),
    Column("payment_amount", MONEY, nullable=False),
    Column("principal_paid", MONEY, nullable=False),
    Column("interest_paid", MONEY, nullable=False),
    Column("fees_paid", MONEY, nullable=False),
    Column("penalty_paid", MONEY),
    Column("payment_method", Text, nullable=False),
    Column("payment_reference", Text),
    Column("payment_channel", Text),
    Column("dpd_at_payment", Integer),
    Column("is_backdated", Boolean, nullable=False, server_default=text("false")),
    Column("is_reversed", Boolean, nullable=False, server_default=text("false")),
    Column("reversal_date", Date),
    Column("reversal_reason", Text),
    Column("waiver_amount", MONEY),
    Column("waiver_type", Text),
    Column("waiver_approved_by", Text),
    *_timestamps(),
    Index("ix_repayments_loan", "loan_id", "payment_date"),
)

loan_schedule = Table(
    "loan_schedule",
    metadata,
    Column("loan_id", Text, nullable=False),  # references loans; checked by ingestion (no FK)
    Column("installment_number", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("principal_due", MONEY, nullable=False),
    Column("interest_due", MONEY, nullable=False),
    Column("fee_due", MONEY, nullable=False),
    Column("total_due", MONEY, nullable=False),
    # computed (SPEC §5.2), as of the business date; null on rows with total_due 0
    Column("amount_paid", MONEY),
    Column("payment_date", Date),
    Column("payment_status", Text),
    # engine state: C_i and alloc_i(due_date_i) (the on-time paid part), null on ignored rows
    Column("cumulative_due", MONEY),
    Column("paid_by_due_date", MONEY),
    *_timestamps(),
    PrimaryKeyConstraint("loan_id", "installment_number", name="pk_loan_schedule"),
    CheckConstraint(
        "payment_status IN ('Pending', 'Partial', 'Paid', 'Overdue')", name="ck_schedule_status"
    ),
    postgresql_with={"fillfactor": "85"},  # room for HOT updates of the computed fields
)

# Date-independent per-loan state read by the metric engine (ENGINEERING.md: one date from this
# state is 7x faster than from the raw tables). Money in integer cents; arrays in installment
# order (schedule) and payment-date order (payments). Maintained with the loan in each batch.
loan_state = Table(
    "loan_state",
    metadata,
    Column("loan_id", Text, primary_key=True),  # a loan's id; written only with it (no FK)
    Column("officer_id", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("disbursement_date", Date, nullable=False),
    Column("closed_date", Date),
    Column("principal_c", BigInteger, nullable=False),
    Column("interest_due_c", BigInteger, nullable=False),
    Column("fee_due_c", BigInteger, nullable=False),
    Column("implied", Boolean, nullable=False),
    Column("first_due_date", Date),
    # settlement thresholds C_i - 1 cent, and min(due_date_j, j >= i)
    Column("settle_thresholds", ARRAY(BigInteger), nullable=False),
    Column("suffix_min_due", ARRAY(Date), nullable=False),
    # distinct dates of non-reversed repayments, cumulative coverage and components through each
    Column("pay_dates", ARRAY(Date), nullable=False),
    Column("pay_cum", ARRAY(BigInteger), nullable=False),
    Column("pay_cum_principal", ARRAY(BigInteger), nullable=False),
    Column("pay_cum_interest", ARRAY(BigInteger), nullable=False),
    Column("pay_cum_fees", ARRAY(BigInteger), nullable=False),
    Column("first_received_date", Date),
    Column("pay_cum_waivers", ARRAY(BigInteger), nullable=False, server_default="{}"),
    # every repayment date (reversed ones included) with cumulative entry, backdated and
    # reversal counts: the entry flows of SPEC §5.5
    Column("entry_dates", ARRAY(Date), nullable=False, server_default="{}"),
    Column("entry_cum", ARRAY(Integer), nullable=False, server_default="{}"),
    Column("entry_backdated_cum", ARRAY(Integer), nullable=False, server_default="{}"),
    Column("entry_reversed_cum", ARRAY(Integer), nullable=False, server_default="{}"),
    # effective installments in due-date order: due dates, cumulative fee, total and on-time paid
    # (alloc_i(due_date_i)), and per installment its total and C_i (installment-fee and OTI flows,
    # amount due in the next seven days)
    Column("due_dates", ARRAY(Date), nullable=False, server_default="{}"),
    Column("due_fee_cum", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("due_total_cum", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("due_on_time_cum", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("due_total", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("due_cumulative", ARRAY(BigInteger), nullable=False, server_default="{}"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_loan_state_officer", "officer_id"),
    Index("ix_loan_state_branch", "branch"),
    postgresql_with={"fillfactor": "80"},
)

# Tagged loans per (officer, branch, region): the drilldowns' totals, kept exact
# by the statements that change a loan's tags or its group.
loan_tag_counts = Table(
    "loan_tag_counts",
    metadata,
    Column("officer_id", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("region", Text, nullable=False),
    Column("fimr_count", BigInteger, nullable=False),
    Column("early_count", BigInteger, nullable=False),
    *_timestamps(),
    PrimaryKeyConstraint("officer_id", "branch", "region", name="pk_loan_tag_counts"),
)

# Before-images of loan_state, written by ingestion for every loan a batch touches (``existed``
# false for a loan the batch created); the incremental recalculation subtracts the earliest one's
# per-loan values and adds the current state's, then deletes the rows it used.
loan_state_prior = Table(
    "loan_state_prior",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("existed", Boolean, nullable=False),
    *(Column(column.name, column.type, nullable=column.name != "loan_id")
      for column in loan_state.columns if column.name != "updated_at"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_loan_state_prior_loan", "loan_id", "id"),
)

# The metric engine's fine level per calculated date: loans and every additive component (money
# in integer cents) per (officer, branch, region); officer and branch rows are its roll-ups.
FINE_COMPONENTS = ("loans", *(c.name for c in registry.COMPONENTS))
metric_fine_daily = Table(
    "metric_fine_daily",
    metadata,
    Column("calculation_date", Date, nullable=False),
    Column("officer_id", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("region", Text, nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in FINE_COMPONENTS),
    *_timestamps(),
    PrimaryKeyConstraint("calculation_date", "officer_id", "branch", "region", name="pk_metric_fine_daily"),
    Index("ix_metric_fine_daily_branch", "branch", "calculation_date"),
)

# The dates whose fine groups metric_fine_daily keeps (a date with no loans yet has none).
metric_calculated_dates = Table(
    "metric_calculated_dates",
    metadata,
    Column("calculation_date", Date, primary_key=True),
    *_timestamps(),
)

# Change log written by ingestion in the batch's transaction; the incremental recalculation
# consumes it. One row per (officer, branch) touched with the earliest date whose metrics changed.
metric_dirty = Table(
    "metric_dirty",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("officer_id", Text),
    Column("branch", Text),
    Column("region", Text),
    Column("from_date", Date),
    Column("sync_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The metrics generation the response cache keys on: one counter per kind of writer, bumped in
# the write's own transaction (db/generation.py); the generation is their sum.
metrics_generation = Table(
    "metrics_generation",
    metadata,
    Column("source", Text, primary_key=True),
    Column("generation", BigInteger, nullable=False, server_default="0"),
    *_timestamps(),
)

# Small key/value rows the application keeps in the database (the business date the loan fields
# were last refreshed for, the demo's seeding marker).
app_state = Table(
    "app_state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", JSONB, nullable=False),
    *_timestamps(),
)

dpd_transitions = Table(
    "dpd_transitions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    # a loan's id, written only by the engine from loan_state (no FK: migration 0003_recalc_transitions_fk)
    Column("loan_id", Text, nullable=False),
    Column("officer_id", Text, nullable=False),
    Column("branch", Text, nullable=False),
    Column("transition_date", Date, nullable=False),
    Column("from_dpd_bucket", Text, nullable=False),
    Column("to_dpd_bucket", Text, nullable=False),
    Column("outstanding_balance", MONEY, nullable=False),
    *_timestamps(),
    UniqueConstraint("loan_id", "transition_date", name="uq_dpd_transitions_loan_date"),
    Index("ix_dpd_transitions_officer", "officer_id", "transition_date"),
    Index("ix_dpd_transitions_date", "transition_date"),
)

par15_snapshots = Table(
    "par15_snapshots",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("officer_id", Text, nullable=False),
    Column("snapshot_date", Date, nullable=False),
    Column("par15_exposure", SUM_MONEY, nullable=False),
    Column("par15_count", Integer, nullable=False),
    *_timestamps(),
    UniqueConstraint("officer_id", "snapshot_date", name="uq_par15_officer_date"),
    Index("ix_par15_date", "snapshot_date"),
)


def _metric_columns() -> list[Column[object]]:
    """The SPEC §3 daily-metric columns, shared by the officer and branch tables: the registry's
    components (money NUMERIC(20,2): sums of loans, counts INTEGER) and ratios (NUMERIC(20,6))."""
    columns: list[Column[object]] = [Column("period_start", Date, nullable=False)]
    columns += [Column(c.name, SUM_MONEY if c.money else Integer, nullable=False)
                for c in registry.COMPONENTS if c.daily]
    columns += [Column(r.name, RATIO) for r in registry.RATIOS]
    columns += [
        Column("had_float_gap", Boolean, nullable=False),
        Column("risk_score", Integer, nullable=False),
        Column("risk_band", Text, nullable=False),
        Column("dqi", Integer, nullable=False),
        Column("dqi_band", Text, nullable=False),
        Column("calculated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]
    return columns


officer_metrics_daily = Table(
    "officer_metrics_daily",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("officer_id", Text, nullable=False),
    Column("calculation_date", Date, nullable=False),
    *_metric_columns(),
    *_timestamps(),
    UniqueConstraint("officer_id", "calculation_date", name="uq_officer_metrics_daily"),
    Index("ix_officer_metrics_daily_date", "calculation_date", "risk_score"),
)

branch_metrics_daily = Table(
    "branch_metrics_daily",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("branch", Text, nullable=False),
    Column("calculation_date", Date, nullable=False),
    Column("region", Text, nullable=False),
    Column("total_officers", Integer, nullable=False),
    *_metric_columns(),
    *_timestamps(),
    UniqueConstraint("branch", "calculation_date", name="uq_branch_metrics_daily"),
    Index("ix_branch_metrics_daily_date", "calculation_date"),
)

team_members = Table(
    "team_members",
    metadata,
    Column("member_id", Text, primary_key=True),
    Column("member_name", Text, nullable=False),
    Column("member_email", Text),
    Column("member_phone", Text),
    Column("role", Text),
    Column("department", Text),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    *_timestamps(),
)

audit_tracking = Table(
    "audit_tracking",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("officer_id", Text, ForeignKey("officers.officer_id"), nullable=False, unique=True),
    Column("assignee_id", Text, ForeignKey("team_members.member_id")),
    Column("assignee_name", Text),
    Column("assigned_date", DateTime(timezone=True)),
    Column("audit_status", Text, nullable=False, server_default="Not Assigned"),
    Column("status_changed_date", DateTime(timezone=True)),
    Column("last_audit_date", Date),
    Column("audit_notes", Text),
    Column("risk_level", Text),
    Column("action_type", Text),
    Column("action_date", DateTime(timezone=True)),
    Column("action_notes", Text),
    Column("version", Integer, nullable=False, server_default="0"),
    *_timestamps(),
    CheckConstraint(
        "audit_status IN ('Not Assigned', 'Assigned', 'In Progress', 'Resolved')",
        name="ck_audit_status",
    ),
    Index("ix_audit_tracking_status", "audit_status"),
)

audit_actions = Table(
    "audit_actions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("officer_id", Text, ForeignKey("officers.officer_id"), nullable=False),
    Column("action_kind", Text, nullable=False),  # assignment | status_change | action
    Column("action_type", Text, nullable=False),
    Column("actor", Text),
    Column("action_date", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("from_status", Text),
    Column("to_status", Text),
    Column("assignee_id", Text),
    Column("notes", Text),
    *_timestamps(),
    Index("ix_audit_actions_officer", "officer_id", "action_date"),
)

# Which version (SHA-256) of each versioned SQL file (db/sql/) the database holds: ``migrate``
# applies a file again only when its text changed.
applied_sql_files = Table(
    "applied_sql_files",
    metadata,
    Column("file", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

metric_calculation_log = Table(
    "metric_calculation_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("calculation_type", Text, nullable=False),
    Column("calculation_date", Date, nullable=False),
    Column("start_date", Date),
    Column("start_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("end_time", DateTime(timezone=True)),
    Column("duration", Numeric(12, 3)),
    Column("records_processed", Integer, nullable=False, server_default="0"),
    Column("records_updated", Integer, nullable=False, server_default="0"),
    Column("records_failed", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False, server_default="Running"),
    Column("error_message", Text),
    *_timestamps(),
    CheckConstraint("status IN ('Running', 'Completed', 'Failed')", name="ck_calc_log_status"),
    Index("ix_calc_log_start", "start_time"),
)

SPEC_TABLES = (
    "officers",
    "customers",
    "loans",
    "repayments",
    "loan_schedule",
    "dpd_transitions",
    "par15_snapshots",
    "officer_metrics_daily",
    "branch_metrics_daily",
    "team_members",
    "audit_tracking",
    "audit_actions",
    "metric_calculation_log",
)
