"""Mirror writes: one batched newer-wins upsert per page, and soft deletes that clear PII."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from store import mirror_sql
from store.mirror_tables import TABLES, BadFieldError, MirrorTable, Obj, parse_timestamp
from store.pool import Conn

if TYPE_CHECKING:
    import asyncpg

CLOCK_MARGIN_S = 3600
"""How far Ashby's clock (`updatedAt`) may be behind this deployment's and still be compared with it: an hour."""

MAX_ID = mirror_sql.MAX_ID
UPDATED_AT_FIELD = "updatedAt"
DELETED_BY_WEBHOOK = "webhook"  # `deleted_by`: Ashby reported the delete
DELETED_BY_SYNC = "sync"  # a completed full pass did not list the row


@dataclass(frozen=True, slots=True)
class Rejected:
    """Something in a page that could not be used as it was: a field (row kept) or a whole object (no id)."""

    id: str | None
    field: str


@dataclass(slots=True)
class PreparedPage:
    """A page turned into column arrays, deduplicated by id (the newest version of an id wins)."""

    ids: list[str] = field(default_factory=list)
    updated_at: list[datetime | None] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    columns: list[list[Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    written: int  # inserted, or newer than what the mirror held
    stale: int  # the mirror already held a newer version: only marked as seen
    rejected: tuple[Rejected, ...]
    replaced: tuple[str, ...] = ()  # ids of written rows that replaced a version the mirror held (not inserted)
    # ids of inserted rows whose `updatedAt` is later than the account was added (less `CLOCK_MARGIN_S`): Ashby changed
    # them after this deployment may have stored copies of them (an application embeds its candidate)
    recent_inserts: tuple[str, ...] = ()


def _result(row: "asyncpg.Record", rejected: tuple[Rejected, ...]) -> UpsertResult:
    written, stale = int(row["written"]), int(row["stale"])
    return UpsertResult(written, stale, rejected, tuple(row["replaced"] or ()), tuple(row["recent_inserts"] or ()))


def _array_literal(values: list[str]) -> str:
    """A Postgres text[] literal; unnest cannot take ragged 2-D arrays, so each row's array travels as text."""
    if not values:
        return "{}"
    plain = "".join(values)
    if '"' in plain or "\\" in plain:  # rare: a quote or backslash inside a value needs escaping
        return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"
    return '{"' + '","'.join(values) + '"}'


def _dump(obj: Obj) -> tuple[str, bool]:
    """The object as JSON text for `raw`, and whether NULs had to be replaced (jsonb cannot hold \\u0000)."""
    raw = orjson.dumps(obj)
    if b"\\u0000" not in raw:
        return raw.decode(), False
    return orjson.dumps(_without_nul(obj)).decode(), True


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _values(table: MirrorTable, obj: Obj, oid: str, rejected: list[Rejected]) -> list[Any]:
    """The object's typed columns, as the upsert takes them; what is wrong or surprising is added to `rejected`."""
    values: list[Any] = []
    for col in table.columns:
        try:
            v = col.extract(obj)
        except BadFieldError as exc:
            rejected.append(Rejected(oid, str(exc)))
            v = [] if col.pg_type == "text[]" else None
        else:
            if (report := col.reports(v)) is not None:
                rejected.append(Rejected(oid, report))
        values.append(_array_literal(v) if col.pg_type == "text[]" else v)
    return values


def prepare_page(table: MirrorTable, objects: Iterable[Obj]) -> PreparedPage:
    """Extract the typed columns of every object; bad fields become NULL and are reported, never raised."""
    page = PreparedPage(columns=[[] for _ in table.columns])
    index: dict[str, int] = {}
    for obj in objects:
        oid = obj.get("id") if type(obj) is dict else None
        if type(oid) is not str or not oid or len(oid) > MAX_ID or "\x00" in oid:
            page.rejected.append(Rejected(None, "id"))
            continue
        try:
            updated = parse_timestamp(obj.get("updatedAt"))
        except BadFieldError:
            updated = None
            page.rejected.append(Rejected(oid, UPDATED_AT_FIELD))
        raw, had_nul = _dump(obj)
        if had_nul:
            page.rejected.append(Rejected(oid, "raw: NUL replaced by U+FFFD"))
        values = _values(table, obj, oid, page.rejected)
        at = index.get(oid)
        if at is not None:  # the same id twice in one page: keep the newer, as the upsert would
            prev = page.updated_at[at]
            if prev is not None and (updated is None or updated < prev):
                continue
            page.updated_at[at] = updated
            page.raw[at] = raw
            for i, v in enumerate(values):
                page.columns[i][at] = v
            continue
        index[oid] = len(page.ids)
        page.ids.append(oid)
        page.updated_at.append(updated)
        page.raw.append(raw)
        for i, v in enumerate(values):
            page.columns[i].append(v)
    return page


