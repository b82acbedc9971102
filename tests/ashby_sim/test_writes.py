"""Write endpoints: each changes the record, bumps updatedAt and shows up in the next incremental pass."""

import pytest

from ashby_sim.state import SimState
from tests.ashby_sim.conftest import Api, serve


def stage_of(state: SimState, app: dict, stage_type: str) -> dict:
    plan = app["currentInterviewStage"]["interviewPlanId"]
    return next(
        s for s in state.all_records("interview_stages") if s["interviewPlanId"] == plan and s["type"] == stage_type
    )


def active_application(state: SimState) -> dict:
    return next(a for a in state.all_records("applications") if a["status"] == "Active")


async def test_candidate_update_changes_fields_and_bumps_updated_at(api: Api):
    _, token, _ = await api.list_all("candidate.list")
    before = next(api.state.all_records("candidates"))

    reply = await api.call(
        "candidate.update", {"candidateId": before["id"], "name": "Renamed Person", "email": "new@example.net"}
    )
    changed = await api.call("candidate.list", {"syncToken": token})

    after = reply.results
    assert after["name"] == "Renamed Person"
    assert after["primaryEmailAddress"] == {"value": "new@example.net", "type": "Personal", "isPrimary": True}
    assert after["updatedAt"] > before["updatedAt"]
    assert changed.results == [after]
    assert api.state.get("candidates", before["id"]) == after


async def test_updated_at_is_strictly_increasing_across_mutations(api: Api):
    ids = api.state.ids("candidates")[:5]

    stamps = [(await api.call("candidate.update", {"candidateId": i, "school": "X"})).results["updatedAt"] for i in ids]

    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


async def test_candidate_create_add_tag_note_search_and_anonymize(api: Api):
    created = (await api.call("candidate.create", {"name": "Nia Test", "email": "nia@example.net"})).results
    tag = api.state.ids("candidate_tags")[0]
    tagged = (await api.call("candidate.addTag", {"candidateId": created["id"], "tagId": tag})).results
    note = (await api.call("candidate.createNote", {"candidateId": created["id"], "note": "Strong"})).results
    by_email = (await api.call("candidate.search", {"email": "NIA@example.net"})).results
    by_name = (await api.call("candidate.search", {"name": "nia test"})).results
    anonymized = (await api.call("candidate.anonymize", {"candidateId": created["id"]})).results

    assert [t["id"] for t in tagged["tags"]] == [tag]
    assert note["content"] == "Strong"
    assert [c["id"] for c in by_email] == [created["id"]]
    assert created["id"] in [c["id"] for c in by_name]
    assert anonymized["name"] != "Nia Test"
    assert anonymized["emailAddresses"] == []
    assert "primaryEmailAddress" not in anonymized


async def test_candidate_search_finds_base_candidates_by_email_and_caps_at_100(api: Api):
    state = SimState(seed=1, candidates=5_000)
    target = state.records.at_slot("candidates", 4_242)
    async with serve(api, state) as big:
        by_email = (await big.call("candidate.search", {"email": target["primaryEmailAddress"]["value"]})).results
        by_name = (await big.call("candidate.search", {"name": "a"})).results
        neither = await big.call("candidate.search", {})

    assert by_email == [target]
    assert len(by_name) == 100
    assert neither.code == "invalid_input"


@pytest.mark.parametrize("endpoint", ["application.changeStage", "application.change_stage"])
async def test_change_stage_and_its_alias_move_the_application(api: Api, endpoint):
    app = active_application(api.state)
    target = stage_of(api.state, app, "Offer")

    moved = (await api.call(endpoint, {"applicationId": app["id"], "interviewStageId": target["id"]})).results

    assert moved["currentInterviewStage"]["id"] == target["id"]
    assert moved["status"] == "Active"
    assert moved["updatedAt"] > app["updatedAt"]


