"""Applying webhook events to the mirror: the sandbox fires real signed webhooks, they are stored in the inbox
as the receiver would store them, and `apply_event` applies them against real Postgres and the sandbox."""

import asyncio
import copy
import json
from datetime import timedelta

import pytest

from ashby_api.resources import BY_NAME
from ashby_api.webhooks import WEBHOOK_ACTIONS
from store import inbox, mirror
from store.inbox import InboxKey, NewEvent
from sync.accounts import sync_account
from sync.passes import sync_resource
from sync.webhook_apply import apply_event, candidate_summary
from sync.webhook_plan import NOT_MIRRORED, PLANNERS, MalformedWebhookError, plan_changes
from tests.ashby_events import Recorder, deliver, envelope, store_bodies, subscribe
from tests.conftest import reference_file
from tests.helpers import assert_mirror_matches


async def apply_all(sync_ctx, keys: list[InboxKey]) -> list[str]:
    return [await apply_event(sync_ctx, key) for key in keys]


async def statuses(db, keys: list[InboxKey]) -> list[str]:
    async with db.acquire() as conn:
        return [(await inbox.get_event(conn, k)).status for k in keys]


async def raw(db, table: str, account_id, record_id: str):
    """A row's raw object and deletion time, deleted or not."""
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            f"select raw, deleted_at from {table} where account_id = $1 and id = $2", account_id, record_id
        )
    return row


async def pull(sync_ctx, *resources: str) -> None:
    for name in resources:
        await sync_resource(sync_ctx, BY_NAME[name])


def test_every_ashby_action_is_applied_or_deliberately_skipped() -> None:
    assert set(PLANNERS) | NOT_MIRRORED | {"ping"} == WEBHOOK_ACTIONS
    assert not set(PLANNERS) & NOT_MIRRORED
    assert len(WEBHOOK_ACTIONS) == 27


def test_the_reference_payload_schemas_name_no_action_we_do_not_know() -> None:
    schemas = json.loads(reference_file("ashby-webhook-payloads.schema.json").read_text())["webhooks"]
    assert set(schemas) <= WEBHOOK_ACTIONS


async def test_application_actions_upsert_the_application_without_extra_reads(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder)
    await pull(sync_ctx, "applications")
    apps = fake_ashby.ids("applications")
    plan_stages = [
        s for s in fake_ashby.all_records("interview_stages")
        if s["interviewPlanId"] == fake_ashby.get("applications", apps[0])["currentInterviewStage"]["interviewPlanId"]
        and s["type"] == "Active"
    ]  # fmt: skip
    fake_ashby.change_stage(apps[0], plan_stages[-1]["id"])  # candidateStageChange + applicationUpdate
    fake_ashby.update_application(apps[1], source_id=fake_ashby.ids("sources")[1])  # applicationUpdate
    cand = fake_ashby.ids("candidates")[3]
    fake_ashby.create_application(cand, fake_ashby.ids("jobs")[0])  # applicationSubmit
    fake_ashby.emit([("pushToHRIS", {"application": fake_ashby.get("applications", apps[2])})])
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert sorted(k.action for k in keys) == sorted(
        ["candidateStageChange", "applicationUpdate", "applicationUpdate", "applicationSubmit", "pushToHRIS"]
    )
    fake_ashby.reset_request_log()
    assert await apply_all(sync_ctx, keys) == ["applied"] * len(keys)
    assert fake_ashby.request_count("application.info") == 0  # complete payloads are stored as they came
    assert await statuses(db, keys) == ["applied"] * len(keys)
    await assert_mirror_matches(db, account_id, fake_ashby, "applications")


async def test_candidate_hire_records_the_application_and_the_accepted_offer(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["candidateHire"])
    offer = next(o for o in fake_ashby.all_records("offers") if o["acceptanceStatus"] == "Accepted")
    fake_ashby.hire(offer["applicationId"])
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert [k.action for k in keys] == ["candidateHire"]
    assert await apply_all(sync_ctx, keys) == ["applied"]
    async with db.acquire() as conn:
        apps = await mirror.get_raw(conn, "applications", account_id)
        offers = await mirror.get_raw(conn, "offers", account_id)
    assert apps == {offer["applicationId"]: fake_ashby.get("applications", offer["applicationId"])}
    assert apps[offer["applicationId"]]["status"] == "Hired"
    assert offers == {offer["id"]: fake_ashby.get("offers", offer["id"])}


