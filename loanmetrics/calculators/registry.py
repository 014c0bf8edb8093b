"""The metric registry: every definition of SPEC §5.3–5.6, declared once.

- the DPD buckets and the portfolio-at-risk levels on their edges;
- the per-loan quantities the components sum, each as the SQL the engine computes on a loan's
  maintained state and the Python reference formula (``calculators/quantities.py``);
- the components: stock on D or flow over [S, D], money or count, the quantity summed over the
  group's loans and the conditions a loan meets to count;
- the ratios: numerator, denominator, value when the denominator is 0, neutral value standing in
  for a null ratio in the scores, band;
- the risk score's penalties in SPEC order with their weights, the DQI's terms, and the bands
  with their default thresholds (overridable per deployment: ``bands.BandThresholds``).

Everything else derives from these declarations or is checked against them by a test
(``tests/test_registry.py``): the engine's SQL (``db/metric_sql.py``), the daily and fine
tables' columns, GraphQL's metric, portfolio and sort fields, the SQL-built officer nodes, the
REST keys and OpenAPI schemas, ``riskPenalties`` and the Python reference. The order of each
tuple is the order the API presents them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from loanmetrics.calculators import quantities as q
from loanmetrics.calculators.quantities import LoanInWindow, Value


class Band(StrEnum):
    """A band, spelled as the GraphQL enum spells it (REST and the tables use title case)."""

    GREEN = "GREEN"
    WATCH = "WATCH"
    AMBER = "AMBER"
    RED = "RED"
    FLAG = "FLAG"

    @property
    def title_case(self) -> str:
        """The title-case spelling stored in the tables and returned by REST ('Green', ...)."""
        return self.value.capitalize()


class Kind(StrEnum):
    """When a component is taken."""

    STOCK = "stock"  # on a date: D (or D−7 or M, where its quantities say so), over the loans active then
    FLOW = "flow"  # summed over the window [S, D], over every loan of the group, active or not


class Unit(StrEnum):
    MONEY = "money"  # exact; the engine sums integer cents
    COUNT = "count"


# --- §5.3 DPD buckets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """A DPD bucket: its label and the DPD range it holds (``high`` None: unbounded)."""

    label: str
    key: str  # the column-name spelling: bucket_{key}_count, bucket_{key}_balance
    low: int
    high: int | None


BUCKETS: tuple[Bucket, ...] = (
    Bucket("0", "0", 0, 0),
    Bucket("1-6", "1_6", 1, 6),
    Bucket("7-30", "7_30", 7, 30),
    Bucket("31-60", "31_60", 31, 60),
    Bucket("61-90", "61_90", 61, 90),
    Bucket("90+", "90_plus", 91, None),
)


@dataclass(frozen=True)
class ParLevel:
    """PAR N (§5.5): active loans at least as far in arrears as the lower edge of ``bucket``."""

    n: int
    bucket: str
    band: str | None = None

    @property
    def min_dpd(self) -> int:
        return next(b.low for b in BUCKETS if b.label == self.bucket)


PAR_LEVELS: tuple[ParLevel, ...] = (
    ParLevel(1, "1-6"), ParLevel(30, "31-60", band="par30"), ParLevel(60, "61-90"), ParLevel(90, "90+"),
)


def bucket_of(dpd: int) -> Bucket:
    """The bucket a DPD falls in."""
    for bucket in BUCKETS:
        if bucket.high is None or dpd <= bucket.high:
            return bucket
    raise AssertionError("the last bucket is unbounded")


# --- per-loan quantities ------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """One loan's value on a window: ``sql`` over the engine's per-loan row (the ``loan_state``
    columns, the dates d, s, d7, m and the positions i_d, i_7, i_m, i_s, i_month, e_d, e_s,
    u_lo, u_hi, u_hi_on_time, w_lo, w_hi in its arrays; money in cents), ``reference`` the same
    in plain Python."""

    name: str
    sql: str
    reference: Callable[[LoanInWindow], Value]
    description: str


def _total_out(index: str) -> str:
    return (f"lm_total_out_c(principal_c, interest_due_c, fee_due_c, pay_cum_principal, pay_cum_interest, "
            f"pay_cum_fees, {index})")


def _dpd(index: str, day: str) -> str:
    return f"lm_dpd(settle_thresholds, suffix_min_due, coalesce(pay_cum[{index}], -1), {day})"


def _between(cumulative: str, low: str, high: str) -> str:
    """A flow as the difference of a cumulative array at two positions."""
    return f"coalesce({cumulative}[{high}], 0) - coalesce({cumulative}[{low}], 0)"


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("active_d", "lm_active(disbursement_date, closed_date, d)", q.active_d, "active on D"),
    Quantity("dpd_d", _dpd("i_d", "d"), q.dpd_d, "DPD on D"),
    Quantity("out_d", _total_out("i_d"), q.out_d, "total_out on D"),
    Quantity("principal_out_d", "greatest(0, principal_c - coalesce(pay_cum_principal[i_d], 0))", q.principal_out_d,
             "principal_out on D"),
    Quantity("active_7", "lm_active(disbursement_date, closed_date, d7)", q.active_7, "active on D−7"),
    Quantity("dpd_7", _dpd("i_7", "d7"), q.dpd_7, "DPD on D−7"),
    Quantity("out_7", _total_out("i_7"), q.out_7, "total_out on D−7"),
    Quantity("active_m", "lm_active(disbursement_date, closed_date, m)", q.active_m, "active on M, the latest 15th"),
    Quantity("dpd_m", _dpd("i_m", "m"), q.dpd_m, "DPD on M"),
    Quantity("out_m", _total_out("i_m"), q.out_m, "total_out on M"),
    Quantity("pure", "primary_channel IS NULL OR channel = primary_channel", q.pure,
             "the loan's channel is its officer's primary channel (or the officer has none)"),
    Quantity("disbursed_in_window", "disbursement_date >= s", q.disbursed_in_window, "disbursed in [S, D]"),
    Quantity("eligible", "first_due_date < d", q.eligible, "FIMR-eligible on D"),
    Quantity("missed", "first_due_date < d AND (first_received_date IS NULL OR first_received_date > first_due_date)",
             q.missed, "first payment missed, as known on D"),
    Quantity("loan_amount", "principal_c", q.loan_amount, "the amount disbursed"),
    Quantity("fees_collected", _between("pay_cum_fees", "i_s", "i_d"), q.fees_collected,
             "fees paid in [S, D]"),
    Quantity("interest_collected", _between("pay_cum_interest", "i_s", "i_d"), q.interest_collected,
             "interest paid in [S, D]"),
    Quantity("total_yield", f"{_between('pay_cum_interest', 'i_month', 'i_d')} + "
             f"{_between('pay_cum_fees', 'i_month', 'i_d')}", q.total_yield,
             "interest and fees paid from the first of D's month"),
    Quantity("waivers_amount", _between("pay_cum_waivers", "i_s", "i_d"), q.waivers_amount, "waivers in [S, D]"),
    Quantity("total_entries", _between("entry_cum", "e_s", "e_d"), q.total_entries,
             "repayments dated in [S, D], reversed ones included"),
    Quantity("backdated_count", _between("entry_backdated_cum", "e_s", "e_d"), q.backdated_count,
             "backdated repayments dated in [S, D]"),
    Quantity("reversals_count", _between("entry_reversed_cum", "e_s", "e_d"), q.reversals_count,
             "reversed repayments dated in [S, D]"),
    Quantity("fees_due", f"greatest(0, {_between('due_fee_cum', 'u_lo', 'u_hi')})", q.fees_due,
             "fees of installments due in [S, D] while active"),
    Quantity("on_time_paid", f"greatest(0, {_between('due_on_time_cum', 'u_lo', 'u_hi_on_time')})", q.on_time_paid,
             "Σ alloc_i(due_i) of installments due in [S, D−1] while active"),
    Quantity("on_time_due", f"greatest(0, {_between('due_total_cum', 'u_lo', 'u_hi_on_time')})", q.on_time_due,
             "Σ total_due_i of installments due in [S, D−1] while active"),
    Quantity("amount_due_7d",
             "CASE WHEN w_hi <= w_lo OR NOT lm_active(disbursement_date, closed_date, d) THEN 0 "
             # one installment in the week (the common case): no subquery per loan
             f"WHEN w_hi = w_lo + 1 THEN {_between('due_total_cum', 'w_lo', 'w_hi')} - lm_alloc_c(due_total[w_hi], "
             "due_cumulative[w_hi], coalesce(pay_cum[i_d], -1)) "
             f"ELSE {_between('due_total_cum', 'w_lo', 'w_hi')} - (SELECT lm_sum_c(lm_alloc_c(u.total_c, u.cum_c, "
             "coalesce(pay_cum[i_d], -1))) FROM unnest(due_total[w_lo + 1:w_hi], due_cumulative[w_lo + 1:w_hi]) "
             "AS u(total_c, cum_c)) END",
             q.amount_due_7d, "Σ (total_due_i − alloc_i(D)) of installments due in [D, D+6], when active on D"),
)
QUANTITY = {quantity.name: quantity for quantity in QUANTITIES}


# --- §5.5 components --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A loan counts when ``quantity`` is true (no bounds) or lies in [low, high]."""

    quantity: str
    low: int | None = None
    high: int | None = None

    def holds(self, value: Value) -> bool:
        if self.low is None and self.high is None:
            return bool(value)
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    @property
    def sql(self) -> str:
        if self.low is None and self.high is None:
            return self.quantity
        if self.low is not None and self.high is not None:
            return f"{self.quantity} BETWEEN {self.low} AND {self.high}"
        return f"{self.quantity} >= {self.low}" if self.low is not None else f"{self.quantity} <= {self.high}"


