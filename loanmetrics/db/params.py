"""Bound parameters for SQL built in Python: values always travel as ``$n`` parameters, never in
the text, and nobody counts positions by hand. The one exception is a page's LIMIT and OFFSET
(``Params.count``): plan shape rather than data, written as integer literals.

A statement built for one call adds its values as it goes (``Params.add``). A statement built once
and run many times (the metric engine's, cached per deployment options) names its parameters
instead (``Params.slot``) and binds each call's values by name (``Statement.args``), so a CTE
shared by several statements cannot silently read another statement's fourth parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_UNBOUND = object()


class Params:
    """Collects bound values and hands out their ``$n`` placeholders, by value or by name."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._slots: dict[str, int] = {}

    def add(self, value: Any, cast: str = "") -> str:
        """The placeholder of a value known now."""
        self.values.append(value)
        return f"${len(self.values)}{'::' + cast if cast else ''}"

    @staticmethod
    def count(value: int) -> str:
        """A LIMIT or OFFSET count as an integer literal (a Python int, never text). With a
        placeholder PostgreSQL's generic plan assumes a tenth of the rows, so it re-plans the
        statement on every execution (about 1 ms of PostgreSQL CPU for a drilldown page, more
        than running it); with the literal it keeps the prepared statement's generic plan."""
        if type(value) is not int or value < 0:
            raise ValueError(f"a LIMIT or OFFSET count is a non-negative int, not {value!r}")
        return str(value)

    def slot(self, name: str, cast: str = "") -> str:
        """The placeholder of the parameter ``name``, bound per call (``bind``); the same name is
        the same placeholder wherever the statement uses it."""
        index = self._slots.get(name)
        if index is None:
            self.values.append(_UNBOUND)
            index = self._slots[name] = len(self.values)
        return f"${index}{'::' + cast if cast else ''}"

    def bind(self, **values: Any) -> list[Any]:
        """Every value in placeholder order, the named ones from ``values``, which must name each
        slot exactly once."""
        if set(values) != set(self._slots):
            raise TypeError(f"the statement takes {sorted(self._slots)}, not {sorted(values)}")
        bound = list(self.values)
        for name, index in self._slots.items():
            bound[index - 1] = values[name]
        return bound


@dataclass(frozen=True)
class Statement:
    """SQL text with named parameters: ``await conn.fetch(s.sql, *s.args(dates=..., ...))``."""

    sql: str
    params: Params

    def args(self, **values: Any) -> list[Any]:
        return self.params.bind(**values)
