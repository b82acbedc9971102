from datetime import UTC, datetime

import pytest

from ashby_api.errors import (
    AshbyError,
    AshbyForbidden,
    AshbyHTTPError,
    AshbyProtocolError,
    AshbyRateLimited,
    AshbyRequestFailed,
    AshbyServerError,
    AshbyTransportError,
    AshbyUnauthorized,
    IncrementalSyncTooLarge,
    InvalidNextCursor,
    NextCursorExpired,
    NotFound,
    SyncRestartRequired,
    SyncTokenExpired,
    SyncTokenInvalid,
    parse_retry_after,
    request_failed,
)
from core.errors import AppError

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


@pytest.mark.parametrize(
    ("codes", "cls", "code"),
    [
        (["sync_token_expired"], SyncTokenExpired, "sync_token_expired"),
        (["sync_token_invalid"], SyncTokenInvalid, "sync_token_invalid"),
        (["incremental_sync_too_large"], IncrementalSyncTooLarge, "incremental_sync_too_large"),
        (["next_cursor_expired"], NextCursorExpired, "next_cursor_expired"),
        (["invalid_next_cursor"], InvalidNextCursor, "invalid_next_cursor"),
        (["application_not_found"], NotFound, "application_not_found"),
        (["invalid_input"], AshbyRequestFailed, "invalid_input"),
        ([], AshbyRequestFailed, "unknown_error"),
        # A recognised code anywhere in the list picks the class (Estuary saw it only in `errors`).
        (["invalid_input", "sync_token_expired"], SyncTokenExpired, "sync_token_expired"),
    ],
)
def test_request_failed_picks_the_class_of_the_code(codes: list[str], cls: type[AshbyRequestFailed], code: str) -> None:
    exc = request_failed(endpoint="candidate.list", codes=codes, message="Ashby says no", request_id="req-1")
    assert type(exc) is cls
    assert (exc.code, exc.codes, exc.message, exc.endpoint, exc.request_id) == (
        code,
        tuple(codes) or (code,),
        "Ashby says no",
        "candidate.list",
        "req-1",
    )


def test_sync_recovery_codes_share_one_parent() -> None:
    for cls in (SyncTokenExpired, SyncTokenInvalid, IncrementalSyncTooLarge, NextCursorExpired, InvalidNextCursor):
        assert issubclass(cls, SyncRestartRequired)
        assert issubclass(cls, AshbyRequestFailed)
        assert not cls.retryable


def test_only_transient_errors_are_retryable() -> None:
    retryable = {AshbyTransportError, AshbyRateLimited, AshbyServerError}
    every = [
        AshbyError,
        AshbyTransportError,
        AshbyProtocolError,
        AshbyHTTPError,
        AshbyUnauthorized,
        AshbyForbidden,
        AshbyRateLimited,
        AshbyServerError,
        AshbyRequestFailed,
        NotFound,
        SyncRestartRequired,
    ]
    for cls in every:
        assert issubclass(cls, AppError)
        assert cls.retryable == (cls in retryable), cls


def test_messages_are_one_line_and_leave_out_ashby_text() -> None:
    errors: list[AshbyError] = [
        AshbyRateLimited(endpoint="candidate.list", request_id="01J", retry_after=3.0),
        AshbyForbidden(endpoint="offer.info", status=403, code="missing_endpoint_permission"),
        request_failed(endpoint="candidate.create", codes=["invalid_input"], message="email x@y.z\nis bad"),
        AshbyTransportError("timed out after 30s", endpoint="job.list"),
    ]
    for exc in errors:
        text = str(exc)
        assert "\n" not in text
        assert text.startswith(exc.endpoint + ": ")
        assert "x@y.z" not in text
    assert "01J" in str(errors[0])
    assert "missing_endpoint_permission" in str(errors[1])
