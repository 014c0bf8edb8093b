"""NUL and text that is not valid UTF-8 in ETL batches (SPEC §4, §13): each record holding such a
string in any text field is rejected on its own (INVALID_TEXT, with its field path), the rest of
the batch commits (207), and nothing reaches a statement before it is validated. The text fields
are read from the record models, so a field added later is covered too."""

from __future__ import annotations

import types
import typing
from typing import Any

import asyncpg
import orjson
import pytest

from loanmetrics.db.ingestion.validation import ENTITY_SPECS
from tests.conftest import bearer
from tests.test_etl_http import small_book

PLACEHOLDER = "@@BAD@@"
BAD_TEXT = {  # how the bad string is written in the body, and how the response names it
    "nul": (b"A\\u0000B", "A\x00B"),
    "lone-surrogate-escape": (b"A\\ud800B", "A\\ud800B"),
    "invalid-utf8-bytes": (b"A\xff\xfeB", "A\\udcff\\udcfeB"),
}


def _base(hint: Any) -> Any:
    """The value type under Annotated, NotRequired and Optional."""
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated or getattr(origin, "_name", "") in ("NotRequired", "Required"):
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        else:
            return hint


TEXT_FIELDS: dict[str, list[str]] = {
    name: [field for field, hint in typing.get_type_hints(spec.model, include_extras=True).items()
           if _base(hint) is str]
    for name, spec in ENTITY_SPECS.items()
}


def test_every_entity_has_text_fields() -> None:
    """The generated list is what we think it is (a guard on the generator, not the product)."""
    assert TEXT_FIELDS["loan_schedules"] == ["loan_id"]
    assert {"loan_id", "customer_id", "officer_id", "status", "channel"} <= set(TEXT_FIELDS["loans"])
    assert {"repayment_id", "loan_id", "payment_method", "reversal_reason"} <= set(TEXT_FIELDS["repayments"])
    assert sum(map(len, TEXT_FIELDS.values())) >= 39


def _valid(entity: str, n: int) -> dict[str, Any]:
    """A valid record of ``entity`` with a key of its own and every optional text field filled."""
    templates: dict[str, dict[str, Any]] = {
        "officers": {"officer_id": f"XO{n}", "officer_name": "Xavier", "region": "North", "branch": "Alpha"},
        "customers": {"customer_id": f"XC{n}", "customer_name": "Xena"},
        "loans": {"loan_id": f"XL{n}", "customer_id": "C1", "customer_name": "Bola", "officer_id": "OF1",
                  "officer_name": "Ada", "region": "North", "branch": "Alpha", "loan_amount": "100.00",
                  "disbursement_date": "2026-09-01", "maturity_date": "2026-09-30", "loan_term_days": 29,
                  "channel": "Branch", "status": "Active"},
        "loan_schedules": {"loan_id": "L2", "installment_number": n, "due_date": "2026-09-10",
                           "principal_due": "1.00", "interest_due": "0", "fee_due": "0", "total_due": "1.00"},
        "repayments": {"repayment_id": f"XR{n}", "loan_id": "L1", "payment_date": "2026-09-10",
                       "payment_amount": "1.00", "principal_paid": "1.00", "interest_paid": "0", "fees_paid": "0",
                       "payment_method": "Cash", "is_reversed": False},
    }
    record = dict(templates[entity])
    for field in TEXT_FIELDS[entity]:
        record.setdefault(field, "text")
    return record


def _batch(spelling: bytes) -> tuple[bytes, list[tuple[str, int, str, dict[str, Any]]]]:
    """small_book plus, for every text field of every entity, one record whose field is bad."""
    book = small_book()
    book["data"]["loan_schedules"] = [row for row in book["data"]["loan_schedules"] if row["loan_id"] != "L2"]
    bad: list[tuple[str, int, str, dict[str, Any]]] = []
    for entity, fields in TEXT_FIELDS.items():
        records = book["data"].setdefault(entity, [])
        for field in fields:
            record = _valid(entity, len(records) + 1)
            record[field] = PLACEHOLDER
            bad.append((entity, len(records), field, record))
            records.append(record)
    return orjson.dumps(book).replace(PLACEHOLDER.encode(), spelling), bad