def flag(quantity: str) -> Condition:
    return Condition(quantity)


def above(quantity: str, value: int) -> Condition:
    """quantity > value (integers)."""
    return Condition(quantity, low=value + 1)


def between(quantity: str, low: int, high: int | None) -> Condition:
    """low ≤ quantity ≤ high, inclusive (``high`` None: no upper bound)."""
    return Condition(quantity, low=low, high=high)


ACTIVE = flag("active_d")


@dataclass(frozen=True)
class Component:
    """Σ of ``sums`` (None: a count of loans) over the group's loans meeting every ``where``."""

    name: str
    kind: Kind
    unit: Unit
    sums: str | None
    where: tuple[Condition, ...]
    description: str
    portfolio: bool = False  # a field of GraphQL's Portfolio and REST's portfolio object (sortable)
    daily: bool = True  # a column of the daily tables (every component is one of metric_fine_daily)
    rest_key: str | None = None  # its key in the REST officer and branch rows

    @property
    def money(self) -> bool:
        return self.unit == Unit.MONEY


def _stock(name: str, unit: Unit, sums: str | None, *where: Condition, description: str, portfolio: bool = False,
           daily: bool = True, rest_key: str | None = None) -> Component:
    return Component(name, Kind.STOCK, unit, sums, where, description, portfolio, daily, rest_key)


