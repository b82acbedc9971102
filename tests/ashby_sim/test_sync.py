"""The list protocol: cursor pages, syncToken on the last page, incremental passes, and every sync error."""

import pytest

from ashby_sim.state import SimState
from tests.ashby_sim.conftest import Api, serve


async def test_a_full_pass_pages_through_every_record_once_and_ends_with_a_sync_token(api: Api):
    records, token, calls = await api.list_all("candidate.list", {"limit": 10})

    assert calls == 5
    assert [r["id"] for r in records] == api.state.ids("candidates")
    assert records == list(api.state.all_records("candidates"))
    assert token


async def test_nothing_changed_means_one_request_with_no_results_and_a_new_token(api: Api):
    _, token, _ = await api.list_all("application.list")

    reply = await api.call("application.list", {"syncToken": token})

    assert reply.results == []
    assert reply.body["moreDataAvailable"] is False
    assert reply.body["syncToken"]


async def test_an_incremental_pass_returns_only_touched_records_in_change_order(api: Api):
    _, token, _ = await api.list_all("candidate.list")
    ids = api.state.ids("candidates")
    touched = [ids[30], ids[4], ids[17], ids[4]]
    api.state.touch("candidates", touched)

    records, new_token, calls = await api.list_all("candidate.list", {"syncToken": token, "limit": 2})

    assert [r["id"] for r in records] == [ids[30], ids[17], ids[4]]
    assert calls == 2
    assert [r["updatedAt"] for r in records] == sorted(r["updatedAt"] for r in records)
    again = await api.call("candidate.list", {"syncToken": new_token})
    assert again.results == []


async def test_changes_made_during_a_full_pass_are_seen_by_the_next_pass(api: Api):
    first = await api.call("candidate.list", {"limit": 25})
    early = first.results[0]["id"]
    api.state.touch("candidates", [early])  # already fetched by this pass
    rest = await api.call("candidate.list", {"cursor": first.body["nextCursor"], "limit": 25})
    assert rest.body["moreDataAvailable"] is False

    changed = await api.call("candidate.list", {"syncToken": rest.body["syncToken"]})

    assert [r["id"] for r in changed.results] == [early]


async def test_deleted_records_leave_full_passes_and_are_not_reported_incrementally(api: Api):
    _, token, _ = await api.list_all("offer.list")
    offer = api.state.ids("offers")[0]
    api.state.delete_offer(offer)

    incremental = await api.call("offer.list", {"syncToken": token})
    full, _, _ = await api.list_all("offer.list")

    assert incremental.results == []
    assert offer not in [r["id"] for r in full]


async def test_created_records_list_after_base_records_and_show_up_incrementally(api: Api):
    _, token, _ = await api.list_all("candidate.list")
    created = api.state.create_candidate("Quinn Example", email="quinn@example.net")

    incremental = await api.call("candidate.list", {"syncToken": token})
    full, _, _ = await api.list_all("candidate.list")

    assert [r["id"] for r in incremental.results] == [created["id"]]
    assert full[-1]["id"] == created["id"]


async def test_expired_sync_tokens_fail_with_sync_token_expired(api: Api):
    _, token, _ = await api.list_all("job.list")
    api.state.expire_sync_tokens()

    reply = await api.call("job.list", {"syncToken": token})

    assert reply.status == 200
    assert reply.code == "sync_token_expired"
    assert reply.body["errors"] == ["sync_token_expired"]
    fresh, new_token, _ = await api.list_all("job.list")
    assert fresh
    assert (await api.call("job.list", {"syncToken": new_token})).body["success"] is True


async def test_sync_tokens_expire_after_their_ttl(api: Api):
    _, token, _ = await api.list_all("user.list")
    api.state.faults.sync_token_ttl = 0.0

    reply = await api.call("user.list", {"syncToken": token})

    assert reply.code == "sync_token_expired"


@pytest.mark.parametrize("token", ["garbage", "eyJ4IjoxfQ", 12345])
async def test_garbage_sync_tokens_fail_with_sync_token_invalid(api: Api, token):
    reply = await api.call("candidate.list", {"syncToken": token})

    assert reply.code == "sync_token_invalid"


async def test_a_token_from_another_endpoint_is_invalid(api: Api):
    _, token, _ = await api.list_all("user.list")

    reply = await api.call("candidate.list", {"syncToken": token})

    assert reply.code == "sync_token_invalid"


async def test_too_many_changes_since_a_token_fail_with_incremental_sync_too_large(api: Api):
    _, token, _ = await api.list_all("candidate.list")
    api.state.touch("candidates", 6)
    api.state.faults.incremental_cap = 5

    too_many = await api.call("candidate.list", {"syncToken": token})
    api.state.faults.incremental_cap = 6
    just_enough = await api.call("candidate.list", {"syncToken": token})

    assert too_many.code == "incremental_sync_too_large"
    assert len(just_enough.results) == 6


