"""Named parameters (db/params.py): statements built once bind each call's values by name."""

from __future__ import annotations

import pytest

from loanmetrics.db import daily_metrics, metric_engine
from loanmetrics.db.params import Params


def test_a_name_is_one_placeholder_and_binds_in_placeholder_order() -> None:
    params = Params()
    sql = f"{params.slot('dates', 'date[]')} {params.add(7, 'int')} {params.slot('loans')} {params.slot('dates')}"
    assert sql == "$1::date[] $2::int $3 $1"
    assert params.bind(loans=["L1"], dates=["2026-09-18"]) == [["2026-09-18"], 7, ["L1"]]
    assert params.bind(loans=None, dates=[]) == [[], 7, None]


def test_every_name_must_be_bound_once() -> None:
    params = Params()
    params.slot("dates")
    params.slot("starts")
    with pytest.raises(TypeError, match=r"takes \['dates', 'starts'\]"):
        params.bind(dates=[])
    with pytest.raises(TypeError):
        params.bind(dates=[], starts=[], regions=None)


def test_the_engine_statements_name_their_parameters() -> None:
    options = metric_engine.EngineOptions()
    scope = {"officers", "branches", "regions"}
    assert set(metric_engine.components_sql(("officer",), options).params._slots) == {"dates", "starts", *scope}
    assert set(daily_metrics._DELTA.params._slots) == {"dates", "starts", "loans", "prior_ids"}
    assert set(daily_metrics._TRANSITIONS.params._slots) == {"dates", "loans"}
    assert set(daily_metrics._roll_up_statement("branch", options).params._slots) == {
        "dates", "starts", "officers", "branches"}
