"""Reading inventory files (YAML or CSV) into raw records with line numbers.

YAML files hold one section per kind (``accounts:``, ``networks:``,
``identities:``, ``assets:``), each a list of records or a mapping keyed by the
kind's main field; a file that is a bare list needs the kind to be given. YAML
scalars are kept as their source text (``no`` is not ``false``, ``012...`` keeps
its zero), anchors and merge keys (``<<: *defaults``) work.

CSV files have a header row naming the fields (case, spaces and dashes do not
matter; ``tag:KEY`` columns add one tag each); blank lines and lines starting
with ``#`` are skipped. The kind comes from the header unless given.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cairn.context import values as v
from cairn.context.kinds import KINDS, RawRecord, detect_csv_kind
from cairn.context.problems import Problem

YAML_SUFFIXES = (".yaml", ".yml")
CSV_SUFFIXES = (".csv",)
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass
class ReadResult:
    """What one file holds: records by kind, problems, and the hash of its bytes."""

    origin: str
    content_hash: str
    records: dict[str, list[RawRecord]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_inventory(path: Path, origin: str, kind: str | None = None) -> ReadResult:
    """Read ``path`` (named ``origin`` in messages); ``kind`` restricts or sets the kind."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReadResult(origin, "", problems=[Problem(origin, None, f"cannot read: {exc.strerror or exc}")])
    result = ReadResult(origin, hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        result.problems.append(Problem(origin, line, "not UTF-8 text"))
        return result
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        _read_yaml(text, kind, result)
    elif suffix in CSV_SUFFIXES:
        _read_csv(text, kind, result)
    else:
        result.problems.append(Problem(origin, None, "unknown file type; inventory files end in .yaml, .yml or .csv"))
    return result


# -- YAML ---------------------------------------------------------------------------


def _read_yaml(text: str, kind: str | None, out: ReadResult) -> None:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        out.problems.append(Problem(out.origin, mark.line + 1 if mark else None, f"not valid YAML: {what}"))
        return
    finally:
        loader.dispose()
    if root is None or _is_null(root):
        return
    if isinstance(root, yaml.SequenceNode):
        if kind is None:
            out.problems.append(Problem(out.origin, _line(root), "a list of records needs --kind (or put it under "
                                        "an accounts:, networks:, identities: or assets: key)"))
            return
        out.records[kind] = _records(root, kind, out)
        return
    if not isinstance(root, yaml.MappingNode):
        out.problems.append(Problem(out.origin, _line(root), "expected sections such as accounts: or networks:"))
        return
    sections = {}
    for key, value in _pairs(root):
        name = str(key.value).strip().lower()
        if name not in KINDS:
            out.problems.append(Problem(out.origin, _line(key), f"unknown section {key.value!r}; expected "
                                        f"{', '.join(KINDS)}"))
        else:
            sections[name] = value
    if kind is not None:
        if kind not in sections:
            out.problems.append(Problem(out.origin, None, f"no {kind}: section"))
            return
        sections = {kind: sections[kind]}
    for name, node in sections.items():
        out.records[name] = _records(node, name, out)


def _records(node: yaml.Node, kind: str, out: ReadResult) -> list[RawRecord]:
    recs: list[RawRecord] = []
    if _is_null(node):
        return recs
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value, 1):
            if not isinstance(item, yaml.MappingNode):
                out.problems.append(Problem(out.origin, _line(item), f"expected the fields of a record, got "
                                            f"{_node_what(item)}", kind, index))
                continue
            recs.append(_record(item, kind, out.origin, index))
        return recs
    if isinstance(node, yaml.MappingNode):
        primary = KINDS[kind].primary
        for index, (key, value) in enumerate(_pairs(node), 1):
            if not (_is_null(value) or isinstance(value, yaml.MappingNode)):
                out.problems.append(Problem(out.origin, _line(value), f"expected the fields of {key.value!r}, "
                                            f"got {_node_what(value)}", kind, index))
                continue
            rec = RawRecord(kind, out.origin, index, _line(key), {primary: key.value}, {primary: _line(key)})
            if isinstance(value, yaml.MappingNode):
                more = _record(value, kind, out.origin, index)
                rec.values.update(more.values)
                rec.lines.update(more.lines)
            recs.append(rec)
        return recs
    out.problems.append(Problem(out.origin, _line(node), f"{kind}: expected a list of records or a mapping, "
                                f"got {_node_what(node)}"))
    return recs


def _record(node: yaml.MappingNode, kind: str, origin: str, index: int) -> RawRecord:
    rec = RawRecord(kind, origin, index, _line(node))
    for key, value in _pairs(node):
        rec.values[str(key.value)] = _value(value)
        rec.lines[str(key.value)] = _line(key)
    return rec


def _pairs(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """Key/value node pairs with merge keys (``<<``) expanded; explicit keys win."""
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    own: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag == _MERGE:
            for src in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                if isinstance(src, yaml.MappingNode):
                    merged += _pairs(src)
        else:
            own.append((key, value))
    names = {k.value for k, _ in own}
    return [(k, val) for k, val in merged if k.value not in names] + own


def _value(node: yaml.Node) -> v.Raw:
    if isinstance(node, yaml.ScalarNode):
        return None if node.tag == _NULL else str(node.value)
    if isinstance(node, yaml.SequenceNode):
        return [_value(n) for n in node.value]
    return {str(k.value): _value(val) for k, val in _pairs(node)}  # type: ignore[arg-type]


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _node_what(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"{node.value!r}"


# -- CSV ----------------------------------------------------------------------------


def _read_csv(text: str, kind: str | None, out: ReadResult) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    last = 0
    index = 0
    records: list[RawRecord] = []
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip() for c in row]
                if not _check_header(header, start, out):
                    return
                kind = kind or detect_csv_kind(header)
                if kind is None:
                    out.problems.append(Problem(out.origin, start, "cannot tell the kind from the header; name a "
                                                "column account_id, cidr, resource_id or an identity column "
                                                "(role_arn, user, ...), or use --kind"))
                    return
                spec = KINDS[kind]
                unknown = [h for h in header if not spec.canonical(h).startswith("tag:")
                           and spec.canonical(h) not in spec.fields]
                if unknown:
                    out.problems += [Problem(out.origin, start, f"unknown column {h!r} for {kind}; valid columns "
                                             f"are {', '.join(spec.fields)} and tag:KEY") for h in unknown]
                    return
                continue
            index += 1
            if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
                out.problems.append(Problem(out.origin, start, f"row has {len(row)} fields, the header has "
                                            f"{len(header)}", kind, index))
                continue  # a record-level problem: this row is left out, the file's other rows are read
            values = {h: (c if c.strip() else None) for h, c in zip(header, row, strict=False) if h}
            records.append(RawRecord(kind, out.origin, index, start, values))  # type: ignore[arg-type]
    except csv.Error as exc:
        out.problems.append(Problem(out.origin, reader.line_num, f"not valid CSV: {exc}"))
        return
    if header is not None and kind is not None:
        out.records[kind] = records


def _check_header(header: list[str], line: int, out: ReadResult) -> bool:
    seen: dict[str, str] = {}
    ok = True
    for i, h in enumerate(header, 1):
        if not h:
            out.problems.append(Problem(out.origin, line, f"column {i} has no name"))
            ok = False
        elif h.lower() in seen:
            out.problems.append(Problem(out.origin, line, f"column {h!r} appears twice"))
            ok = False
        seen[h.lower()] = h
    return ok
