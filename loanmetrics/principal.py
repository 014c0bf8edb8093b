"""Who is calling: the caller's role and branch/region scope (SPEC §10).

The transport establishes a ``Principal`` (``graph/auth.py``: bearer tokens); the queries apply
it (``resolvers/``: roles checked, scope in SQL). Both layers use this module, which depends on
neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    ETL = "etl"


READ_ROLES = frozenset({Role.VIEWER, Role.AUDITOR, Role.ADMIN})
AUDIT_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})
ADMIN_ROLES = frozenset({Role.ADMIN})
ETL_ROLES = frozenset({Role.ETL, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; ``branches``/``regions`` empty means unrestricted."""

    subject: str
    role: Role
    branches: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def scoped(self) -> bool:
        return bool(self.branches or self.regions)

    def scope_key(self) -> str:
        """Identifies what this caller may see; part of every cache key."""
        return f"{self.role}|{','.join(sorted(self.branches))}|{','.join(sorted(self.regions))}"


LOCAL_ADMIN = Principal(subject="local", role=Role.ADMIN)
"""The caller when authentication is disabled (the loopback demo)."""