async def test_offer_actions_create_update_and_delete_offers(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder)
    await pull(sync_ctx, "offers")
    offers = fake_ashby.ids("offers")
    fake_ashby.set_offer_status(offers[0], "Declined")  # offerUpdate
    fake_ashby.emit([("offerCreate", {"offer": fake_ashby.get("offers", offers[1])})])
    fake_ashby.delete_offer(offers[2])  # offerDelete
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert [k.action for k in keys] == ["offerUpdate", "offerCreate", "offerDelete"]
    assert await apply_all(sync_ctx, keys) == ["applied"] * 3
    await assert_mirror_matches(db, account_id, fake_ashby, "offers")
    row = await raw(db, "offers", account_id, offers[2])
    assert row["deleted_at"] is not None
    assert row["raw"] == {"id": offers[2]}  # offerDelete removes the candidate's pay, start date and the authors
    async with db.acquire() as conn:
        typed = await conn.fetchrow(
            "select salary_value, salary_currency, start_date from offers where id = $1", offers[2]
        )
    assert dict(typed) == {"salary_value": None, "salary_currency": None, "start_date": None}


async def test_job_actions_and_a_plan_transition_update_jobs(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder)
    jobs = fake_ashby.ids("jobs")
    fake_ashby.touch("jobs", [jobs[0]])  # jobUpdate
    created = fake_ashby.create_job("Webhook Engineer")  # jobCreate
    plan = {"id": fake_ashby.get("jobs", jobs[2])["defaultInterviewPlanId"], "title": "Plan"}
    fake_ashby.emit(
        [
            (
                "interviewPlanTransition",
                {"jobId": jobs[2], "fromInterviewPlan": plan, "toInterviewPlan": plan, "interviewStageMappings": []},
            )
        ]
    )
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert [k.action for k in keys] == ["jobUpdate", "jobCreate", "interviewPlanTransition"]
    fake_ashby.reset_request_log()
    assert await apply_all(sync_ctx, keys) == ["applied"] * 3
    assert fake_ashby.request_count("job.info") == 1  # the transition names the job only
    async with db.acquire() as conn:
        mirrored = await mirror.get_raw(conn, "jobs", account_id)
    assert mirrored == {j: fake_ashby.get("jobs", j) for j in (jobs[0], created["id"], jobs[2])}


