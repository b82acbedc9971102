"""Ashby's list protocol: cursor pages, a syncToken on the last page, incremental passes since a token.

Cursors and tokens are opaque base64 JSON. A token remembers the change counter at the START of the pass
that issued it, so whatever changed during a pass is seen by the next one.
"""

import base64
import binascii
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ashby_sim.data_org import Record
from ashby_sim.faults import Faults, SimError
from ashby_sim.records import RecordStore

MAX_LIMIT = 100
Predicate = Callable[[Record], bool]


def encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def parse_limit(body: dict[str, Any]) -> int:
    """`limit`: default and maximum 100; larger values are capped like Ashby does."""
    limit = body.get("limit", MAX_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 1:
        raise SimError("invalid_input", "limit must be a positive number")
    return min(int(limit), MAX_LIMIT)


@dataclass
class SyncClock:
    """Generations that `expire_sync_tokens()` / `expire_cursors()` bump: older tokens and cursors fail."""

    token_generation: int = 0
    cursor_generation: int = 0


class Lister:
    """Builds list responses for one state: full passes, incremental passes, snapshots."""

    def __init__(self, store: RecordStore, faults: Faults, clock: SyncClock) -> None:
        self.store = store
        self.faults = faults
        self.clock = clock

    def page(self, endpoint: str, kind: str, body: dict[str, Any], keep: Predicate | None = None) -> dict[str, Any]:
        """One page of `endpoint` (a syncToken-capable list), honouring `cursor` and `syncToken` in `body`."""
        limit = parse_limit(body)
        now = time.time()
        if body.get("cursor") is not None:
            cursor = decode(body["cursor"])
            if cursor is None or cursor.get("e") != endpoint or cursor.get("m") not in ("full", "inc"):
                raise SimError("invalid_next_cursor", "the cursor is not valid for this endpoint")
            ttl = self.faults.cursor_ttl
            if cursor.get("g") != self.clock.cursor_generation or (ttl is not None and now - cursor["t"] > ttl):
                raise SimError("next_cursor_expired", "the cursor has expired; start the pass again")
            mode, upto, pos = cursor["m"], int(cursor["u"]), int(cursor["p"])
        elif body.get("syncToken") is not None:
            since = self._check_token(endpoint, kind, body["syncToken"], now)
            mode, upto, pos = "inc", self.store.version, since
        else:
            mode, upto, pos = "full", self.store.version, 0
        items: Iterator[tuple[int, Record | orjson.Fragment]]
        if mode == "full" and keep is None:
            items = self.store.listed_slots(kind, pos)
        else:
            found = self.store.iter_slots(kind, pos) if mode == "full" else self.store.changed_since(kind, pos, upto)
            items = ((p, rec) for p, rec in found if keep is None or keep(rec))
        results: list[Record | orjson.Fragment] = []
        more = False
        for position, rec in items:
            if len(results) == limit:
                more = True
                break
            results.append(rec)
            pos = position + 1 if mode == "full" else position
        out: dict[str, Any] = {"success": True, "results": results, "moreDataAvailable": more}
        if more and not self.faults.omit_next_cursor:
            out["nextCursor"] = encode(
                {"e": endpoint, "m": mode, "u": upto, "p": pos, "t": now, "g": self.clock.cursor_generation}
            )
        elif not more and not self.faults.omit_sync_token:
            out["syncToken"] = encode({"e": endpoint, "v": upto, "t": now, "g": self.clock.token_generation, "k": kind})
        return out

    def _check_token(self, endpoint: str, kind: str, value: Any, now: float) -> int:
        token = decode(value)
        if token is None or token.get("e") != endpoint or not isinstance(token.get("v"), int):
            raise SimError("sync_token_invalid", "the sync token is not valid for this endpoint")
        if token["v"] > self.store.version:
            raise SimError("sync_token_invalid", "the sync token is not valid for this endpoint")
        ttl = self.faults.sync_token_ttl
        if token.get("g") != self.clock.token_generation or (ttl is not None and now - token["t"] > ttl):
            raise SimError("sync_token_expired", "the sync token has expired; run a full sync")
        since = int(token["v"])
        cap = self.faults.incremental_cap
        if cap is not None and self.store.count_changed_since(kind, since) > cap:
            raise SimError("incremental_sync_too_large", "too many changes since this sync token; run a full sync")
        return since

    def snapshot(self, kinds_slots: Iterator[Record], keep: Predicate | None = None) -> dict[str, Any]:
        """Everything at once: no cursor, no token (archiveReason, source, jobPosting, interviewStage)."""
        results = [rec for rec in kinds_slots if keep is None or keep(rec)]
        return {"success": True, "results": results, "moreDataAvailable": False}
