"""Every answer of DESIGN.md invariant 2, through the real handler, Postgres and Redis."""

import asyncio
import hashlib
import logging
import uuid

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from ashby_api.webhooks import SIGNATURE_HEADER, sign
from core.queue import clear_drain_flag, drain_job_id
from store import accounts
from tests.webhooks.conftest import (
    BOX,
    WEBHOOK_SECRET,
    deliver,
    envelope,
    inbox_rows,
    queued_jobs,
)
from webhooks.app import create_app


async def test_a_signed_known_event_is_stored_pending_and_enqueued_once(client, db, redis_client, account_id, secret):
    body = envelope("offerUpdate", offer={"id": "o1", "acceptanceStatus": "Accepted"})

    assert await deliver(client, account_id, body) == (200, "stored")

    rows = await inbox_rows(db)
    payload = orjson.loads(body)
    assert rows == [
        {
            "account_id": account_id,
            "webhook_action_id": payload["webhookActionId"],
            "action": "offerUpdate",
            "status": "pending",
            "body": body,
        }
    ]
    assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}  # one drain job for the account


async def test_valid_json_that_the_fast_parser_refuses_is_stored_pending_as_sent(
    client, db, redis_client, account_id, secret
):
    # half an emoji, as JavaScript's JSON.stringify writes it: valid JSON, refused by pydantic-core and orjson
    body = b'{"webhookActionId":"w1","action":"applicationUpdate","data":{"application":{"id":"a1","n":"Zo\\ud83d"}}}'

    assert await deliver(client, account_id, body) == (200, "stored")

    assert await inbox_rows(db) == [
        {
            "account_id": account_id,
            "webhook_action_id": "w1",
            "action": "applicationUpdate",
            "status": "pending",
            "body": body,
        }
    ]
    assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}


async def test_retries_and_replays_are_acknowledged_stored_once_and_enqueued_once(
    client, db, redis_client, account_id, secret
):
    body = envelope("applicationUpdate", application={"id": "a1"})
    assert await deliver(client, account_id, body) == (200, "stored")
    job_id = drain_job_id(account_id, 1)
    # the worker took the drain and finished it (arq keeps no result): a replay must still not enqueue one again
    await clear_drain_flag(redis_client, account_id)
    await redis_client.delete(f"arq:job:{job_id}")
    await redis_client.zrem("ashby:queue", job_id)

    for _ in range(3):
        assert await deliver(client, account_id, body) == (200, "duplicate")

    assert len(await inbox_rows(db)) == 1
    assert await queued_jobs(redis_client) == set()


async def test_concurrent_duplicates_are_stored_once_and_enqueued_once(client, db, redis_client, account_id, secret):
    body = envelope("candidateHire", application={"id": "a1"})

    answers = await asyncio.gather(*(deliver(client, account_id, body) for _ in range(20)))

    assert sorted(answers) == [(200, "duplicate")] * 19 + [(200, "stored")]
    assert len(await inbox_rows(db)) == 1
    assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}


async def test_related_events_sharing_an_action_id_are_distinct(client, db, redis_client, account_id, secret):
    action_id = str(uuid.uuid4())
    stage_change = envelope("candidateStageChange", action_id, application={"id": "a1"})
    update = envelope("applicationUpdate", action_id, application={"id": "a1"})

    assert await deliver(client, account_id, stage_change) == (200, "stored")
    assert await deliver(client, account_id, update) == (200, "stored")

    assert {(r["webhook_action_id"], r["action"]) for r in await inbox_rows(db)} == {
        (action_id, "candidateStageChange"),
        (action_id, "applicationUpdate"),
    }
    assert await queued_jobs(redis_client) == {drain_job_id(account_id, 1)}  # whose drain applies both


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("sha256=" + "0" * 64, "bad_signature"),
        (sign("another-secret", b"x"), "bad_signature"),
        ("sha1=abc", "bad_signature"),
    ],
)
async def test_a_missing_or_wrong_signature_is_401_and_nothing_is_stored(
    client, db, redis_client, account_id, secret, header, reason
):
    body = envelope()
    headers = {} if header is None else {SIGNATURE_HEADER: header}

    async with client.post(f"/webhooks/ashby/{account_id}", data=body, headers=headers) as resp:
        assert resp.status == 401
        assert await resp.json() == {"status": reason}

    assert await inbox_rows(db) == []
    assert await queued_jobs(redis_client) == set()