def _flow(name: str, unit: Unit, sums: str | None, *where: Condition, description: str, portfolio: bool = False,
          daily: bool = True, rest_key: str | None = None) -> Component:
    return Component(name, Kind.FLOW, unit, sums, where, description, portfolio, daily, rest_key)


MONEY, COUNT = Unit.MONEY, Unit.COUNT
_PREV_1TO6 = (flag("active_7"), between("dpd_7", 1, 6))

COMPONENTS: tuple[Component, ...] = (
    _stock("active_loans", COUNT, None, ACTIVE, description="loans active on D", portfolio=True,
           rest_key="active_loans"),
    _stock("total_portfolio", MONEY, "out_d", ACTIVE, description="Σ total_out(D) of active loans", portfolio=True,
           rest_key="portfolio_total"),
    _stock("gross_loan_portfolio", MONEY, "principal_out_d", ACTIVE,
           description="Σ principal_out(D) of active loans", portfolio=True, rest_key="gross_loan_portfolio"),
    _stock("overdue_15d_amount", MONEY, "out_d", ACTIVE, above("dpd_d", 15),
           description="Σ total_out(D) of active loans with DPD(D) > 15", portfolio=True, rest_key="overdue_15d"),
    _stock("overdue_15d_count", COUNT, None, ACTIVE, above("dpd_d", 15),
           description="active loans with DPD(D) > 15", portfolio=True),
    _flow("disbursed_count", COUNT, None, flag("disbursed_in_window"), description="loans disbursed in [S, D]",
          portfolio=True),
    _flow("disbursed_amount", MONEY, "loan_amount", flag("disbursed_in_window"),
          description="amount disbursed in [S, D]", portfolio=True),
    _flow("total_yield", MONEY, "total_yield", description="interest and fees paid from the first of D's month to D",
          portfolio=True, rest_key="yield"),
    _flow("interest_collected", MONEY, "interest_collected", description="interest paid in [S, D]", portfolio=True),
    _flow("fees_collected", MONEY, "fees_collected", description="fees paid in [S, D]", portfolio=True),
    _flow("fees_due", MONEY, "fees_due", description="fee_due of installments due in [S, D] of loans active then",
          portfolio=True),
    _flow("waivers_amount", MONEY, "waivers_amount", description="waivers in [S, D]", portfolio=True),
    _flow("total_entries", COUNT, "total_entries", description="repayments dated in [S, D], reversed ones included",
          portfolio=True),
    _flow("backdated_count", COUNT, "backdated_count", description="backdated repayments dated in [S, D]",
          portfolio=True),
    _flow("reversals_count", COUNT, "reversals_count", description="reversed repayments dated in [S, D]",
          portfolio=True),
    _stock("amount_due_7d", MONEY, "amount_due_7d",
           description="Σ (total_due − alloc(D)) of installments of active loans due in [D, D+6]", portfolio=True),
    _stock("par15_mid_month", MONEY, "out_m", flag("active_m"), above("dpd_m", 15),
           description="Σ total_out(M) of loans active on M with DPD(M) > 15 (M: the latest 15th)", portfolio=True),
    *(component
      for level in PAR_LEVELS
      for component in (
          _stock(f"par{level.n}_amount", MONEY, "principal_out_d", ACTIVE, between("dpd_d", level.min_dpd, None),
                 description=f"Σ principal_out(D) of active loans with DPD(D) ≥ {level.min_dpd}", portfolio=True),
          _stock(f"par{level.n}_count", COUNT, None, ACTIVE, between("dpd_d", level.min_dpd, None),
                 description=f"active loans with DPD(D) ≥ {level.min_dpd}", portfolio=True),
      )),
    _stock("par15_mid_month_count", COUNT, None, flag("active_m"), above("dpd_m", 15),
           description="loans active on M with DPD(M) > 15", daily=False),
    _stock("dpd_1to6_balance", MONEY, "out_d", ACTIVE, between("dpd_d", 1, 6),
           description="Σ total_out(D) of active loans with 1 ≤ DPD(D) ≤ 6"),
    _stock("prev_dpd_1to6_balance", MONEY, "out_7", *_PREV_1TO6,
           description="Σ total_out(D−7) of loans active on D−7 with 1 ≤ DPD(D−7) ≤ 6"),
    _stock("moved_to_7to30", MONEY, "out_7", *_PREV_1TO6, ACTIVE, between("dpd_d", 7, 30),
           description="the same sum over those of them active on D with 7 ≤ DPD(D) ≤ 30"),
    _stock("channel_pure_count", COUNT, None, ACTIVE, flag("pure"),
           description="active loans whose channel is their officer's primary channel"),
    _flow("fimr_cohort_count", COUNT, None, flag("disbursed_in_window"), flag("eligible"),
          description="loans disbursed in [S, D] that are FIMR-eligible on D"),
    _flow("first_miss_count", COUNT, None, flag("disbursed_in_window"), flag("missed"),
          description="the cohort's loans whose first payment was missed"),
    _flow("all_time_fimr_cohort_count", COUNT, None, flag("eligible"),
          description="loans disbursed on or before D that are FIMR-eligible on D"),
    _flow("all_time_first_miss_count", COUNT, None, flag("missed"),
          description="those of them whose first payment was missed"),
    _flow("on_time_paid", MONEY, "on_time_paid",
          description="Σ alloc_i(due_date_i) of installments due in [S, D−1] of loans active then"),
    _flow("on_time_due", MONEY, "on_time_due",
          description="Σ total_due_i of installments due in [S, D−1] of loans active then"),
    *(component
      for bucket in BUCKETS
      for component in (
          _stock(f"bucket_{bucket.key}_count", COUNT, None, ACTIVE, between("dpd_d", bucket.low, bucket.high),
                 description=f"active loans in DPD bucket {bucket.label}"),
          _stock(f"bucket_{bucket.key}_balance", MONEY, "out_d", ACTIVE, between("dpd_d", bucket.low, bucket.high),
                 description=f"Σ total_out(D) of active loans in DPD bucket {bucket.label}"),
      )),
)
COMPONENT = {component.name: component for component in COMPONENTS}


