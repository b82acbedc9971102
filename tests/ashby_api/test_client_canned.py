"""The client against canned responses: wire format, status and envelope mapping, page iteration edge cases."""

import asyncio
import base64
import socket
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ashby_api.client import AshbyClient
from ashby_api.errors import (
    AshbyError,
    AshbyForbidden,
    AshbyHTTPError,
    AshbyProtocolError,
    AshbyRateLimited,
    AshbyRequestFailed,
    AshbyServerError,
    AshbyTransportError,
    AshbyUnauthorized,
    NotFound,
    SyncTokenExpired,
)
from ashby_api.models import Candidate, Page
from ashby_api.resources import BY_NAME
from ashby_api.retry import Retrier, RetryPolicy
from tests.ashby_api.conftest import Canned


async def test_requests_are_json_posts_with_basic_auth_and_version(canned: Canned, canned_client: AshbyClient) -> None:
    canned.add(body={"success": True, "results": {"title": "k", "scopes": ["candidates:read"]}})
    info = await canned_client.api_key_info()
    assert info.scopes == ["candidates:read"]
    endpoint, body, headers = canned.requests[0]
    assert (endpoint, body) == ("apiKey.info", {})
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"canned-key:").decode()
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json; version=1"


def test_repr_does_not_show_the_key(canned_client: AshbyClient) -> None:
    assert "canned-key" not in repr(canned_client)
    assert "canned-key" not in str(vars(canned_client).get("base_url"))


@pytest.mark.parametrize(
    ("status", "kwargs", "cls"),
    [
        (401, {"text": "Unauthorized"}, AshbyUnauthorized),
        (403, {"body": {"success": False, "errorInfo": {"code": "missing_endpoint_permission"}}}, AshbyForbidden),
        (404, {"text": "no such endpoint"}, AshbyHTTPError),
        (429, {"text": ""}, AshbyRateLimited),
        (500, {"body": {"success": False, "errorInfo": {"code": "generic_internal_error"}}}, AshbyServerError),
        (502, {"text": "<html><body>Bad Gateway</body></html>"}, AshbyServerError),
        (503, {"text": "upstream connect error"}, AshbyServerError),
    ],
)
async def test_http_statuses_map_to_error_classes(
    canned: Canned, canned_client: AshbyClient, status: int, kwargs: dict[str, Any], cls: type[AshbyHTTPError]
) -> None:
    canned.add(status, **kwargs, headers={"x-ashby-request-id": "01JREQ"})
    with pytest.raises(AshbyHTTPError) as info:
        await canned_client.call("candidate.list", {})
    assert type(info.value) is cls
    assert (info.value.status, info.value.endpoint, info.value.request_id) == (status, "candidate.list", "01JREQ")
    body = kwargs.get("body") or {}
    assert info.value.code == body.get("errorInfo", {}).get("code")


@pytest.mark.parametrize(
    ("header", "expected"), [("3", 3.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0), (None, None), ("later", None)]
)
async def test_rate_limit_reads_retry_after(
    canned: Canned, canned_client: AshbyClient, header: str | None, expected: float | None
) -> None:
    canned.add(
        429,
        body={"success": False, "errorInfo": {"code": "rate_limit_exceeded"}},
        headers={"Retry-After": header} if header is not None else {},
    )
    with pytest.raises(AshbyRateLimited) as info:
        await canned_client.call("job.list", {})
    assert (info.value.retry_after, info.value.code) == (expected, "rate_limit_exceeded")
    assert info.value.retryable


async def test_success_false_maps_codes_and_keeps_request_id_from_the_body(
    canned: Canned, canned_client: AshbyClient
) -> None:
    canned.add(
        body={
            "success": False,
            "errors": ["sync_token_expired"],
            "errorInfo": {"code": "sync_token_expired", "message": "Token expired", "requestId": "01JBODY"},
        }
    )
    with pytest.raises(SyncTokenExpired) as info:
        await canned_client.list_page("candidates", sync_token="old")
    assert (info.value.code, info.value.codes, info.value.message) == (
        "sync_token_expired",
        ("sync_token_expired",),
        "Token expired",
    )
    assert (info.value.endpoint, info.value.request_id) == ("candidate.list", "01JBODY")


