"""Errors the queries report on purpose: a code clients can branch on, never a stack trace.

GraphQL errors carrying ``extensions.code``: the GraphQL endpoint passes them through as they
are, and the REST layer maps each code to an HTTP status."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class ApiError(GraphQLError):
    """A GraphQL error with ``extensions.code`` (BAD_REQUEST, FORBIDDEN, NOT_FOUND, CONFLICT, ...)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, extensions={"code": code, **details})
        self.code = code


def bad_request(message: str, **details: Any) -> ApiError:
    return ApiError("BAD_REQUEST", message, **details)


def forbidden(message: str = "your role may not do this") -> ApiError:
    return ApiError("FORBIDDEN", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)


def conflict(message: str, **details: Any) -> ApiError:
    return ApiError("CONFLICT", message, **details)