# --- §5.5 ratios ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator of two components; null when the denominator is 0 unless
    ``when_empty`` gives the value; ``neutral`` stands in for a null value in the scores."""

    name: str
    numerator: str
    denominator: str
    description: str
    when_empty: Fraction | None = None
    neutral: Fraction | None = None
    band: str | None = None
    rest_key: str | None = None

    def value_when_empty(self) -> Fraction | None:
        """What the scores read when the denominator is 0: ``when_empty``, else the neutral value."""
        return self.when_empty if self.when_empty is not None else self.neutral


ZERO, ONE = Fraction(0), Fraction(1)

RATIOS: tuple[Ratio, ...] = (
    Ratio("fimr", "first_miss_count", "fimr_cohort_count",
          "FIMR: first installments missed among the loans disbursed in the window and due before D",
          neutral=ZERO, band="fimr", rest_key="fimr"),
    Ratio("all_time_fimr", "all_time_first_miss_count", "all_time_fimr_cohort_count",
          "all-time FIMR: the same over every loan disbursed on or before D", band="fimr", rest_key="all_time_fimr"),
    Ratio("d06_slippage", "dpd_1to6_balance", "amount_due_7d",
          "D0-6 slippage: balance at 1-6 DPD over the amount due in the next seven days",
          band="slippage", rest_key="d06_slippage"),
    Ratio("roll", "moved_to_7to30", "prev_dpd_1to6_balance",
          "roll: the share of D−7's 1-6 DPD balance that is at 7-30 DPD on D",
          neutral=ZERO, band="roll", rest_key="roll"),
    Ratio("frr", "fees_collected", "fees_due", "FRR: fees collected over fees due", neutral=ONE, rest_key="frr"),
    Ratio("ayr", "total_yield", "par15_mid_month",
          "AYR: interest and fees collected in D's month over PAR15 at mid-month (monthly)",
          band="ayr", rest_key="ayr"),
    Ratio("porr", "overdue_15d_amount", "total_portfolio",
          "PORR: balance at DPD above 15 over the total portfolio (PAR15 on total_out)",
          neutral=ZERO, rest_key="porr"),
    Ratio("on_time_rate", "on_time_paid", "on_time_due",
          "on-time rate (OTI): paid by the due date over due, for installments due in [S, D−1]", neutral=ONE),
    Ratio("channel_purity", "channel_pure_count", "active_loans",
          "channel purity: active loans through the officer's primary channel over active loans (1 without any)",
          when_empty=ONE, neutral=ONE, rest_key="channel_purity"),
    *(Ratio(f"par{level.n}", f"par{level.n}_amount", "gross_loan_portfolio",
            f"PAR{level.n}: principal outstanding of active loans at DPD ≥ {level.min_dpd} over the gross loan "
            "portfolio", band=level.band, rest_key=f"par{level.n}")
      for level in PAR_LEVELS),
)
RATIO = {ratio.name: ratio for ratio in RATIOS}


# --- §5.6 risk score and DQI -----------------------------------------------------------------------

MAX_SCORE = 100


@dataclass(frozen=True)
class Penalty:
    """weight · c(input) points off the risk score. The input is the fraction numerator /
    denominator (``neutral`` when the denominator is 0), or 1 − it for a ``shortfall``, or 1
    when the group's ``flag`` is set."""

    name: str
    weight: int
    numerator: str | None = None
    denominator: str | None = None
    neutral: Fraction = ZERO
    shortfall: bool = False
    flag: str | None = None

    def __post_init__(self) -> None:
        if (self.flag is None) == (self.numerator is None or self.denominator is None):
            raise ValueError(f"penalty {self.name}: a fraction (numerator and denominator) or a flag, not both")

    @property
    def parts(self) -> tuple[str, str]:
        """The input's numerator and denominator components (a penalty without a flag)."""
        if self.numerator is None or self.denominator is None:
            raise ValueError(f"penalty {self.name} is a flag")
        return self.numerator, self.denominator


