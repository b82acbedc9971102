"""Ashby's response envelope: HTTP status, `success`, `errorInfo` and `results` turned into data or `AshbyError`."""

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from ashby_api.errors import (
    AshbyForbidden,
    AshbyHTTPError,
    AshbyProtocolError,
    AshbyRateLimited,
    AshbyServerError,
    AshbyUnauthorized,
    parse_retry_after,
    request_failed,
)
from ashby_api.json_body import decode_json
from ashby_api.models import AshbyModel, AshbyRecord, Page

REQUEST_ID_HEADER = "x-ashby-request-id"

A = TypeVar("A", bound=AshbyModel)
R = TypeVar("R", bound=AshbyRecord)


def decode_response(endpoint: str, status: int, headers: Mapping[str, str], content: bytes) -> dict[str, Any]:
    """The success envelope of one response, or the `AshbyError` it stands for."""
    request_id = headers.get(REQUEST_ID_HEADER) or None
    try:
        payload: Any = decode_json(content, where=endpoint) if content else None
    except ValueError:
        payload = None
    envelope = payload if isinstance(payload, dict) else {}
    info = envelope.get("errorInfo")
    info = info if isinstance(info, dict) else {}
    if request_id is None and isinstance(info.get("requestId"), str):
        request_id = info["requestId"]
    codes = _error_codes(envelope, info)
    code = codes[0] if codes else None

    if not 200 <= status < 300:
        if status == 401:
            raise AshbyUnauthorized(endpoint=endpoint, status=status, request_id=request_id, code=code)
        if status == 403:
            raise AshbyForbidden(endpoint=endpoint, status=status, request_id=request_id, code=code)
        if status == 429:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            raise AshbyRateLimited(endpoint=endpoint, request_id=request_id, code=code, retry_after=retry_after)
        if status >= 500:
            raise AshbyServerError(endpoint=endpoint, status=status, request_id=request_id, code=code)
        raise AshbyHTTPError(endpoint=endpoint, status=status, request_id=request_id, code=code)

    if not isinstance(payload, dict):
        what = "not JSON" if payload is None else "not a JSON object"
        raise AshbyProtocolError(f"HTTP {status} body is {what}", endpoint=endpoint, request_id=request_id)
    success = payload.get("success")
    if success is True:
        return payload
    if success is False:
        message = info.get("message")
        raise request_failed(
            endpoint=endpoint,
            codes=codes,
            message=message if isinstance(message, str) else None,
            request_id=request_id,
        )
    raise AshbyProtocolError("envelope has no boolean success", endpoint=endpoint, request_id=request_id)


def _error_codes(envelope: Mapping[str, Any], info: Mapping[str, Any]) -> list[str]:
    """`errorInfo.code` first, then the deprecated `errors` entries that look like codes."""
    codes: list[str] = []
    if isinstance(info.get("code"), str) and info["code"]:
        codes.append(info["code"])
    errors = envelope.get("errors")
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, str) and item.isidentifier() and item.islower() and item not in codes:
            codes.append(item)
    return codes


def parse_object(endpoint: str, model: type[A], obj: Any) -> A:
    """`obj` validated as `model`; a malformed object is Ashby's fault, so `AshbyProtocolError`."""
    if not isinstance(obj, dict):
        raise AshbyProtocolError(f"results is not a {model.__name__} object", endpoint=endpoint)
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        # The error text would quote the object (PII); name the fields only.
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
        raise AshbyProtocolError(f"invalid {model.__name__} ({fields})", endpoint=endpoint) from None


def parse_page(endpoint: str, model: type[R], page: Page[dict[str, Any]]) -> Page[R]:
    """`page` with its raw objects parsed as `model`."""
    results = [parse_object(endpoint, model, obj) for obj in page.raw]
    return Page(
        results=results,
        raw=page.raw,
        next_cursor=page.next_cursor,
        more_data_available=page.more_data_available,
        sync_token=page.sync_token,
    )
