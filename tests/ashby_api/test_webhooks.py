import json
from typing import Any

import pytest

from ashby_api.webhooks import sign, verify_signature
from tests.conftest import reference_file


def vectors() -> list[dict[str, Any]]:
    data = json.loads(reference_file("ashby-webhook-signature-test-vectors.json").read_text())
    cases: list[dict[str, Any]] = data["vectors"]
    assert cases
    return cases


def test_sign_matches_every_reference_vector() -> None:
    for case in vectors():
        assert sign(case["secretToken"], case["rawBody"].encode()) == case["expectedAshbySignatureHeader"]


def test_verify_accepts_every_reference_vector() -> None:
    for case in vectors():
        body, header = case["rawBody"].encode(), case["expectedAshbySignatureHeader"]
        assert verify_signature([case["secretToken"]], body, header)
        assert verify_signature(["old-secret", case["secretToken"]], body, header)  # during rotation
        assert verify_signature([case["secretToken"]], body, header.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body, header, secret: (body + b" ", header, secret),
        lambda body, header, secret: (body, header[:-1] + ("0" if header[-1] != "0" else "1"), secret),
        lambda body, header, secret: (body, header, secret + "x"),
        lambda body, header, secret: (body, header.removeprefix("sha256="), secret),
        lambda body, header, secret: (body, "sha1=" + header.removeprefix("sha256="), secret),
        lambda body, header, secret: (body, None, secret),
        lambda body, header, secret: (body, "", secret),
    ],
)
def test_verify_rejects_any_change(mutate: Any) -> None:
    for case in vectors():
        body, header, secret = mutate(
            case["rawBody"].encode(), case["expectedAshbySignatureHeader"], case["secretToken"]
        )
        assert not verify_signature([secret], body, header)


def test_reserialised_json_does_not_verify() -> None:
    first = vectors()[0]
    body = json.dumps(json.loads(first["rawBody"]), indent=2).encode()
    assert not verify_signature([first["secretToken"]], body, first["expectedAshbySignatureHeader"])


def test_no_secrets_verify_nothing() -> None:
    first = vectors()[0]
    assert not verify_signature([], first["rawBody"].encode(), first["expectedAshbySignatureHeader"])
