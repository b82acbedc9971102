"""The sandbox's webhooks, captured without the receiver: a tiny HTTP endpoint records each delivery's body,
and `deliver()` stores what arrived in the inbox (as the receiver would) for the applier to apply."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ashby_api.webhooks import verify_signature
from store import inbox
from store.inbox import InboxKey, NewEvent

SECRET = "recorder-secret"


@dataclass
class Recorder:
    """Bodies the sandbox delivered (signature checked), in arrival order; pings are left out."""

    url: str
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature([SECRET], body, request.headers.get("Ashby-Signature")):
            return web.Response(status=401)
        if json.loads(body).get("action") != "ping":
            rec.bodies.append(body)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        rec.url = str(server.make_url("/hook"))
        yield rec


async def subscribe(state, recorder: Recorder, types=None) -> None:
    """Register sandbox webhooks of `types` (default: every type it knows) pointing at the recorder."""
    from ashby_sim.state import WEBHOOK_TYPES

    for webhook_type in sorted(types or WEBHOOK_TYPES):
        hook = await state.create_webhook(webhook_type, recorder.url, SECRET)
        assert hook.enabled


def key_of(account_id: uuid.UUID, body: bytes) -> InboxKey:
    envelope = json.loads(body)  # not orjson: some bodies hold a lone surrogate escape, which it refuses
    return InboxKey(account_id, envelope["webhookActionId"], envelope["action"])


async def store_bodies(pool, account_id: uuid.UUID, bodies: list[bytes]) -> list[InboxKey]:
    """Insert bodies into the inbox (pending); returns the keys of the new ones, in order."""
    events = [NewEvent(key_of(account_id, b), b) for b in bodies]
    async with pool.acquire() as conn:
        new = await inbox.insert_events(conn, events)
    return [e.key for e, is_new in zip(events, new, strict=True) if is_new]


async def deliver(state, recorder: Recorder, pool, account_id: uuid.UUID) -> list[InboxKey]:
    """Wait for the sandbox's deliveries, store the new ones in the inbox, and forget them from the recorder."""
    async with asyncio.timeout(5):
        await state.wait_deliveries_idle()
    bodies, recorder.bodies = recorder.bodies, []
    return await store_bodies(pool, account_id, bodies)


def envelope(action: str, data: dict, webhook_action_id: str | None = None) -> bytes:
    """A webhook body built by hand (for actions the sandbox does not fire)."""
    action_id = webhook_action_id or str(uuid.uuid4())
    return orjson.dumps({"webhookActionId": action_id, "action": action, "data": data})


@dataclass
class PingReceiver:
    """Stands in for `ashby-sync serve` at `base_url`: verifies each delivery with the account's stored secrets."""

    base_url: str
    status: int = 200  # what it answers a valid delivery (503: the receiver is "down")
    verified: list[str] = field(default_factory=list)  # actions of deliveries whose signature verified
    refused: int = 0


@pytest.fixture
async def ping_receiver(db) -> AsyncIterator[PingReceiver]:
    from pydantic import SecretStr

    from store.accounts import get_credentials
    from store.secrets import SecretBox
    from tests.helpers import SECRET_KEY

    box = SecretBox(SecretStr(SECRET_KEY))
    rec = PingReceiver(base_url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if rec.status >= 500:
            return web.Response(status=rec.status)
        async with db.acquire() as conn:
            creds = await get_credentials(conn, box, uuid.UUID(request.match_info["account_id"]))
        secrets = [s.get_secret_value() for s in creds.webhook_secrets]
        if not verify_signature(secrets, body, request.headers.get("Ashby-Signature")):
            rec.refused += 1
            return web.Response(status=401)
        rec.verified.append(json.loads(body)["action"])
        return web.Response(status=rec.status)

    app = web.Application()
    app.router.add_post("/webhooks/ashby/{account_id}", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        rec.base_url = str(server.make_url("")).rstrip("/")
        yield rec
