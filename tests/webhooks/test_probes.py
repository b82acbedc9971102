"""GET /healthz, /readyz and /metrics."""

from prometheus_client.parser import text_string_to_metric_families

from tests.webhooks.conftest import deliver, envelope


async def test_healthz_and_readyz_answer_ok(client):
    async with client.get("/healthz") as resp:
        assert (resp.status, await resp.json()) == (200, {"status": "ok"})
    async with client.get("/readyz") as resp:
        assert (resp.status, await resp.json()) == (200, {"postgres": "ok", "redis": "ok"})
        assert resp.headers["X-Request-Id"]


async def test_every_request_gets_its_own_request_id(client):
    ids = []
    for _ in range(3):
        async with client.get("/healthz") as resp:
            ids.append(resp.headers["X-Request-Id"])
    assert len(set(ids)) == 3
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


async def test_metrics_count_what_the_receiver_did(client, account_id, secret):
    body = envelope("offerUpdate")
    assert await deliver(client, account_id, body) == (200, "stored")
    assert await deliver(client, account_id, body) == (200, "duplicate")
    assert await deliver(client, account_id, envelope("newThing")) == (200, "stored")
    assert await deliver(client, account_id, envelope(), secret="wrong") == (401, "bad_signature")
    assert await deliver(client, account_id, b"{", secret=secret) == (400, "malformed")

    async with client.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("ashby_webhooks_received_total", (("action", "offerUpdate"),))] == 2
    assert samples[("ashby_webhooks_received_total", (("action", "other"),))] == 1
    assert samples[("ashby_webhooks_duplicates_total", (("action", "offerUpdate"),))] == 1
    assert samples[("ashby_webhooks_rejected_total", (("reason", "bad_signature"),))] == 1
    assert samples[("ashby_webhooks_rejected_total", (("reason", "malformed"),))] == 1
    assert samples[("ashby_webhooks_rejected_total", (("reason", "too_large"),))] == 0
    assert samples[("ashby_webhook_inbox_backlog", ())] == 1  # offerUpdate; the unknown action is skipped
    assert samples[("ashby_webhook_ingest_seconds_count", ())] == 3
    assert samples[("ashby_webhook_inbox_batch_size_sum", ())] == 4  # three events and the rejected body
    assert samples[("ashby_webhooks_store_failures_total", ())] == 0
    assert samples[("ashby_webhooks_enqueue_failures_total", ())] == 0
    assert samples[("ashby_webhooks_enqueued_total", ())] == 1