def _of_ratio(name: str, weight: int, *, shortfall: bool = False, penalty: str | None = None) -> Penalty:
    ratio = RATIO[name]
    neutral = ratio.value_when_empty()
    assert neutral is not None, f"ratio {name} in the risk score needs a neutral value"
    return Penalty(penalty or name, weight, ratio.numerator, ratio.denominator, neutral, shortfall)


PENALTIES: tuple[Penalty, ...] = (
    _of_ratio("porr", 20),
    _of_ratio("fimr", 15),
    _of_ratio("roll", 10),
    Penalty("waivers", 10, "waivers_amount", "amount_due_7d"),
    Penalty("backdated", 10, "backdated_count", "total_entries"),
    Penalty("reversals", 10, "reversals_count", "total_entries"),
    _of_ratio("frr", 10, shortfall=True),
    _of_ratio("channel_purity", 5, shortfall=True),
    Penalty("float_gap", 10, flag="had_float_gap"),
)


@dataclass(frozen=True)
class DqiTerm:
    """weight · c(x) of the DQI (points out of 100): x the rounded risk score / 100 (``ratio``
    None), a ratio's value (neutral when null), or 1 − it for a ``shortfall``."""

    weight: int
    ratio: str | None
    shortfall: bool = False


DQI_TERMS: tuple[DqiTerm, ...] = (DqiTerm(40, None), DqiTerm(35, "on_time_rate"), DqiTerm(25, "fimr", shortfall=True))
DQI_FACTOR = "channel_purity"
"""CP': the DQI is multiplied by c(CP), or by 1 when the channel-purity toggle is off."""


