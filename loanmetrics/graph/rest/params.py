"""Strict parsing of REST query, path and body parameters from declarative specs.

The same ``Param`` objects drive parsing here and the OpenAPI document (``openapi.py``), so what a
route accepts and what it documents cannot drift apart. Parsing is strict on purpose (SPEC §10):
a wrong type, an out-of-range number, an unknown or repeated parameter is a 400 whose ``details``
name the parameter, never a silent default or clamp. A choice or boolean is exactly one of the
values the OpenAPI document lists (``Green``, not ``green``; ``true``, not ``TRUE`` or ``1``), so a
client that passes the document's own validation is what the server accepts. One leniency, for dashboards whose "All"
choices send ``?region=``: an empty text or choice parameter means "not given".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

_INTEGER = re.compile(r"-?\d{1,12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOOLEANS = {"true": True, "false": False}
INT32_MAX = 2**31 - 1
BLANK = " \t\n\r\f\v"
"""What a text value may not consist of alone (the same class the OpenAPI patterns use)."""
EARLIEST_DATE = date(1900, 1, 1)
"""No lending data predates it; earlier dates would only reach date arithmetic's limits."""
CACHE_BUSTER = "_"
"""jQuery's ``cache: false`` adds ``_=<timestamp>`` to GETs: ignored, never a 400."""


