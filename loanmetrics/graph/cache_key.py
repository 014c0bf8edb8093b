"""Response-cache keys (SPEC §9): a hash of the normalised document, the variables, the operation
name and the caller's scope. The metrics generation is combined with the key at lookup time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from hashlib import blake2b
from typing import Any

import orjson
from graphql.error import GraphQLSyntaxError
from graphql.language import Lexer, Source, TokenKind

KEY_BYTES = 20
MEMO_MAX_CHARS = 16_384
_STRING_KINDS = frozenset({TokenKind.STRING, TokenKind.BLOCK_STRING})
_WHITESPACE = re.compile(r"[\s,]+")


def normalise_document(document: str) -> str:
    """The document's significant tokens separated by single spaces: whitespace, commas and
    comments are dropped, string values are kept exactly (JSON-quoted, so a string never reads as
    a name). A document that does not lex falls back to whitespace collapsing; such a request
    fails validation anyway."""
    lexer = Lexer(Source(document))
    parts: list[str] = []
    try:
        token = lexer.advance()
        while token.kind is not TokenKind.EOF:
            if token.kind in _STRING_KINDS:
                parts.append(orjson.dumps(token.value).decode())
            else:
                parts.append(token.value if token.value is not None else token.kind.value)
            token = lexer.advance()
    except GraphQLSyntaxError:
        return _WHITESPACE.sub(" ", document).strip()
    return " ".join(parts)


def document_digest(document: str) -> bytes:
    """Digest of the normalised document. Lexing costs ~0.2 ms for a dashboard query, so the
    digest is memoised per document text (dashboards send the same few documents again and
    again); only documents up to MEMO_MAX_CHARS are kept, so the memo's size stays bounded."""
    if len(document) <= MEMO_MAX_CHARS:
        return _memoised_digest(document)
    return _digest(document)


def _digest(document: str) -> bytes:
    return blake2b(normalise_document(document).encode(), digest_size=KEY_BYTES).digest()


_memoised_digest = lru_cache(maxsize=2048)(_digest)


def cache_key(
    document: str, variables: Mapping[str, Any] | None, scope: str, operation_name: str | None = None
) -> str:
    """Stable hex key: equal for documents differing only in layout or comments and for variables
    differing only in key order; different for any other change of document, variables, selected
    operation or caller scope."""
    digest = blake2b(document_digest(document), digest_size=KEY_BYTES)
    digest.update(b"\x00")
    digest.update(orjson.dumps(dict(variables or {}), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    digest.update(b"\x00")
    digest.update((operation_name or "").encode())
    digest.update(b"\x00")
    digest.update(scope.encode())
    return digest.hexdigest()
