"""Per-request access to the application object and the authenticated caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import HTTPConnection

from loanmetrics.principal import Principal

if TYPE_CHECKING:
    from loanmetrics.application import Application


def application_of(connection: HTTPConnection) -> Application:
    return cast("Application", connection.app.state.application)


def principal_of(connection: HTTPConnection) -> Principal:
    """Set by the authentication middleware before any route runs."""
    return cast(Principal, connection.scope["principal"])
