"""The API key's scopes: what `apiKey.info` reports, and HTTP 403 `missing_endpoint_permission` without one."""

import re
from typing import Any

import pytest
import yaml

from ashby_sim.app import HANDLERS
from ashby_sim.permissions import ENDPOINT_SCOPES, SCOPES
from tests.ashby_sim.conftest import Api
from tests.conftest import reference_file

WITHOUT_OFFERS = [s for s in SCOPES if s != "offers:read"]
PERMISSION = re.compile(r"Requires the \[`(\w+)`\]")


def scope_of_permission(permission: str) -> str:
    """`hiringProcessMetadataRead` -> `hiring_process_metadata:read`, as `apiKey.info` names it."""
    found = re.fullmatch(r"(\w+?)(Read|Write)", permission)
    assert found is not None, permission
    module, access = found.groups()
    return re.sub(r"(?<!^)(?=[A-Z])", "_", module).lower() + ":" + access.lower()


@pytest.mark.sandbox(scopes=WITHOUT_OFFERS)
async def test_a_key_without_offers_read_is_refused_offers_with_403_missing_endpoint_permission(api: Api) -> None:
    listed = await api.call("offer.list")
    info = await api.call("offer.info", {"offerId": "any"})
    candidates = await api.call("candidate.list", {"limit": 1})

    for reply in (listed, info):
        assert reply.status == 403
        assert reply.code == "missing_endpoint_permission"
        assert reply.body["errorInfo"]["requestId"] == reply.headers["x-ashby-request-id"]
    assert candidates.status == 200
    assert candidates.results
    refused = [r for r in api.state.requests if r.endpoint == "offer.list"]
    assert [(r.status, r.error_code) for r in refused] == [(403, "missing_endpoint_permission")]


@pytest.mark.sandbox(scopes=WITHOUT_OFFERS)
async def test_api_key_info_lists_the_scopes_the_key_was_given(api: Api) -> None:
    reply = await api.call("apiKey.info")

    assert reply.results["scopes"] == WITHOUT_OFFERS


async def test_by_default_the_key_holds_every_scope_and_may_call_every_endpoint(api: Api) -> None:
    info = await api.call("apiKey.info")
    offers = await api.call("offer.list", {"limit": 1})

    assert info.results["scopes"] == list(SCOPES)
    assert offers.status == 200
    assert api.state.faults.key_scopes is None


async def test_the_scopes_switch_is_set_and_cleared_over_http(api: Api) -> None:
    narrowed = await api.call("_sim/faults", {"key_scopes": ["jobs:read", "candidates:read"]})
    jobs, offers = await api.call("job.list", {"limit": 1}), await api.call("offer.list", {"limit": 1})
    bad = await api.call("_sim/faults", {"key_scopes": ["offers:read", "everything"]})
    not_a_list = await api.call("_sim/faults", {"key_scopes": "offers:read"})
    cleared = await api.call("_sim/faults", {"key_scopes": None})
    again = await api.call("offer.list", {"limit": 1})

    assert narrowed.results["key_scopes"] == ["candidates:read", "jobs:read"]
    assert (jobs.status, offers.status, offers.code) == (200, 403, "missing_endpoint_permission")
    assert (bad.status, bad.code) == (400, "invalid_input")
    assert (not_a_list.status, not_a_list.code) == (400, "invalid_input")
    assert cleared.results["key_scopes"] is None
    assert again.status == 200


@pytest.mark.sandbox(scopes=["candidates:read"])
async def test_a_key_without_api_keys_read_may_not_ask_for_its_scopes(api: Api) -> None:
    reply = await api.call("apiKey.info")

    assert (reply.status, reply.code) == (403, "missing_endpoint_permission")


def test_every_endpoint_needs_the_scope_the_spec_names() -> None:
    with reference_file("ashby-openapi.yaml").open() as f:
        spec: dict[str, Any] = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert set(HANDLERS) <= set(ENDPOINT_SCOPES)
    checked = 0
    for endpoint in HANDLERS:
        path = spec["paths"].get(f"/{endpoint}")
        if path is None:  # aliases and endpoints newer than the saved spec
            continue
        (permission,) = PERMISSION.findall(path["post"]["description"])
        assert ENDPOINT_SCOPES[endpoint] == scope_of_permission(permission), endpoint
        checked += 1
    assert checked >= len(HANDLERS) - 3
