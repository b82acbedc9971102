"""Ashby webhook signatures: `Ashby-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`."""

import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "Ashby-Signature"
_PREFIX = "sha256="
_HEX_DIGITS = 64  # a SHA-256 digest in hex


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
    text = header[len(_PREFIX) :].strip()
    if len(text) != _HEX_DIGITS:
        return False
    try:
        given = bytes.fromhex(text)  # a shorter digest (fromhex skips spaces) matches no secret below
    except ValueError:  # not hex
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(hmac.digest(secret.encode(), body, "sha256"), given)
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
