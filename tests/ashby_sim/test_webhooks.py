"""Webhooks: ping on create, signed deliveries, related events sharing an id, retries, drop/duplicate/reorder."""

import json

import jsonschema
import orjson
import pytest

from ashby_api.webhooks import SIGNATURE_HEADER, verify_signature
from ashby_sim.state import SimState
from tests.ashby_sim.conftest import Api, Receiver, settle
from tests.conftest import reference_file

SECRET = "whsec-test-secret"


async def register(api: Api, receiver: Receiver, *types: str) -> list[dict]:
    hooks = []
    for webhook_type in types:
        reply = await api.call(
            "webhook.create", {"webhookType": webhook_type, "requestUrl": receiver.url, "secretToken": SECRET}
        )
        hooks.append(reply.results)
    return hooks


def offer_app(state: SimState) -> tuple[str, str]:
    offer = next(o for o in state.all_records("offers") if o["acceptanceStatus"] != "Accepted")
    return offer["id"], offer["applicationId"]


async def test_webhook_create_pings_the_url_with_a_signed_ping_and_enables_it(api: Api, receiver: Receiver):
    (hook,) = await register(api, receiver, "offerUpdate")

    assert hook["enabled"] is True
    assert hook["secretToken"] == SECRET
    ((headers, body),) = receiver.received
    assert verify_signature([SECRET], body, headers[SIGNATURE_HEADER])
    ping = orjson.loads(body)
    assert ping["action"] == "ping"
    assert ping["data"] == {"webhookActionType": "ping"}
    assert ping["webhookActionId"]
    info = await api.call("webhook.info", {"webhookId": hook["id"]})
    assert info.results == {"id": hook["id"], "enabled": True, "requestUrl": receiver.url, "webhookType": "offerUpdate"}


@pytest.mark.parametrize("status", [500, 404, 410])
async def test_a_ping_answered_with_an_error_saves_the_webhook_disabled(api: Api, receiver: Receiver, status):
    receiver.statuses = [status]

    (hook,) = await register(api, receiver, "offerUpdate")

    assert hook["enabled"] is False
    assert len(receiver.received) == 1  # pings are not retried


async def test_a_ping_to_an_unreachable_url_saves_the_webhook_disabled(api: Api):
    body = {"webhookType": "candidateHire", "requestUrl": "http://127.0.0.1:9/nothing", "secretToken": SECRET}

    reply = await api.call("webhook.create", body)

    assert reply.results["enabled"] is False
    assert api.state.deliveries[-1].outcome == "failed"


async def test_webhook_create_validates_its_input(api: Api, receiver: Receiver):
    bad_type = await api.call("webhook.create", {"webhookType": "nope", "requestUrl": receiver.url, "secretToken": "s"})
    no_secret = await api.call("webhook.create", {"webhookType": "offerUpdate", "requestUrl": receiver.url})

    assert bad_type.code == "invalid_input"
    assert no_secret.code == "invalid_input"


async def test_webhook_update_re_pings_and_delete_removes(api: Api, receiver: Receiver):
    receiver.statuses = [500]
    (hook,) = await register(api, receiver, "offerUpdate")

    enabled = await api.call("webhook.update", {"webhookId": hook["id"], "enabled": True})
    deleted = await api.call("webhook.delete", {"webhookId": hook["id"]})
    gone = await api.call("webhook.info", {"webhookId": hook["id"]})

    assert enabled.results["enabled"] is True
    assert len(receiver.received) == 2
    assert deleted.results == {"webhookId": hook["id"]}
    assert gone.code == "webhook_not_found"


