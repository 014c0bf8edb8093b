"""Small helpers for parameterised SQL built from typed inputs: caller scope predicates and LIKE
patterns. Values always travel as bound parameters (``db.params.Params``)."""

from __future__ import annotations

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
