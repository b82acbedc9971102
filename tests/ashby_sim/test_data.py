"""Generated data: deterministic per seed, shaped like Ashby's, lazy enough for a million candidates."""

import time
from datetime import datetime

import pytest

from ashby_api.resources import RESOURCES
from ashby_sim.ids import make_id, parse_id
from ashby_sim.state import SimState
from ashby_sim.universe import Sizes

KINDS = [r.name for r in RESOURCES]


def snapshot(state: SimState) -> dict[str, list[dict]]:
    return {kind: list(state.all_records(kind)) for kind in KINDS}


def test_same_seed_gives_the_same_data_and_another_seed_does_not():
    first, again, other = (
        SimState(seed=7, candidates=60),
        SimState(seed=7, candidates=60),
        SimState(seed=8, candidates=60),
    )

    assert snapshot(first) == snapshot(again)
    assert first.ids("candidates") != other.ids("candidates")
    assert [c["name"] for c in first.all_records("candidates")] != [c["name"] for c in other.all_records("candidates")]


@pytest.mark.parametrize("kind", KINDS)
def test_every_resource_has_records_with_unique_uuid_ids(kind):
    state = SimState(seed=3, candidates=200)

    ids = state.ids(kind)

    assert ids
    assert len(set(ids)) == len(ids)
    assert all(parse_id(3, i) == (kind, n) for n, i in enumerate(ids))


def test_sizes_scale_with_candidates():
    small, large = Sizes.for_candidates(100).counts, Sizes.for_candidates(40_000).counts

    assert large["applications"] == 60_000
    assert large["jobs"] == 1_000
    assert large["users"] == 400
    assert small["users"] == 5
    assert 0.04 <= large["offers"] / large["applications"] <= 0.06
    assert large["interview_stages"] == 7 * large["interview_plans"]


def test_ids_decode_only_for_their_own_seed_and_kind():
    record_id = make_id(5, "candidates", 12345)

    assert parse_id(5, record_id) == ("candidates", 12345)
    assert parse_id(6, record_id) is None
    assert parse_id(5, record_id.replace(record_id[0], "0" if record_id[0] != "0" else "1", 1)) is None
    assert parse_id(5, "not-a-uuid") is None


def test_relationships_point_at_records_that_exist():
    state = SimState(seed=2, candidates=100)

    for app in state.all_records("applications"):
        candidate = state.get("candidates", app["candidate"]["id"])
        assert candidate is not None
        assert app["id"] in candidate["applicationIds"]
        assert state.get("jobs", app["job"]["id"]) is not None
        stage = state.get("interview_stages", app["currentInterviewStage"]["id"])
        assert stage is not None
        assert stage["interviewPlanId"] == app["currentInterviewStage"]["interviewPlanId"]
    for offer in state.all_records("offers"):
        assert state.get("applications", offer["applicationId"]) is not None
    for schedule in state.all_records("interview_schedules"):
        assert state.get("applications", schedule["applicationId"]) is not None


def test_applications_embed_their_candidates_fields_as_the_candidate_has_them():
    state = SimState(seed=2, candidates=300)
    changed = state.ids("candidates")[1]
    state.update_candidate(changed, name="Renamed Person")  # before any application embeds it

    embedded = ("name", "primaryEmailAddress", "primaryPhoneNumber", "source", "creditedToUser")
    apps = list(state.all_records("applications"))
    for app in apps:
        candidate = state.get("candidates", app["candidate"]["id"])
        assert candidate is not None
        assert {k: app["candidate"].get(k) for k in embedded[:3]} == {k: candidate.get(k) for k in embedded[:3]}
        assert (app["source"], app["creditedToUser"]) == (candidate["source"], candidate["creditedToUser"])
    assert any(app["candidate"]["name"] == "Renamed Person" for app in apps)


def test_hired_applications_and_accepted_offers_agree():
    state = SimState(seed=4, candidates=400)

    for offer in state.all_records("offers"):
        app = state.get("applications", offer["applicationId"])
        assert app is not None
        hired = offer["acceptanceStatus"] == "Accepted"
        assert (app["status"] == "Hired") is hired
        assert ("decidedAt" in offer) is (offer["acceptanceStatus"] in ("Accepted", "Declined"))


def test_timestamps_are_iso_utc_with_milliseconds_and_updated_after_created():
    state = SimState(seed=1, candidates=50)

    for rec in state.all_records("candidates"):
        created, updated = rec["createdAt"], rec["updatedAt"]
        assert created.endswith("Z")
        assert len(created) == len("2024-01-01T00:00:00.000Z")
        assert datetime.fromisoformat(updated) >= datetime.fromisoformat(created)


def test_a_million_candidates_start_instantly_and_deep_records_are_generated_on_demand():
    started = time.perf_counter()
    state = SimState(seed=0, candidates=1_000_000)
    deep = state.records.at_slot("candidates", 999_999)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5
    assert deep is not None
    assert state.get("candidates", deep["id"]) == deep
    assert state.records.slot_count("applications") == 1_500_000
    assert state.records.stats()["overlay"] == 0


@pytest.mark.parametrize("resource", [r for r in RESOURCES if r.mode == "incremental"], ids=lambda r: r.name)
def test_every_incrementally_synced_record_has_an_updated_at_that_touch_bumps(resource):
    state = SimState(seed=1, candidates=50)
    first = next(state.all_records(resource.name))

    state.touch(resource.name, [first["id"]])

    assert first["updatedAt"] < state.get(resource.name, first["id"])["updatedAt"]