async def test_deprecated_errors_array_alone_is_understood(canned: Canned, canned_client: AshbyClient) -> None:
    canned.add(body={"success": False, "errors": ["Something broke", "application_not_found"]})
    with pytest.raises(NotFound) as info:
        await canned_client.info_application("a1")
    assert info.value.code == "application_not_found"
    assert canned.requests[0][:2] == ("application.info", {"applicationId": "a1"})


async def test_header_request_id_wins_over_the_body(canned: Canned, canned_client: AshbyClient) -> None:
    canned.add(
        body={"success": False, "errorInfo": {"code": "invalid_input", "requestId": "body-id"}},
        headers={"x-ashby-request-id": "header-id"},
    )
    with pytest.raises(AshbyRequestFailed) as info:
        await canned_client.call("candidate.create", {"name": "x"})
    assert (type(info.value), info.value.request_id) == (AshbyRequestFailed, "header-id")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "<html>maintenance</html>"},
        {"text": ""},
        {"body": ["not", "an", "object"]},
        {"body": {"results": []}},
        {"body": {"success": "yes", "results": []}},
    ],
)
async def test_malformed_2xx_bodies_are_protocol_errors(
    canned: Canned, canned_client: AshbyClient, kwargs: dict[str, Any]
) -> None:
    canned.add(200, **kwargs, headers={"x-ashby-request-id": "01JREQ"})
    with pytest.raises(AshbyProtocolError) as info:
        await canned_client.call("candidate.list", {})
    assert (info.value.endpoint, info.value.request_id) == ("candidate.list", "01JREQ")
    assert not info.value.retryable


async def test_a_record_without_id_is_a_protocol_error_naming_no_data(
    canned: Canned, canned_client: AshbyClient
) -> None:
    canned.page([{"id": "c1"}, {"name": "Secret Person"}], sync_token="t")
    with pytest.raises(AshbyProtocolError) as info:
        await canned_client.list_candidates()
    assert "Secret Person" not in str(info.value)
    assert "id" in str(info.value)


async def test_results_that_are_not_a_list_are_a_protocol_error(canned: Canned, canned_client: AshbyClient) -> None:
    canned.add(body={"success": True, "results": {"id": "x"}})
    with pytest.raises(AshbyProtocolError):
        await canned_client.list_page("jobs")


async def test_connection_refused_is_a_retryable_transport_error(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = AshbyClient(session, base_url=f"http://127.0.0.1:{port}", api_key="k")
    with pytest.raises(AshbyTransportError) as info:
        await client.call("candidate.list")
    assert info.value.retryable
    assert info.value.endpoint == "candidate.list"


async def test_a_slow_answer_times_out_as_a_transport_error(session: aiohttp.ClientSession) -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"success": True, "results": []})

    app = web.Application()
    app.router.add_post("/{endpoint}", stall)
    async with TestServer(app, host="127.0.0.1") as server:
        client = AshbyClient(session, base_url=str(server.make_url("")), api_key="k", timeout=0.2)
        with pytest.raises(AshbyTransportError, match="timed out"):
            await client.call("candidate.list")
        release.set()


async def test_page_sends_registry_params_limit_token_and_cursor(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "u1"}], next_cursor="c2")
    page = await canned_client.list_page("users", cursor="c1", sync_token="t1", params={"extra": 1})
    assert page == Page(results=[{"id": "u1"}], raw=[{"id": "u1"}], next_cursor="c2", more_data_available=True)
    assert canned.requests[0][:2] == (
        "user.list",
        {"includeDeactivated": True, "extra": 1, "limit": 100, "syncToken": "t1", "cursor": "c1"},
    )


async def test_snapshot_resources_send_neither_limit_nor_token(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "s1"}])
    await canned_client.list_page("sources", sync_token="ignored")
    await canned_client.list_interview_stages(params={"interviewPlanId": "p1"})
    assert canned.bodies() == [{"includeArchived": True}, {"interviewPlanId": "p1"}]


