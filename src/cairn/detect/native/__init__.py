"""Native rules: YAML with a SQL condition or query over a lake table (see :mod:`cairn.detect.native.rules`)."""

from cairn.detect.native.rules import NativeRule, RuleFileError, builtin_rules_dir, load_native_rules
from cairn.detect.native.sql import HIT_COLUMNS, hit_sql

__all__ = ["HIT_COLUMNS", "NativeRule", "RuleFileError", "builtin_rules_dir", "hit_sql", "load_native_rules"]
