"""Reading the rest of a request body before an early error answer (SPEC §10).

A server that answers 401/403 (or any other early error) and closes while the client is still
sending its body makes the client fail with "Broken pipe" instead of reading the answer: the
lending core's ETL job, posting megabytes without a valid token, saw 20 resets out of 20. So the
unread rest of the body is read and dropped, up to the body size limit, before the error goes
out; the connection then stays usable. A body declared larger than the limit is not waited for.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Message, Receive, Scope

DRAIN_SECONDS = 30.0
"""How long an error answer waits for the rest of a body (a client that stops sending is not waited for)."""


class TrackedBody:
    """The request's ``receive``, remembering whether the body has been read to its end."""

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._declared = _content_length(scope)
        self.done = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" or (
            message["type"] == "http.request" and not message.get("more_body", False)
        ):
            self.done = True
        return message

    async def drain(self) -> None:
        """Read and drop what the application left unread, at most ``limit`` bytes."""
        if self.done or (self._declared is not None and self._declared > self._limit):
            return
        read = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_SECONDS):
                while not self.done and read <= self._limit:
                    message = await self.receive()
                    read += len(message.get("body", b""))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
