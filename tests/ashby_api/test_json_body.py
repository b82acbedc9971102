import orjson
import pytest
from structlog.testing import capture_logs

from ashby_api.json_body import decode_json, decode_json_as_sent

HALF_EMOJI = b'{"name":"Zo\\u00eb \\ud83d","tags":[{"title":"\\udc00x"}],"ok":"\\ud83d\\ude00","n":1.5}'


def test_a_lone_surrogate_is_replaced_and_the_rest_decoded_as_sent() -> None:
    with pytest.raises(orjson.JSONDecodeError):  # the case this module exists for
        orjson.loads(HALF_EMOJI)
    with capture_logs() as logs:
        value = decode_json(HALF_EMOJI, where="candidate.list")
    assert value == {"name": "Zoë \ufffd", "tags": [{"title": "\ufffdx"}], "ok": "\U0001f600", "n": 1.5}
    assert logs == [
        {"event": "json_surrogates_replaced", "where": "candidate.list", "replaced": 2, "log_level": "warning"}
    ]


def test_a_lone_surrogate_in_a_key_is_replaced_too() -> None:
    assert decode_json(b'{"a\\udfff":1}', where="x") == {"a\ufffd": 1}


def test_json_orjson_reads_is_decoded_by_it_unchanged_and_nothing_is_logged() -> None:
    body = orjson.dumps({"name": "Zoë 😀", "n": [1, 2.5, None, True], "big": 2**64 - 1})
    with capture_logs() as logs:
        assert decode_json(body, where="x") == orjson.loads(body)
    assert logs == []


def test_both_paths_read_integers_beyond_64_bits_alike() -> None:
    # orjson reads them as floats; the fallback must not give the same document another shape
    big = b"123456789012345678901234567890"
    assert decode_json(b'{"n":' + big + b"}", where="x") == orjson.loads(b'{"n":' + big + b"}")
    assert decode_json(b'{"n":' + big + b',"s":"\\ud800"}', where="x") == {"n": float(big), "s": "\ufffd"}


def test_decoding_as_sent_keeps_the_lone_surrogate() -> None:
    assert decode_json_as_sent(b'{"a":"x\\ud800"}') == {"a": "x\ud800"}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"a":"x\\ud800"',  # truncated: refused by both parsers
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":"\xff\xfe"}',  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,
        b"",
    ],
)
def test_what_is_not_json_is_a_value_error_from_both(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the one error callers handle
        decode_json(body, where="x")
    with pytest.raises(ValueError):  # noqa: PT011
        decode_json_as_sent(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"n":' + b"9" * 400 + b"}",  # no float holds it: orjson refuses it, the standard library reads an int
        b"[" * 900 + b'"\\ud800"' + b"]" * 900,  # the standard library reads it; repairing it nests too deep
    ],
)
def test_what_cannot_be_decoded_as_orjson_would_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the one error callers handle
        decode_json(body, where="x")
