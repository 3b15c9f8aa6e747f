"""``CairnDuckDBBackend``: Sigma detections -> one DuckDB boolean expression over a lake table.

Built on pySigma's ``TextQueryBackend`` (condition tree, ``1 of``/``all of`` expansion, modifiers,
error collection) with the value conversions written out here, because SQL needs more than
templates: the field is resolved per table (a typed column or a JSON extraction, a scalar or a
list), and every rule value is escaped by :mod:`cairn.detect.sigma.sqltext`.

Semantics (Sigma spec): strings match case-insensitively (``lower(field) = 'value'``, ``contains``,
``starts_with``, ``ends_with``, ``LIKE ... ESCAPE '\\'`` for other wildcards); ``|cased`` keeps the
case; ``|re`` is case-sensitive (``regexp_matches``, RE2 syntax) unless it has the ``i`` flag.
``not X`` is ``NOT coalesce(X, false)``: a missing field never matches and its negation does.
The output of one rule is a predicate (``str``); :mod:`cairn.detect.sigma.loader` combines them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.modifiers import SigmaBase64Modifier, SigmaBase64OffsetModifier
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaDetectionItem
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from cairn.detect.sigma.errors import SigmaUnsupported
from cairn.detect.sigma.fields import FieldSQL, resolve
from cairn.detect.sigma.sqltext import check_no_placeholder, ip_bounds, like_pattern, plain_text, sql_str

TABLE_STATE = "cairn_table"
"""Pipeline state key naming the lake table a rule runs on (set by the cairn pipeline)."""

_COMPARE = {CompareOperators.LT: "<", CompareOperators.LTE: "<=", CompareOperators.GT: ">",
            CompareOperators.GTE: ">=", CompareOperators.NEQ: "<>"}
_PARTS = {TimestampPart.MINUTE: "minute", TimestampPart.HOUR: "hour", TimestampPart.DAY: "day",
          TimestampPart.WEEK: "week", TimestampPart.MONTH: "month", TimestampPart.YEAR: "year"}
_RE_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
             SigmaRegularExpressionFlag.DOTALL: "s"}


def _encoded(cond: Any) -> bool:
    """True for values produced by ``base64``/``base64offset``: encodings are matched with their case."""
    item = getattr(cond, "parent", None)
    return isinstance(item, SigmaDetectionItem) and any(
        issubclass(m, (SigmaBase64Modifier, SigmaBase64OffsetModifier)) for m in item.modifiers)


def _cost(sql: str) -> int:
    """Rough evaluation cost, to test typed columns before JSON extraction and regexes."""
    return (("json_" in sql) + 2 * ('"raw"' in sql) + ("regexp_" in sql) + ("list_filter" in sql)
            + (" LIKE " in sql))


class CairnDuckDBBackend(TextQueryBackend):
    """Sigma rules -> DuckDB predicates over cairn's lake tables."""

    name: ClassVar[str] = "cairn DuckDB"
    formats: ClassVar[dict[str, str]] = {"default": "DuckDB predicate over one lake table"}
    requires_pipeline: ClassVar[bool] = True
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    convert_or_as_in: ClassVar[bool] = True

    def __init__(self, processing_pipeline: ProcessingPipeline | None = None,
                 collect_errors: bool = False, **options: Any) -> None:
        if processing_pipeline is None:
            from cairn.detect.sigma.pipeline import cairn_pipeline

            processing_pipeline = cairn_pipeline()
        super().__init__(processing_pipeline, collect_errors, **options)

    # --- fields -------------------------------------------------------------------------------

    def _field(self, name: str, state: ConversionState) -> FieldSQL:
        table = state.processing_state.get(TABLE_STATE)
        if not table:
            raise SigmaUnsupported("the rule has no lake table (its log source is not served)")
        return resolve(name, str(table))

    # --- boolean structure ----------------------------------------------------------------------

    def _join(self, cond: ConditionAND | ConditionOR, state: ConversionState, op: str) -> str:
        args = [self.convert_condition(arg, state) for arg in cond.args]
        parts = sorted((str(a) for a in args if a is not None), key=_cost)
        if not parts:
            return "false" if op == "OR" else "true"
        if len(parts) == 1:
            return parts[0]
        return f" {op} ".join(f"({p})" for p in parts)

    def convert_condition_or(self, cond: ConditionOR, state: ConversionState) -> str:
        return self._join(cond, state, "OR")

    def convert_condition_and(self, cond: ConditionAND, state: ConversionState) -> str:
        return self._join(cond, state, "AND")

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        inner = self.convert_condition(cond.args[0], state)
        return f"NOT coalesce(({inner}), false)"

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        values = [arg.value for arg in cond.args if isinstance(arg, ConditionFieldEqualsValueExpression)]
        kinds = {type(v) for v in values}
        if any(_encoded(a) for a in cond.args):
            return False
        return len(cond.args) > 1 and (kinds == {SigmaString} or kinds == {SigmaNumber})

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        args = [a for a in cond.args if isinstance(a, ConditionFieldEqualsValueExpression)]
        field = self._field(args[0].field, state)
        if isinstance(args[0].value, SigmaNumber):
            items = ", ".join(str(a.value.number) for a in args if isinstance(a.value, SigmaNumber))
            return field.test(lambda x: f"{x} IN ({items})", "number")
        texts = []
        for a in args:
            assert isinstance(a.value, SigmaString)
            check_no_placeholder(a.value)
            texts.append(sql_str(str(plain_text(a.value)).lower()))
        return field.test(lambda x: f"lower({x}) IN ({', '.join(texts)})")

    # --- field = value --------------------------------------------------------------------------

    def _str(self, field: FieldSQL, s: SigmaString, cased: bool) -> str:
        check_no_placeholder(s)

        def norm(x: str) -> str:
            return x if cased else f"lower({x})"

        def lit(v: SigmaString) -> str:
            text = str(plain_text(v))
            return sql_str(text if cased else text.lower())

        if plain_text(s) is not None:
            return field.test(lambda x: f"{norm(x)} = {lit(s)}")
        if all(p is SpecialChars.WILDCARD_MULTI for p in s.s):
            return field.test(lambda x: f"{x} IS NOT NULL")
        multi = SpecialChars.WILDCARD_MULTI
        head, tail = s.startswith(multi), s.endswith(multi)
        if head and tail and len(s) > 2 and not s[1:-1].contains_special():
            return field.test(lambda x: f"contains({norm(x)}, {lit(s[1:-1])})")
        if tail and not head and not s[:-1].contains_special():
            return field.test(lambda x: f"starts_with({norm(x)}, {lit(s[:-1])})")
        if head and not tail and not s[1:].contains_special():
            return field.test(lambda x: f"ends_with({norm(x)}, {lit(s[1:])})")
        pattern = like_pattern(s, lower=not cased)
        return field.test(lambda x: f"{norm(x)} LIKE {pattern} ESCAPE '\\'")

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._str(self._field(cond.field, state), cond.value, cased=_encoded(cond))

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaCasedString)
        return self._str(self._field(cond.field, state), cond.value, cased=True)

    def convert_condition_field_eq_expansion(self, cond: ConditionFieldEqualsValueExpression,
                                             state: ConversionState) -> str:
        """Values a modifier expanded into several (``base64offset``, ``windash``): OR-ed."""
        assert isinstance(cond.value, SigmaExpansion)
        field, cased = self._field(cond.field, state), _encoded(cond)
        parts = [self._str(field, v, cased=cased or isinstance(v, SigmaCasedString))
                 if isinstance(v, SigmaString) else self.convert_condition(
                     ConditionFieldEqualsValueExpression(cond.field, v), state)
                 for v in cond.value.values]
        return " OR ".join(f"({p})" for p in parts) if len(parts) > 1 else str(parts[0])

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression,
                                           state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        number = cond.value.number
        return self._field(cond.field, state).test(lambda x: f"{x} = {number}", "number")

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaBool)
        field = self._field(cond.field, state)
        word = "true" if cond.value.boolean else "false"
        if field.type == "BOOLEAN":
            return field.test(lambda x: f"{x} = {word}", "raw")
        return field.test(lambda x: f"lower({x}) = '{word}'")

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        field = self._field(cond.field, state)
        if field.is_list:
            return f"({field.expr} IS NULL OR len({field.expr}) = 0)"
        return f"({field.expr} IS NULL)"

    def convert_condition_field_eq_val_exists(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaExists)
        exists = self._field(cond.field, state).exists
        return exists if cond.value.exists else f"NOT {exists}"

    def _regex(self, r: SigmaRegularExpression) -> str:
        check_no_placeholder(r.regexp)
        flags = "".join(sorted(_RE_FLAGS[f] for f in r.flags))
        return sql_str((f"(?{flags})" if flags else "") + str(r.regexp))

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression,
                                          state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        pattern = self._regex(cond.value)
        return self._field(cond.field, state).test(lambda x: f"regexp_matches({x}, {pattern})")

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression,
                                            state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaCIDRExpression)
        field = self._field(cond.field, state)
        if field.bin_expr is not None:
            lo, hi = ip_bounds(cond.value.network)
            return field.test_bin(lambda x: f"{x} BETWEEN {lo} AND {hi}")
        # No 16-byte form: textual prefixes (exact for IPv4; IPv6 text must be in canonical form).
        prefixes = [self._str(field, SigmaString(p), cased=True) for p in cond.value.expand()]
        return " OR ".join(f"({p})" for p in prefixes) if len(prefixes) > 1 else prefixes[0]

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression,
                                               state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaCompareExpression)
        field = self._field(cond.field, state)
        number = cond.value.number
        op = _COMPARE[cond.value.op]
        if isinstance(number, SigmaTimestampPart):
            part = _PARTS[number.timestamp_part]
            return field.test(lambda x: f"date_part('{part}', {self._ts(field, x)}) {op} {number.number}",
                              "raw")
        return field.test(lambda x: f"{x} {op} {number.number}", "number")

    @staticmethod
    def _ts(field: FieldSQL, x: str) -> str:
        return x if field.type.startswith("TIMESTAMP") else f"TRY_CAST({x} AS TIMESTAMPTZ)"

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaTimestampPart)
        field = self._field(cond.field, state)
        part, n = _PARTS[cond.value.timestamp_part], cond.value.number
        return field.test(lambda x: f"date_part('{part}', {self._ts(field, x)}) = {n}", "raw")

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression,
                                         state: ConversionState) -> str:
        ref = cond.value
        assert isinstance(ref, SigmaFieldReference)
        f1, f2 = self._field(cond.field, state), self._field(ref.field, state)
        if f1.is_list or f2.is_list:
            raise SigmaUnsupported("|fieldref between array fields is not supported")
        a, b = f"lower({f1.as_text(f1.expr)})", f"lower({f2.as_text(f2.expr)})"
        if ref.starts_with and ref.ends_with:
            return f"contains({a}, {b})"
        if ref.starts_with:
            return f"ends_with({a}, {b})"
        if ref.ends_with:
            return f"starts_with({a}, {b})"
        return f"{a} = {b}"

    def convert_condition_field_eq_query_expr(self, cond: ConditionFieldEqualsValueExpression,
                                              state: ConversionState) -> str:
        raise SigmaUnsupported("query expression placeholders are not supported")

    # --- keywords: values without a field search the whole original record -----------------------

    _RAW_TEXT = FieldSQL("raw", 'CAST("raw" AS VARCHAR)', "VARCHAR")

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaString)
        multi = SpecialChars.WILDCARD_MULTI
        value = cond.value
        if not value.startswith(multi):
            value = multi + value
        if not value.endswith(multi):
            value = value + multi
        return self._str(self._RAW_TEXT, value, cased=isinstance(cond.value, SigmaCasedString))

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaNumber)
        text = sql_str(str(cond.value.number))
        return f"contains(CAST(\"raw\" AS VARCHAR), {text})"

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        assert isinstance(cond.value, SigmaRegularExpression)
        return f"regexp_matches(CAST(\"raw\" AS VARCHAR), {self._regex(cond.value)})"

    def convert_condition_query_expr(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise SigmaUnsupported("query expression placeholders are not supported")

    def convert_condition_group(self, cond: ConditionItem | ConditionFieldEqualsValueExpression
                                | ConditionValueExpression | None, state: ConversionState) -> str:
        return f"({self.convert_condition(cond, state)})"

    def finalize_query_default(self, rule: Any, query: Any, index: int, state: ConversionState) -> Any:
        return query
