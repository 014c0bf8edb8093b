"""Stream ETL payload files into bounded batches for ``loanmetrics ingest``.

A JSON file holding one (possibly huge) payload is read once per entity list with ijson, in
dependency order, so memory stays bounded whatever the file size; newline-delimited JSON holds
one payload per line. Either way the batches keep a loan's schedule rows together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from loanmetrics.db.ingestion.payload import ENTITIES, Payload, PayloadError, decode_json, payload_from_document


@dataclass
class Chunk:
    """One batch to ingest, and how far through its file the reader is (for the progress bar)."""

    payload: Payload
    position: int


def batches(
    entity_records: Iterable[tuple[str, Any]], *, batch_records: int, sync_type: str = "incremental"
) -> Iterator[Payload]:
    """Group ``(entity, record)`` pairs, already in dependency order, into payloads.

    A batch closes at ``batch_records`` records, except that schedule rows of one loan are never
    split (SPEC §4: a loan's rows in a batch replace its whole schedule).
    """
    current: dict[str, list[Any]] = {}
    count = 0
    last_schedule_loan: Any = None
    batch_schedule_loans: set[Any] = set()
    flushed_schedule_loans: set[Any] = set()  # loan ids only: memory grows with loans, not rows
    for entity, record in entity_records:
        loan_id = record.get("loan_id") if entity == "loan_schedules" and isinstance(record, dict) else None
        at_loan_boundary = entity != "loan_schedules" or loan_id != last_schedule_loan
        if count >= batch_records and at_loan_boundary:
            yield Payload(sync_type="incremental", records=current)
            flushed_schedule_loans |= batch_schedule_loans
            current, count, batch_schedule_loans = {}, 0, set()
        if entity == "loan_schedules":
            batch_schedule_loans.add(loan_id)
            if loan_id in flushed_schedule_loans:
                raise PayloadError(
                    f"schedule rows of loan {loan_id} are not contiguous in the file; "
                    "group each loan's rows together so its schedule is replaced whole"
                )
            last_schedule_loan = loan_id
        current.setdefault(entity, []).append(record)
        count += 1
    yield Payload(sync_type=sync_type, records=current)


def read_json_file(path: Path, *, batch_records: int) -> Iterator[Chunk]:
    """One payload per file, streamed entity by entity (five passes, constant memory)."""
    size = max(path.stat().st_size, 1)
    with path.open("rb") as handle:
        sync_type = _top_level_sync_type(handle)
        passes = len(ENTITIES)

        def records() -> Iterator[tuple[str, Any]]:
            for entity in ENTITIES:
                handle.seek(0)
                try:
                    for record in ijson.items(handle, f"data.{entity}.item", use_float=False):
                        yield entity, record
                except ijson.JSONError as exc:  # malformed, or bytes that are not UTF-8
                    raise PayloadError(f"{path.name} is not valid JSON: {_first_line(exc)}") from None

        for payload in batches(records(), batch_records=batch_records, sync_type=sync_type):
            index = ENTITIES.index(_last_entity(payload)) if payload.records else passes - 1
            yield Chunk(payload, round((index + handle.tell() / size) / passes * size))


def read_ndjson_file(path: Path, *, batch_records: int, max_records: int) -> Iterator[Chunk]:
    """One payload per line; a line larger than a batch is split the same dependency-safe way."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                document = decode_json(line)
            except PayloadError as exc:
                raise PayloadError(f"line {number}: {exc.message}") from None
            payload = payload_from_document(document, max_records=max_records)
            pairs = ((entity, record) for entity in ENTITIES for record in payload.records.get(entity, []))
            for part in batches(pairs, batch_records=batch_records, sync_type=payload.sync_type):
                yield Chunk(part, handle.tell())


def _first_line(error: Exception) -> str:
    text = error.args[0] if error.args else error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__


def read_file(path: Path, *, batch_records: int, max_records: int) -> Iterator[Chunk]:
    if path.suffix in {".ndjson", ".jsonl"}:
        return read_ndjson_file(path, batch_records=batch_records, max_records=max_records)
    return read_json_file(path, batch_records=batch_records)


def _top_level_sync_type(handle: BinaryIO) -> str:
    try:
        return _sync_type(handle)
    except ijson.JSONError as exc:
        raise PayloadError(f"{Path(handle.name).name} is not valid JSON: {_first_line(exc)}") from None


def _sync_type(handle: BinaryIO) -> str:
    for prefix, event, value in ijson.parse(handle):
        if prefix == "sync_type" and event == "string":
            handle.seek(0)
            if value not in ("incremental", "full"):
                raise PayloadError("sync_type must be 'incremental' or 'full'", field="sync_type")
            return str(value)
        if prefix == "data" and event == "start_map":
            break
    handle.seek(0)
    return "incremental"


def _last_entity(payload: Payload) -> str:
    return [entity for entity in ENTITIES if entity in payload.records][-1]