@pytest.mark.parametrize("kind", BAD_TEXT)
async def test_bad_text_in_any_field_rejects_that_record_alone(client, app, kind: str) -> None:
    spelling, shown = BAD_TEXT[kind]
    body, bad = _batch(spelling)
    response = await client.post("/api/v1/etl/sync", content=body, headers={
        **bearer(app, "etl"), "Content-Type": "application/json"})
    assert response.status_code == 207, response.text
    document = response.json()
    assert document["status"] == "partial_success"
    singular = {name: spec.entity_type for name, spec in ENTITY_SPECS.items()}
    expected = []
    for entity, index, field, record in bad:
        key_fields = ENTITY_SPECS[entity].key_fields
        key = "#".join(shown if name == field else str(record[name]) for name in key_fields)
        expected.append({"entity_type": singular[entity], "entity_id": key,
                         "field": f"data.{entity}[{index}].{field}", "error_code": "INVALID_TEXT",
                         "error_message": "must be valid UTF-8 text without NUL characters"})
    assert sorted(document["errors"], key=lambda e: e["field"]) == sorted(expected, key=lambda e: e["field"])
    assert {entity: counts["failed"] for entity, counts in document["results"].items()} == {
        entity: len(fields) for entity, fields in TEXT_FIELDS.items()}
    # the valid records of the batch are committed, and no rejected one
    conn = await asyncpg.connect(app.settings.database_url)
    try:
        assert {r[0] for r in await conn.fetch("SELECT officer_id FROM officers")} == {"OF1", "OF2"}
        assert {r[0] for r in await conn.fetch("SELECT customer_id FROM customers")} == {"C1", "C2"}
        assert {r[0] for r in await conn.fetch("SELECT loan_id FROM loans")} == {"L1", "L2"}
        assert await conn.fetchval("SELECT count(*) FROM loan_schedule WHERE loan_id = 'L1'") == 3
        assert {r[0] for r in await conn.fetch("SELECT repayment_id FROM repayments")} == {"R1", "R2"}
        assert await conn.fetchval("SELECT total_outstanding FROM loans WHERE loan_id = 'L1'") is not None
    finally:
        await conn.close()
    # the same batch again: the same answer, nothing doubled
    again = await client.post("/api/v1/etl/sync", content=body, headers={
        **bearer(app, "etl"), "Content-Type": "application/json"})
    assert again.status_code == 207
    assert again.json()["errors"] == document["errors"]
    assert again.json()["results"]["loans"] == {"inserted": 0, "updated": 0, "unchanged": 2,
                                                "failed": len(TEXT_FIELDS["loans"])}


@pytest.mark.parametrize("kind", BAD_TEXT)
async def test_a_bad_loan_reference_alone_does_not_poison_the_batch(client, app, kind: str) -> None:
    """The issue's case: a NUL in the loan_id of a repayment used to fail the stored-loans lookup
    (HTTP 500), losing the valid records on every retry."""
    spelling, _ = BAD_TEXT[kind]
    book = small_book()
    book["data"]["repayments"].append({**book["data"]["repayments"][0], "repayment_id": "R9",
                                       "loan_id": PLACEHOLDER})
    body = orjson.dumps(book).replace(PLACEHOLDER.encode(), spelling)
    response = await client.post("/api/v1/etl/sync", content=body, headers={
        **bearer(app, "etl"), "Content-Type": "application/json"})
    assert response.status_code == 207, response.text
    assert [(e["entity_id"], e["field"], e["error_code"]) for e in response.json()["errors"]] == [
        ("R9", "data.repayments[2].loan_id", "INVALID_TEXT")]
    assert response.json()["results"]["repayments"] == {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 1}


async def test_a_body_that_is_not_utf8_json_is_refused_whole(client, app) -> None:
    headers = {**bearer(app, "etl"), "Content-Type": "application/json"}
    valid = orjson.dumps(small_book())
    for body in (b"\xff\xfe" + valid, valid.replace(b'"data"', b'"d\xffata"'), valid.replace(b"{", b"{\xff", 1),
                 b'{"data": {"loans": [\xed\xa0\x80]}}'):
        response = await client.post("/api/v1/etl/sync", content=body, headers=headers)
        assert response.status_code == 400, (body[:40], response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    conn = await asyncpg.connect(app.settings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM loans") == 0
    finally:
        await conn.close()


def test_the_cli_rejects_bad_text_per_record_and_bad_files_in_one_line(clean_database_url, monkeypatch, tmp_path,
                                                                       capsys) -> None:
    """``loanmetrics ingest`` shares the batch path: bad text in a record rejects that record
    (exit status 1); a file that is not UTF-8 JSON is one clear line and exit status 2."""
    from loanmetrics.cli import main

    monkeypatch.setenv("DATABASE_URL", clean_database_url)
    monkeypatch.setenv("LOANMETRICS_TODAY", "2026-09-18")
    monkeypatch.setenv("LOANMETRICS_LOG_JSON", "false")
    book = small_book()
    book["data"]["repayments"].append({**book["data"]["repayments"][0], "repayment_id": "R9",
                                       "loan_id": PLACEHOLDER})
    payload = orjson.dumps(book)
    nul = tmp_path / "nul.json"
    nul.write_bytes(payload.replace(PLACEHOLDER.encode(), b"A\\u0000B"))
    assert main(["ingest", str(nul)]) == 1
    assert "rejected repayment R9 at data.repayments[2].loan_id: INVALID_TEXT" in capsys.readouterr().err
    lines = tmp_path / "surrogate.ndjson"
    lines.write_bytes(payload.replace(PLACEHOLDER.encode(), b"A\\ud800B") + b"\n")
    assert main(["ingest", str(lines)]) == 1
    assert "rejected repayment R9 at data.repayments[2].loan_id: INVALID_TEXT" in capsys.readouterr().err
    for name, body in (("bytes.json", payload.replace(PLACEHOLDER.encode(), b"A\xffB")),
                       ("early.json", b'{"sync_type": "\xff", "data": {}}')):
        broken = tmp_path / name
        broken.write_bytes(body)
        assert main(["ingest", str(broken)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {broken}: not valid JSON: lexical error"), err
        assert "Traceback" not in err