def _array_type(pg_type: str) -> str:
    return "text[]" if pg_type == "text[]" else f"{pg_type}[]"


@cache
def upsert_sql(table_name: str, *, revive_deleted: bool = True) -> str:
    """The one statement that writes a page of objects into `table_name`, newer updatedAt winning.

    Every listed row is touched (`synced_at`, which is how a full pass knows what it saw), but its data only
    changes when the incoming version is at least as new as the stored one. Doing both in one
    INSERT ... ON CONFLICT keeps it to a single index probe per row. With `revive_deleted=False` a row marked
    deleted keeps its deletion (and its cleared PII) whatever the incoming version says.

    Parameters: $1 the account, $2 ids, $3 updatedAt, $4 the raw objects (JSON text each), $5 when they were read
    from Ashby (`fetched_at`), then one array per typed column.
    """
    table = TABLES[table_name]
    columns = [f"${i + 6}::{_array_type(c.pg_type)}" for i, c in enumerate(table.columns)]
    aliases = [f"c{i}" for i in range(len(table.columns))]
    unnest_args = ", ".join(["$2::text[]", "$3::timestamptz[]", "$4::text[]", *columns])
    selects = ", ".join(f"c{i}::text[]" if c.pg_type == "text[]" else f"c{i}" for i, c in enumerate(table.columns))
    upserted = _upserted(table, revive_deleted, f"$1, id, updated_at, raw::jsonb, fetched_at, now(), null, {selects}")
    return f"""with input as (
  select u.*, $5::timestamptz as fetched_at
  from unnest({unnest_args}) as u({", ".join(["id", "updated_at", "raw", *aliases])})
), {upserted}
{_COUNTS}"""


# Which version is newer: the later `updatedAt`; one without it never replaces one with it, and replaces any held
# version without one only if it was read from Ashby no earlier (`fetched_at`): many Ashby objects (offers,
# openings, sources...) have no updatedAt, and a sync page read before a webhook's `.info` must not undo it.
_NEWER = """(case
    when t.updated_at is not null then t.updated_at <= excluded.updated_at
    when excluded.updated_at is not null then true
    else t.fetched_at is null or excluded.fetched_at is null or t.fetched_at <= excluded.fetched_at
  end)"""


def _upserted(table: MirrorTable, revive_deleted: bool, values: str) -> str:
    """The `upserted` CTE: writes `input` (id, updated_at, ...) with the select list `values`."""
    names = [c.name for c in table.columns]
    newer = _NEWER
    if revive_deleted:
        # A row Ashby's webhook deleted comes back only with a version Ashby changed after the delete was applied:
        # the page may have been fetched before the delete, listing a version (and PII) the delete superseded.
        revivable = f"(t.deleted_by is distinct from '{DELETED_BY_WEBHOOK}' or excluded.updated_at > t.deleted_at)"
        newer = f"({revivable} and {newer})"
    else:
        newer = f"(t.deleted_at is null and {newer})"
    sets = ",\n    ".join(
        f"{n} = case when {newer} then excluded.{n} else t.{n} end" for n in ("updated_at", "raw", "fetched_at", *names)
    )
    return f"""upserted as (
  insert into {table.name} as t
    (account_id, id, updated_at, raw, fetched_at, synced_at, deleted_at, {", ".join(names)})
  select {values} from input
  on conflict (account_id, id) do update set
    synced_at = excluded.synced_at,
    deleted_at = case when {newer} then null else t.deleted_at end,
    deleted_by = case when {newer} then null else t.deleted_by end,
    {sets}
  returning t.id, t.updated_at, t.fetched_at, t.deleted_at, t.xmax <> 0 as replaced
)"""