async def test_a_plan_transition_moves_the_jobs_applications_to_the_mapped_stages(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    await pull(sync_ctx, "interview_plans", "interview_stages", "applications")
    apps = [fake_ashby.get("applications", a) for a in fake_ashby.ids("applications")]
    job_id = apps[0]["job"]["id"]
    of_job = [a for a in apps if a["job"]["id"] == job_id]
    stages = [fake_ashby.get("interview_stages", s) for s in fake_ashby.ids("interview_stages")]
    old_plan = of_job[0]["currentInterviewStage"]["interviewPlanId"]
    new_plan = next(s["interviewPlanId"] for s in stages if s["interviewPlanId"] != old_plan)
    target = {s["orderInInterviewPlan"]: s for s in stages if s["interviewPlanId"] == new_plan}
    mapping = {s["id"]: target[s["orderInInterviewPlan"]]["id"] for s in stages if s["interviewPlanId"] == old_plan}
    unmirrored_stage = "00000000-0000-4000-8000-00000000abcd"
    first_stage = of_job[0]["currentInterviewStage"]["id"]
    mapping[first_stage] = unmirrored_stage  # a stage the mirror has not seen yet: only its id is known
    body = envelope(
        "interviewPlanTransition",
        {
            "jobId": job_id,
            "fromInterviewPlan": {"id": old_plan, "title": "Old"},
            "toInterviewPlan": {"id": new_plan, "title": "New"},
            "interviewStageMappings": [
                {"fromInterviewStageId": f, "toInterviewStageId": t} for f, t in mapping.items()
            ],
        },
    )
    (key,) = await store_bodies(db, account_id, [body])

    assert await apply_event(sync_ctx, key) == "applied"

    by_id = {s["id"]: s for s in stages}
    keys = ("id", "title", "type", "orderInInterviewPlan", "interviewStageGroupId", "interviewPlanId")
    for app in apps:
        stored = (await raw(db, "applications", account_id, app["id"]))["raw"]
        if app["job"]["id"] != job_id:
            assert stored == app  # other jobs' applications untouched
            continue
        assert stored["updatedAt"] == app["updatedAt"]  # a version Ashby sends later still replaces it
        to_id = mapping[app["currentInterviewStage"]["id"]]
        if to_id == unmirrored_stage:
            assert stored["currentInterviewStage"] == {"id": unmirrored_stage}
        else:
            assert stored["currentInterviewStage"] == {k: by_id[to_id][k] for k in keys if k in by_id[to_id]}
        assert {k: v for k, v in stored.items() if k != "currentInterviewStage"} == {
            k: v for k, v in app.items() if k != "currentInterviewStage"
        }
    async with db.acquire() as conn:
        moved = await conn.fetchval(
            "select count(*) from applications where account_id = $1 and job_id = $2 and stage_id = any($3::text[])",
            account_id,
            job_id,
            list(set(mapping.values())),
        )
    assert moved == len(of_job)

    # Applied again (a replay, or a redelivery after a lost acknowledgement): nothing moves twice.
    (again,) = await store_bodies(db, account_id, [body.replace(b'"webhookActionId":"', b'"webhookActionId":"r-')])
    before = {a["id"]: (await raw(db, "applications", account_id, a["id"]))["raw"] for a in of_job}
    assert await apply_event(sync_ctx, again) == "applied"
    assert {a["id"]: (await raw(db, "applications", account_id, a["id"]))["raw"] for a in of_job} == before


async def test_a_stage_mapping_that_chains_stages_moves_nothing(db, fake_ashby, sync_ctx, account_id) -> None:
    await pull(sync_ctx, "applications")
    app = fake_ashby.get("applications", fake_ashby.ids("applications")[0])
    stage = app["currentInterviewStage"]["id"]
    other = "00000000-0000-4000-8000-00000000beef"
    mappings = [
        {"fromInterviewStageId": stage, "toInterviewStageId": other},
        {"fromInterviewStageId": other, "toInterviewStageId": "00000000-0000-4000-8000-00000000cafe"},
    ]
    body = envelope("interviewPlanTransition", {"jobId": app["job"]["id"], "interviewStageMappings": mappings})
    (key,) = await store_bodies(db, account_id, [body])
    assert await apply_event(sync_ctx, key) == "applied"
    assert (await raw(db, "applications", account_id, app["id"]))["raw"] == app


async def test_job_posting_actions_upsert_and_delete_postings(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder)
    await pull(sync_ctx, "job_postings", "jobs")
    postings = fake_ashby.ids("job_postings")
    fake_ashby.touch("job_postings", [postings[0]])  # jobPostingUpdate
    fake_ashby.emit([("jobPostingPublish", {"jobPosting": fake_ashby.get("job_postings", postings[1])})])
    fake_ashby.emit([("jobPostingUnpublish", {"jobPosting": fake_ashby.get("job_postings", postings[2])})])
    fake_ashby.delete_job_posting(postings[3])  # jobPostingDelete (the job's jobPostingIds change too)
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert [k.action for k in keys] == [
        "jobPostingUpdate",
        "jobPostingPublish",
        "jobPostingUnpublish",
        "jobPostingDelete",
    ]
    assert await apply_all(sync_ctx, keys) == ["applied"] * 4
    await assert_mirror_matches(db, account_id, fake_ashby, "job_postings")
    await assert_mirror_matches(db, account_id, fake_ashby, "jobs")
    assert (await raw(db, "job_postings", account_id, postings[3]))["deleted_at"] is not None


async def test_interview_schedule_actions_upsert_schedules_and_their_events(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder)
    schedules = fake_ashby.ids("interview_schedules")
    fake_ashby.touch("interview_schedules", [schedules[0]])  # interviewScheduleUpdate
    interviewer = fake_ashby.get("users", fake_ashby.ids("users")[0])["email"]
    created = fake_ashby.create_interview_schedule(  # interviewScheduleCreate + interviewScheduleUpdate
        fake_ashby.ids("applications")[0],
        [
            {"startTime": f"2031-02-0{d}T10:00:00.000Z", "endTime": f"2031-02-0{d}T11:00:00.000Z"}
            | {"interviewers": [{"email": interviewer}]}
            for d in (1, 2)
        ],
    )
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert [k.action for k in keys] == ["interviewScheduleUpdate", "interviewScheduleCreate", "interviewScheduleUpdate"]
    assert await apply_all(sync_ctx, keys) == ["applied"] * 3
    async with db.acquire() as conn:
        mirrored = await mirror.get_raw(conn, "interview_schedules", account_id)
        events = await mirror.get_raw(conn, "interview_events", account_id)
    expected = {s: fake_ashby.get("interview_schedules", s) for s in (schedules[0], created["id"])}
    assert len(created["interviewEvents"]) == 2
    assert mirrored == expected
    assert events == {
        e["id"]: fake_ashby.get("interview_events", e["id"]) for s in expected.values() for e in s["interviewEvents"]
    }


async def test_an_interview_removed_from_its_schedule_is_deleted_unless_the_update_is_stale(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    await pull(sync_ctx, "interview_schedules", "interview_events")
    schedule = next(
        fake_ashby.get("interview_schedules", s)
        for s in fake_ashby.ids("interview_schedules")
        if len(fake_ashby.get("interview_schedules", s)["interviewEvents"]) >= 2
    )
    removed, *kept = [e["id"] for e in schedule["interviewEvents"]]

    def update(updated_at: str, events: list[dict]) -> bytes:
        changed = {**schedule, "updatedAt": updated_at, "interviewEvents": events}
        return envelope("interviewScheduleUpdate", {"interviewSchedule": changed})

    older, newer = await store_bodies(
        db,
        account_id,
        [update("2001-01-01T00:00:00.000Z", []), update("2031-01-01T00:00:00.000Z", schedule["interviewEvents"][1:])],
    )

    async def deleted(event_id: str) -> bool:
        return (await raw(db, "interview_events", account_id, event_id))["deleted_at"] is not None

    assert await apply_event(sync_ctx, older) == "applied"  # a late delivery of an older version: deletes nothing
    assert [await deleted(e) for e in [removed, *kept]] == [False] * (1 + len(kept))

    assert await apply_event(sync_ctx, newer) == "applied"
    assert [await deleted(e) for e in [removed, *kept]] == [True] + [False] * len(kept)
    async with db.acquire() as conn:  # other schedules' events untouched
        assert (
            await mirror.count_rows(conn, "interview_events", account_id) == len(fake_ashby.ids("interview_events")) - 1
        )


async def test_opening_create_upserts_the_opening(db, fake_ashby, sync_ctx, account_id, recorder: Recorder) -> None:
    await subscribe(fake_ashby, recorder, ["openingCreate"])
    opening = fake_ashby.create_opening([fake_ashby.ids("jobs")[0]], identifier="REQ-WEBHOOK")
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert await apply_all(sync_ctx, keys) == ["applied"]
    async with db.acquire() as conn:
        assert await mirror.get_raw(conn, "openings", account_id) == {opening["id"]: opening}


async def test_candidate_delete_removes_the_candidate_its_applications_what_hangs_off_them_and_their_pii(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["candidateDelete"])
    children = ["offers", "application_feedback", "interview_schedules", "interview_events"]
    await pull(sync_ctx, "candidates", "applications", *children)
    # one candidate with an offer, one with feedback and interviews: Ashby deletes those with their applications
    offered, interviewed = (
        {r["applicationId"] for r in fake_ashby.all_records(kind)} for kind in ("offers", "application_feedback")
    )
    cand, other = (
        next(c for c in fake_ashby.all_records("candidates") if set(c["applicationIds"]) & apps)
        for apps in (offered, interviewed)
    )
    fake_ashby.delete_candidate(cand["id"])
    fake_ashby.delete_candidate(other["id"])
    keys = await deliver(fake_ashby, recorder, db, account_id)
    assert await apply_all(sync_ctx, keys) == ["applied", "applied"]
    for kind in children:  # the mirror lost them with the candidates (Ashby did too)
        await assert_mirror_matches(db, account_id, fake_ashby, kind)
    async with db.acquire() as conn:
        feedback = await conn.fetch(
            "select raw, deleted_at from application_feedback where application_id = any($1)", other["applicationIds"]
        )
    assert feedback
    assert all(f["deleted_at"] is not None and set(f["raw"]) == {"id"} for f in feedback)  # the answers were PII
    async with db.acquire() as conn:
        row = await conn.fetchrow(
            "select name, primary_email, emails, search_text, raw, deleted_at from candidates where id = $1", cand["id"]
        )
        apps = await conn.fetch("select raw, deleted_at from applications where id = any($1)", cand["applicationIds"])
    assert row["deleted_at"] is not None
    assert (row["name"], row["primary_email"], row["emails"], row["search_text"]) == (None, None, [], None)
    assert row["raw"] == {"id": cand["id"]}
    assert len(apps) == len(cand["applicationIds"])
    assert all(a["deleted_at"] is not None and set(a["raw"]) == {"id"} for a in apps)
    await assert_mirror_matches(db, account_id, fake_ashby, "candidates")
    await assert_mirror_matches(db, account_id, fake_ashby, "applications")


async def test_candidate_merge_moves_applications_to_the_surviving_candidate(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["candidateMerge"])
    await pull(sync_ctx, "candidates", "applications")
    with_apps = [c for c in fake_ashby.all_records("candidates") if c["applicationIds"]]
    gone, kept = with_apps[0], with_apps[1]
    fake_ashby.merge_candidates(gone["id"], kept["id"])
    keys = await deliver(fake_ashby, recorder, db, account_id)
    fake_ashby.reset_request_log()
    assert await apply_all(sync_ctx, keys) == ["applied"]
    assert fake_ashby.request_count("candidate.info") == 1
    assert fake_ashby.request_count("application.info") == len(gone["applicationIds"])  # each has a new updatedAt
    survivor = fake_ashby.get("candidates", kept["id"])
    async with db.acquire() as conn:
        moved = await conn.fetch(
            "select id, candidate_id, raw from applications where id = any($1) and deleted_at is null",
            gone["applicationIds"],
        )
        candidates = await mirror.get_raw(conn, "candidates", account_id, [gone["id"], kept["id"]])
    assert len(moved) == len(gone["applicationIds"])
    for app in moved:
        assert app["candidate_id"] == kept["id"]
        assert app["raw"]["candidate"] == candidate_summary(survivor)
        assert app["raw"] == fake_ashby.get("applications", app["id"])
    assert candidates == {kept["id"]: survivor}  # the other is deleted, its PII gone
    assert (await raw(db, "candidates", account_id, gone["id"]))["raw"] == {"id": gone["id"]}


async def test_duplicates_and_replays_are_applied_once(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["applicationUpdate"])
    fake_ashby.faults.webhook_duplicate = 1.0
    app_id = fake_ashby.ids("applications")[0]
    fake_ashby.touch("applications", [app_id])
    async with asyncio.timeout(5):
        await fake_ashby.wait_deliveries_idle()
    assert len(recorder.bodies) == 2
    assert recorder.bodies[0] == recorder.bodies[1]
    keys = await store_bodies(db, account_id, recorder.bodies)
    assert len(keys) == 1  # the inbox keeps one row per (account, webhookActionId, action)
    assert await apply_event(sync_ctx, keys[0]) == "applied"
    async with db.acquire() as conn:
        before = await conn.fetchrow("select raw, updated_at, synced_at from applications where id = $1", app_id)
    fake_ashby.reset_request_log()
    assert await apply_event(sync_ctx, keys[0]) == "already applied"  # a replayed job
    assert await store_bodies(db, account_id, recorder.bodies) == []  # a replayed delivery
    async with db.acquire() as conn:
        after = await conn.fetchrow("select raw, updated_at, synced_at from applications where id = $1", app_id)
        event = await inbox.get_event(conn, keys[0])
    assert dict(after) == dict(before)
    assert event.attempts == 1
    assert fake_ashby.request_counts() == {}


async def test_out_of_order_updates_of_one_application_keep_the_newer(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["applicationUpdate"])
    app_id = fake_ashby.ids("applications")[0]
    sources = fake_ashby.ids("sources")
    fake_ashby.update_application(app_id, source_id=sources[1])
    fake_ashby.update_application(app_id, source_id=sources[2])
    first, second = await deliver(fake_ashby, recorder, db, account_id)
    assert await apply_event(sync_ctx, second) == "applied"
    assert await apply_event(sync_ctx, first) == "applied"  # applied, but older: the row keeps the newer version
    row = await raw(db, "applications", account_id, app_id)
    assert row["raw"] == fake_ashby.get("applications", app_id)
    assert row["raw"]["source"]["id"] == sources[2]


async def test_a_payload_holding_half_an_emoji_is_applied_with_it_replaced(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["applicationUpdate"])
    app_id = fake_ashby.ids("applications")[0]
    fake_ashby.update_candidate(fake_ashby.get("applications", app_id)["candidate"]["id"], name="Zoë \ud83d")
    fake_ashby.update_application(app_id, source_id=fake_ashby.ids("sources")[1])
    (key,) = await deliver(fake_ashby, recorder, db, account_id)
    assert await apply_event(sync_ctx, key) == "applied"
    row = await raw(db, "applications", account_id, app_id)
    sent = fake_ashby.get("applications", app_id)
    assert sent["candidate"]["name"] == "Zoë \ud83d"
    assert row["raw"] == {**sent, "candidate": {**sent["candidate"], "name": "Zoë \ufffd"}}


async def test_a_partial_payload_is_completed_with_info_calls(db, fake_ashby, sync_ctx, account_id) -> None:
    app_id = fake_ashby.ids("applications")[0]
    offer = fake_ashby.get("offers", fake_ashby.ids("offers")[0])
    without_updated_at = {k: v for k, v in offer.items() if k != "updatedAt"}  # as Ashby's offers come
    keys = await store_bodies(
        db,
        account_id,
        [
            envelope("applicationUpdate", {"application": {"id": app_id}}),
            envelope("offerUpdate", {"offer": without_updated_at}),
        ],
    )
    fake_ashby.reset_request_log()
    assert await apply_all(sync_ctx, keys) == ["applied", "applied"]
    assert fake_ashby.request_counts() == {"application.info": 1, "offer.info": 1}
    async with db.acquire() as conn:
        assert await mirror.get_raw(conn, "applications", account_id) == {
            app_id: fake_ashby.get("applications", app_id)
        }
        assert await mirror.get_raw(conn, "offers", account_id) == {offer["id"]: offer}


async def test_an_application_event_sent_before_its_candidate_was_anonymised_brings_back_no_pii(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    await pull(sync_ctx, "candidates", "applications")
    app = next(a for a in fake_ashby.all_records("applications") if "primaryEmailAddress" in a["candidate"])
    candidate_id = app["candidate"]["id"]
    fake_ashby.update_application(app["id"], source_id=fake_ashby.ids("sources")[1])
    sent = copy.deepcopy(fake_ashby.get("applications", app["id"]))  # the event Ashby sent: contacts in it
    assert "primaryEmailAddress" in sent["candidate"]
    fake_ashby.anonymize_candidate(candidate_id)  # then anonymised: the next pass brings the candidate
    await pull(sync_ctx, "candidates")
    keys = await store_bodies(db, account_id, [envelope("applicationUpdate", {"application": sent})])
    assert await apply_all(sync_ctx, keys) == ["applied"]  # delivered late: newer than the mirrored row
    row = await raw(db, "applications", account_id, app["id"])
    assert row["raw"]["candidate"] == {"id": candidate_id, "name": "Anonymized Candidate"}
    assert row["raw"] == fake_ashby.get("applications", app["id"])


async def test_an_object_ashby_no_longer_has_is_marked_deleted(db, fake_ashby, sync_ctx, account_id) -> None:
    await pull(sync_ctx, "candidates", "applications")
    cand = next(c for c in fake_ashby.all_records("candidates") if c["applicationIds"])
    fake_ashby.delete_candidate(cand["id"])  # its candidateDelete is lost; a late partial update arrives
    keys = await store_bodies(
        db, account_id, [envelope("applicationUpdate", {"application": {"id": cand["applicationIds"][0]}})]
    )
    assert await apply_all(sync_ctx, keys) == ["applied"]
    row = await raw(db, "applications", account_id, cand["applicationIds"][0])
    assert row["deleted_at"] is not None
    assert row["raw"] == {"id": cand["applicationIds"][0]}


async def test_a_late_update_never_brings_back_a_deleted_candidates_application(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder, ["applicationUpdate", "candidateDelete"])
    await pull(sync_ctx, "candidates", "applications")
    cand = next(c for c in fake_ashby.all_records("candidates") if c["applicationIds"])
    app_id = cand["applicationIds"][0]
    fake_ashby.touch("applications", [app_id])
    fake_ashby.delete_candidate(cand["id"])
    update, delete = await deliver(fake_ashby, recorder, db, account_id)
    assert (update.action, delete.action) == ("applicationUpdate", "candidateDelete")
    assert await apply_event(sync_ctx, delete) == "applied"
    assert await apply_event(sync_ctx, update) == "applied"  # delivered late: newer than the row, yet deleted
    row = await raw(db, "applications", account_id, app_id)
    assert row["deleted_at"] is not None
    assert row["raw"] == {"id": app_id}


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("surveySubmit", {"surveySubmission": {"id": "s1", "candidateId": "c1", "surveyType": "Questionnaire"}}),
        ("signatureRequestUpdate", {"relatedEntityType": "offer", "offerId": "o1", "eventType": "sent"}),
        ("takeHomeAssignmentSubmitted", {"takeHomeAssignment": {"id": "t1"}}),
        ("ping", {"webhookActionType": "ping"}),
        ("somethingNew", {"thing": {"id": "x"}}),
    ],
)
async def test_actions_without_a_mirror_table_are_stored_and_skipped(
    db, fake_ashby, sync_ctx, account_id, action, data
) -> None:
    keys = await store_bodies(db, account_id, [envelope(action, data)])
    fake_ashby.reset_request_log()
    outcome = await apply_event(sync_ctx, keys[0])
    assert outcome.startswith("skipped: ")
    assert await statuses(db, keys) == ["skipped"]
    assert fake_ashby.request_counts() == {}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"webhookActionId": "w1", "action": "applicationUpdate"}',
        b'{"webhookActionId": "w1", "action": "applicationUpdate", "data": {"application": {"name": "x"}}}',
        b'{"webhookActionId": "w1", "action": "applicationUpdate", "data": {"application": "a1"}}',
        b'{"webhookActionId": "other", "action": "applicationUpdate", "data": {"application": {"id": "a1"}}}',
    ],
)
async def test_a_malformed_event_raises_and_writes_nothing(db, fake_ashby, sync_ctx, account_id, body) -> None:
    key = InboxKey(account_id, "w1", "applicationUpdate")
    async with db.acquire() as conn:
        await inbox.insert_events(conn, [NewEvent(key, body)])
    with pytest.raises(MalformedWebhookError):
        await apply_event(sync_ctx, key)
    assert await statuses(db, [key]) == ["pending"]
    async with db.acquire() as conn:
        assert await mirror.count_rows(conn, "applications", account_id, include_deleted=True) == 0


