"""Registering Ashby webhooks against the sandbox: its webhook.create really pings a receiver that verifies
signatures with the secret stored for the account."""

import asyncio

import pytest
from pydantic import SecretStr

from ashby_api.webhooks import WEBHOOK_ACTIONS
from store import accounts, ashby_webhooks
from store.secrets import SecretBox
from sync.webhook_registration import (
    BETA_TYPES,
    DEFAULT_TYPES,
    delete_webhooks,
    describe_webhooks,
    register_webhooks,
    rotate_secret,
    webhook_url,
)
from tests.ashby_events import PingReceiver
from tests.helpers import SECRET_KEY

BOX = SecretBox(SecretStr(SECRET_KEY))


async def secrets_of(db, account_id) -> tuple[str, ...]:
    async with db.acquire() as conn:
        creds = await accounts.get_credentials(conn, BOX, account_id)
    return tuple(s.get_secret_value() for s in creds.webhook_secrets)


async def stored(db, account_id) -> dict[str, ashby_webhooks.RegisteredWebhook]:
    async with db.acquire() as conn:
        return {w.id: w for w in await ashby_webhooks.list_webhooks(conn, account_id)}


def test_the_default_types_are_every_action_but_ping_and_the_beta_ones() -> None:
    assert set(DEFAULT_TYPES) == WEBHOOK_ACTIONS - {"ping"} - BETA_TYPES
    assert len(BETA_TYPES) == 4


async def test_register_creates_one_enabled_webhook_per_type_signed_with_one_stored_secret(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    results = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url + "/")
    assert [r.webhook_type for r in results] == list(DEFAULT_TYPES)
    assert {r.outcome for r in results} == {"created"}
    assert all(r.enabled for r in results)
    (secret,) = await secrets_of(db, account_id)
    url = webhook_url(ping_receiver.base_url, account_id)
    hooks = fake_ashby.webhooks
    assert {(h.webhook_type, h.request_url, h.secret_token, h.enabled) for h in hooks.values()} == {
        (t, url, secret, True) for t in DEFAULT_TYPES
    }
    assert ping_receiver.verified == ["ping"] * len(DEFAULT_TYPES)  # each ping verified with the stored secret
    assert ping_receiver.refused == 0
    rows = await stored(db, account_id)
    assert set(rows) == set(hooks)
    assert all(w.enabled and w.request_url == url for w in rows.values())
    async with db.acquire() as conn:
        enc = await conn.fetchval("select webhook_secret_enc from accounts where id = $1", account_id)
    assert secret.encode() not in enc

    fake_ashby.reset_request_log()
    again = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url)
    assert {r.outcome for r in again} == {"exists"}
    assert fake_ashby.request_count("webhook.create") == 0
    assert set(fake_ashby.webhooks) == set(hooks)
    assert await secrets_of(db, account_id) == (secret,)


async def test_webhooks_whose_ping_failed_are_reported_and_enabled_by_registering_again(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    ping_receiver.status = 503  # `ashby-sync serve` is not up yet
    types = ("applicationUpdate", "offerUpdate")
    results = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, types)
    assert [(r.outcome, r.enabled) for r in results] == [("disabled", False), ("disabled", False)]
    assert not any(w.enabled for w in (await stored(db, account_id)).values())

    ping_receiver.status = 200
    fake_ashby.reset_request_log()
    again = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, types)
    assert [(r.outcome, r.enabled) for r in again] == [("re-enabled", True), ("re-enabled", True)]
    assert [r.webhook_id for r in again] == [r.webhook_id for r in results]
    assert fake_ashby.request_count("webhook.create") == 0
    assert all(h.enabled for h in fake_ashby.webhooks.values())
    assert all(w.enabled for w in (await stored(db, account_id)).values())


async def test_a_type_ashby_refuses_is_reported_and_the_others_registered(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    types = ("takeHomeAssignmentSubmitted", "applicationUpdate")
    refused, created = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, types)
    assert (refused.outcome, refused.webhook_id) == ("failed", None)
    assert "invalid_input" in (refused.error or "")
    assert (created.outcome, created.enabled) == ("created", True)
    assert [h.webhook_type for h in fake_ashby.webhooks.values()] == ["applicationUpdate"]