# `xmax` is set on a row ON CONFLICT updated (the updating transaction locked it) and 0 on one it inserted.
_KEPT = "u.updated_at is not distinct from i.updated_at and u.fetched_at is not distinct from i.fetched_at"
_COUNTS = f"""select
  count(*) filter (where {_KEPT} and u.deleted_at is null) as written,
  count(*) filter (where not ({_KEPT}) or u.deleted_at is not null) as stale,
  array_agg(u.id) filter (where u.replaced and {_KEPT} and u.deleted_at is null) as replaced,
  array_agg(u.id) filter (where not u.replaced and u.updated_at >= (
    select created_at - interval '{CLOCK_MARGIN_S} seconds' from accounts where id = $1
  )) as recent_inserts
from upserted u join input i using (id)"""


_PAGE_SPAN = 1_000_000  # page_position of the n-th object of the k-th body: k * _PAGE_SPAN + n


@cache
def typed_upsert_sql(table_name: str, *, revive_deleted: bool = True) -> str:
    """`upsert_sql` for pages given as their response bodies only: Postgres reads ids, `updatedAt` and every typed
    column from the objects itself (`store.mirror_sql`). $1 the account, $2 the bodies, in page order, $3 when each
    was read from Ashby (`fetched_at`). Besides the counts it returns `rejected_ids` and `rejected_fields` (paired;
    a NULL id for an object without a usable one)."""
    table = TABLES[table_name]
    names = [c.name for c in table.columns]
    sources = [(UPDATED_AT_FIELD, "updated_at", mirror_sql.UPDATED_AT)]
    sources += [(c.source.name, c.name, c.source) for c in table.columns]
    fields = ", ".join(f"{mirror_sql.field(src, 'e.o')} as f{i}" for i, (_, _, src) in enumerate(sources))
    values = ", ".join(f"{mirror_sql.value(src, f'f.f{i}')} as {col}" for i, (_, col, src) in enumerate(sources))
    columns = {c.name: c for c in table.columns}
    checks: list[tuple[str, str | None]] = []
    for i, (name, col, src) in enumerate(sources):  # in `prepare_page`'s order: a field's error, then its reports
        checks.append((name, mirror_sql.bad(src, f"v.f{i}", f"v.{col}")))
        if col in columns:
            checks += mirror_sql.reports(columns[col], f"v.f{i}", f"v.{col}")
    flags = ", ".join(f"case when {check} then {mirror_sql.literal(name)} end" for name, check in checks if check)
    upserted = _upserted(table, revive_deleted, f"$1, id, updated_at, raw, fetched_at, now(), null, {', '.join(names)}")
    # Three levels, each computed once per row: the fields, the values read from them, then which fields were there
    # but unusable (`offset 0` keeps Postgres from pulling a level up and repeating its expressions at every use).
    return f"""
with typed as (
  select v.page_position, v.id, v.raw, v.fetched_at, {", ".join(f"v.{col}" for _, col, _ in sources)},
    array_remove(array[{flags}]::text[], null) as bad_fields
  from (
    select f.*, {values}
    from (
      select b.page_no * {_PAGE_SPAN} + e.position as page_position, e.o as raw, b.fetched_at,
        {mirror_sql.record_id("e.o->'id'")} as id, {fields}
      from unnest($2::text[], $3::timestamptz[]) with ordinality as b(body, fetched_at, page_no),
        jsonb_array_elements((b.body::jsonb) -> 'results') with ordinality as e(o, position)
      offset 0
    ) f
    offset 0
  ) v
), input as (
  -- the same id twice in one page: the newer version wins, the later one on a tie (as `prepare_page` keeps)
  select distinct on (id) * from typed where id is not null order by id, updated_at desc nulls last, page_position desc
), {upserted}, counts as (
  {_COUNTS}
), rejected as (
  select t.page_position, t.id, f.field, f.n
  from typed t, unnest(case when t.id is null then array['id'] else t.bad_fields end) with ordinality as f(field, n)
)
select counts.written, counts.stale, counts.replaced, counts.recent_inserts,
       (select array_agg(r.id order by r.page_position, r.n) from rejected r) as rejected_ids,
       (select array_agg(r.field order by r.page_position, r.n) from rejected r) as rejected_fields
from counts"""


