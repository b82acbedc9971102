import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from ashby_api.models import (
    MODELS,
    RESOURCE_OF,
    ApiKeyInfo,
    Application,
    Candidate,
    ContactInfo,
    Offer,
    TagRef,
    WebhookSetting,
)
from ashby_api.resources import RESOURCES
from tests.conftest import reference_file


def test_every_mirrored_resource_has_a_model() -> None:
    assert set(MODELS) == {r.name for r in RESOURCES}
    assert {RESOURCE_OF[model] for model in MODELS.values()} == set(MODELS)


def test_candidate_reads_the_wire_shape() -> None:
    candidate = Candidate.model_validate(
        {
            "id": "c1",
            "createdAt": "2022-08-12T20:29:56.964Z",
            "updatedAt": "2022-08-13T10:00:00.000Z",
            "name": "Adam Hart",
            "primaryEmailAddress": {"value": "adam@example.com", "type": "Personal", "isPrimary": True},
            "emailAddresses": [{"value": "adam@example.com", "type": "Personal", "isPrimary": True}],
            "tags": [{"id": "t1", "title": "Senior", "isArchived": False}],
            "applicationIds": ["a1"],
            "customFields": [{"id": "f1", "title": "x", "value": 3}],
        }
    )
    email = ContactInfo(value="adam@example.com", type="Personal", is_primary=True)
    assert candidate == Candidate(
        id="c1",
        created_at=datetime(2022, 8, 12, 20, 29, 56, 964000, tzinfo=UTC),
        updated_at=datetime(2022, 8, 13, 10, tzinfo=UTC),
        name="Adam Hart",
        primary_email_address=email,
        email_addresses=[email],
        tags=[TagRef(id="t1", title="Senior", is_archived=False)],
        application_ids=["a1"],
    )


def test_unknown_enum_values_and_malformed_fields_do_not_fail() -> None:
    offer = Offer.model_validate(
        {
            "id": "o1",
            "applicationId": "a1",
            "acceptanceStatus": "SomethingNew",
            "decidedAt": "not a date",
            "latestVersion": {"salary": {"value": 1}},  # no id: dropped, not fatal
            "unknownField": {"nested": True},
        }
    )
    assert offer == Offer(id="o1", application_id="a1", acceptance_status="SomethingNew")


def test_only_a_missing_id_fails_validation() -> None:
    with pytest.raises(ValidationError):
        Application.model_validate({"status": "Active"})
    assert Application.model_validate({"id": "a1"}) == Application(id="a1")


def test_models_are_frozen() -> None:
    candidate = Candidate(id="c1")
    with pytest.raises(ValidationError):
        candidate.name = "x"  # type: ignore[misc]  # proving the model refuses it


def test_application_exposes_its_foreign_ids() -> None:
    app = Application.model_validate(
        {"id": "a1", "candidate": {"id": "c1"}, "job": {"id": "j1"}, "currentInterviewStage": {"id": "s1"}}
    )
    assert (app.candidate_id, app.job_id, app.stage_id) == ("c1", "j1", "s1")
    assert (Application(id="a2").candidate_id, Application(id="a2").job_id) == (None, None)


def test_webhook_setting_does_not_keep_the_secret() -> None:
    hook = WebhookSetting.model_validate(
        {"id": "w1", "enabled": True, "requestUrl": "https://x", "secretToken": "s3cret", "webhookType": "offerUpdate"}
    )
    assert "s3cret" not in repr(hook)
    assert "s3cret" not in hook.model_dump_json()


def test_api_key_info_scopes() -> None:
    info = ApiKeyInfo.model_validate({"title": "k", "scopes": ["candidates:read", "jobs:read"]})
    assert info.scopes == ["candidates:read", "jobs:read"]


def _example(schema: dict[str, Any], name: str = "") -> Any:
    """A minimal instance of `schema`: its example, or the first enum value, or a typed placeholder."""
    if name.endswith(("At", "Time")) and schema.get("type") == "string" and "example" not in schema:
        return "2026-01-02T03:04:05.000Z"  # e.g. Offer.decidedAt: a timestamp the spec types as a bare string
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _example(v, k) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_example(schema.get("items", {}))]
    return {"string": "x", "boolean": True, "integer": 1, "number": 1.5}.get(str(kind))


def test_models_accept_objects_built_from_ashbys_schemas() -> None:
    objects = json.loads(reference_file("ashby-core-objects.schema.json").read_text())["objects"]
    by_name = {model.__name__: model for model in MODELS.values()} | {"Webhook": WebhookSetting}
    checked = 0
    for name, entry in objects.items():
        if name not in by_name:
            continue
        instance = _example(entry["schema"])
        instance["id"] = "00000000-0000-4000-8000-000000000000"
        model = by_name[name]
        parsed = model.model_validate(instance)
        assert parsed.id == instance["id"]
        # Leniency must not hide a wrong declaration: every declared field the schema fills is read.
        lost = [
            field
            for field, info in model.model_fields.items()
            if instance.get(info.alias or field) not in (None, [], {}) and getattr(parsed, field) in (None, [])
        ]
        assert lost == [], f"{name}: {lost}"
        checked += 1
    assert checked >= 18