async def test_a_body_signed_for_another_account_is_401(client, db, fake_ashby, account_id, secret):
    async with db.acquire() as conn:
        other = await accounts.add_account(
            conn,
            BOX,
            name="other",
            api_key=SecretStr("k"),
            base_url=fake_ashby.base_url,
            webhook_secret=SecretStr("s2"),
        )
    body = envelope()

    assert await deliver(client, other.id, body, secret=WEBHOOK_SECRET) == (401, "bad_signature")
    assert await deliver(client, other.id, body, secret="s2") == (200, "stored")


async def test_an_account_without_a_webhook_secret_gets_401_and_one_clear_log_line(client, db, account_id):
    with capture_logs() as logs:
        for _ in range(3):
            assert await deliver(client, account_id, envelope(), secret="anything") == (401, "no_secret")

    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["webhook_secret_missing"]
    assert await inbox_rows(db) == []


@pytest.mark.parametrize("account", [str(uuid.uuid4()), "not-a-uuid", "sandbox"])
async def test_an_unknown_or_malformed_account_is_404(client, db, account_id, secret, account):
    assert await deliver(client, account, envelope()) == (404, "unknown_account")
    assert await inbox_rows(db) == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        b'{"webhookActionId": "x", "action": "applicationUpdate"}',  # no data
        b'{"webhookActionId": "x", "action": "applicationUpdate", "data": []}',
        b'{"webhookActionId": "", "action": "applicationUpdate", "data": {}}',
        b'{"webhookActionId": "x\\u0000y", "action": "applicationUpdate", "data": {}}',
        b'{"webhookActionId": "x\\ud800", "action": "applicationUpdate", "data": {}}',
        b'{"action": "applicationUpdate", "data": {}}',
        b'{"webhookActionId": 7, "action": "applicationUpdate", "data": {}}',
        b'{"webhookActionId": "x", "action": "applicationUpdate", "data": {"n": NaN}}',
        b'{"webhookActionId": "x", "action": "applicationUpdate", "data": {"n": -Infinity}}',
    ],
)
async def test_a_malformed_body_with_a_valid_signature_is_400_and_stored_as_rejected(
    client, db, redis_client, account_id, secret, body
):
    for _ in range(2):  # Ashby retries a 400: the audit row is stored once
        assert await deliver(client, account_id, body) == (400, "malformed")

    assert await inbox_rows(db) == [
        {
            "account_id": account_id,
            "webhook_action_id": "rejected:" + hashlib.sha256(body).hexdigest(),
            "action": "rejected",
            "status": "rejected",
            "body": body,
        }
    ]
    assert await queued_jobs(redis_client) == set()


async def test_a_body_over_the_limit_is_413_and_nothing_is_stored(
    db, redis_client, queue, settings, account_id, secret
):
    small = settings.model_copy(update={"webhook_max_body_bytes": 2048})
    body = envelope(blob="x" * 4096)

    async def chunked():  # no Content-Length: the limit holds while reading
        for i in range(0, len(body), 512):
            yield body[i : i + 512]

    async with TestClient(TestServer(create_app(small, pool=db, queue=queue), host="127.0.0.1")) as client:
        assert await deliver(client, account_id, body) == (413, "too_large")
        headers = {SIGNATURE_HEADER: sign(secret, body)}
        async with client.post(f"/webhooks/ashby/{account_id}", data=chunked(), headers=headers) as resp:
            assert resp.status == 413
        assert await deliver(client, account_id, envelope(blob="x" * 1500)) == (200, "stored")

    assert len(await inbox_rows(db)) == 1


async def test_an_unknown_action_is_200_stored_skipped_and_not_enqueued(client, db, redis_client, account_id, secret):
    body = envelope("somethingAshbyAddedLater", thing={"id": "t1"})

    assert await deliver(client, account_id, body) == (200, "stored")

    [row] = await inbox_rows(db)
    assert (row["action"], row["status"], row["body"]) == ("somethingAshbyAddedLater", "skipped", body)
    assert await queued_jobs(redis_client) == set()