async def test_a_webhook_deleted_in_ashby_is_listed_as_missing_and_registered_again(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    first, second = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, ("jobUpdate", "offerCreate"))
    fake_ashby.delete_webhook(first.webhook_id)  # deleted in Ashby's UI
    fake_ashby.webhooks[second.webhook_id].enabled = False  # disabled in Ashby's UI
    states = {s.webhook.id: s for s in await describe_webhooks(sync_ctx)}
    assert states[first.webhook_id].error is not None
    assert (states[second.webhook_id].enabled, states[second.webhook_id].webhook_type) == (False, "offerCreate")
    assert states[second.webhook_id].request_url == webhook_url(ping_receiver.base_url, account_id)
    assert not (await stored(db, account_id))[second.webhook_id].enabled  # the stored state follows Ashby's

    again = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, ("jobUpdate", "offerCreate"))
    assert [r.outcome for r in again] == ["created", "re-enabled"]
    assert set(await stored(db, account_id)) == set(fake_ashby.webhooks)


async def test_delete_removes_webhooks_in_ashby_and_here(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    results = await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, ("jobUpdate", "offerCreate", "jobCreate"))
    ids = [r.webhook_id for r in results if r.webhook_id is not None]
    fake_ashby.delete_webhook(ids[1])
    deleted = await delete_webhooks(sync_ctx, ids[:2])
    assert [(d.webhook_id, d.outcome) for d in deleted] == [(ids[0], "deleted"), (ids[1], "already gone")]
    assert set(fake_ashby.webhooks) == {ids[2]}
    assert set(await stored(db, account_id)) == {ids[2]}
    assert [d.outcome for d in await delete_webhooks(sync_ctx)] == ["deleted"]
    assert fake_ashby.webhooks == {}
    assert await stored(db, account_id) == {}


async def test_rotating_the_secret_updates_every_webhook_then_drops_the_old_one(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, ("jobUpdate", "offerCreate", "jobCreate"))
    (old,) = await secrets_of(db, account_id)
    ping_receiver.verified.clear()
    rotation = await rotate_secret(sync_ctx, BOX)
    assert rotation.finished
    assert not rotation.resumed
    assert (len(rotation.updated), rotation.disabled, rotation.failed) == (3, [], [])
    (new,) = await secrets_of(db, account_id)
    assert new != old
    assert {h.secret_token for h in fake_ashby.webhooks.values()} == {new}
    assert all(h.enabled for h in fake_ashby.webhooks.values())
    assert ping_receiver.verified == ["ping"] * 3  # Ashby re-pinged with the new secret while both were valid

    fake_ashby.touch("jobs", 1)  # a delivery signed with the new secret verifies
    async with asyncio.timeout(5):
        await fake_ashby.wait_deliveries_idle()
    assert ping_receiver.verified[-1] == "jobUpdate"
    assert ping_receiver.refused == 0


async def test_a_partial_rotation_keeps_both_secrets_valid_and_finishes_when_run_again(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver
) -> None:
    await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, ("jobUpdate", "offerCreate", "jobCreate"))
    (old,) = await secrets_of(db, account_id)
    fake_ashby.fail_next("webhook.update", status=403)  # not retryable: the first webhook keeps the old secret
    rotation = await rotate_secret(sync_ctx, BOX)
    assert not rotation.finished
    assert (len(rotation.updated), len(rotation.failed)) == (2, 1)
    new, previous = await secrets_of(db, account_id)
    assert previous == old
    assert sorted(h.secret_token for h in fake_ashby.webhooks.values()) == sorted([old, new, new])

    again = await rotate_secret(sync_ctx, BOX)
    assert again.resumed
    assert again.finished
    assert await secrets_of(db, account_id) == (new,)  # the same rotation finished, not a new one started
    assert {h.secret_token for h in fake_ashby.webhooks.values()} == {new}


@pytest.mark.parametrize("registered", [False, True])
async def test_a_rotation_with_a_webhook_whose_ping_fails_still_completes_and_says_so(
    db, fake_ashby, sync_ctx, account_id, ping_receiver: PingReceiver, registered
) -> None:
    if registered:
        await register_webhooks(sync_ctx, BOX, ping_receiver.base_url, ("jobUpdate",))
        ping_receiver.status = 503
    rotation = await rotate_secret(sync_ctx, BOX)
    assert rotation.finished
    assert len(await secrets_of(db, account_id)) == 1
    assert len(rotation.disabled) == int(registered)
