"""Records of every kind: generated base records plus an in-memory overlay of changed, created and deleted ones.

Only what was mutated lives in memory, so a sandbox of a million candidates starts instantly and stays small.
Every change bumps a global version counter (the sync protocol's clock) and the record's `updatedAt`.
"""

import bisect
import copy
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from ashby_sim.data import CACHED_KINDS, EMBEDS, GENERATORS, generate
from ashby_sim.data_org import Record
from ashby_sim.ids import iso, parse_id, random_id
from ashby_sim.universe import Universe

_CACHE_LIMIT = 50_000
# Bulk kinds are embedded by their neighbours in index order (an application embeds its candidate, an offer its
# application), so a small recent-records cache saves regenerating them without growing with the org.
_RECENT_LIMIT = 2_048


class RecordStore:
    """Base records generated on demand, overlaid with mutations; slots give each kind a stable list order."""

    def __init__(self, seed: int, candidates: int) -> None:
        self.u = Universe(seed, candidates)
        self.version = 0  # global change counter; sync tokens remember it
        self._last_ms = 0
        self._created_n = 0
        self._overlay: dict[str, dict[str, Record]] = defaultdict(dict)
        self._deleted: dict[str, set[str]] = defaultdict(set)
        self._created: dict[str, list[str]] = defaultdict(list)
        self._versions: dict[str, dict[str, int]] = defaultdict(dict)
        self._log: dict[str, list[tuple[int, str]]] = defaultdict(list)  # (version, id), version ascending
        self._cache: dict[tuple[str, int], Record] = {}
        self._recent: dict[tuple[str, int], Record] = {}
        self._encoded: dict[str, list[orjson.Fragment]] = {}  # see `pregenerate`

    def pregenerate(self, kinds: Iterable[str]) -> int:
        """Generate and JSON-encode every base record of `kinds` now; returns how many.

        Full list passes of those kinds are then served from the encoded bytes, without generating anything,
        until the first change to any record (which drops them all: records embed their neighbours). This
        takes the sandbox's own work out of a benchmark of the client: memory grows with the org
        (about 2 KB a record), so it is opt-in.
        """
        for kind in kinds:
            count = self.base_count(kind)
            self._encoded[kind] = [orjson.Fragment(orjson.dumps(self._base(kind, i))) for i in range(count)]
        return sum(len(v) for v in self._encoded.values())

    # --- reading ---------------------------------------------------------------------------------
    def base_count(self, kind: str) -> int:
        return self.u.count.get(kind, 0)

    def current(self, kind: str, index: int) -> Record:
        """Base record `index` as it is now (mutations included, deletion ignored): what others embed."""
        if self._overlay[kind]:
            found = self._overlay[kind].get(self.u.id(kind, index))
            if found is not None:
                return found
        return self._base(kind, index)

    def embedded(self, kind: str, index: int) -> Record:
        """What generators embed of base record `index`: the current record, or of a kind in `EMBEDS` that is
        not mutated, only the fields that are embedded."""
        embed = EMBEDS.get(kind)
        if embed is None or (self._overlay[kind] and self.u.id(kind, index) in self._overlay[kind]):
            return self.current(kind, index)
        return embed(self.u, index, self.embedded)

    def _base(self, kind: str, index: int) -> Record:
        if kind not in CACHED_KINDS:
            key = (kind, index)
            rec = self._recent.get(key)
            if rec is None:
                if len(self._recent) >= _RECENT_LIMIT:
                    self._recent.clear()
                rec = self._recent[key] = generate(self.u, kind, index, self.embedded)
            return rec
        key = (kind, index)
        rec = self._cache.get(key)
        if rec is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            rec = self._cache[key] = generate(self.u, kind, index, self.embedded)
        return rec

    def index_of(self, kind: str, record_id: Any) -> int | None:
        """Base index of `record_id` when it is a base record of `kind`."""
        parsed = parse_id(self.u.seed, record_id) if isinstance(record_id, str) else None
        if parsed is None or parsed[0] != kind or parsed[1] >= self.base_count(kind):
            return None
        return parsed[1]

    def get(self, kind: str, record_id: Any) -> Record | None:
        """The current record, or None when it does not exist or was deleted."""
        if not isinstance(record_id, str) or kind not in GENERATORS:
            return None
        record_id = record_id.lower()
        if record_id in self._deleted[kind]:
            return None
        found = self._overlay[kind].get(record_id)
        if found is not None:
            return found
        index = self.index_of(kind, record_id)
        return None if index is None else self._base(kind, index)

    def slot_count(self, kind: str) -> int:
        return self.base_count(kind) + len(self._created[kind])

    def at_slot(self, kind: str, slot: int) -> Record | None:
        """The record in list position `slot` (base records first, then created ones), None when deleted."""
        base = self.base_count(kind)
        if slot < base:
            if not self._overlay[kind] and not self._deleted[kind]:
                return self._base(kind, slot)
            return self.get(kind, self.u.id(kind, slot))
        return self.get(kind, self._created[kind][slot - base])

    def listed_slots(self, kind: str, start: int = 0) -> Iterator[tuple[int, Record | orjson.Fragment]]:
        """`iter_slots`, pregenerated records as their encoded bytes (what a list response holds)."""
        encoded = self._encoded.get(kind)
        if encoded is None:
            yield from self.iter_slots(kind, start)
            return
        for slot in range(start, len(encoded)):  # unchanged since pregenerating: every slot is a base record
            yield slot, encoded[slot]

    def iter_slots(self, kind: str, start: int = 0) -> Iterator[tuple[int, Record]]:
        for slot in range(start, self.slot_count(kind)):
            rec = self.at_slot(kind, slot)
            if rec is not None:
                yield slot, rec

    def changed_since(self, kind: str, since: int, upto: int) -> Iterator[tuple[int, Record]]:
        """(version, record) of records last changed in (since, upto], oldest change first; deletes omitted."""
        log = self._log[kind]
        versions = self._versions[kind]
        for version, record_id in log[bisect.bisect_right(log, (since, "\uffff")) :]:
            if version > upto:
                break
            if versions.get(record_id) == version and record_id not in self._deleted[kind]:
                rec = self._overlay[kind].get(record_id)
                if rec is not None:
                    yield version, rec

    def count_changed_since(self, kind: str, since: int) -> int:
        return sum(1 for _ in self.changed_since(kind, since, self.version))

    # --- writing ---------------------------------------------------------------------------------
    def next_ms(self) -> int:
        """Wall-clock milliseconds, strictly increasing across every change."""
        self._last_ms = max(time.time_ns() // 1_000_000, self._last_ms + 1)
        return self._last_ms

    def editable(self, kind: str, record_id: str) -> Record | None:
        """A private deep copy of the current record, to change and `put` back."""
        rec = self.get(kind, record_id)
        return None if rec is None else copy.deepcopy(rec)

    def put(self, kind: str, record: Record) -> Record:
        """Store a changed record: new version, new `updatedAt` (when the kind has one)."""
        self._encoded.clear()
        ms = self.next_ms()
        if "updatedAt" in record:
            record["updatedAt"] = iso(ms)
        self.version += 1
        record_id = record["id"]
        self._overlay[kind][record_id] = record
        self._versions[kind][record_id] = self.version
        self._log[kind].append((self.version, record_id))
        if kind in CACHED_KINDS:
            self._cache.clear()  # embedded copies in cached records must see the change
        self._recent.clear()  # likewise for recently generated bulk records
        return record

    def new_id(self) -> str:
        self._created_n += 1
        return random_id(self.u.seed, "created", self._created_n)

    def create(self, kind: str, record: Record) -> Record:
        """Store a new record (its `id` from `new_id`); it lists after every base record."""
        self._created[kind].append(record["id"])
        now = iso(self.next_ms())
        for key in ("createdAt", "updatedAt"):
            if key in record:
                record[key] = now
        return self.put(kind, record)

    def delete(self, kind: str, record_id: str) -> bool:
        rec = self.get(kind, record_id)
        if rec is None:
            return False
        record_id = rec["id"]
        self._encoded.clear()
        self._deleted[kind].add(record_id)
        self.version += 1
        self._versions[kind].pop(record_id, None)
        return True

    def overlaid(self, kind: str) -> dict[str, Record]:
        """Changed and created records of `kind` that still exist, by id."""
        deleted = self._deleted[kind]
        return {i: rec for i, rec in self._overlay[kind].items() if i not in deleted}

    # --- test accessors ------------------------------------------------------------------------------
    def ids(self, kind: str) -> list[str]:
        return [rec["id"] for _, rec in self.iter_slots(kind)]

    def stats(self) -> dict[str, int]:
        return {
            "overlay": sum(len(v) for v in self._overlay.values()),
            "deleted": sum(len(v) for v in self._deleted.values()),
            "version": self.version,
        }