async def test_an_unknown_endpoint_is_listed_as_given(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "b1"}])
    page = await canned_client.list_page("brand.list")
    assert (page.raw, canned.requests[0][:2]) == ([{"id": "b1"}], ("brand.list", {"limit": 100}))


async def collect(client: AshbyClient, **kwargs: Any) -> list[Page[Candidate]]:
    return [page async for page in client.iter_pages(Candidate, **kwargs)]


async def test_iteration_sends_the_token_first_then_cursor_with_the_same_token(
    canned: Canned, canned_client: AshbyClient
) -> None:
    canned.page([{"id": "c1"}], next_cursor="p2")
    canned.page([{"id": "c2"}], next_cursor="p3")
    canned.page([{"id": "c3"}], sync_token="new")
    pages = await collect(canned_client, sync_token="old")
    assert [[c.id for c in p.results] for p in pages] == [["c1"], ["c2"], ["c3"]]
    assert [p.sync_token for p in pages] == [None, None, "new"]
    assert canned.bodies() == [
        {"limit": 100, "syncToken": "old"},
        {"limit": 100, "syncToken": "old", "cursor": "p2"},
        {"limit": 100, "syncToken": "old", "cursor": "p3"},
    ]


async def test_a_token_sent_on_the_first_page_only_reaches_the_last(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "c1"}], next_cursor="p2", sync_token="early")
    canned.page([{"id": "c2"}])
    pages = await collect(canned_client)
    assert pages[-1].sync_token == "early"
    assert canned.bodies() == [{"limit": 100}, {"limit": 100, "cursor": "p2"}]


async def test_a_pass_without_a_token_is_a_protocol_error(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "c1"}])
    with pytest.raises(AshbyProtocolError, match="syncToken"):
        await collect(canned_client)


@pytest.mark.parametrize("cursor", [None, "same"])
async def test_more_data_without_a_new_cursor_is_a_protocol_error(
    canned: Canned, canned_client: AshbyClient, cursor: str | None
) -> None:
    canned.add(body={"success": True, "results": [], "moreDataAvailable": True, "nextCursor": cursor})
    with pytest.raises(AshbyProtocolError, match="nextCursor"):
        await collect(canned_client, cursor="same")


async def test_iteration_retries_a_page_through_the_given_retrier(canned: Canned, canned_client: AshbyClient) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    canned.page([{"id": "c1"}], next_cursor="p2")
    canned.add(503, text="busy")
    canned.page([{"id": "c2"}], sync_token="t")
    retry = Retrier(RetryPolicy(base=1.0), sleep=sleep, uniform=lambda low, high: high)
    pages = [page async for page in canned_client.iter_pages("candidates", retry=retry)]
    assert [p.raw for p in pages] == [[{"id": "c1"}], [{"id": "c2"}]]
    assert waits == [1.0]
    assert canned.bodies()[1:] == [{"limit": 100, "cursor": "p2"}, {"limit": 100, "cursor": "p2"}]


async def test_without_a_retrier_the_client_raises_at_once(canned: Canned, canned_client: AshbyClient) -> None:
    canned.add(503, text="busy")
    with pytest.raises(AshbyServerError):
        await collect(canned_client)
    assert len(canned.requests) == 1


async def test_snapshot_pass_is_one_page_without_a_token(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "r1", "text": "Too junior"}])
    pages = [page async for page in canned_client.iter_pages("archive_reasons")]
    assert [(p.raw, p.sync_token) for p in pages] == [([{"id": "r1", "text": "Too junior"}], None)]


