"""Errors raised by the Ashby client.

AshbyError                       every error has .endpoint and .request_id
├── AshbyTransportError          connection failure / timeout                      retryable
├── AshbyProtocolError           malformed response: not JSON, bad envelope, bad object
├── AshbyHTTPError               non-2xx status (.status, .code)
│   ├── AshbyUnauthorized        401: no API key
│   ├── AshbyForbidden           403: wrong key, or missing_endpoint_permission
│   ├── AshbyRateLimited         429 (.retry_after)                                retryable
│   └── AshbyServerError         5xx                                               retryable
└── AshbyRequestFailed           HTTP 200 with success=false (.code, .codes, .message)
    ├── NotFound                 *_not_found
    └── SyncRestartRequired      drop the token and cursor, run a full pass
        ├── SyncTokenExpired         sync_token_expired
        ├── SyncTokenInvalid         sync_token_invalid
        ├── IncrementalSyncTooLarge  incremental_sync_too_large
        ├── NextCursorExpired        next_cursor_expired
        └── InvalidNextCursor        invalid_next_cursor

Messages are one line and safe to show: endpoint, status or code, request id; never a body or a key.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar

from core.errors import AppError


class AshbyError(AppError):
    """Base of every error the Ashby client raises."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, endpoint: str, request_id: str | None = None) -> None:
        self.endpoint = endpoint
        self.request_id = request_id
        suffix = f" (request_id={request_id})" if request_id else ""
        super().__init__(f"{endpoint}: {message}{suffix}")


class AshbyTransportError(AshbyError):
    """The request did not complete: connection refused or reset, DNS failure, timeout."""

    retryable = True


class AshbyProtocolError(AshbyError):
    """Ashby answered with something that is not its documented envelope or object."""


class AshbyHTTPError(AshbyError):
    """Ashby answered with a non-2xx status."""

    def __init__(self, *, endpoint: str, status: int, request_id: str | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        detail = f"HTTP {status}" + (f" {code}" if code else "")
        super().__init__(detail, endpoint=endpoint, request_id=request_id)


class AshbyUnauthorized(AshbyHTTPError):
    """401: the request carried no (usable) API key."""


class AshbyForbidden(AshbyHTTPError):
    """403: the key is wrong or deactivated, or lacks the endpoint's permission (`missing_endpoint_permission`)."""


class AshbyRateLimited(AshbyHTTPError):
    """429: slow down; `retry_after` is Ashby's `Retry-After` in seconds, when it sent one."""

    retryable = True

    def __init__(
        self,
        *,
        endpoint: str,
        status: int = 429,
        request_id: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(endpoint=endpoint, status=status, request_id=request_id, code=code)


class AshbyServerError(AshbyHTTPError):
    """5xx: Ashby (or a proxy in front of it) failed."""

    retryable = True


class AshbyRequestFailed(AshbyError):
    """HTTP 200 with `success: false`: Ashby refused the request (validation, not found, sync state, ...).

    `code` is `errorInfo.code` (or the first of the deprecated `errors`); `codes` holds every code seen;
    `message` is Ashby's own explanation, kept out of `str(exc)` because it may echo the input.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        code: str,
        codes: Sequence[str] = (),
        message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.codes = tuple(codes) or (code,)
        self.message = message
        super().__init__(f"request failed: {code}", endpoint=endpoint, request_id=request_id)


class NotFound(AshbyRequestFailed):
    """The object named in the request does not exist (`application_not_found`, `candidate_not_found`, ...)."""


class SyncRestartRequired(AshbyRequestFailed):
    """The sync token or cursor cannot be continued: drop both and run a full pass."""


class SyncTokenExpired(SyncRestartRequired):
    """`sync_token_expired`: the stored token went unused for too long."""


class SyncTokenInvalid(SyncRestartRequired):
    """`sync_token_invalid`: Ashby does not recognise the token."""


class IncrementalSyncTooLarge(SyncRestartRequired):
    """`incremental_sync_too_large`: too much changed since the token; a full pass is cheaper."""


class NextCursorExpired(SyncRestartRequired):
    """`next_cursor_expired`: the pass paused too long between pages."""


class InvalidNextCursor(SyncRestartRequired):
    """`invalid_next_cursor`: Ashby does not recognise the cursor."""


REQUEST_FAILED_BY_CODE: dict[str, type[AshbyRequestFailed]] = {
    "sync_token_expired": SyncTokenExpired,
    "sync_token_invalid": SyncTokenInvalid,
    "incremental_sync_too_large": IncrementalSyncTooLarge,
    "next_cursor_expired": NextCursorExpired,
    "invalid_next_cursor": InvalidNextCursor,
}


def request_failed(
    *, endpoint: str, codes: Sequence[str], message: str | None = None, request_id: str | None = None
) -> AshbyRequestFailed:
    """The `AshbyRequestFailed` subclass for the first code we recognise; `codes[0]` is the primary code."""
    primary = codes[0] if codes else "unknown_error"
    cls: type[AshbyRequestFailed] = AshbyRequestFailed
    for code in codes:
        if code in REQUEST_FAILED_BY_CODE:
            cls = REQUEST_FAILED_BY_CODE[code]
            primary = code
            break
        if code.endswith("_not_found"):
            cls, primary = NotFound, code
            break
    return cls(endpoint=endpoint, code=primary, codes=codes, message=message, request_id=request_id)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
