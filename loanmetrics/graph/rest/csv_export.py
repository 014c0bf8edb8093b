"""CSV exports of the REST list routes (SPEC §7): the officer list, both drilldowns and branches
answer ``text/csv`` for ``format=csv`` or an ``Accept`` that prefers ``text/csv``.

The columns are the JSON row's keys in order, each cell the JSON value (null empty, booleans
``true``/``false``, numbers as the JSON writes them), and the rows come from the same GraphQL
document with the same filters, so scope and phone masking are the JSON's. Without ``page`` or
``per_page`` the export holds the whole filtered list (what an auditor expects from "export"):
it is streamed page by page (500 rows, keyset cursors, bypassing the response cache, which is
for dashboards' repeated pages); with them it holds exactly that page. The first page runs
before the response starts, so a refused request is still a JSON error with its status; a
failure on a later page aborts the stream (the client sees an incomplete transfer, never a short
file that looks whole). A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or CR, which
a spreadsheet may run as a formula, is prefixed with ``'`` (OWASP's CSV-injection rule), masked
phones included; numeric columns are written as numbers, negative ones too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from loanmetrics.graph.rest.params import Kind, Param
from loanmetrics.graph.rest.shapes import Json, Out, reshape

if TYPE_CHECKING:
    from loanmetrics.graph.rest.common import Call, Success

CSV = "text/csv"
EXPORT_PAGE = 500
FORMAT = Param("format", Kind.CHOICE, "json (default) or csv: the same rows as CSV; without page and per_page the "
               "CSV holds every row of the filtered list", choices=("json", "csv"))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMERIC = frozenset({Json.INTEGER, Json.NUMBER})


@dataclass(frozen=True)
class CsvExport:
    """How one list route exports its rows."""

    name: str
    columns: tuple[Out, ...]
    field: str | None = None
    """Paged routes: the connection field of ``document`` (a keyset variant of the JSON document)."""
    document: str = ""
    operation: str = ""
    variables: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Paged routes: the JSON route's variables for a query (its filters, sort and window)."""

    def wanted(self, request: Request, query: Mapping[str, Any]) -> bool:
        if query.get("format") is not None:
            return bool(query["format"] == "csv")
        return prefers_csv(request.headers.get("accept"))

    async def respond(self, call: Call, handler: Callable[[Call], Awaitable[Success]]) -> Response:
        headers = {"Content-Disposition": f'attachment; filename="{self.name}.csv"'}
        explicit_page = {"page", "per_page"} & set(call.request.query_params)
        if self.variables is None or explicit_page:
            result = await handler(call)
            return Response(encode_rows(self.columns, result.data, header=True), media_type=CSV, headers=headers)
        variables = {key: value for key, value in self.variables(call.query).items() if key != "offset"}
        variables.update(first=EXPORT_PAGE, after=None)
        first = await self._page(call, variables)
        return StreamingResponse(self._stream(call, variables, first), media_type=CSV, headers=headers)

    async def _page(self, call: Call, variables: dict[str, Any]) -> dict[str, Any]:
        assert self.field is not None
        data: dict[str, Any] = (await call.graphql(self.document, self.operation, variables, use_cache=False))[
            self.field]
        return data

    async def _stream(self, call: Call, variables: dict[str, Any], page: dict[str, Any]) -> AsyncIterator[bytes]:
        header = True
        while True:
            yield encode_rows(self.columns, [reshape(node, self.columns) for node in page["nodes"]], header=header)
            header = False
            info = page["pageInfo"]
            if not info["hasNextPage"]:
                return
            variables = {**variables, "after": info["endCursor"]}
            page = await self._page(call, variables)


def keyset_document(document: str, operation: str) -> tuple[str, str]:
    """The JSON route's list document paged by cursor instead of offset (same selection, same
    filters): ``$offset``/``offset:`` become ``$after``/``after:`` and ``totalCount`` the page info."""
    replaced = document
    for old, new in (("$offset: Int!", "$after: String"), ("offset: $offset", "after: $after"),
                     ("totalCount", "pageInfo { hasNextPage endCursor }"),
                     (f"query {operation}(", f"query {operation}Csv(")):
        if old not in replaced:
            raise ValueError(f"the list document has no {old!r}")
        replaced = replaced.replace(old, new, 1)
    return replaced, f"{operation}Csv"


def prefers_csv(accept: str | None) -> bool:
    """Whether the Accept header ranks text/csv above application/json (ties: the first listed)."""
    if not accept or "csv" not in accept:
        return False
    best, best_quality = "", 0.0
    for item in accept.split(","):
        media_type, *parameters = (part.strip() for part in item.split(";"))
        media_type = media_type.lower()
        if media_type not in (CSV, "application/json", "application/*", "*/*"):
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > best_quality:
            best, best_quality = media_type, quality
    return best == CSV


def encode_rows(columns: Sequence[Out], rows: Iterable[Mapping[str, Any]], *, header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow([column.key for column in columns])
    writer.writerows([cell(row[column.key], column.kind) for column in columns] for row in rows)
    return buffer.getvalue().encode("utf-8")


def cell(value: Any, kind: Json = Json.STRING) -> str:
    """A JSON value as a CSV cell: text that could start a formula gets a leading ``'``; a number
    (or a plain number written as text in a numeric column) stays as it is."""
    if value is None:
        return ""
    if isinstance(value, str):
        if kind in _NUMERIC and _NUMBER.fullmatch(value):
            return value
        return "'" + value if value.startswith(_FORMULA_START) else value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value).decode()