class RestError(Exception):
    """A client-visible failure: HTTP status, stable code, message and ``details`` (SPEC §7)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    CHOICE = "choice"


class Where(StrEnum):
    QUERY = "query"
    PATH = "path"
    BODY = "body"


@dataclass(frozen=True)
class Param:
    """One parameter: how to parse it and how to document it.

    CHOICE values are exactly one of ``choices`` (what the OpenAPI document's enum lists).
    """

    name: str
    kind: Kind
    description: str
    where: Where = Where.QUERY
    default: Any = None
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    min_length: int = 1
    max_length: int = 200
    until_business_date: bool = False
    """A window date: the server refuses dates after the business date (the OpenAPI document
    states the day's bound)."""

    @property
    def detail_key(self) -> str:
        return "field" if self.where == Where.BODY else "parameter"

    def expected(self) -> str:
        """What a valid value looks like, for error details."""
        if self.kind == Kind.INTEGER:
            bounds = [f"{sign} {limit}" for sign, limit in ((">=", self.minimum), ("<=", self.maximum))
                      if limit is not None]
            return " ".join(["an integer", " and ".join(bounds)]).strip()
        if self.kind == Kind.BOOLEAN:
            return "true or false"
        if self.kind == Kind.DATE:
            latest = "the business date" if self.until_business_date else "9999-12-31"
            return f"a date YYYY-MM-DD from {EARLIEST_DATE.isoformat()} to {latest}"
        if self.kind == Kind.CHOICE:
            return "one of " + ", ".join(self.choices)
        least = "a non-empty string" if self.min_length > 0 else "a string"
        return f"{least} of at most {self.max_length} characters"

    def invalid(self, value: Any, message: str | None = None) -> RestError:
        shown = _shown(value)
        details: dict[str, Any] = {self.detail_key: self.name, "expected": self.expected(), "value": shown}
        if self.kind == Kind.CHOICE:
            details["allowed"] = list(self.choices)
        return RestError(400, "BAD_REQUEST", message or f"{self.name} must be {self.expected()}", details)


def _shown(value: Any) -> Any:
    """A rejected value as the error details can carry it: text cut to 100 characters, and an
    integer beyond JSON's 64-bit range (a body's 1e30 read as a whole number) as its digits,
    which orjson could not encode (the 400 became a 500)."""
    if isinstance(value, str):
        return value[:100]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        text = str(value)
        return text if len(text) <= 100 else f"{text[:40]}...({len(text)} digits)"
    return value


def parse_text(param: Param, raw: str) -> Any:
    """A query or path value (always text) to its typed value."""
    if param.kind == Kind.INTEGER:
        if not _INTEGER.fullmatch(raw):
            raise param.invalid(raw)
        return _in_range(param, int(raw), raw)
    if param.kind == Kind.BOOLEAN:
        if raw not in _BOOLEANS:
            raise param.invalid(raw)
        return _BOOLEANS[raw]
    if param.kind == Kind.DATE:
        if not _DATE.fullmatch(raw):
            raise param.invalid(raw)
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise param.invalid(raw, f"{param.name} is not a calendar date: {raw[:20]}") from None
        if day < EARLIEST_DATE:
            raise param.invalid(raw, f"{param.name} is before {EARLIEST_DATE.isoformat()}")
        return day
    return _text(param, raw)


def parse_json(param: Param, value: Any) -> Any:
    """A body value (already JSON-decoded) of exactly the declared type; bools are not integers."""
    if param.kind == Kind.INTEGER:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema's integer: 264.0 is 264
        if isinstance(value, bool) or not isinstance(value, int):
            raise param.invalid(value)
        return _in_range(param, value, value)
    if param.kind == Kind.BOOLEAN:
        if not isinstance(value, bool):
            raise param.invalid(value)
        return value
    if not isinstance(value, str):
        raise param.invalid(value)
    if param.kind == Kind.DATE:
        return parse_text(param, value)
    return _text(param, value)


def _in_range(param: Param, number: int, shown: Any) -> int:
    if (param.minimum is not None and number < param.minimum) or (
        param.maximum is not None and number > param.maximum
    ):
        raise param.invalid(shown)
    return number


def _text(param: Param, raw: str) -> str:
    if param.kind == Kind.CHOICE:
        if raw not in param.choices:
            raise param.invalid(raw)
        return raw
    if len(raw.strip(BLANK)) < param.min_length or len(raw) > param.max_length:
        raise param.invalid(raw)
    if "\x00" in raw:
        raise param.invalid(raw, f"{param.name} holds a NUL character")
    return raw


def _is_blank(param: Param, raw: str) -> bool:
    return raw == "" and param.kind in (Kind.STRING, Kind.CHOICE) and not param.required


def parse_query(params: Sequence[Param], items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Query string pairs -> every declared parameter (defaults filled in)."""
    known = {param.name: param for param in params}
    given: dict[str, str] = {}
    for key, raw in items:
        if key == CACHE_BUSTER and key not in known:
            continue
        if key not in known:
            raise RestError(400, "BAD_REQUEST", f"unknown query parameter '{key[:100]}'",
                            {"parameter": key[:100], "allowed": sorted(known)})
        if key in given:
            raise RestError(400, "BAD_REQUEST", f"query parameter '{key}' is given more than once",
                            {"parameter": key})
        given[key] = raw
    parsed: dict[str, Any] = {}
    for param in params:
        text = given.get(param.name)
        if text is None or _is_blank(param, text):
            if param.required:
                raise param.invalid(None, f"{param.name} is required")
            parsed[param.name] = param.default
        else:
            parsed[param.name] = parse_text(param, text)
    return parsed


def parse_path(params: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Path parameters as Starlette matched them (text)."""
    return {param.name: parse_text(param, str(values[param.name])) for param in params}


def parse_body(fields: Sequence[Param], document: Any) -> dict[str, Any]:
    """A decoded JSON body -> every declared field; unknown fields, a missing required field, a
    wrong type or a non-object body are 400s naming the field. JSON null means "not given"."""
    if not isinstance(document, dict):
        raise RestError(400, "BAD_REQUEST", "the body must be a JSON object", {"expected": "object"})
    known = {field.name for field in fields}
    unknown = sorted(key for key in document if key not in known)
    if unknown:
        raise RestError(400, "BAD_REQUEST", f"unknown field '{unknown[0][:100]}'",
                        {"field": unknown[0][:100], "allowed": sorted(known)})
    parsed: dict[str, Any] = {}
    for field in fields:
        value = document.get(field.name)
        if value is None:
            if field.required:
                raise RestError(400, "BAD_REQUEST", f"{field.name} is required",
                                {"field": field.name, "expected": field.expected()})
            parsed[field.name] = field.default
        else:
            parsed[field.name] = parse_json(field, value)
    return parsed


# Parameters several routes share ----------------------------------------------------------------
MAX_PAGE = 1_000_000  # (page - 1) * per_page stays a GraphQL Int


def page_params(max_per_page: int) -> tuple[Param, Param]:
    return (
        Param("page", Kind.INTEGER, "page number, 1-based", default=1, minimum=1, maximum=MAX_PAGE),
        Param("per_page", Kind.INTEGER, f"rows per page, at most {max_per_page} (a larger value is an error)",
              default=50, minimum=1, maximum=max_per_page),
    )


REGION = Param("region", Kind.STRING, "only this region")
BRANCH = Param("branch", Kind.STRING, "only this branch")
OFFICER_ID = Param("officer_id", Kind.STRING, "only this officer", max_length=100)
OFFICER_PATH = Param("officer_id", Kind.STRING, "the officer's id", where=Where.PATH, required=True, max_length=100)


def check_order(first: Param, low: Any, second: Param, high: Any) -> None:
    """Two date parameters that bound a range: the first must not be after the second."""
    if low is not None and high is not None and low > high:
        raise RestError(400, "BAD_REQUEST", f"{first.name} is after {second.name}",
                        {"parameter": first.name, "value": low.isoformat(), second.name: high.isoformat()})


def check_business_date(params: Sequence[Param], parsed: Mapping[str, Any], today: date) -> None:
    """Window dates (``until_business_date``) after the business date: a 400 naming the REST
    parameter, before GraphQL would name its own ``period`` argument."""
    for param in params:
        value = parsed.get(param.name)
        if param.until_business_date and value is not None and value > today:
            raise param.invalid(value.isoformat(), f"{param.name} is after the business date ({today.isoformat()})")


def window_failure(failure: RestError, query: Mapping[str, Any]) -> RestError:
    """GraphQL names its ``period`` argument (``period.startDate``, ``period.endDate``); the REST
    caller gave start_date and date or end_date, so the message and field path name those (an end
    not given is the latest calculated date)."""
    if not isinstance(failure.details, dict) or failure.details.get("argument") != "period":
        return failure
    end = next((name for name in ("end_date", "date") if query.get(name) is not None), None)
    message = failure.message.replace("period.startDate", "start_date").replace(
        "period.endDate", end or "the window's end (the latest calculated date)")
    parameter = "start_date" if "period.startDate" in failure.message or end is None else end
    value = query.get(parameter)
    return RestError(failure.status, failure.code, message,
                     {"parameter": parameter, "value": value.isoformat() if isinstance(value, date) else None})