async def test_offer_set_status_fires_a_signed_offer_update(api: Api, receiver: Receiver):
    await register(api, receiver, "offerUpdate")
    offer_id, _ = offer_app(api.state)

    await api.call("offer.setStatus", {"offerId": offer_id, "acceptanceStatus": "Accepted"})
    await settle(api.state)

    headers, body = receiver.received[-1]
    assert verify_signature([SECRET], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(["another-secret"], body, headers[SIGNATURE_HEADER])
    payload = orjson.loads(body)
    assert payload["action"] == "offerUpdate"
    assert payload["data"]["offer"] == api.state.get("offers", offer_id)


async def test_a_stage_change_fires_stage_change_and_application_update_sharing_one_action_id(
    api: Api, receiver: Receiver
):
    await register(api, receiver, "candidateStageChange", "applicationUpdate", "candidateHire")
    app = next(a for a in api.state.all_records("applications") if a["status"] == "Active")
    offer_stage = next(
        s
        for s in api.state.all_records("interview_stages")
        if s["interviewPlanId"] == app["currentInterviewStage"]["interviewPlanId"] and s["type"] == "Offer"
    )

    await api.call("application.changeStage", {"applicationId": app["id"], "interviewStageId": offer_stage["id"]})
    await settle(api.state)

    events = receiver.payloads()[3:]  # after the three pings
    assert sorted(e["action"] for e in events) == ["applicationUpdate", "candidateStageChange"]
    assert len({e["webhookActionId"] for e in events}) == 1
    assert events[0]["data"]["application"]["currentInterviewStage"]["id"] == offer_stage["id"]


async def test_a_hire_fires_hire_update_and_stage_change_sharing_one_action_id(api: Api, receiver: Receiver):
    await register(api, receiver, "candidateStageChange", "applicationUpdate", "candidateHire")
    offer_id, app_id = offer_app(api.state)
    api.state.set_offer_status(offer_id, "Accepted")

    api.state.hire(app_id)
    await settle(api.state)

    events = receiver.payloads()[3:]
    assert sorted(e["action"] for e in events) == ["applicationUpdate", "candidateHire", "candidateStageChange"]
    assert len({e["webhookActionId"] for e in events}) == 1
    hire = next(e for e in events if e["action"] == "candidateHire")
    assert hire["data"]["application"]["status"] == "Hired"
    assert hire["data"]["offer"]["acceptanceStatus"] == "Accepted"


async def test_deletes_and_merges_fire_their_webhooks(api: Api, receiver: Receiver):
    await register(api, receiver, "candidateDelete", "candidateMerge", "offerDelete", "jobPostingDelete")
    cands = api.state.ids("candidates")
    offer = api.state.get("offers", api.state.ids("offers")[0])
    posting = api.state.get("job_postings", api.state.ids("job_postings")[0])

    api.state.delete_candidate(cands[0])
    api.state.merge_candidates(cands[1], cands[2])
    api.state.delete_offer(offer["id"])
    api.state.delete_job_posting(posting["id"])
    await settle(api.state)

    assert [(p["action"], p["data"]) for p in receiver.payloads()[4:]] == [
        ("candidateDelete", {"candidate": {"id": cands[0]}}),
        ("candidateMerge", {"deletedCandidate": {"id": cands[1]}, "mergedCandidate": {"id": cands[2]}}),
        ("offerDelete", {"offer": {"id": offer["id"], "applicationId": offer["applicationId"]}}),
        ("jobPostingDelete", {"jobPosting": {"id": posting["id"], "jobId": posting["jobId"]}}),
    ]


async def test_disabled_webhooks_and_other_types_receive_nothing(api: Api, receiver: Receiver):
    (hook,) = await register(api, receiver, "offerUpdate")
    await api.call("webhook.update", {"webhookId": hook["id"], "enabled": False})
    await register(api, receiver, "candidateDelete")

    api.state.set_offer_status(api.state.ids("offers")[0], "Declined")
    await settle(api.state)

    assert [p["action"] for p in receiver.payloads()] == ["ping", "ping"]


async def test_failed_deliveries_are_retried_until_they_succeed(api: Api, receiver: Receiver):
    api.state.faults.webhook_retry_base = 0.005
    await register(api, receiver, "offerUpdate")
    receiver.statuses = [500, 502]

    api.state.set_offer_status(api.state.ids("offers")[0], "Declined")
    await settle(api.state)

    updates = receiver.payloads("offerUpdate")
    assert len(updates) == 3
    assert len({u["webhookActionId"] for u in updates}) == 1
    assert [(d.attempt, d.status, d.outcome) for d in api.state.deliveries if d.action == "offerUpdate"] == [
        (1, 500, "retrying"),
        (2, 502, "retrying"),
        (3, 200, "delivered"),
    ]


@pytest.mark.parametrize("status", [401, 403, 404, 405, 410])
async def test_statuses_ashby_does_not_retry_are_not_retried(api: Api, receiver: Receiver, status):
    api.state.faults.webhook_retry_base = 0.005
    await register(api, receiver, "offerUpdate")
    receiver.statuses = [status]

    api.state.set_offer_status(api.state.ids("offers")[0], "Declined")
    await settle(api.state)

    assert len(receiver.payloads("offerUpdate")) == 1
    assert api.state.deliveries[-1].outcome == "rejected"


async def test_deliveries_give_up_after_the_attempt_limit(api: Api, receiver: Receiver):
    api.state.faults.webhook_retry_base = 0.001
    api.state.faults.webhook_max_attempts = 4
    await register(api, receiver, "offerUpdate")
    receiver.statuses = [500] * 10

    api.state.set_offer_status(api.state.ids("offers")[0], "Declined")
    await settle(api.state)

    assert len(receiver.payloads("offerUpdate")) == 4
    assert api.state.deliveries[-1].outcome == "gave_up"


async def test_the_drop_switch_drops_deliveries(api: Api, receiver: Receiver):
    await register(api, receiver, "offerUpdate")
    api.state.faults.webhook_drop = 1.0

    api.state.set_offer_status(api.state.ids("offers")[0], "Declined")
    await settle(api.state)

    assert receiver.payloads("offerUpdate") == []
    assert api.state.deliveries[-1].outcome == "dropped"


async def test_the_duplicate_switch_delivers_the_same_event_twice(api: Api, receiver: Receiver):
    await register(api, receiver, "offerUpdate")
    api.state.faults.webhook_duplicate = 1.0

    api.state.set_offer_status(api.state.ids("offers")[0], "Declined")
    await settle(api.state)

    first, second = [body for _, body in receiver.received[1:]]
    assert first == second
    assert [d.duplicate for d in api.state.deliveries if d.action == "offerUpdate"] == [False, True]


async def test_the_reorder_switch_delivers_a_burst_in_reverse_order(api: Api, receiver: Receiver):
    await register(api, receiver, "offerUpdate")
    api.state.faults.webhook_reorder = True
    offers = api.state.ids("offers")[:3]

    for offer in offers:
        api.state.set_offer_status(offer, "Declined")
    await settle(api.state)

    assert [p["data"]["offer"]["id"] for p in receiver.payloads("offerUpdate")] == offers[::-1]


async def test_without_switches_deliveries_arrive_in_order(api: Api, receiver: Receiver):
    await register(api, receiver, "offerUpdate")
    offers = api.state.ids("offers")[:3]

    for offer in offers:
        api.state.set_offer_status(offer, "Declined")
    await settle(api.state)

    assert [p["data"]["offer"]["id"] for p in receiver.payloads("offerUpdate")] == offers


async def test_payloads_match_the_webhook_payload_schemas(api: Api, receiver: Receiver):
    schemas = json.loads(reference_file("ashby-webhook-payloads.schema.json").read_text())["webhooks"]
    types = ["offerUpdate", "applicationUpdate", "candidateStageChange", "candidateHire", "jobUpdate"]
    types += ["candidateDelete", "candidateMerge", "offerDelete", "interviewScheduleUpdate", "jobPostingUpdate"]
    await register(api, receiver, *types)
    offer_id, app_id = offer_app(api.state)
    api.state.set_offer_status(offer_id, "Accepted")
    api.state.hire(app_id)
    api.state.touch("jobs", 1)
    api.state.touch("interview_schedules", 1)
    api.state.touch("job_postings", 1)
    api.state.merge_candidates(*api.state.ids("candidates")[5:7])
    api.state.delete_candidate(api.state.ids("candidates")[0])
    api.state.delete_offer(offer_id)
    await settle(api.state)

    payloads = receiver.payloads()
    assert {p["action"] for p in payloads} == {"ping", *types}
    for payload in payloads:
        jsonschema.Draft202012Validator(schemas[payload["action"]]["payloadSchema"]).validate(payload)
