"""Helpers for the sandbox tests: an HTTP caller and a webhook receiver, both over real sockets."""

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ashby_sim.app import create_app
from ashby_sim.state import SimState


def basic_auth(username: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def results(self) -> Any:
        assert self.body["success"] is True, self.body
        return self.body["results"]

    @property
    def code(self) -> str:
        assert self.body["success"] is False, self.body
        return str(self.body["errorInfo"]["code"])


class Api:
    """Calls the sandbox the way an Ashby client does: POST, JSON body, Basic auth."""

    def __init__(self, session: aiohttp.ClientSession, state: SimState) -> None:
        self.session = session
        self.state = state

    async def call(
        self,
        endpoint: str,
        body: Any = None,
        *,
        auth: str | None = "default",
        data: bytes | None = None,
        method: str = "POST",
    ) -> Reply:
        headers = {"Content-Type": "application/json", "Accept": "application/json; version=1"}
        if auth == "default":
            headers["Authorization"] = basic_auth(self.state.api_key)
        elif auth is not None:
            headers["Authorization"] = auth
        payload = data if data is not None else orjson.dumps({} if body is None else body)
        url = f"{self.state.base_url}/{endpoint}"
        async with self.session.request(method, url, data=payload, headers=headers) as resp:
            raw = await resp.read()
            return Reply(resp.status, dict(resp.headers), orjson.loads(raw) if raw else None)

    async def list_all(self, endpoint: str, body: dict[str, Any] | None = None) -> tuple[list[Any], str, int]:
        """Every page of one pass: (records, syncToken, requests made)."""
        body = dict(body or {})
        records: list[Any] = []
        calls = 0
        while True:
            reply = await self.call(endpoint, body)
            calls += 1
            records.extend(reply.results)
            if not reply.body["moreDataAvailable"]:
                return records, reply.body["syncToken"], calls
            body = {"cursor": reply.body["nextCursor"], "limit": body.get("limit", 100)}


@asynccontextmanager
async def serve(api: Api, state: SimState) -> AsyncIterator[Api]:
    """Serve another sandbox (say, a bigger one) for the length of a `with` block, using api's session."""
    async with TestServer(create_app(state), host="127.0.0.1") as server:
        state.base_url = str(server.make_url("")).rstrip("/")
        yield Api(api.session, state)


@pytest.fixture
async def api(fake_ashby: SimState) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, fake_ashby)


@dataclass
class Receiver:
    """A webhook endpoint: records every request; answers with queued statuses, then 200."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def payloads(self, action: str | None = None) -> list[dict[str, Any]]:
        bodies = [orjson.loads(body) for _, body in self.received]
        return [b for b in bodies if action is None or b["action"] == action]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        rec.url = str(server.make_url("/hook"))
        yield rec


async def settle(state: SimState) -> None:
    """Wait (bounded) until every webhook the sandbox fired is delivered, given up or dropped."""
    async with asyncio.timeout(5):
        await state.wait_deliveries_idle()