async def test_a_ping_is_acknowledged_and_recorded(client, db, redis_client, account_id, secret):
    ping = envelope("ping", webhookActionType="ping")
    bare_ping = b'{"action":"ping","data":{"webhookActionType":"ping"}}'  # the shape Ashby's setup docs show

    assert await deliver(client, account_id, ping) == (200, "stored")
    assert await deliver(client, account_id, bare_ping) == (200, "stored")

    rows = await inbox_rows(db)
    assert [(r["action"], r["status"]) for r in rows] == [("ping", "skipped"), ("ping", "skipped")]
    assert rows[1]["webhook_action_id"] == "ping:" + hashlib.sha256(bare_ping).hexdigest()
    assert await queued_jobs(redis_client) == set()


async def test_the_new_and_the_previous_secret_verify_at_once_after_a_rotation(client, db, account_id, secret):
    assert await deliver(client, account_id, envelope()) == (200, "stored")  # caches the current secret
    async with db.acquire() as conn:
        await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr("second-secret"))

    # seen at once, although the cached entry is fresh: a delivery is refused only against secrets read after it
    assert await deliver(client, account_id, envelope(), secret="second-secret") == (200, "stored")
    assert await deliver(client, account_id, envelope(), secret=WEBHOOK_SECRET) == (200, "stored")

    async with db.acquire() as conn:
        await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr("third-secret"))
    assert await deliver(client, account_id, envelope(), secret="third-secret") == (200, "stored")
    assert await deliver(client, account_id, envelope(), secret="second-secret") == (200, "stored")


async def test_a_secret_rotated_out_is_refused(db, queue, settings, account_id, secret):
    uncached = settings.model_copy(update={"webhook_secret_cache_seconds": 0})  # else refused within the TTL
    async with TestClient(TestServer(create_app(uncached, pool=db, queue=queue), host="127.0.0.1")) as client:
        for new in ("second-secret", "third-secret"):
            async with db.acquire() as conn:
                await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr(new))

        assert await deliver(client, account_id, envelope(), secret=WEBHOOK_SECRET) == (401, "bad_signature")
        assert await deliver(client, account_id, envelope(), secret="second-secret") == (200, "stored")


async def test_a_first_secret_set_after_a_401_is_seen_at_once(client, db, account_id):
    assert await deliver(client, account_id, envelope(), secret=WEBHOOK_SECRET) == (401, "no_secret")
    async with db.acquire() as conn:
        await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr(WEBHOOK_SECRET))

    assert await deliver(client, account_id, envelope(), secret=WEBHOOK_SECRET) == (200, "stored")


async def test_an_account_removed_while_cached_is_404(client, db, account_id, secret):
    assert await deliver(client, account_id, envelope()) == (200, "stored")
    async with db.acquire() as conn:
        await accounts.remove_account(conn, account_id)

    assert await deliver(client, account_id, envelope()) == (404, "unknown_account")
    assert await inbox_rows(db) == []


async def test_logs_bind_ids_and_never_carry_the_body_or_the_secret(client, account_id, secret, caplog):
    caplog.set_level(logging.DEBUG, logger="webhooks.handlers")  # accepted deliveries are logged at DEBUG
    body = envelope("applicationUpdate", application={"id": "a1", "candidate": {"name": "Ada Lovelace"}})

    with capture_logs(processors=[merge_contextvars]) as logs:
        async with client.post(
            f"/webhooks/ashby/{account_id}", data=body, headers={SIGNATURE_HEADER: sign(secret, body)}
        ) as resp:
            assert resp.status == 200
            request_id = resp.headers["X-Request-Id"]

    [line] = [e for e in logs if e["event"] == "webhook_stored"]
    assert line["request_id"] == request_id
    assert line["account_id"] == str(account_id)
    assert line["webhook_action"] == "applicationUpdate"
    assert line["webhook_action_id"] == orjson.loads(body)["webhookActionId"]
    text = repr(logs)
    assert "Ada Lovelace" not in text
    assert secret not in text
    assert sign(secret, body) not in text
