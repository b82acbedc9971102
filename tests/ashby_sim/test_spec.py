"""Spec conformance: every endpoint the sandbox serves that is in Ashby's OpenAPI spec answers per its schema."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ashby_api.resources import RESOURCES
from ashby_sim.app import HANDLERS
from ashby_sim.endpoints import INFO_PARAMS
from ashby_sim.state import SimState
from tests.ashby_sim.conftest import Api, Receiver
from tests.conftest import reference_file

pytestmark = pytest.mark.slow

SPEC_URI = "urn:ashby-openapi"
NOT_IN_SPEC = {
    "offer.setStatus": "added to Ashby in 2026-07, after the saved spec",
    "application.change_stage": "a legacy alias of application.changeStage",
    "application.change_source": "a legacy alias of application.changeSource",
}
Validate = Callable[[str, Any], None]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    path = reference_file("ashby-openapi.yaml")
    with path.open() as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="module")
def validate(spec: dict[str, Any]) -> Validate:
    """Validates a response body against the spec's 200 schema of an endpoint (refs resolve inside the spec)."""

    def retrieve(uri: str) -> Resource:
        # The spec's refs point into itself (`#/paths/...`). Remote documents are never fetched (no network in
        # tests): such a ref validates as `{}` (anything), so only the parts the saved spec defines are checked.
        return DRAFT202012.create_resource({})

    registry = Registry(retrieve=retrieve).with_resource(  # type: ignore[call-arg]  # attrs field mypy cannot see
        SPEC_URI, DRAFT202012.create_resource(spec)
    )
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None

    def check(endpoint: str, body: Any) -> None:
        pointer = f"#/paths/~1{endpoint}/post/responses/200/content/application~1json/schema"
        schema = {"$ref": SPEC_URI + pointer}
        validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=checker)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{endpoint}: " + "; ".join(describe(e) for e in errors[:5])

    return check


def describe(error: jsonschema.ValidationError) -> str:
    """The deepest reason inside oneOf/anyOf, which otherwise only says 'not valid under any of the schemas'."""
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), "errors" not in e.message))
    return f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"


def test_every_endpoint_served_is_in_the_spec_or_explicitly_skipped(spec: dict[str, Any]):
    missing = {e for e in HANDLERS if f"/{e}" not in spec["paths"]}

    assert missing == set(NOT_IN_SPEC)


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.endpoint)
async def test_list_pages_match_the_spec(api: Api, validate: Validate, resource):
    state = api.state
    body: dict[str, Any] = {**resource.params, "limit": 7}
    if resource.parent_param:
        body[resource.parent_param] = state.ids("interview_plans")[0]

    first = await api.call(resource.endpoint, body)
    validate(resource.endpoint, first.body)
    assert first.results
    if first.body.get("nextCursor"):
        second = await api.call(resource.endpoint, {**body, "cursor": first.body["nextCursor"]})
        validate(resource.endpoint, second.body)
    if resource.params.get("includeArchived") is not None or resource.mode == "incremental":
        everything = await api.call(resource.endpoint, {**body, "limit": 100})
        validate(resource.endpoint, everything.body)


@pytest.mark.parametrize("resource", [r for r in RESOURCES if r.info_endpoint], ids=lambda r: r.info_endpoint)
async def test_info_of_every_record_matches_the_spec(api: Api, validate: Validate, resource):
    param, _ = INFO_PARAMS[resource.info_endpoint]
    for record_id in api.state.ids(resource.name)[:40]:
        reply = await api.call(resource.info_endpoint, {param: record_id})
        validate(resource.info_endpoint, reply.body)
    missing = await api.call(resource.info_endpoint, {param: "00000000-0000-4000-8000-000000000000"})
    validate(resource.info_endpoint, missing.body)


def _stage(state: SimState, plan_id: str, stage_type: str) -> str:
    return next(
        s["id"]
        for s in state.all_records("interview_stages")
        if s["interviewPlanId"] == plan_id and s["type"] == stage_type
    )


async def test_write_endpoints_match_the_spec(api: Api, validate: Validate, receiver: Receiver):
    state = api.state
    app = next(a for a in state.all_records("applications") if a["status"] == "Active")
    plan = app["currentInterviewStage"]["interviewPlanId"]
    job = state.get("jobs", state.ids("jobs")[1])
    calls: list[tuple[str, dict[str, Any]]] = [
        ("apiKey.info", {}),
        ("candidate.create", {"name": "Spec Person", "email": "spec@example.net", "phoneNumber": "+15550199"}),
        ("candidate.update", {"candidateId": state.ids("candidates")[1], "name": "Spec Renamed"}),
        ("candidate.addTag", {"candidateId": state.ids("candidates")[1], "tagId": state.ids("candidate_tags")[0]}),
        ("candidate.createNote", {"candidateId": state.ids("candidates")[1], "note": "Spec note"}),
        ("candidate.search", {"name": "a"}),
        (
            "candidate.search",
            {"email": state.get("candidates", state.ids("candidates")[3])["emailAddresses"][0]["value"]},
        ),
        ("application.create", {"candidateId": state.ids("candidates")[4], "jobId": job["id"]}),
        ("application.changeStage", {"applicationId": app["id"], "interviewStageId": _stage(state, plan, "Offer")}),
        ("application.changeSource", {"applicationId": app["id"], "sourceId": state.ids("sources")[2]}),
        ("application.update", {"applicationId": app["id"], "creditedToUserId": state.ids("users")[2]}),
        (
            "application.transfer",
            {
                "applicationId": app["id"],
                "jobId": job["id"],
                "interviewPlanId": job["defaultInterviewPlanId"],
                "interviewStageId": _stage(state, job["defaultInterviewPlanId"], "Active"),
            },
        ),
        ("job.create", {"title": "Spec Engineer", "defaultInterviewPlanId": job["defaultInterviewPlanId"]}),
        ("opening.create", {"jobIds": [job["id"]], "identifier": "REQ-SPEC"}),
        (
            "interviewSchedule.create",
            {
                "applicationId": app["id"],
                "interviewEvents": [
                    {
                        "startTime": "2030-01-30T15:00:00.000Z",
                        "endTime": "2030-01-30T16:00:00.000Z",
                        "interviewers": [{"email": state.get("users", state.ids("users")[0])["email"]}],
                    }
                ],
            },
        ),
        ("candidate.anonymize", {"candidateId": state.ids("candidates")[1]}),
        ("candidate.info", {"id": state.ids("candidates")[1]}),
        ("application.changeStage", {"applicationId": "00000000-0000-4000-8000-000000000000", "interviewStageId": "x"}),
    ]
    for endpoint, body in calls:
        reply = await api.call(endpoint, body)
        validate(endpoint, reply.body)

    hook = await api.call(
        "webhook.create", {"webhookType": "offerUpdate", "requestUrl": receiver.url, "secretToken": "s"}
    )
    validate("webhook.create", hook.body)
    hook_id = hook.results["id"]
    for endpoint, body in [
        ("webhook.update", {"webhookId": hook_id, "enabled": True}),
        ("webhook.info", {"webhookId": hook_id}),
        ("webhook.delete", {"webhookId": hook_id}),
        ("webhook.info", {"webhookId": hook_id}),
    ]:
        validate(endpoint, (await api.call(endpoint, body)).body)


async def test_sync_error_responses_match_the_spec(api: Api, validate: Validate):
    for body in ({"syncToken": "garbage"}, {"cursor": "garbage"}, {"limit": "many"}):
        reply = await api.call("candidate.list", body)
        assert reply.body["success"] is False
        validate("candidate.list", reply.body)
