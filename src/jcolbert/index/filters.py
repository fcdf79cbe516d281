"""Which documents a search may return: one filter type for Python, the command line and HTTP bodies.

    Filter.parse({"lang": "en", "year": [2023, 2024]})   # a JSON-able spec (what an HTTP body carries)
    Filter.parse({"ids": ["d1", "d7"]})                 # only these document ids
    from_cli(["lang=en", "year=2024"])                  # `jcolbert search --filter KEY=VALUE ...`
    index.search("query", filter=...)                   # a Filter, a spec dict, a collection of ids, or a callable

Semantics of a metadata clause `key: value` (all clauses must hold):

* it holds when the document's metadata has the top-level key `key` (any string: quotes, dots, `$`,
  non-ASCII characters all match literally; there are no nested paths) with an equal value *of the same
  JSON type*: strings match exactly (case-sensitive); numbers match numerically (2024 matches 2024.0);
  booleans match booleans only (`True` does not match a stored `1`, `1` does not match a stored `true`);
  `None` matches a stored `null` only. A document without the key never matches, whatever the value;
* `key: [v1, v2, ...]` (a list in a spec) holds when any one of the values matches;
* the key `ids` with a list value restricts the search to those document ids (and combines with metadata
  clauses); `{"ids": "x"}` with a scalar is an ordinary metadata clause on a key named "ids".

On the command line (`from_cli`) a value is text (`lang=en`); a value that reads as a JSON number, boolean
or null (`year=2024`, `ok=true`) matches that typed value *or* the same text, because CSV columns are
stored as text while JSONL keeps numbers. `id=a,b,c` restricts to ids. Every clause runs inside SQLite.
Bad filters raise `InputError` naming the clause.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jcolbert.errors import InputError

Scalar = str | int | float | bool | None
_MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Filter:
    """Metadata clauses (key, allowed values) that must all hold, and an optional id restriction."""

    clauses: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()
    ids: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, spec: Any) -> Filter:
        """A filter from a JSON-able spec: {"key": value or [values], ..., "ids": [ids]} (module docstring)."""
        if isinstance(spec, Filter):
            return spec
        if not isinstance(spec, dict):
            raise InputError(f"a filter spec must be an object of metadata key -> value, got {type(spec).__name__}")
        clauses = []
        ids = None
        for key, value in spec.items():
            if not isinstance(key, str):
                raise InputError(f"filter key {key!r} must be a string")
            if key == "ids" and isinstance(value, list | tuple):
                ids = _ids(value, "filter 'ids'")
                continue
            values = tuple(value) if isinstance(value, list | tuple) else (value,)
            if not values:
                raise InputError(f"filter {key!r}: an empty list of values matches nothing; leave the key out")
            clauses.append((key, tuple(_scalar(v, key) for v in values)))
        return cls(tuple(clauses), ids)

    def to_spec(self) -> dict[str, Any]:
        """The JSON-able spec of this filter (Filter.parse(f.to_spec()) == f)."""
        spec: dict[str, Any] = {k: (list(v) if len(v) > 1 else v[0]) for k, v in self.clauses}
        if self.ids is not None:
            spec["ids"] = list(self.ids)
        return spec

    def sql(self) -> tuple[str, list[Any]]:
        """A WHERE condition over table docs (column metadata: JSON text) and its parameters."""
        where, params = [], []
        for key, values in self.clauses:
            alternatives, values_params = [], []
            for v in values:
                if v is None:
                    alternatives.append("j.type = 'null'")
                elif isinstance(v, bool):
                    alternatives.append("j.type = 'true'" if v else "j.type = 'false'")
                elif isinstance(v, str):
                    alternatives.append("(j.type = 'text' AND j.value = ?)")
                    values_params.append(v)
                else:
                    alternatives.append("(j.type IN ('integer', 'real') AND j.value = ?)")
                    values_params.append(v)
            where.append("EXISTS (SELECT 1 FROM json_each(docs.metadata) AS j WHERE j.key = ? AND ("
                         + " OR ".join(alternatives) + "))")
            params += [key, *values_params]
        return " AND ".join(where) or "1", params


def _scalar(value: Any, key: str) -> Scalar:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise InputError(f"filter {key!r}: {value} is too large to compare")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"filter {key!r}: {value} is not a number a document can hold (JSON has no NaN/Infinity)")
        return value
    raise InputError(f"filter value for {key!r} must be a string, number, bool or None (or a list of them), "
                     f"got {type(value).__name__}")


def _ids(values: Iterable[Any], where: str) -> tuple[str, ...]:
    ids = tuple(values)
    bad = [x for x in ids if not isinstance(x, str)]
    if bad:
        raise InputError(f"{where} must hold strings only, got {bad[0]!r}")
    return ids


def from_cli(items: list[str] | None) -> Filter | None:
    """`--filter KEY=VALUE` strings (repeatable, all must hold) -> a Filter (None when there are none)."""
    if not items:
        return None
    clauses: dict[str, tuple[Scalar, ...]] = {}
    ids = None
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--filter {item!r}: expected KEY=VALUE, e.g. --filter lang=en")
        if key == "id":
            ids = tuple(v.strip() for v in raw.split(",") if v.strip())
            if not ids:
                raise InputError(f"--filter {item!r}: no ids after id=")
            continue
        try:
            value = json.loads(raw, parse_constant=_reject)
        except ValueError:
            value = raw
        if isinstance(value, list | dict):
            value = raw
        value = _scalar(value, key)
        clauses[key] = (value,) if isinstance(value, str) else (value, raw)
    return Filter(tuple(clauses.items()), ids)


def _reject(name: str) -> Any:
    raise ValueError(name)


def coerce(filter: Any) -> Filter | Callable[[dict], bool] | None:
    """What `Index.search(filter=...)` accepts -> a Filter, a Python predicate, or None.

    A Filter; a spec dict (Filter.parse); a collection of ids; or a callable(metadata dict) -> bool, which
    is evaluated in Python row by row (slower: prefer a spec)."""
    if filter is None or isinstance(filter, Filter):
        return filter
    if isinstance(filter, dict):
        return Filter.parse(filter)
    if callable(filter):
        return filter
    if isinstance(filter, str | bytes):
        raise InputError("filter must be a collection of ids, a dict of metadata values, or a callable; "
                         "got a single string (wrap it in a list to filter by one id)")
    try:
        return Filter(ids=_ids(filter, "an id filter"))
    except TypeError:
        raise InputError(f"filter must be a Filter, a dict spec, a collection of ids or a callable, "
                         f"got {type(filter).__name__}") from None
