"""Signatures through the real handler: the reference vectors pass; any change to body or header is a 401."""

import hashlib
import hmac
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ashby_api.webhooks import SIGNATURE_HEADER, sign
from store import accounts
from tests.conftest import reference_file
from tests.webhooks.conftest import BOX, WEBHOOK_SECRET, deliver, envelope, inbox_rows


def vectors() -> list[dict[str, str]]:
    cases: list[dict[str, str]] = json.loads(reference_file("ashby-webhook-signature-test-vectors.json").read_text())[
        "vectors"
    ]
    assert cases
    return cases


async def test_every_reference_vector_is_accepted_by_the_handler(client, db, account_id):
    seen: set[tuple[str, str]] = set()
    for case in vectors():
        async with db.acquire() as conn:
            await accounts.set_webhook_secret(conn, BOX, account_id, SecretStr(case["secretToken"]))
        body = case["rawBody"].encode()
        payload = json.loads(body)
        key = (payload["webhookActionId"], payload["action"])

        answer = await deliver(client, account_id, body, header=case["expectedAshbySignatureHeader"])

        assert answer == (200, "duplicate" if key in seen else "stored")  # vector 3 re-serialises vector 0
        seen.add(key)
        good = case["expectedAshbySignatureHeader"]
        changed = good[:-1] + ("0" if good[-1] != "0" else "1")
        assert await deliver(client, account_id, body, header=changed) == (401, "bad_signature")

    rows = await inbox_rows(db)
    assert {(r["webhook_action_id"], r["action"]) for r in rows} == seen
    assert {r["body"] for r in rows} == {c["rawBody"].encode() for c in vectors()[:3]}  # the raw bytes, as received


BODY = envelope("offerUpdate", "d1b7c1a2-5f0e-4c3b-9a57-0c2f3e4d5a6b", offer={"id": "o1", "acceptanceStatus": "X"})
HEADER = sign(WEBHOOK_SECRET, BODY)
HEX = "0123456789abcdef"


def still_valid(body: bytes, header: str | None) -> bool:
    """Whether (body, header) is a correct signature after all (the verifier ignores hex case and spaces)."""
    if header is None or not header.startswith("sha256="):
        return False
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return header[len("sha256=") :].strip().lower() == expected


@st.composite
def changed_body(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["flip", "insert", "delete", "append", "replace"]))
    body = bytearray(BODY)
    if kind == "flip":
        i = draw(st.integers(0, len(body) - 1))
        body[i] ^= draw(st.integers(1, 255))
    elif kind == "insert":
        i = draw(st.integers(0, len(body)))
        body[i:i] = draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        i = draw(st.integers(0, len(body) - 1))
        body[i : i + draw(st.integers(1, 8))] = b""
    elif kind == "append":
        body += draw(st.binary(min_size=1, max_size=8))
    else:
        body = bytearray(draw(st.binary(max_size=300)))
    return bytes(body), HEADER


@st.composite
def changed_header(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["hex", "truncate", "extend", "prefix", "secret", "text", "absent"]))
    digest = HEADER.removeprefix("sha256=")
    header: str | None
    if kind == "hex":
        i = draw(st.integers(0, len(digest) - 1))
        other = draw(st.sampled_from([c for c in HEX if c != digest[i]]))
        header = "sha256=" + digest[:i] + other + digest[i + 1 :]
    elif kind == "truncate":
        header = HEADER[: draw(st.integers(0, len(HEADER) - 1))]
    elif kind == "extend":
        header = HEADER + draw(st.text(alphabet=HEX, min_size=1, max_size=4))
    elif kind == "prefix":
        header = draw(st.sampled_from(["sha1=", "sha512=", "SHA256=", "sha256 ", "", "sha256=sha256="])) + digest
    elif kind == "secret":
        header = sign(draw(st.text(min_size=1, max_size=20).filter(lambda s: s != WEBHOOK_SECRET)), BODY)
    elif kind == "text":
        header = draw(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80))
    else:
        header = None
    return BODY, header


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(case=st.one_of(changed_body(), changed_header()))
async def test_any_change_to_body_or_signature_is_401_and_stores_nothing(client, db, account_id, secret, case):
    body, header = case
    assume(not still_valid(body, header))
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = header

    async with client.post(f"/webhooks/ashby/{account_id}", data=body, headers=headers) as resp:
        assert resp.status == 401

    async with db.acquire() as conn:
        assert await conn.fetchval("select count(*) from webhook_inbox") == 0


async def test_the_unchanged_body_and_header_are_accepted(client, account_id, secret):
    assert await deliver(client, account_id, BODY, header=HEADER) == (200, "stored")
