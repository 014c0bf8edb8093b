"""A group's full metrics for a window (SPEC §5.4–5.7): components, ratios, bands, risk score, DQI.

Also the batch forms: every group of one kind at once, and the officers' daily rows of SPEC §3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from loanmetrics.calculators.bands import DEFAULT_THRESHOLDS, Band, BandThresholds, dqi_band, ratio_band, risk_band
from loanmetrics.calculators.book import Book
from loanmetrics.calculators.components import Components, compute_components
from loanmetrics.calculators.groups import (
    GroupKind,
    Window,
    group_key,
    group_keys,
    loans_in_group,
    make_window,
    officers_with_daily_row,
)
from loanmetrics.calculators.loan_state import LoanHistory, loan_histories, loan_history
from loanmetrics.calculators.ratios import Ratios, compute_ratios
from loanmetrics.calculators.scores import Penalty, dqi, dqi_raw, penalties_total, risk_penalties, risk_score


@dataclass(frozen=True)
class GroupMetrics:
    """Everything SPEC §5.5–5.7 reports for one group and one window."""

    kind: GroupKind
    key: str
    window: Window
    components: Components
    ratios: Ratios
    ratio_bands: Mapping[str, Band | None]
    penalties: tuple[Penalty, ...]
    penalties_total: Fraction
    risk_score: int
    risk_band: Band
    dqi_raw: Fraction
    dqi: int
    dqi_band: Band


def metrics_from_components(
    kind: GroupKind,
    key: str,
    window: Window,
    components: Components,
    *,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
    channel_purity_in_dqi: bool = True,
) -> GroupMetrics:
    """Ratios, bands, penalties, risk score and DQI derived from already summed components (§5.6)."""
    ratios = compute_ratios(components)
    penalties = risk_penalties(components, ratios)
    score = risk_score(penalties)
    quality = dqi(score, ratios, channel_purity_in_dqi=channel_purity_in_dqi)
    return GroupMetrics(
        kind=kind,
        key=key,
        window=window,
        components=components,
        ratios=ratios,
        ratio_bands={name: ratio_band(name, r.value, thresholds) for name, r in ratios.by_name().items()},
        penalties=penalties,
        penalties_total=penalties_total(penalties),
        risk_score=score,
        risk_band=risk_band(score, thresholds),
        dqi_raw=dqi_raw(score, ratios, channel_purity_in_dqi=channel_purity_in_dqi),
        dqi=quality,
        dqi_band=dqi_band(quality, thresholds),
    )


def group_metrics(
    book: Book,
    kind: GroupKind,
    key: str,
    end: date,
    start: date | None = None,
    *,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
    channel_purity_in_dqi: bool = True,
) -> GroupMetrics:
    """The metrics of one group (officer, branch, region or 'all') over [start, end] (§5.4–5.7).

    start defaults to the first of end's month; start after end raises ValueError.
    """
    window = make_window(end, start)
    members = [loan_history(book, loan.loan_id) for loan in loans_in_group(book, kind, key)]
    return _metrics(book, kind, key, members, window, thresholds, channel_purity_in_dqi)


def all_group_metrics(
    book: Book,
    kind: GroupKind,
    end: date,
    start: date | None = None,
    *,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
    channel_purity_in_dqi: bool = True,
    keys: Sequence[str] | None = None,
) -> dict[str, GroupMetrics]:
    """The metrics of every group of one kind (or of `keys`) over [start, end], by group key."""
    window = make_window(end, start)
    histories = loan_histories(book)
    by_key: dict[str, list[LoanHistory]] = {}
    for loan_id in sorted(histories):
        h = histories[loan_id]
        by_key.setdefault(group_key(h.loan, kind), []).append(h)
    wanted = group_keys(book, kind) if keys is None else list(keys)
    return {
        key: _metrics(book, kind, key, by_key.get(key, []), window, thresholds, channel_purity_in_dqi) for key in wanted
    }


def officer_daily_metrics(
    book: Book,
    day: date,
    *,
    thresholds: BandThresholds = DEFAULT_THRESHOLDS,
    channel_purity_in_dqi: bool = True,
) -> dict[str, GroupMetrics]:
    """The officer_metrics_daily rows of `day` (default window): officers with a loan disbursed by then."""
    return all_group_metrics(
        book,
        "officer",
        day,
        thresholds=thresholds,
        channel_purity_in_dqi=channel_purity_in_dqi,
        keys=officers_with_daily_row(book, day),
    )


def _metrics(
    book: Book,
    kind: GroupKind,
    key: str,
    loans: Sequence[LoanHistory],
    window: Window,
    thresholds: BandThresholds,
    channel_purity_in_dqi: bool,
) -> GroupMetrics:
    components = compute_components(book, kind, key, loans, window)
    return metrics_from_components(
        kind,
        key,
        window,
        components,
        thresholds=thresholds,
        channel_purity_in_dqi=channel_purity_in_dqi,
    )
