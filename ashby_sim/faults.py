"""Switchable misbehaviour: latency, 429/5xx rates, sync limits, webhook drop/duplicate/reorder, one-shot failures,
and the API key's scopes."""

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ashby_sim.permissions import SCOPES


class SimError(Exception):
    """An Ashby `success: false` answer (HTTP 200) with `errorInfo.code`."""

    def __init__(self, code: str, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors if errors is not None else [code]


@dataclass(slots=True)  # slots: setting a switch that does not exist fails loudly
class Faults:
    """Every switch the sandbox has; change them on `state.faults` or via `POST /_sim/faults`."""

    latency_ms: float = 0
    rate_429: float = 0
    retry_after: float | None = None
    rate_5xx: float = 0
    incremental_cap: int | None = None
    sync_token_ttl: float | None = None  # seconds since issue; None: tokens never expire on their own
    cursor_ttl: float | None = None
    omit_sync_token: bool = False  # the last page of a pass comes without its syncToken (a broken server)
    omit_next_cursor: bool = False  # a page with more data after it comes without its nextCursor (a broken server)
    webhook_drop: float = 0
    webhook_duplicate: float = 0
    webhook_reorder: bool = False
    webhook_reorder_window_ms: float = 20
    webhook_retry_base: float = 10.0  # Ashby waits (2^n - 1) * 10 s before retry n
    webhook_max_attempts: int = 10
    webhook_timeout: float = 10.0
    # The API key's scopes (`apiKey.info`); an endpoint needing another one answers 403. None: every scope.
    key_scopes: tuple[str, ...] | None = None

    def update(self, values: dict[str, Any]) -> None:
        """Set fields from JSON values; unknown names or wrong types raise SimError(invalid_input)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        for name, value in values.items():
            if name not in known:
                raise SimError("invalid_input", f"unknown fault {name!r}")
            if name == "key_scopes":
                self.key_scopes = _scopes(value)
                continue
            current = getattr(self, name)
            optional = name in ("retry_after", "incremental_cap", "sync_token_ttl", "cursor_ttl")
            if value is None and optional:
                setattr(self, name, None)
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise SimError("invalid_input", f"{name} must be a boolean")
                setattr(self, name, value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                is_int = name in ("incremental_cap", "webhook_max_attempts")
                setattr(self, name, int(value) if is_int else float(value))
            else:
                raise SimError("invalid_input", f"{name} must be a non-negative number")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _scopes(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SimError("invalid_input", "key_scopes must be a list of scopes, or null for all of them")
    unknown = sorted(set(value) - set(SCOPES))
    if unknown:
        raise SimError("invalid_input", f"unknown scopes {', '.join(unknown)}; expected some of: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in value)


@dataclass
class QueuedFailure:
    """One queued failure of an endpoint: an HTTP status, or (with `code`) an HTTP 200 `success: false`."""

    status: int = 429
    retry_after: float | None = None
    code: str | None = None
    times: int = 1


@dataclass
class FailureQueue:
    """`fail_next` failures per endpoint (`*` matches every endpoint), consumed one request at a time."""

    queued: dict[str, deque[QueuedFailure]] = field(default_factory=dict)

    def add(self, endpoint: str, failure: QueuedFailure) -> None:
        self.queued.setdefault(endpoint, deque()).append(failure)

    def take(self, endpoint: str) -> QueuedFailure | None:
        for key in (endpoint, "*"):
            queue = self.queued.get(key)
            if queue:
                failure = queue[0]
                failure.times -= 1
                if failure.times <= 0:
                    queue.popleft()
                return failure
        return None