def parses_as_sent(body: bytes) -> bool:
    """Whether Postgres reads `body` as the client did: no \\u escapes (it refuses \\u0000 and lone
    surrogates, which the objects path replaces or fails on with a clear error)."""
    return b"\\u" not in body


async def upsert_page(
    conn: Conn,
    table_name: str,
    account_id: uuid.UUID,
    objects: Sequence[Obj],
    *,
    revive_deleted: bool = True,
    page_body: bytes | None = None,
    fetched_at: datetime | None = None,
) -> UpsertResult:
    """Write one page of Ashby objects into a mirror table in one statement; older versions never win.

    A sync pass revives a deleted row it lists (Ashby has it, so it exists). A webhook must not: a late or
    reordered delivery about a deleted object would otherwise bring it, and its PII, back; pass
    `revive_deleted=False`. Such rows count as stale. A sync page revives a row a webhook deleted only with an
    `updatedAt` later than the delete (never one without): it may have been fetched before the delete.

    `page_body`: the response `objects` were decoded from (its `results` are `objects`, in order). Postgres then
    reads the objects from it (`upsert_bodies`) instead of this process extracting their columns and encoding them
    again, unless Postgres would read it differently (`parses_as_sent`).

    `fetched_at`: when the objects were read from Ashby (the request's start; default now), which orders versions
    of an object without `updatedAt`.
    """
    read = fetched_at or datetime.now(UTC)
    if page_body is not None and parses_as_sent(page_body):
        return await upsert_bodies(
            conn, table_name, account_id, [page_body], revive_deleted=revive_deleted, fetched_at=[read]
        )
    page = prepare_page(TABLES[table_name], objects)
    if not page.ids:
        return UpsertResult(0, 0, tuple(page.rejected))
    sql = upsert_sql(table_name, revive_deleted=revive_deleted)
    row = await conn.fetchrow(sql, account_id, page.ids, page.updated_at, page.raw, read, *page.columns)
    assert row is not None
    return _result(row, tuple(page.rejected))


async def upsert_bodies(
    conn: Conn,
    table_name: str,
    account_id: uuid.UUID,
    bodies: Sequence[bytes],
    *,
    revive_deleted: bool = True,
    fetched_at: Sequence[datetime | None] | None = None,
) -> UpsertResult:
    """`upsert_page` for pages given only as their response bodies (`results` a list), in page order, in one
    statement: Postgres reads every object. The same id in two of them: the later page's version wins a tie.
    `fetched_at`: when each body was read from Ashby (default now).

    For bodies Postgres reads as the client would (`parses_as_sent`). Rows, counts and reported fields are those
    `upsert_page` gives for the decoded objects (`store.mirror_sql`).
    """
    now = datetime.now(UTC)
    read = [at or now for at in fetched_at] if fetched_at is not None else [now] * len(bodies)
    sql = typed_upsert_sql(table_name, revive_deleted=revive_deleted)
    row = await conn.fetchrow(sql, account_id, [b.decode() for b in bodies], read)
    assert row is not None
    ids, fields = row["rejected_ids"] or [], row["rejected_fields"] or []
    rejected = tuple(map(Rejected, ids, fields))
    return _result(row, rejected)


def _deletion(table: MirrorTable, by: str) -> str:
    """The SET list that marks a row of `table` deleted (`by`: DELETED_BY_*) and clears its PII."""
    parts = [f"{c.name} = {'default' if c.pg_type == 'text[]' else 'null'}" for c in table.columns if c.pii]
    if table.pii_in_raw:
        parts.append(f"raw = jsonb_build_object('id', {table.name}.id)")
    return ", ".join(["deleted_at = now()", f"deleted_by = '{by}'", *parts])


def _parent_column(table: MirrorTable, column: str) -> str:
    if column not in {c.name for c in table.columns}:
        raise ValueError(f"{table.name} has no column {column}")
    return column