async def test_archiving_needs_an_archive_reason(api: Api):
    app = active_application(api.state)
    archived = stage_of(api.state, app, "Archived")
    reason = api.state.ids("archive_reasons")[2]

    missing = await api.call(
        "application.changeStage", {"applicationId": app["id"], "interviewStageId": archived["id"]}
    )
    done = await api.call(
        "application.changeStage",
        {"applicationId": app["id"], "interviewStageId": archived["id"], "archiveReasonId": reason},
    )

    assert missing.code == "invalid_input"
    assert done.results["status"] == "Archived"
    assert done.results["archiveReason"]["id"] == reason
    assert "archivedAt" in done.results


async def test_a_stage_of_another_plan_is_rejected(api: Api):
    app = active_application(api.state)
    other = next(
        s
        for s in api.state.all_records("interview_stages")
        if s["interviewPlanId"] != app["currentInterviewStage"]["interviewPlanId"]
    )

    reply = await api.call("application.changeStage", {"applicationId": app["id"], "interviewStageId": other["id"]})

    assert reply.code == "invalid_input"


@pytest.mark.parametrize("endpoint", ["application.changeSource", "application.change_source"])
async def test_change_source_and_its_alias(api: Api, endpoint):
    app = active_application(api.state)
    source = api.state.ids("sources")[5]

    reply = await api.call(endpoint, {"applicationId": app["id"], "sourceId": source})

    assert reply.results["source"]["id"] == source


async def test_application_create_update_and_transfer(api: Api):
    candidate = api.state.ids("candidates")[3]
    jobs = api.state.ids("jobs")
    created = (await api.call("application.create", {"candidateId": candidate, "jobId": jobs[0]})).results
    user = api.state.ids("users")[1]
    updated = (await api.call("application.update", {"applicationId": created["id"], "creditedToUserId": user})).results
    target_job = api.state.get("jobs", jobs[1])
    plan = target_job["defaultInterviewPlanId"]
    stage = next(s for s in api.state.all_records("interview_stages") if s["interviewPlanId"] == plan)
    body = {"applicationId": created["id"], "jobId": jobs[1], "interviewPlanId": plan, "interviewStageId": stage["id"]}
    moved = (await api.call("application.transfer", body)).results

    assert created["candidate"]["id"] == candidate
    assert created["id"] in api.state.get("candidates", candidate)["applicationIds"]
    assert updated["creditedToUser"]["id"] == user
    assert moved["job"]["id"] == jobs[1]
    assert moved["currentInterviewStage"]["id"] == stage["id"]


@pytest.mark.parametrize(
    ("acceptance", "offer_status", "decided"),
    [
        ("Accepted", "CandidateAccepted", True),
        ("Declined", "CandidateRejected", True),
        ("Cancelled", "OfferCancelled", True),
        ("Pending", "WaitingOnCandidateResponse", False),
    ],
)
async def test_offer_set_status_derives_offer_status_and_decided_at(api: Api, acceptance, offer_status, decided):
    offer = api.state.ids("offers")[0]

    reply = await api.call("offer.setStatus", {"offerId": offer, "acceptanceStatus": acceptance})

    assert reply.results["acceptanceStatus"] == acceptance
    assert reply.results["offerStatus"] == offer_status
    assert ("decidedAt" in reply.results) is decided
    assert api.state.get("offers", offer) == reply.results


async def test_offer_set_status_rejects_unknown_statuses(api: Api):
    reply = await api.call("offer.setStatus", {"offerId": api.state.ids("offers")[0], "acceptanceStatus": "Maybe"})

    assert reply.code == "invalid_input"


async def test_merge_moves_applications_and_removes_the_deleted_candidate(api: Api):
    gone, kept = api.state.ids("candidates")[1], api.state.ids("candidates")[2]
    moved_apps = api.state.get("candidates", gone)["applicationIds"]

    api.state.merge_candidates(gone, kept)

    assert api.state.get("candidates", gone) is None
    assert set(moved_apps) <= set(api.state.get("candidates", kept)["applicationIds"])
    assert all(api.state.get("applications", a)["candidate"]["id"] == kept for a in moved_apps)
    assert (await api.call("candidate.info", {"id": gone})).code == "candidate_not_found"


async def test_deleting_a_candidate_deletes_its_applications(api: Api):
    candidate = api.state.get("candidates", api.state.ids("candidates")[0])

    api.state.delete_candidate(candidate["id"])

    assert api.state.get("candidates", candidate["id"]) is None
    assert all(api.state.get("applications", a) is None for a in candidate["applicationIds"])