async def test_expired_cursors_fail_with_next_cursor_expired(api: Api):
    first = await api.call("application.list", {"limit": 10})
    api.state.expire_cursors()

    reply = await api.call("application.list", {"cursor": first.body["nextCursor"]})

    assert reply.code == "next_cursor_expired"


@pytest.mark.parametrize("cursor", ["%%%", "bm9wZQ", 7])
async def test_garbage_cursors_fail_with_invalid_next_cursor(api: Api, cursor):
    reply = await api.call("application.list", {"cursor": cursor})

    assert reply.code == "invalid_next_cursor"


async def test_a_cursor_from_another_endpoint_is_invalid(api: Api):
    first = await api.call("candidate.list", {"limit": 10})

    reply = await api.call("application.list", {"cursor": first.body["nextCursor"]})

    assert reply.code == "invalid_next_cursor"


@pytest.mark.parametrize("endpoint", ["jobPosting.list", "source.list", "archiveReason.list"])
async def test_snapshot_lists_return_everything_at_once_without_cursor_or_token(api: Api, endpoint):
    reply = await api.call(endpoint, {"includeArchived": True, "includeUnpublishedJobPostings": True, "limit": 1})

    assert reply.body["moreDataAvailable"] is False
    assert "nextCursor" not in reply.body
    assert "syncToken" not in reply.body
    assert len(reply.results) > 1


async def test_unpublished_postings_are_listed_only_when_asked(api: Api):
    published = (await api.call("jobPosting.list")).results
    everything = (await api.call("jobPosting.list", {"includeUnpublishedJobPostings": True})).results

    assert len(everything) == len(api.state.ids("job_postings"))
    assert len(published) < len(everything)


async def test_interview_stages_are_listed_per_plan(api: Api):
    plan = api.state.ids("interview_plans")[1]

    reply = await api.call("interviewStage.list", {"interviewPlanId": plan})
    missing = await api.call("interviewStage.list", {})

    assert [s["orderInInterviewPlan"] for s in reply.results] == list(range(7))
    assert {s["interviewPlanId"] for s in reply.results} == {plan}
    assert missing.code == "invalid_input"


async def test_a_million_candidate_sandbox_serves_first_and_deep_pages(api: Api):
    state = SimState(seed=0, candidates=1_000_000)
    async with serve(api, state) as big:
        first = await big.call("candidate.list")
        second = await big.call("candidate.list", {"cursor": first.body["nextCursor"]})

    assert len(first.results) == len(second.results) == 100
    assert second.results[0] == state.records.at_slot("candidates", 100)
    assert first.body["moreDataAvailable"]
    assert second.body["moreDataAvailable"]


async def test_the_omit_sync_token_switch_ends_a_pass_without_a_token(api: Api):
    api.state.faults.omit_sync_token = True

    reply = await api.call("candidate.list")

    assert reply.body["moreDataAvailable"] is False
    assert "syncToken" not in reply.body


async def test_the_omit_next_cursor_switch_sends_more_data_without_a_cursor(api: Api):
    api.state.faults.omit_next_cursor = True

    reply = await api.call("candidate.list", {"limit": 2})

    assert reply.body["moreDataAvailable"] is True
    assert "nextCursor" not in reply.body
    assert "syncToken" not in reply.body


def test_setting_a_switch_that_does_not_exist_fails():
    state = SimState()

    with pytest.raises(AttributeError):
        state.faults.no_such_switch = True  # type: ignore[attr-defined]


@pytest.mark.parametrize("endpoint", ["candidate.list", "application.list", "offer.list", "job.list"])
async def test_a_pregenerated_sandbox_lists_exactly_what_an_on_demand_one_does(api: Api, endpoint: str):
    pregenerated = SimState(seed=api.state.seed, candidates=120)
    assert pregenerated.records.pregenerate(["candidates", "applications", "offers", "jobs"]) > 120
    on_demand = SimState(seed=api.state.seed, candidates=120)
    async with serve(api, pregenerated) as fast, serve(api, on_demand) as slow:
        expected, _, calls = await slow.list_all(endpoint, {"limit": 3})
        assert calls > 1
        assert (await fast.list_all(endpoint, {"limit": 3}))[0] == expected


async def test_a_change_to_a_pregenerated_sandbox_shows_in_its_next_pass(api: Api):
    state = SimState(seed=api.state.seed, candidates=60)
    state.records.pregenerate(["candidates", "applications"])
    async with serve(api, state) as fast:
        before, token, _ = await fast.list_all("application.list")
        application = before[7]
        state.touch("applications", [application["id"]])
        changed = state.get("applications", application["id"])
        after, _, _ = await fast.list_all("application.list")
        assert after[7] == changed != application
        assert [r["id"] for r in (await fast.list_all("application.list", {"syncToken": token}))[0]] == [
            application["id"]
        ]
