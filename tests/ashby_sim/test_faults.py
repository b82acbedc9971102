"""Fault switches, one-shot failures, the request log and the `/_sim` admin routes."""

import os
import subprocess
import sys
import time

import pytest

from ashby_sim.command import start_sandbox
from ashby_sim.state import SimState
from tests.ashby_sim.conftest import Api, basic_auth


async def test_latency_delays_every_request(api: Api):
    api.state.faults.latency_ms = 60

    started = time.monotonic()
    reply = await api.call("user.list")

    assert reply.status == 200
    assert time.monotonic() - started >= 0.06


async def test_rate_429_answers_429_with_retry_after_when_set(api: Api):
    api.state.faults.rate_429 = 1.0
    api.state.faults.retry_after = 2.5

    reply = await api.call("candidate.list")

    assert reply.status == 429
    assert reply.headers["Retry-After"] == "2.5"
    assert reply.body["errorInfo"]["code"] == "rate_limit_exceeded"
    assert reply.body["errorInfo"]["requestId"] == reply.headers["x-ashby-request-id"]


async def test_429_without_retry_after_sends_no_header(api: Api):
    api.state.faults.rate_429 = 1.0

    reply = await api.call("candidate.list")

    assert reply.status == 429
    assert "Retry-After" not in reply.headers


async def test_rate_5xx_answers_server_errors(api: Api):
    api.state.faults.rate_5xx = 1.0

    statuses = {(await api.call("job.list")).status for _ in range(12)}

    assert statuses <= {500, 502, 503}
    assert statuses


async def test_fault_rates_are_seeded_and_partial(api: Api):
    api.state.faults.rate_429 = 0.5

    statuses = [(await api.call("user.list")).status for _ in range(40)]

    assert 5 < statuses.count(429) < 35
    assert statuses.count(200) == 40 - statuses.count(429)


async def test_fail_next_fails_exactly_the_queued_number_of_calls_of_that_endpoint(api: Api):
    api.state.fail_next("candidate.list", status=503, times=2)

    other = await api.call("user.list")
    statuses = [(await api.call("candidate.list")).status for _ in range(3)]

    assert other.status == 200
    assert statuses == [503, 503, 200]


async def test_fail_next_with_a_code_answers_http_200_success_false(api: Api):
    api.state.fail_next("application.list", code="sync_token_expired")

    reply = await api.call("application.list")

    assert reply.status == 200
    assert reply.code == "sync_token_expired"


async def test_fail_next_429_carries_its_retry_after(api: Api):
    api.state.fail_next("*", status=429, retry_after=1)

    reply = await api.call("offer.list")

    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1"


async def test_the_request_log_counts_calls_and_keeps_bodies_and_error_codes(api: Api):
    await api.call("candidate.list", {"limit": 5})
    await api.call("candidate.list", {"syncToken": "junk"})

    assert api.state.request_count("candidate.list") == 2
    assert [(r.endpoint, r.body, r.status, r.error_code) for r in api.state.requests] == [
        ("candidate.list", {"limit": 5}, 200, None),
        ("candidate.list", {"syncToken": "junk"}, 200, "sync_token_invalid"),
    ]
    api.state.reset_request_log()
    assert api.state.request_count("candidate.list") == 0
    assert not api.state.requests


async def test_admin_routes_need_the_api_key(api: Api):
    reply = await api.call("_sim/faults", {"latency_ms": 5}, auth=basic_auth("nope"))

    assert reply.status == 403
    assert api.state.faults.latency_ms == 0


async def test_admin_faults_route_sets_switches(api: Api):
    reply = await api.call("_sim/faults", {"rate_429": 1, "retry_after": 3, "webhook_reorder": True})
    bad = await api.call("_sim/faults", {"no_such_switch": 1})

    assert reply.results["rate_429"] == 1.0
    assert api.state.faults.retry_after == 3.0
    assert api.state.faults.webhook_reorder is True
    assert bad.status == 400
    assert bad.code == "invalid_input"


async def test_admin_fail_next_expire_and_request_counts(api: Api):
    await api.call("_sim/fail_next", {"endpoint": "job.list", "status": 500})
    failed = await api.call("job.list")
    first = await api.call("job.list", {"limit": 1})
    await api.call("_sim/expire_cursors")
    expired_cursor = await api.call("job.list", {"cursor": first.body["nextCursor"]})
    _, token, _ = await api.list_all("job.list")
    await api.call("_sim/expire_sync_tokens")
    expired_token = await api.call("job.list", {"syncToken": token})
    counts = await api.call("_sim/requests", method="GET")

    assert failed.status == 500
    assert expired_cursor.code == "next_cursor_expired"
    assert expired_token.code == "sync_token_expired"
    assert counts.results["counts"]["job.list"] == 5


async def test_admin_touch_and_mutate_change_records(api: Api):
    _, token, _ = await api.list_all("application.list")
    touched = await api.call("_sim/touch", {"resource": "applications", "count": 3})
    app_id = api.state.ids("applications")[10]
    offer_id = api.state.ids("offers")[0]
    moved = await api.call("_sim/mutate/set_offer_status", {"offer_id": offer_id, "acceptance_status": "Declined"})
    wrong = await api.call("_sim/mutate/hire", {"no_such_argument": app_id})
    unknown = await api.call("_sim/mutate/drop_database", {})

    changed = await api.call("application.list", {"syncToken": token})

    assert [r["id"] for r in changed.results] == touched.results["ids"]
    assert moved.results["offerStatus"] == "CandidateRejected"
    assert wrong.status == 400
    assert unknown.code == "invalid_input"


@pytest.mark.parametrize("name", ["webhook_drop", "rate_5xx"])
async def test_negative_rates_are_rejected(api: Api, name):
    reply = await api.call("_sim/faults", {name: -1})

    assert reply.code == "invalid_input"


async def test_start_sandbox_serves_on_a_free_port_and_sets_base_url(api: Api):
    state = SimState(seed=9, candidates=10, api_key="other-key")
    runner = await start_sandbox(state, "127.0.0.1", 0)
    try:
        reply = await Api(api.session, state).call("candidate.list")
    finally:
        await runner.cleanup()

    assert state.base_url.startswith("http://127.0.0.1:")
    assert [r["id"] for r in reply.results] == state.ids("candidates")


def test_the_sandbox_command_documents_every_switch():
    result = subprocess.run(
        [sys.executable, "-m", "ashby_sim", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )

    for option in ("--port", "--seed", "--candidates", "--api-key", "--latency-ms", "--rate-429", "--retry-after"):
        assert option in result.stdout
    for option in ("--rate-5xx", "--incremental-cap", "--webhook-drop", "--webhook-duplicate", "--webhook-reorder"):
        assert option in result.stdout