async def test_job_opening_and_interview_schedule_create_show_up_in_the_next_incremental_passes(api: Api):
    tokens = {e: (await api.list_all(e))[1] for e in ("job.list", "opening.list", "interviewSchedule.list")}
    plan = api.state.get("jobs", api.state.ids("jobs")[1])["defaultInterviewPlanId"]
    job = (await api.call("job.create", {"title": "New Role", "defaultInterviewPlanId": plan})).results
    opening = (await api.call("opening.create", {"jobIds": [job["id"]]})).results
    app = active_application(api.state)
    interviewer = api.state.get("users", api.state.ids("users")[2])
    event = {"startTime": "2031-03-01T09:00:00Z", "endTime": "2031-03-01T10:00:00Z"}
    schedule_body = {"applicationId": app["id"], "interviewEvents": [event | {"interviewers": [interviewer]}]}
    schedule = (await api.call("interviewSchedule.create", schedule_body)).results

    assert (job["title"], job["status"], job["defaultInterviewPlanId"], job["jobPostingIds"]) == (
        "New Role",
        "Draft",
        plan,
        [],
    )
    assert (opening["openingState"], opening["latestVersion"]["jobIds"]) == ("Open", [job["id"]])
    (created_event,) = schedule["interviewEvents"]
    assert (schedule["applicationId"], created_event["interviewScheduleId"]) == (app["id"], schedule["id"])
    assert (created_event["startTime"], created_event["interviewerUserIds"]) == (
        "2031-03-01T09:00:00.000Z",
        [interviewer["id"]],
    )
    for endpoint, created in (("job.list", job), ("opening.list", opening), ("interviewSchedule.list", schedule)):
        assert (await api.call(endpoint, {"syncToken": tokens[endpoint]})).results == [created]
    assert api.state.get("interview_events", created_event["id"]) == created_event


@pytest.mark.parametrize(
    ("endpoint", "body", "code"),
    [
        ("job.create", {}, "invalid_input"),
        (
            "job.create",
            {"title": "X", "defaultInterviewPlanId": "00000000-0000-4000-8000-000000000000"},
            "interview_plan_not_found",
        ),
        ("opening.create", {"jobIds": ["00000000-0000-4000-8000-000000000000"]}, "job_not_found"),
        ("opening.create", {"jobIds": "not a list"}, "invalid_input"),
        (
            "interviewSchedule.create",
            {"applicationId": "00000000-0000-4000-8000-000000000000"},
            "application_not_found",
        ),
    ],
)
async def test_creates_refuse_bad_input_with_ashbys_error_codes(api: Api, endpoint: str, body: dict, code: str):
    assert (await api.call(endpoint, body)).code == code


async def test_an_interview_schedule_needs_valid_times_and_known_interviewers(api: Api):
    app = active_application(api.state)
    email = api.state.get("users", api.state.ids("users")[0])["email"]
    cases = [
        ([], "invalid_input"),
        (
            [
                {
                    "startTime": "2031-01-01T10:00:00Z",
                    "endTime": "2031-01-01T09:00:00Z",
                    "interviewers": [{"email": email}],
                }
            ],
            "invalid_input",
        ),
        ([{"startTime": "soon", "endTime": "later", "interviewers": [{"email": email}]}], "invalid_input"),
        (
            [{"startTime": "2031-01-01T10:00:00Z", "endTime": "2031-01-01T11:00:00Z", "interviewers": []}],
            "invalid_input",
        ),
        (
            [
                {
                    "startTime": "2031-01-01T10:00:00Z",
                    "endTime": "2031-01-01T11:00:00Z",
                    "interviewers": [{"email": "x@y.z"}],
                }
            ],
            "user_not_found",
        ),
    ]
    for events, code in cases:
        reply = await api.call("interviewSchedule.create", {"applicationId": app["id"], "interviewEvents": events})
        assert reply.code == code, events
    assert api.state.records.overlaid("interview_schedules") == {}  # nothing half-created
    assert api.state.records.overlaid("interview_events") == {}
