"""Typed columns read by Postgres from a page it parses anyway, by the rules `store.mirror_tables` applies in Python.

A sync page goes to Postgres as the response body; the upsert reads each object's id, `updatedAt` and typed columns
from it, and names the fields it had to leave NULL. Python then never decodes the objects (the sync process's CPU
for a full pass fell by two thirds). Every expression here mirrors one `Field.get`: same types accepted, same
values, same fields reported; `tests/store/test_mirror.py` holds the two to that on objects of every shape. None of
them can make the statement fail: timestamps and dates are cast only once their text is known to be valid.
"""

from store.mirror_tables import DATE_PATTERN, MAX_TEXT, SEARCH_FIELDS, SEARCH_LISTS, TIMESTAMP_PATTERN, Source

MAX_ID = 255


def _at(base: str, path: tuple[str, ...]) -> str:
    """The jsonb at `path` under `base`; NULL where a step is missing or not an object (as `_dig` gives None)."""
    return base + "".join(f"->'{key}'" for key in path)


def _text(j: str) -> str:
    return f"({j} #>> '{{}}')"


def _is(j: str, *types: str) -> str:
    return f"jsonb_typeof({j}) in ({', '.join(repr(t) for t in types)})"


def _usable(j: str) -> str:
    """A JSON string that fits a text column (jsonb cannot hold NUL, so only the length is checked)."""
    return f"(jsonb_typeof({j}) = 'string' and length({_text(j)}) <= {MAX_TEXT})"


def _valid_day(t: str) -> str:
    """Whether the date that `t` starts with (already matching DATE_PATTERN) exists: no 30 February.

    Days up to 28 are compared as text first, which settles nearly every date without building one."""
    month = f"make_date(substr({t}, 1, 4)::int, substr({t}, 6, 2)::int, 1)"
    last = f"extract(day from {month} + interval '1 month - 1 day')"
    return f"(substr({t}, 9, 2) <= '28' or substr({t}, 9, 2)::int <= {last})"


def _timestamp(j: str) -> str:
    t = _text(j)
    return (
        f"case when jsonb_typeof({j}) = 'string' and length({t}) <= 64 and {t} ~ '{TIMESTAMP_PATTERN}' "
        f"and {_valid_day(t)} then {t}::timestamptz end"
    )


def value(source: Source, obj: str = "o") -> str:
    """The column's value: NULL (an empty array for texts) where the field is missing or unusable."""
    j = _at(obj, source.path)
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
            f"case when jsonb_typeof({obj}->'{k}') = 'string' then left({obj}->>'{k}', {MAX_TEXT}) end"
            for k in SEARCH_FIELDS
        ]
        for list_key, item_key in SEARCH_LISTS:
            items, item = f"{obj}->'{list_key}'", f"x.v->'{item_key}'"
            parts.append(
                f"case when jsonb_typeof({items}) = 'array' then (select string_agg(left({_text(item)}, {MAX_TEXT}), "
                f"' ') from jsonb_array_elements({items}) as x(v) where jsonb_typeof({item}) = 'string') end"
            )
        return f"concat_ws(' ', {', '.join(parts)})"
    raise ValueError(f"unknown column source kind {kind!r}")


def _integer(j: str) -> str:
    """A JSON integer (no fraction or exponent, as Python reads an int) that fits a Postgres integer."""
    return f"(jsonb_typeof({j}) = 'number' and {_text(j)} ~ '^-?[0-9]{{1,10}}$' and abs(({j})::numeric) <= 2147483647)"


def bad(source: Source, column: str, obj: str = "o") -> str | None:
    """True where the field is present but unusable (reported, as BadFieldError is); None if it never is.

    `column` is the field's value as `value` computed it (in an inner query): a scalar field is bad exactly when it
    is there, not JSON null, and yet its value is NULL, so nothing is parsed twice."""
    j = _at(obj, source.path)
    if source.kind == "search":
        return None
    if source.kind == "texts":
        return f"jsonb_typeof({j}) not in ('array', 'null')"
    return f"(jsonb_typeof({j}) <> 'null' and {column} is null)"


def record_id(obj: str = "o") -> str:
    """The object's id, NULL when it has none usable (the object is then rejected whole)."""
    j = f"{obj}->'id'"
    return f"case when jsonb_typeof({j}) = 'string' and length({_text(j)}) between 1 and {MAX_ID} then {_text(j)} end"


UPDATED_AT = Source("timestamp", ("updatedAt",))
