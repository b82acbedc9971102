"""A tiny local HTTP server answering with canned Ashby responses, for edge cases the sandbox does not produce."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ashby_api.client import AshbyClient


@dataclass
class Canned:
    """Answers each POST with the next queued response (a 200 empty list once the queue runs dry)."""

    base_url: str = ""
    responses: list[web.Response] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    def add(
        self, status: int = 200, *, body: Any = None, text: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        headers = headers or {}
        if text is None:
            payload = orjson.dumps(body)
            self.responses.append(
                web.Response(status=status, body=payload, headers={"Content-Type": "application/json", **headers})
            )
        else:
            self.responses.append(web.Response(status=status, text=text, headers=headers))

    def page(self, results: list[dict[str, Any]], *, next_cursor: str | None = None, sync_token: str | None = None):
        body: dict[str, Any] = {"success": True, "results": results, "moreDataAvailable": next_cursor is not None}
        if next_cursor is not None:
            body["nextCursor"] = next_cursor
        if sync_token is not None:
            body["syncToken"] = sync_token
        self.add(body=body)

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body, _ in self.requests]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append((request.match_info["endpoint"], orjson.loads(raw) if raw else {}, dict(request.headers)))
        if self.responses:
            return self.responses.pop(0)
        return web.json_response({"success": True, "results": [], "moreDataAvailable": False, "syncToken": "t0"})


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    state = Canned()
    app = web.Application()
    app.router.add_post("/{endpoint}", state.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        state.base_url = str(server.make_url("")).rstrip("/")
        yield state


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def canned_client(canned: Canned, session: aiohttp.ClientSession) -> AshbyClient:
    return AshbyClient(session, base_url=canned.base_url, api_key="canned-key", timeout=5)