async def soft_delete_unseen(conn: Conn, table_name: str, account_id: uuid.UUID, seen_since: datetime) -> int:
    """Mark deleted, and clear PII from, rows a completed full pass did not see (not synced since `seen_since`)."""
    table = TABLES[table_name]
    status = await conn.execute(
        f"""update {table.name} set {_deletion(table, DELETED_BY_SYNC)}
            where account_id = $1 and deleted_at is null and synced_at < $2""",
        account_id,
        seen_since,
    )
    return int(status.split()[-1])


async def mark_deleted(conn: Conn, table_name: str, account_id: uuid.UUID, ids: Sequence[str]) -> int:
    """Mark rows deleted by id (a delete Ashby told us about) and clear their PII; returns how many were marked.

    An id the mirror does not hold yet gets a deleted row of its own (a tombstone: the id and nothing else), so a
    late webhook or a sync page fetched before the delete cannot bring the object, and its PII, in afterwards.
    One statement: a row another transaction is inserting right now is waited for, then marked.
    """
    table = TABLES[table_name]
    rows = await conn.fetch(
        f"""insert into {table.name} (account_id, id, raw, deleted_at, deleted_by)
            select distinct $1::uuid, i.id, jsonb_build_object('id', i.id), now(), '{DELETED_BY_WEBHOOK}'
            from unnest($2::text[]) as i(id)
            on conflict (account_id, id) do update set {_deletion(table, DELETED_BY_WEBHOOK)}
            where {table.name}.deleted_by is distinct from '{DELETED_BY_WEBHOOK}'
            returning xmax = 0 as inserted""",
        account_id,
        list(ids),
    )
    return sum(not r["inserted"] for r in rows)


async def mark_deleted_children(
    conn: Conn, table_name: str, account_id: uuid.UUID, parent_column: str, parent_ids: Sequence[str]
) -> list[str]:
    """Mark deleted (clearing PII) the live rows whose `parent_column` is one of `parent_ids`: what Ashby deletes
    with their parents. Returns their ids."""
    table = TABLES[table_name]
    column = _parent_column(table, parent_column)
    if not parent_ids:
        return []
    rows = await conn.fetch(
        f"""update {table.name} set {_deletion(table, DELETED_BY_WEBHOOK)}
            where account_id = $1 and {column} = any($2::text[]) and deleted_at is null
            returning id""",
        account_id,
        list(parent_ids),
    )
    return sorted(r["id"] for r in rows)


async def delete_detached(
    conn: Conn, table_name: str, account_id: uuid.UUID, *, parent_column: str, parent_id: str, keep: Sequence[str]
) -> int:
    """Mark deleted (clearing PII) the rows of `parent_id` that are not in `keep`: children that the parent's
    latest version no longer lists (an interview removed from its schedule)."""
    table = TABLES[table_name]
    column = _parent_column(table, parent_column)
    status = await conn.execute(
        f"""update {table.name} set {_deletion(table, DELETED_BY_WEBHOOK)}
            where account_id = $1 and {column} = $2 and id <> all($3::text[]) and deleted_at is null""",
        account_id,
        parent_id,
        list(keep),
    )
    return int(status.split()[-1])


async def count_rows(conn: Conn, table_name: str, account_id: uuid.UUID, *, include_deleted: bool = False) -> int:
    """How many rows an account has in a mirror table."""
    table = TABLES[table_name]
    where = "" if include_deleted else " and deleted_at is null"
    value = await conn.fetchval(f"select count(*) from {table.name} where account_id = $1{where}", account_id)
    return int(value)


async def get_raw(
    conn: Conn, table_name: str, account_id: uuid.UUID, ids: Sequence[str] | None = None
) -> dict[str, Obj]:
    """The raw objects of live rows (all of them, or those in `ids`), by id."""
    table = TABLES[table_name]
    rows = await conn.fetch(
        f"""select id, raw from {table.name}
            where account_id = $1 and deleted_at is null and ($2::text[] is null or id = any($2::text[]))""",
        account_id,
        list(ids) if ids is not None else None,
    )
    return {r["id"]: r["raw"] for r in rows}


async def list_ids(conn: Conn, table_name: str, account_id: uuid.UUID) -> list[str]:
    """The ids of an account's live rows in a mirror table, sorted."""
    table = TABLES[table_name]
    rows = await conn.fetch(
        f"select id from {table.name} where account_id = $1 and deleted_at is null order by id", account_id
    )
    return [r["id"] for r in rows]
