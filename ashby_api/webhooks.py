"""Ashby webhook signatures: `Ashby-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`."""

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "Ashby-Signature"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The `Ashby-Signature` header value for `body` signed with `secret`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(secrets: Iterable[str], body: bytes, header: str | None) -> bool:
    """True when `header` is a valid signature of the raw `body` under any of `secrets`.

    Every secret is compared in constant time, and all of them are tried, so the time taken does not
    tell which secret (current or previous) matched.
    """
    if not header or not header.startswith(_PREFIX):
        return False
    given = header[len(_PREFIX) :].strip().lower().encode()
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


# Every webhook action Ashby sends (the `action` field of the envelope) as of mid-2026; `ping` answers setup.
WEBHOOK_ACTIONS: frozenset[str] = frozenset(
    {
        "applicationSubmit",
        "applicationUpdate",
        "candidateStageChange",
        "candidateHire",
        "candidateDelete",
        "candidateMerge",
        "interviewPlanTransition",
        "interviewScheduleCreate",
        "interviewScheduleUpdate",
        "jobCreate",
        "jobUpdate",
        "jobPostingPublish",
        "jobPostingUnpublish",
        "jobPostingUpdate",
        "jobPostingDelete",
        "offerCreate",
        "offerUpdate",
        "offerDelete",
        "openingCreate",
        "pushToHRIS",
        "surveySubmit",
        "signatureRequestUpdate",
        "takeHomeAssignmentAssigned",
        "takeHomeAssignmentCancelled",
        "takeHomeAssignmentCompleted",
        "takeHomeAssignmentSubmitted",
        "ping",
    }
)
