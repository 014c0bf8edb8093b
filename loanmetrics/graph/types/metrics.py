"""GraphQL metric types (SPEC §5.5-5.7, §6): ratios, penalties, the portfolio, and the officer,
branch and region metrics, each a lazy view over one ``MetricSnapshot`` (a page selects a handful
of the ~60 quantities, so nothing else is converted). The ratio and portfolio fields come from
the metric registry, with its descriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar, cast

import orjson
import strawberry

from loanmetrics.calculators import registry
from loanmetrics.graph.fast_execution import Prebuilt
from loanmetrics.graph.types.inputs import Band
from loanmetrics.resolvers.metric_rows import MetricSnapshot


@strawberry.type(description="A ratio with its exact parts; value is null when the denominator is 0.")
class Ratio:
    value: float | None
    numerator: float
    denominator: float
    band: Band | None


@strawberry.type(description="One term of the risk score: weight * clamp(input) points.")
class RiskPenalty:
    name: str
    weight: int
    input: float
    points: float


@strawberry.type
class BucketBalance:
    bucket: str
    count: int
    balance: float


T = TypeVar("T")


def _registry_fields(after: str | None, fields: dict[str, tuple[str, str]]) -> Callable[[type[T]], type[T]]:
    """A class decorator (under ``@strawberry.type``) adding registry-derived fields, name ->
    (annotation, description), after the field ``after`` (None: first), in registry order."""

    def add(cls: type[T]) -> type[T]:
        added = {name: annotation for name, (annotation, _) in fields.items()}
        annotations: dict[str, object] = dict(added) if after is None else {}
        for name, annotation in cls.__annotations__.items():
            annotations[name] = annotation
            if name == after:
                annotations.update(added)
        cls.__annotations__ = annotations
        for name, (_, description) in fields.items():
            setattr(cls, name, strawberry.field(description=description))
        return cls

    return add


PORTFOLIO_FIELDS = {c.name: ("float" if c.money else "int", c.description)
                    for c in registry.COMPONENTS if c.portfolio}
RATIO_FIELDS = {r.name: ("Ratio", r.description) for r in registry.RATIOS}


@strawberry.type
@_registry_fields(None, PORTFOLIO_FIELDS)  # money as Float, counts as Int
class Portfolio:
    buckets: list[BucketBalance]


BANDS = {band.title_case: band for band in registry.Band}  # title case (as stored) -> the enum; cheaper than a call


class _RatioView:
    """Ratio's fields over a snapshot: a page usually selects only ``value``."""

    __slots__ = ("_name", "_snapshot")

    def __init__(self, snapshot: MetricSnapshot, name: str) -> None:
        self._snapshot = snapshot
        self._name = name

    @property
    def value(self) -> float | None:
        return self._snapshot.ratio_value(self._name)

    @property
    def numerator(self) -> float:
        return float(self._snapshot.ratio(self._name).numerator)

    @property
    def denominator(self) -> float:
        return float(self._snapshot.ratio(self._name).denominator)

    @property
    def band(self) -> Band | None:
        band = self._snapshot.ratio(self._name).band
        return BANDS[band] if band else None


def _ratio(snapshot: MetricSnapshot, name: str) -> Ratio:
    return cast(Ratio, _RatioView(snapshot, name))


def _money(name: str) -> property:
    return property(lambda view: view._snapshot.amount(name))


def _count(name: str) -> property:
    return property(lambda view: int(view._snapshot.component(name)))


class _PortfolioView:
    """Portfolio's fields over a snapshot, each converted only when selected (duck-typed: the
    executor reads attributes, and Portfolio has no interfaces, so no isinstance check runs).
    One property per registry portfolio component, set below."""

    __slots__ = ("_snapshot",)

    def __init__(self, snapshot: MetricSnapshot) -> None:
        self._snapshot = snapshot

    @property
    def buckets(self) -> list[BucketBalance]:
        return [BucketBalance(bucket=label, count=count, balance=float(balance))
                for label, count, balance in self._snapshot.buckets]


for _component in registry.COMPONENTS:
    if _component.portfolio:
        setattr(_PortfolioView, _component.name, (_money if _component.money else _count)(_component.name))


def _ratio_field(name: str) -> property:
    return property(lambda view: _ratio(view._snapshot, name))


class _MetricsView:
    """OfficerMetrics' fields over a snapshot, each derived only when the query selects it."""

    __slots__ = ("_snapshot",)

    def __init__(self, snapshot: MetricSnapshot) -> None:
        self._snapshot = snapshot

    calculation_date = property(lambda view: view._snapshot.calculation_date)
    period_start = property(lambda view: view._snapshot.period_start)
    period_end = property(lambda view: view._snapshot.calculation_date)
    risk_score = property(lambda view: view._snapshot.risk_score)
    risk_band = property(lambda view: BANDS[view._snapshot.risk_band])
    dqi = property(lambda view: view._snapshot.dqi)
    dqi_band = property(lambda view: BANDS[view._snapshot.dqi_band])

    @property
    def risk_penalties(self) -> list[RiskPenalty]:
        return [RiskPenalty(name=p.name, weight=p.weight, input=p.input, points=p.points)
                for p in self._snapshot.penalties]

    @property
    def portfolio(self) -> Portfolio:
        return cast(Portfolio, _PortfolioView(self._snapshot))


for _ratio_definition in registry.RATIOS:
    setattr(_MetricsView, _ratio_definition.name, _ratio_field(_ratio_definition.name))


class _BranchMetricsView(_MetricsView):
    __slots__ = ()
    prebuilt_json = None
    branch = property(lambda view: view._snapshot.group_key)
    region = property(lambda view: view._snapshot.region)
    total_officers = property(lambda view: view._snapshot.total_officers or 0)


class _RegionMetricsView(_MetricsView):
    __slots__ = ()
    region = property(lambda view: view._snapshot.group_key)
    total_officers = property(lambda view: view._snapshot.total_officers or 0)


@strawberry.type
@_registry_fields("period_end", RATIO_FIELDS)
class OfficerMetrics:
    calculation_date: date
    period_start: date
    period_end: date
    risk_score: int
    risk_band: Band
    dqi: int
    dqi_band: Band
    risk_penalties: list[RiskPenalty]
    portfolio: Portfolio

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> OfficerMetrics:
        """A view that derives each field from the snapshot when it is read."""
        return cast(OfficerMetrics, _MetricsView(snapshot))


@strawberry.type
class BranchMetrics(OfficerMetrics):
    branch: str
    region: str | None
    total_officers: int
    prebuilt_json: strawberry.Private[Any] = None
    """The node's whole answer as JSON built in SQL (resolvers/officer_json.py), or None."""

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> BranchMetrics:
        return cast(BranchMetrics, _BranchMetricsView(snapshot))

    @classmethod
    def prebuilt(cls, node_json: str) -> BranchMetrics:
        """A branch whose answer the statement built for this very selection: the compiled
        plan (graph/fast_execution.py) splices it and reads nothing else."""
        return cast(BranchMetrics, Prebuilt(orjson.Fragment(node_json)))


@strawberry.type
class RegionMetrics(OfficerMetrics):
    region: str
    total_officers: int

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> RegionMetrics:
        return cast(RegionMetrics, _RegionMetricsView(snapshot))

