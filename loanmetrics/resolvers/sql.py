"""Small helpers for parameterised SQL built from typed inputs: caller scope predicates and LIKE
patterns (values always travel as bound parameters, ``db.params.Params``), and the grouping of
one batched fetch back into the dataloader's keys."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg

from loanmetrics.db.params import Params
from loanmetrics.principal import Principal


def scope_predicate(principal: Principal, params: Params, *, branch: str, region: str) -> str:
    """SQL restricting rows to the caller's branches/regions (SPEC §10), on the given columns."""
    parts = []
    if principal.branches:
        parts.append(f"{branch} = ANY({params.add(list(principal.branches), 'text[]')})")
    if principal.regions:
        parts.append(f"{region} = ANY({params.add(list(principal.regions), 'text[]')})")
    return " AND ".join(parts) or "TRUE"


def like_pattern(text: str) -> str:
    """A case-insensitive substring pattern with LIKE wildcards in the input escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def rows_by_key(rows: Iterable[asyncpg.Record], column: str, keys: Sequence[str]) -> list[list[asyncpg.Record]]:
    """One fetch for many keys, split back per key in the order asked (a dataloader's answer);
    each key's rows keep the fetch's order, a key without rows gets an empty list."""
    grouped: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        grouped[row[column]].append(row)
    return [grouped.get(key, []) for key in keys]