# --- §5.6 bands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandRule:
    """Bands of a score or ratio: the first level whose threshold the value meets (inclusive;
    ≥ when higher is better, else ≤), else ``otherwise``. Thresholds are defaults, overridable
    per deployment under the setting ``{name}_{band}`` (``LOANMETRICS_BANDS__RISK_GREEN``)."""

    name: str
    higher_is_better: bool
    levels: tuple[tuple[Band, Decimal | int], ...]
    otherwise: Band

    def setting(self, band: Band) -> str:
        return f"{self.name}_{band.value.lower()}"


G, W, A = Band.GREEN, Band.WATCH, Band.AMBER

BAND_RULES: tuple[BandRule, ...] = (
    BandRule("risk", True, ((G, 80), (W, 60), (A, 40)), Band.RED),
    BandRule("dqi", True, ((G, 75), (W, 65)), Band.FLAG),
    BandRule("fimr", False, ((G, Decimal("0.03")), (W, Decimal("0.06"))), Band.FLAG),
    BandRule("slippage", False, ((G, Decimal("0.05")), (W, Decimal("0.08"))), Band.FLAG),
    BandRule("roll", False, ((G, Decimal("0.25")), (W, Decimal("0.35"))), Band.FLAG),
    BandRule("ayr", True, ((G, Decimal("0.50")), (W, Decimal("0.30"))), Band.FLAG),
    BandRule("par30", False, ((G, Decimal("0.05")), (W, Decimal("0.10"))), Band.FLAG),
)
BAND_RULE = {rule.name: rule for rule in BAND_RULES}
RISK_BAND, DQI_BAND = "risk", "dqi"
"""The rules of the two scores (every other rule bands a ratio)."""