async def test_write_calls_send_camel_case_bodies_without_unset_fields(
    canned: Canned, canned_client: AshbyClient
) -> None:
    app = {"id": "a1", "status": "Active"}
    for results in ({"id": "c1"}, {"id": "n1"}, app, app, app, {"id": "o1"}, {"id": "w1", "enabled": False}):
        canned.add(body={"success": True, "results": results})
    await canned_client.candidate_create("Ada", email="ada@example.com")
    await canned_client.candidate_create_note("c1", "<b>hi</b>", html=True)
    await canned_client.application_change_stage("a1", "s2")
    await canned_client.application_change_source("a1", None)
    await canned_client.application_transfer("a1", "j2", interview_plan_id="p2", interview_stage_id="s1")
    offer = await canned_client.offer_set_status("o1", "Accepted")
    hook = await canned_client.webhook_create("offerUpdate", "https://x/hook", "s3cret")
    assert (offer.id, hook.enabled) == ("o1", False)
    assert canned.bodies() == [
        {"name": "Ada", "email": "ada@example.com"},
        {"candidateId": "c1", "note": {"value": "<b>hi</b>", "type": "text/html"}},
        {"applicationId": "a1", "interviewStageId": "s2"},
        {"applicationId": "a1", "sourceId": None},
        {"applicationId": "a1", "jobId": "j2", "interviewPlanId": "p2", "interviewStageId": "s1"},
        {"offerId": "o1", "acceptanceStatus": "Accepted"},
        {"webhookType": "offerUpdate", "requestUrl": "https://x/hook", "secretToken": "s3cret"},
    ]


def test_every_error_is_an_ashby_error() -> None:
    for cls in (AshbyTransportError, AshbyProtocolError, AshbyHTTPError, AshbyRequestFailed):
        assert issubclass(cls, AshbyError)


async def test_an_empty_key_sends_no_authorization(canned: Canned, session: aiohttp.ClientSession) -> None:
    client = AshbyClient(session, base_url=canned.base_url, api_key="")
    canned.add(401, text="Unauthorized")
    with pytest.raises(AshbyUnauthorized):
        await client.call("apiKey.info")
    assert "Authorization" not in canned.requests[0][2]


# --- pages for Postgres to read: only paging and ids decoded, the same errors as list_page -----------------------
USERS = BY_NAME["users"]


async def test_a_body_page_decodes_only_paging_and_ids(canned: Canned, canned_client: AshbyClient) -> None:
    canned.page([{"id": "u1", "firstName": "Zoë"}, {"firstName": "no id"}, {"id": 7}], next_cursor="c2")
    page = await canned_client.list_body_page(USERS, cursor="c1", sync_token="t1")
    assert (page.ids, page.objects, page.next_cursor, page.more_data_available) == (["u1", None, 7], None, "c2", True)
    assert orjson.loads(page.body)["results"][0] == {"id": "u1", "firstName": "Zoë"}
    assert canned.requests[0][:2] == (
        "user.list",
        {"includeDeactivated": True, "limit": 100, "syncToken": "t1", "cursor": "c1"},
    )


async def test_a_body_page_with_unicode_escapes_is_decoded_whole(canned: Canned, canned_client: AshbyClient) -> None:
    canned.responses.append(  # escapes as a JSON.stringify-like writer may send them
        web.Response(
            body=b'{"success":true,"results":[{"id":"u1","firstName":"Zo\\u00eb"}],"syncToken":"t2"}',
            headers={"Content-Type": "application/json"},
        )
    )
    page = await canned_client.list_body_page(USERS)
    assert page.objects == [{"id": "u1", "firstName": "Zoë"}]
    assert (page.ids, page.sync_token, page.more_data_available) == (["u1"], "t2", False)


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (403, {"success": False, "errorInfo": {"code": "missing_endpoint_permission"}}, AshbyForbidden),
        (200, {"success": False, "errors": ["sync_token_expired"]}, SyncTokenExpired),
        (200, {"success": True, "results": [{"id": "u1"}, "not an object"]}, AshbyProtocolError),
        (200, {"success": True}, AshbyProtocolError),
        (200, ["not", "an", "envelope"], AshbyProtocolError),
    ],
)
async def test_a_body_page_fails_as_a_decoded_page_does(
    canned: Canned, canned_client: AshbyClient, status: int, body: Any, cls: type[AshbyError]
) -> None:
    canned.add(status, body=body)
    canned.add(status, body=body)
    with pytest.raises(cls) as decoded:
        await canned_client.list_page(USERS)
    with pytest.raises(cls) as from_body:
        await canned_client.list_body_page(USERS)
    assert str(from_body.value) == str(decoded.value)
