"""Typed columns read by Postgres from a page it parses anyway, by the rules `store.mirror_tables` applies in Python.

A sync page goes to Postgres as the response body; the upsert reads each object's id, `updatedAt` and typed columns
from it, and names the fields it had to leave NULL. Python then never decodes the objects (the sync process's CPU
for a full pass fell by two thirds). Every expression here mirrors one `Field.get`: same types accepted, same
values, same fields reported; `tests/store/test_mirror.py` holds the two to that on objects of every shape. None of
them can make the statement fail: timestamps and dates are cast only once their text is known to be valid.
"""

from store.mirror_tables import (
    DATE_PATTERN,
    MAX_TEXT,
    SEARCH_FIELDS,
    SEARCH_LISTS,
    TIMESTAMP_PATTERN,
    Column,
    Source,
)

MAX_ID = 255


def _at(base: str, path: tuple[str, ...]) -> str:
    """The jsonb at `path` under `base`; NULL where a step is missing or not an object (as `_dig` gives None)."""
    return base + "".join(f"->'{key}'" for key in path)


def _text(j: str) -> str:
    return f"({j} #>> '{{}}')"


def _is(j: str, *types: str) -> str:
    return f"jsonb_typeof({j}) in ({', '.join(repr(t) for t in types)})"


def _usable(j: str) -> str:
    """A JSON string that fits a text column (jsonb cannot hold NUL, so only its size in bytes is checked)."""
    return f"(jsonb_typeof({j}) = 'string' and octet_length({_text(j)}) <= {MAX_TEXT})"


def _valid_day(t: str) -> str:
    """Whether the date that `t` starts with (already matching DATE_PATTERN) exists: no 30 February.

    Days up to 28 are compared as text first, which settles nearly every date without building one."""
    month = f"make_date(substr({t}, 1, 4)::int, substr({t}, 6, 2)::int, 1)"
    last = f"extract(day from {month} + interval '1 month - 1 day')"
    return f"(substr({t}, 9, 2) <= '28' or substr({t}, 9, 2)::int <= {last})"


def _canonical(t: str) -> str:
    """Whether `t` is a timestamp in Ashby's own shape (`2024-01-08T05:25:43.656Z`) that TIMESTAMP_PATTERN accepts.

    Checked with LIKE, translate and text comparisons, several times cheaper than the regular expression (which
    cost Postgres a tenth of a full pass); any other shape goes to the pattern itself."""
    ranges = [(6, "01", "12"), (9, "01", "31"), (12, "00", "23"), (15, "00", "59"), (18, "00", "59")]
    checks = " and ".join(f"substr({t}, {at}, 2) between '{low}' and '{high}'" for at, low, high in ranges)
    return (
        f"({t} like '____-__-__T__:__:__.___Z' and translate({t}, '0123456789', '') = '--T::.Z' "
        f"and left({t}, 4) <> '0000' and {checks})"
    )


def _timestamp(j: str) -> str:
    t = _text(j)
    valid = f"(case when {_canonical(t)} then true else length({t}) <= 64 and {t} ~ '{TIMESTAMP_PATTERN}' end)"
    return f"case when jsonb_typeof({j}) = 'string' and {valid} and {_valid_day(t)} then {t}::timestamptz end"


def field(source: Source, obj: str) -> str:
    """The jsonb a column is read from, in the object `obj`: its field (a list for texts), the object for search.

    Selected once per row in an inner query, so `value` and `bad` look the field up once, not at every use."""
    return obj if source.kind == "search" else _at(obj, source.path)


def value(source: Source, j: str) -> str:
    """The column's value from its `field` `j`: NULL (an empty array for texts) where missing or unusable."""
    kind = source.kind
    if kind == "text":
        return f"case when {_usable(j)} then {_text(j)} end"
    if kind == "boolean":
        return f"case when jsonb_typeof({j}) = 'boolean' then ({j})::boolean end"
    if kind == "number":
        return f"case when jsonb_typeof({j}) = 'number' then ({j})::numeric end"
    if kind == "integer":
        return f"case when {_integer(j)} then ({j})::integer end"
    if kind == "timestamp":
        return _timestamp(j)
    if kind == "day":
        t = _text(j)
        return (
            f"case when jsonb_typeof({j}) = 'string' and length({t}) <= 64 and {t} ~ '^{DATE_PATTERN}' "
            f"and {_valid_day(t)} then left({t}, 10)::date end"
        )
    if kind == "texts":
        item = _at("x.v", source.item_path)
        return (
            f"case when jsonb_typeof({j}) = 'array' then array(select {_text(item)} "
            f"from jsonb_array_elements({j}) as x(v) where {_usable(item)}) else '{{}}'::text[] end"
        )
    if kind == "search":
        parts = [
            f"case when jsonb_typeof({j}->'{k}') = 'string' then left({j}->>'{k}', {MAX_TEXT}) end"
            for k in SEARCH_FIELDS
        ]
        for list_key, item_key in SEARCH_LISTS:
            items, item = f"{j}->'{list_key}'", f"x.v->'{item_key}'"
            parts.append(
                f"case when jsonb_typeof({items}) = 'array' then (select string_agg(left({_text(item)}, {MAX_TEXT}), "
                f"' ') from jsonb_array_elements({items}) as x(v) where jsonb_typeof({item}) = 'string') end"
            )
        return f"concat_ws(' ', {', '.join(parts)})"
    raise ValueError(f"unknown column source kind {kind!r}")


def _integer(j: str) -> str:
    """A JSON integer (no fraction or exponent, as Python reads an int) that fits a Postgres integer."""
    return f"(jsonb_typeof({j}) = 'number' and {_text(j)} ~ '^-?[0-9]{{1,10}}$' and abs(({j})::numeric) <= 2147483647)"


def bad(source: Source, j: str, column: str) -> str | None:
    """True where the `field` `j` is present but unusable (reported, as BadFieldError is); None if it never is.

    `column` is the field's value as `value` computed it (in an inner query): a scalar field is bad exactly when it
    is there, not JSON null, and yet its value is NULL, so nothing is parsed twice."""
    if source.kind == "search":
        return None
    if source.kind == "texts":
        return f"jsonb_typeof({j}) not in ('array', 'null')"
    return f"(jsonb_typeof({j}) <> 'null' and {column} is null)"


def literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def reports(column: Column, j: str, value: str) -> list[tuple[str, str]]:
    """What `Column.reports` says of a field, as (report, SQL condition) pairs: `j` the field, `value` the column's
    value as `value` computed it (a field present but unusable is reported by `bad` alone)."""
    name = column.source.name
    out = []
    if column.required:
        out.append((f"{name}: missing", f"({value} is null and ({j} is null or jsonb_typeof({j}) = 'null'))"))
    if column.known is not None:
        out.append((f"{name}: unknown value", f"{value} not in ({', '.join(map(literal, sorted(column.known)))})"))
    return out


def record_id(j: str) -> str:
    """The object's id from its `id` field `j`, NULL when unusable (the object is then rejected whole)."""
    return f"case when jsonb_typeof({j}) = 'string' and length({_text(j)}) between 1 and {MAX_ID} then {_text(j)} end"


UPDATED_AT = Source("timestamp", ("updatedAt",))
