"""Decoding the JSON Ashby sends, including the valid JSON that fast parsers refuse.

A JavaScript string cut in the middle of an emoji holds half of a UTF-16 surrogate pair, and `JSON.stringify`
writes it as a lone `\\udXXX` escape. That is valid JSON, but orjson (and pydantic-core) refuse the whole
document, and neither Python's UTF-8 nor Postgres can store the lone half. Such a body is decoded by the
standard library instead; `decode_json` then replaces each lone surrogate with U+FFFD, as the mirror already
does with NUL, so one bad name never stops a sync pass or a webhook.
"""

import json
import re
from typing import Any

import orjson
import structlog

log = structlog.get_logger(__name__)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str, any surrogate is a lone one
# orjson reads integers outside this range as floats; the fallback does the same, so both paths agree.
_ORJSON_INTS = range(-(2**63), 2**64)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json_as_sent(content: bytes | str) -> Any:
    """`content` decoded by the standard library: lone surrogates are kept, NaN and Infinity refused.

    Raises:
        ValueError: `content` is not JSON (or not UTF-8).
    """
    try:
        return json.loads(content, parse_constant=_refuse_constant)
    except RecursionError as exc:  # nested deeper than the interpreter's stack; orjson refuses it too
        raise ValueError("JSON nested too deeply") from exc


def decode_json(content: bytes | str, *, where: str) -> Any:
    """`content` decoded: orjson's fast path, else the standard library with lone surrogates replaced by U+FFFD.

    `where` names the source (an endpoint, `webhook`) in the warning logged when something was replaced.

    Raises:
        ValueError: `content` is not JSON.
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        value = decode_json_as_sent(content)  # raises ValueError when orjson was right to refuse
    replaced = [0]
    try:
        value = _repaired(value, replaced)
    except (OverflowError, RecursionError) as exc:  # a number no float holds (orjson refuses it too); deep nesting
        raise ValueError("JSON number out of range, or nested too deeply") from exc
    if replaced[0]:
        log.warning("json_surrogates_replaced", where=where, replaced=replaced[0])
    return value


def _repaired(value: Any, replaced: list[int]) -> Any:
    if type(value) is str:
        if value.isascii():
            return value
        value, n = _LONE_SURROGATE.subn("\ufffd", value)
        replaced[0] += n
        return value
    if type(value) is dict:
        return {_repaired(k, replaced): _repaired(v, replaced) for k, v in value.items()}
    if type(value) is list:
        return [_repaired(v, replaced) for v in value]
    if type(value) is int and value not in _ORJSON_INTS:
        return float(value)
    return value
