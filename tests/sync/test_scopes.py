"""Passes of what the account's API key may not read are skipped, not failed: Ashby would answer 403 every time."""

import re
from typing import Any

import aiohttp
import pytest
import yaml
from pydantic import SecretStr
from structlog.testing import capture_logs

from ashby_api.errors import AshbyForbidden
from ashby_api.resources import BY_NAME, RESOURCES
from ashby_sim.permissions import SCOPES
from store import mirror, sync_state
from store.secrets import SecretBox
from sync.accounts import account_context, sync_account
from sync.passes import SKIPPED_NO_SCOPE, PassResult, sync_resource
from tests.conftest import reference_file
from tests.helpers import FAST_RETRY, SECRET_KEY

WITHOUT_OFFERS = [s for s in SCOPES if s != "offers:read"]
OFFERS = BY_NAME["offers"]
NO_SCOPE = f"{SKIPPED_NO_SCOPE} (offers:read)"


def test_every_resource_needs_the_scope_its_list_endpoint_names_in_the_spec() -> None:
    with reference_file("ashby-openapi.yaml").open() as f:
        spec: dict[str, Any] = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for resource in RESOURCES:
        description = spec["paths"][f"/{resource.endpoint}"]["post"]["description"]
        (permission,) = re.findall(r"Requires the \[`(\w+)Read`\]", description)
        expected = re.sub(r"(?<!^)(?=[A-Z])", "_", permission).lower() + ":read"
        assert resource.scope == expected, resource.name


@pytest.mark.sandbox(scopes=WITHOUT_OFFERS)
async def test_a_key_without_offers_read_syncs_everything_else_and_skips_offers(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    with capture_logs() as logs:
        results, failures = await sync_account(sync_ctx)

    assert failures == []
    by_name = {r.resource: r for r in results}
    assert by_name.keys() == BY_NAME.keys()
    assert by_name["offers"] == PassResult("offers", "skipped", skipped=NO_SCOPE)
    assert [n for n, r in by_name.items() if r.mode != "full"] == ["offers"]
    assert fake_ashby.request_count("offer.list") == 0
    skipped = [e for e in logs if e["event"] == "sync_pass_skipped"]
    assert [(e["resource"], e["reason"], e["scope"], e["log_level"]) for e in skipped] == [
        ("offers", "no_scope", "offers:read", "info")
    ]
    async with db.acquire() as conn:
        offers = await sync_state.get_state(conn, account_id, "offers")
        candidates = await sync_state.get_state(conn, account_id, "candidates")
        mirrored = await mirror.count_rows(conn, "offers", account_id)
    assert (offers.last_error, offers.last_success_at, offers.in_progress, mirrored) == (None, None, False, 0)
    assert candidates.last_success_at is not None


@pytest.mark.sandbox(scopes=WITHOUT_OFFERS)
async def test_a_pass_of_a_resource_the_key_may_not_read_is_skipped_every_time(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    first = await sync_resource(sync_ctx, OFFERS)
    again = await sync_resource(sync_ctx, OFFERS, full=True)

    assert first == again == PassResult("offers", "skipped", skipped=NO_SCOPE)
    assert fake_ashby.request_count("offer.list") == 0
    async with db.acquire() as conn:
        assert await sync_state.list_states(conn, account_id) == []


async def test_with_every_scope_nothing_is_skipped(db, fake_ashby, sync_ctx, account_id) -> None:
    assert sync_ctx.scopes == frozenset(SCOPES)
    assert fake_ashby.request_count("apiKey.info") == 1  # once per context, not per pass

    results, failures = await sync_account(sync_ctx)

    assert failures == []
    assert sorted(r.resource for r in results if r.mode == "full") == sorted(BY_NAME)
    assert fake_ashby.request_count("offer.list") >= 1
    assert fake_ashby.request_count("apiKey.info") == 1


@pytest.mark.sandbox(scopes=WITHOUT_OFFERS)
async def test_the_context_holds_the_scopes_apikey_info_reports(fake_ashby, sync_ctx) -> None:
    assert sync_ctx.scopes == frozenset(WITHOUT_OFFERS)
    assert fake_ashby.request_count("apiKey.info") == 1


@pytest.mark.sandbox(scopes=[s for s in WITHOUT_OFFERS if s != "api_keys:read"])
async def test_a_key_that_may_not_ask_for_its_scopes_tries_every_resource(db, fake_ashby, account_id) -> None:
    box = SecretBox(SecretStr(SECRET_KEY))
    async with aiohttp.ClientSession() as session, account_context(db, session, box, account_id, FAST_RETRY) as ctx:
        results, failures = await sync_account(ctx, [OFFERS, BY_NAME["jobs"]])

    assert ctx.scopes is None
    assert [r.resource for r in results] == ["jobs"]
    assert [(name, type(exc), exc.code) for name, exc in failures] == [  # type: ignore[attr-defined]
        ("offers", AshbyForbidden, "missing_endpoint_permission")
    ]


async def test_a_transient_apikey_info_failure_is_retried(db, fake_ashby, account_id) -> None:
    fake_ashby.fail_next("apiKey.info", status=503)
    box = SecretBox(SecretStr(SECRET_KEY))
    async with aiohttp.ClientSession() as session, account_context(db, session, box, account_id, FAST_RETRY) as ctx:
        assert ctx.scopes == frozenset(SCOPES)
    assert fake_ashby.request_count("apiKey.info") == 2


def test_scope_names_match_whatever_their_case_and_separators() -> None:
    sources = BY_NAME["sources"]  # hiring_process_metadata:read, a name read from Ashby's permission names
    assert sources.readable_with({"hiringProcessMetadata:read"})
    assert sources.readable_with({"HIRING-PROCESS-METADATA:READ"})
    assert not sources.readable_with({"candidates:read", "hiring_process_metadata:write"})
    assert sources.readable_with(None)
