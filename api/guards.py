"""ASGI guards in front of the routes: API keys (401), body size and type (413/415), model headers.

Plain ASGI classes rather than Starlette's BaseHTTPMiddleware: they see the body as it streams,
so a client that sends 2 MB+ without a Content-Length (chunked) is cut off at the limit, before
the whole body is held in memory.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.settings import API_KEY_HEADER, SOURCE_HEADER, VERSION_HEADER, ApiSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths open without an API key: probes of a load balancer and the documentation.
OPEN_PATHS = frozenset({"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


async def send_error(
    send: Send, status: int, kind: str, message: str, hint: str, extra_headers=()
) -> None:
    """Send a complete JSON error response {"error": {kind, message, hint, fields}}."""
    body = json.dumps(
        {"error": {"kind": kind, "message": message, "hint": hint, "fields": []}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiKeyGuard:
    """401 unless X-API-Key is one of the configured keys (when any are configured)."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.keys = [key.encode() for key in settings.api_keys]

    def _accepted(self, given: bytes | None) -> bool:
        if given is None:
            return False
        # Compare with every key, whatever matches, so the time taken reveals nothing.
        matches = [hmac.compare_digest(given, key) for key in self.keys]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if not self._accepted(_header(scope, API_KEY_HEADER.lower().encode())):
            await send_error(
                send,
                401,
                "unauthorized",
                f"a valid {API_KEY_HEADER} header is required",
                f"Send one of the keys set in PREDICTIONDEX_API_KEYS as {API_KEY_HEADER}.",
                [(b"www-authenticate", API_KEY_HEADER.encode())],
            )
            return
        await self.app(scope, receive, send)


class BodyGuard:
    """413 for a body over the limit (declared or streamed); 415 for a body that is not JSON."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.limit = settings.max_body_bytes

    async def _too_large(self, send: Send) -> None:
        megabytes = self.limit / (1024 * 1024)
        await send_error(
            send,
            413,
            "body_too_large",
            f"the request body is larger than {megabytes:g} MB",
            "Split the request: POST /predict/batch takes up to 10,000 rows per call.",
            [(b"connection", b"close")],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(send)
            return
        content_type = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
        if content_type != b"application/json" and not content_type.endswith(b"+json"):
            await send_error(
                send,
                415,
                "unsupported_media_type",
                "the request body must be JSON",
                "Send Content-Type: application/json with a JSON body (see /docs).",
            )
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands over the buffered body once, then waits on the real one."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class ModelHeaders:
    """Add X-Model-Version / X-Model-Source to every response that does not carry them yet."""

    def __init__(self, app: ASGIApp, current: Callable[[], tuple[str | None, str | None]]) -> None:
        self.app = app
        self.current = current

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                version, source = self.current()
                for name, value in ((VERSION_HEADER, version), (SOURCE_HEADER, source)):
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), (value or "none").encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
