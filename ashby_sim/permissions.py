"""The scopes a sandbox API key can hold, and the one each endpoint the sandbox serves needs."""

from collections.abc import Collection

from ashby_api.resources import RESOURCES

SCOPES: tuple[str, ...] = (
    "candidates:read",
    "candidates:write",
    "jobs:read",
    "jobs:write",
    "interviews:read",
    "interviews:write",
    "hiring_process_metadata:read",
    "organization:read",
    "offers:read",
    "offers:write",
    "api_keys:read",
    "api_keys:write",
)
"""Every scope, in the order `apiKey.info` lists them; a sandbox key holds them all unless told otherwise."""

_OTHER_ENDPOINTS: dict[str, str] = {
    "candidate.info": "candidates:read",
    "application.info": "candidates:read",
    "job.info": "jobs:read",
    "offer.info": "offers:read",
    "interview.info": "interviews:read",
    "user.info": "organization:read",
    "department.info": "organization:read",
    "location.info": "organization:read",
    "opening.info": "jobs:read",
    "project.info": "jobs:read",  # not project.list's candidates:read
    "customField.info": "hiring_process_metadata:read",
    "feedbackFormDefinition.info": "hiring_process_metadata:read",
    "jobPosting.info": "jobs:read",
    "interviewStage.info": "interviews:read",
    "candidate.search": "candidates:read",
    "candidate.create": "candidates:write",
    "candidate.update": "candidates:write",
    "candidate.addTag": "candidates:write",
    "candidate.createNote": "candidates:write",
    "candidate.anonymize": "candidates:write",
    "application.create": "candidates:write",
    "application.changeStage": "candidates:write",
    "application.change_stage": "candidates:write",
    "application.changeSource": "candidates:write",
    "application.change_source": "candidates:write",
    "application.update": "candidates:write",
    "application.transfer": "candidates:write",
    "job.create": "jobs:write",
    "opening.create": "jobs:write",
    "interviewSchedule.create": "interviews:write",
    "offer.setStatus": "offers:write",
    "webhook.create": "api_keys:write",
    "webhook.update": "api_keys:write",
    "webhook.delete": "api_keys:write",
    "webhook.info": "api_keys:read",
    "apiKey.info": "api_keys:read",
}

ENDPOINT_SCOPES: dict[str, str] = {**{r.endpoint: r.scope for r in RESOURCES}, **_OTHER_ENDPOINTS}
"""The scope a key needs to call each endpoint; a key without it gets HTTP 403 `missing_endpoint_permission`."""


def missing_scope(endpoint: str, scopes: Collection[str] | None) -> str | None:
    """The scope `endpoint` needs that a key holding `scopes` (None: all of them) lacks; None when it may call it."""
    needed = ENDPOINT_SCOPES.get(endpoint)
    if needed is None or scopes is None or needed in scopes:
        return None
    return needed
