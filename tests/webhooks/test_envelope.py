"""The receiver's reading of an envelope (msgspec, skipping `data`) agrees with the standard library's parser."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ashby_api.json_body import decode_json_as_sent
from tests.webhooks.conftest import envelope
from webhooks.handlers import _MAX_ACTION, _MAX_ACTION_ID, _parse, _storable

BODY = envelope("candidateHire", application={"id": "a1", "candidate": {"name": "Zoë", "tags": [1, 2.5, None]}})


def by_the_standard_library(body: bytes) -> tuple[str, str] | None:
    """What `_parse` must answer, from a whole parse by the parser the worker falls back on."""
    try:
        decoded = decode_json_as_sent(body)
    except ValueError:
        return None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("data"), dict):
        return None
    action_id, action = decoded.get("webhookActionId"), decoded.get("action")
    if not _storable(action, _MAX_ACTION):
        return None
    if action_id is None and action == "ping":
        return "ping:" + hashlib.sha256(body).hexdigest(), action
    return (action_id, action) if _storable(action_id, _MAX_ACTION_ID) else None


EDGES = [
    BODY,
    b"[]",
    b"{}",
    b'{"action":"ping","data":{}}',
    b'{"action":"ping","data":[]}',
    b' {"webhookActionId":"a","action":"x","data":{}}\n',
    b'{"webhookActionId":"a","action":"x","data":{}} x',
    b'{"webhookActionId":"a","action":"x","data":{"a":"\\ud800"}}',  # a lone surrogate escape: kept, repaired later
    b'{"webhookActionId":"a","action":"x","data":{"a":"\xed\xa0\x80"}}',  # one encoded in UTF-8
    b'{"webhookActionId":"a","action":"x","data":{"s":"\xff"}}',  # not UTF-8, inside data
    b'{"webhookActionId":"a","action":"x","data":{"a":NaN}}',
    b'{"webhookActionId":"a","action":"x","data":{"a":1e999}}',
    b'{"webhookActionId":"a","action":"x","data":{"a":123456789012345678901234567890}}',
    b'{"webhookActionId":"a","action":"x","data":1,"data":{}}',  # the last of duplicate keys counts
    b'{"webhookActionId":"a","action":"x","data":{},"data":1}',
    b'{"webhookActionId":1,"action":"x","data":{}}',
    b'{"webhookActionId":"a\\u0000","action":"x","data":{}}',
    b'{"webhookActionId":"a","action":"x","data":{"a":' + b"[" * 300 + b"]" * 300 + b"}}",
    b'{"webhookActionId":"a","action":"x","data":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
]


def test_edge_cases_are_read_as_the_standard_library_reads_them() -> None:
    for body in EDGES:
        assert _parse(body) == by_the_standard_library(body), body[:80]
    assert _parse(BODY) is not None


# Bytes that change a JSON document's structure more often than random ones do.
BYTES = st.one_of(st.binary(min_size=1, max_size=2), st.sampled_from([bytes([c]) for c in b'{}[]",:\\ 0eE-+.nu\xff']))


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(BODY) - 1), st.sampled_from("sdi"), BYTES), max_size=4))
def test_any_changed_body_is_read_as_the_standard_library_reads_it(edits: list[tuple[int, str, bytes]]) -> None:
    body = bytearray(BODY)
    for at, op, data in edits:
        at = min(at, len(body) - 1)
        if op == "s":
            body[at : at + 1] = data[:1]
        elif op == "d":
            del body[at]
        else:
            body[at:at] = data
    assert _parse(bytes(body)) == by_the_standard_library(bytes(body))
