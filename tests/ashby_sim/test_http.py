"""The sandbox over HTTP: auth, request ids, the envelope, validation errors, limits."""

import re

import pytest

from ashby_sim.state import SimState
from tests.ashby_sim.conftest import Api, basic_auth, serve

REQUEST_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        ("Bearer sandbox-key", 401),
        ("Basic !!!not-base64", 401),
        (basic_auth("wrong-key"), 403),
    ],
)
async def test_missing_or_malformed_auth_is_401_and_a_wrong_key_403(api: Api, auth, status):
    reply = await api.call("candidate.list", {}, auth=auth)

    assert reply.status == status
    assert reply.body["success"] is False
    assert REQUEST_ID.match(reply.headers["x-ashby-request-id"])
    assert reply.body["errorInfo"]["requestId"] == reply.headers["x-ashby-request-id"]


async def test_any_password_is_accepted_with_the_right_key(api: Api):
    reply = await api.call("apiKey.info", {}, auth=basic_auth("sandbox-key", "sandbox-key"))

    assert reply.status == 200
    assert "candidates:read" in reply.results["scopes"]
    assert "jobs:read" in reply.results["scopes"]


async def test_every_response_carries_a_distinct_request_id(api: Api):
    first = await api.call("user.list")
    second = await api.call("no.such.endpoint")

    assert first.status == 200
    assert second.status == 404
    assert REQUEST_ID.match(first.headers["x-ashby-request-id"])
    assert first.headers["x-ashby-request-id"] != second.headers["x-ashby-request-id"]


async def test_list_envelope_has_results_more_data_and_sync_token(api: Api):
    reply = await api.call("candidate.list", {"limit": 10})

    assert reply.status == 200
    assert reply.body["success"] is True
    assert len(reply.body["results"]) == 10
    assert reply.body["moreDataAvailable"] is True
    assert isinstance(reply.body["nextCursor"], str)
    assert "syncToken" not in reply.body


async def test_limit_above_100_is_capped(api: Api):
    async with serve(api, SimState(seed=1, candidates=250)) as big:
        reply = await big.call("candidate.list", {"limit": 500})

    assert len(reply.results) == 100
    assert reply.body["moreDataAvailable"] is True


@pytest.mark.parametrize("limit", [0, -5, "ten", True])
async def test_invalid_limit_is_invalid_input(api: Api, limit):
    reply = await api.call("candidate.list", {"limit": limit})

    assert reply.status == 200
    assert reply.code == "invalid_input"


async def test_empty_body_is_allowed_and_unknown_fields_are_ignored(api: Api):
    empty = await api.call("user.list", data=b"")
    extra = await api.call("user.list", {"someFutureField": [1, 2], "includeDeactivated": True})

    assert empty.status == 200
    assert empty.body["success"] is True
    assert len(extra.results) >= len(empty.results)


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"'])
async def test_a_body_that_is_not_a_json_object_is_invalid_input(api: Api, data):
    reply = await api.call("candidate.list", data=data)

    assert reply.status == 200
    assert reply.code == "invalid_input"
    assert reply.body["errors"] == ["invalid_input"]
    assert reply.body["errorInfo"]["requestId"] == reply.headers["x-ashby-request-id"]


async def test_get_is_not_allowed(api: Api):
    reply = await api.call("candidate.list", method="GET")

    assert reply.status == 405
    assert reply.body["success"] is False


@pytest.mark.parametrize(
    ("endpoint", "param", "code"),
    [
        ("candidate.info", "id", "candidate_not_found"),
        ("application.info", "applicationId", "application_not_found"),
        ("offer.info", "offerId", "offer_not_found"),
        ("job.info", "id", "job_not_found"),
        ("user.info", "userId", "user_not_found"),
    ],
)
async def test_unknown_ids_are_not_found_with_http_200(api: Api, endpoint, param, code):
    reply = await api.call(endpoint, {param: "00000000-0000-4000-8000-000000000000"})

    assert reply.status == 200
    assert reply.code == code


async def test_a_missing_required_parameter_is_invalid_input(api: Api):
    reply = await api.call("candidate.info", {})

    assert reply.code == "invalid_input"


async def test_info_returns_the_record_the_list_returns(api: Api):
    listed = (await api.call("candidate.list", {"limit": 3})).results[2]

    info = await api.call("candidate.info", {"id": listed["id"]})

    assert info.results == listed


async def test_job_info_expands_location_and_openings(api: Api):
    job = api.state.ids("jobs")[0]

    reply = await api.call("job.info", {"id": job, "expand": ["location", "openings"]})

    assert reply.results["location"]["id"] == reply.results["locationId"]
    assert [o["latestVersion"]["jobIds"] for o in reply.results["openings"]] == [[job]]


async def test_default_list_filters_hide_archived_and_deactivated_rows(api: Api):
    async with serve(api, SimState(seed=1, candidates=3_000)) as big:
        enabled = (await big.call("user.list")).results
        everyone = (await big.call("user.list", {"includeDeactivated": True})).results

    assert all(u["isEnabled"] for u in enabled)
    assert len(everyone) == 30
    assert len(enabled) < len(everyone)
