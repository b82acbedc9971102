"""Deterministic ids and timestamps: every base record's UUID is derived from (seed, kind, index) and decodes back."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache

# One code per kind, carried in the UUID's variant byte so an id decodes back to (kind, index) without a table.
KIND_CODES: dict[str, int] = {
    name: code
    for code, name in enumerate(
        (
            "candidates",
            "applications",
            "jobs",
            "offers",
            "interview_schedules",
            "interview_events",
            "interviews",
            "interview_plans",
            "users",
            "departments",
            "locations",
            "openings",
            "projects",
            "candidate_tags",
            "custom_fields",
            "feedback_form_definitions",
            "application_feedback",
            "job_postings",
            "sources",
            "archive_reasons",
            "interview_stages",
            "source_types",
            "organization",
        ),
        start=1,
    )
}
KINDS_BY_CODE: dict[int, str] = {code: name for name, code in KIND_CODES.items()}
_VARIANT_HEX = {name: f"{0x80 | code:02x}" for name, code in KIND_CODES.items()}
_MAX_INDEX = 1 << 48
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIX = 0x9E3779B97F4B & (_MAX_INDEX - 1) | 1  # odd, so multiplying by it permutes 48-bit indexes
_UNMIX = pow(_MIX, -1, _MAX_INDEX)


def digest(seed: int, kind: str, index: int, size: int = 16) -> bytes:
    """A stable pseudo-random digest of (seed, kind, index)."""
    return hashlib.blake2b(b"%d:%s:%d" % (seed, kind.encode(), index), digest_size=size).digest()


@lru_cache(maxsize=256)
def _mask(seed: int, kind: str) -> int:
    return int.from_bytes(digest(seed, kind, -1, 6), "big")


def make_id(seed: int, kind: str, index: int) -> str:
    """The UUID (v4 layout) of base record `index` of `kind`; `parse_id` inverts it."""
    if not 0 <= index < _MAX_INDEX:
        raise ValueError(f"index out of range: {index}")
    # bytes 0-5 and 7, 9 from the hash; 6: version 4 and a hash nibble; 8: the variant bits and the kind's code;
    # 10-15: the index, permuted and masked (what parse_id inverts). Built as hex text directly: this runs for
    # every id of every generated record.
    x = hashlib.blake2b(b"%d:%s:%d" % (seed, kind.encode(), index), digest_size=10).hexdigest()
    tail = (index * _MIX) % _MAX_INDEX ^ _mask(seed, kind)
    return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-{_VARIANT_HEX[kind]}{x[18:20]}-{tail:012x}"


def parse_id(seed: int, value: str) -> tuple[str, int] | None:
    """(kind, index) of a base record id made by `make_id` with this seed, else None."""
    try:
        raw = uuid.UUID(value).bytes
    except (ValueError, AttributeError, TypeError):
        return None
    kind = KINDS_BY_CODE.get(raw[8] & 0x3F) if raw[8] & 0xC0 == 0x80 else None
    if kind is None:
        return None
    index = ((int.from_bytes(raw[10:16], "big") ^ _mask(seed, kind)) * _UNMIX) % _MAX_INDEX
    return (kind, index) if make_id(seed, kind, index) == value.lower() else None


def random_id(seed: int, namespace: str, n: int) -> str:
    """A UUID for something created at run time (never decodes as a base record)."""
    raw = bytearray(digest(seed, namespace, n))
    raw[6] = 0x40 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)  # parse_id rejects it: its hash part does not match make_id's
    return str(uuid.UUID(bytes=bytes(raw)))


_DAY_MS = 86_400_000


@lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%dT")


def iso(ms: int) -> str:
    """`2024-01-01T00:00:00.000Z` for milliseconds since the epoch (the date part is cached: a sandbox's
    timestamps fall on a few thousand days, and this runs several times per generated record)."""
    days, rest = divmod(ms, _DAY_MS)
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_day(days)}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def parse_iso(value: str) -> int:
    """Milliseconds since the epoch of an ISO-8601 timestamp (`Z` or an offset)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
