"""Relay connections' page information, shared by the officer and loan lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, items: Sequence[tuple[Any, ...]], *, has_next: bool, has_previous: bool) -> PageInfo:
        """For a page of the queries' ``(cursor, ...)`` items, in order."""
        return cls(has_next_page=has_next, has_previous_page=has_previous,
                   start_cursor=str(items[0][0]) if items else None, end_cursor=str(items[-1][0]) if items else None)