async def test_an_event_not_in_the_inbox_is_a_no_op(db, sync_ctx, account_id) -> None:
    assert await apply_event(sync_ctx, InboxKey(account_id, "nope", "applicationUpdate")) == "not in the inbox"


async def test_a_full_sync_after_webhooks_agrees_with_them(
    db, fake_ashby, sync_ctx, account_id, recorder: Recorder
) -> None:
    await subscribe(fake_ashby, recorder)
    app_id = fake_ashby.ids("applications")[5]
    fake_ashby.hire(app_id)
    keys = await deliver(fake_ashby, recorder, db, account_id)
    await apply_all(sync_ctx, keys)
    _, failures = await sync_account(sync_ctx, [BY_NAME["applications"], BY_NAME["offers"]])
    assert failures == []
    await assert_mirror_matches(db, account_id, fake_ashby, "applications")
    await assert_mirror_matches(db, account_id, fake_ashby, "offers")


async def test_an_object_read_with_info_is_stamped_with_its_own_read_not_the_events(
    db, fake_ashby, sync_ctx, account_id
) -> None:
    # Objects without updatedAt are ordered by when they were read: a retried `.info` read is as new as its last try.
    offer = fake_ashby.get("offers", fake_ashby.ids("offers")[0])
    fake_ashby.faults.latency_ms = 50
    fake_ashby.fail_next("offer.info", status=503)
    try:
        changes = await plan_changes(sync_ctx, "offerUpdate", {"offer": {"id": offer["id"]}})  # incomplete: re-read
    finally:
        fake_ashby.faults.latency_ms = 0
    read = changes.read_time("offers", offer["id"])
    assert read - changes.read_at >= timedelta(milliseconds=50)  # after the failed first try
    assert changes.read_time("offers", "not-read") == changes.read_at
