"""Cairn field references -> SQL over a lake table (a typed column or a JSON extraction)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

from cairn.detect.sigma.errors import UnknownField
from cairn.detect.sigma.profiles import PROFILES, split_path
from cairn.detect.sigma.sqltext import json_path, sql_str
from cairn.lake.schema import TableSpec

_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL"}


@dataclass(frozen=True)
class FieldSQL:
    """A rule field resolved on one table: a scalar, or a list whose elements are tested one by one."""

    name: str
    """The field as the rule (after the pipeline) names it."""
    expr: str
    type: str
    """DuckDB type of the value (of each element for lists)."""
    is_list: bool = False
    exists: str = "false"
    bin_expr: str | None = None
    """The 16-byte address form (a list when ``is_list``), for ``|cidr``."""

    @property
    def numeric(self) -> bool:
        return self.type in _NUMERIC

    def as_text(self, x: str) -> str:
        return x if self.type == "VARCHAR" else f"CAST({x} AS VARCHAR)"

    def as_number(self, x: str) -> str:
        return x if self.numeric else f"TRY_CAST({x} AS DOUBLE)"

    def test(self, build: Callable[[str], str], kind: str = "text") -> str:
        """A predicate: ``build(value)`` on the scalar, or on any element of a list."""
        conv = {"text": self.as_text, "number": self.as_number, "raw": lambda x: x}[kind]
        if not self.is_list:
            return build(conv(self.expr))
        return f"(len(list_filter({self.expr}, lambda _v: {build(conv('_v'))})) > 0)"

    def test_bin(self, build: Callable[[str], str]) -> str:
        """A predicate on the 16-byte form (scalar or any element)."""
        assert self.bin_expr is not None
        if not self.is_list:
            return build(self.bin_expr)
        return f"(len(list_filter({self.bin_expr}, lambda _v: {build('_v')})) > 0)"


@cache
def _spec(table: str) -> TableSpec:
    from cairn.lake.catalog import all_specs

    return all_specs()[table]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def resolve(ref: str, table: str) -> FieldSQL:
    """SQL for a cairn field reference (see :mod:`cairn.detect.sigma.profiles`) on ``table``."""
    spec = _spec(table)
    types = {c.name: c.type for c in spec.columns}
    profile = PROFILES.get(table)
    if ref in types:
        return _column(ref, types, profile.cidr_columns if profile else {})
    segments = split_path(ref)
    column = segments[0] if segments else ""
    if types.get(column) != "JSON":
        where = f"log source {profile.describe()}" if profile else f"table {table}"
        raise UnknownField(
            f"unknown field {ref!r} for {where} (table {table}): not a field of the record "
            f"nor a column of the table"
        )
    path = ["[*]" if s == "[]" else s for s in segments[1:]]
    col = _ident(column)
    if not path:
        return FieldSQL(ref, col, "JSON", exists=f"({col} IS NOT NULL)")
    lit = sql_str(json_path(path))
    if "[*]" in path:
        expr = f"json_extract_string({col}, {lit})"
        return FieldSQL(ref, expr, "VARCHAR", is_list=True,
                        exists=f"(len(json_extract({col}, {lit})) > 0)")
    return FieldSQL(ref, f"json_extract_string({col}, {lit})", "VARCHAR",
                    exists=f"coalesce(json_exists({col}, {lit}), false)")


def _column(name: str, types: dict[str, str], bins: Mapping[str, str]) -> FieldSQL:
    typ = types[name]
    is_list = typ.endswith("[]")
    bin_col = bins.get(name) or (f"{name}_bin" if f"{name}_bin" in types else None)
    return FieldSQL(
        name, _ident(name), typ[:-2] if is_list else typ, is_list=is_list,
        exists=f"({_ident(name)} IS NOT NULL)",
        bin_expr=_ident(bin_col) if bin_col else None,
    )


def table_columns(table: str) -> list[str]:
    """Column names of a lake table."""
    return [c.name for c in _spec(table).columns]
