"""JSON responses in Ashby's shapes (orjson-encoded)."""

import json
from typing import Any

import orjson
from aiohttp import web

from ashby_sim.faults import SimError

REQUEST_ID_KEY = web.RequestKey("ashby_request_id", str)


def encode_json(value: Any) -> bytes:
    """`value` as JSON bytes; a string holding a lone UTF-16 surrogate (which orjson refuses) is written as its
    `\\udXXX` escape, as Ashby's JavaScript `JSON.stringify` writes one."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=encode_json(body), status=status, headers=headers, content_type="application/json")


def error_body(code: str, message: str, request_id: str, errors: list[str] | None = None) -> dict[str, Any]:
    """Ashby's failure envelope: `errors` (deprecated) plus `errorInfo` with the request id repeated."""
    return {
        "success": False,
        "errors": errors if errors is not None else [code],
        "errorInfo": {"code": code, "message": message, "requestId": request_id},
    }


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body; empty means `{}`; anything else is invalid_input."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SimError("invalid_input", "the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise SimError("invalid_input", "the request body must be a JSON object")
    return body
