"""A local Security Hub that answers in the documented REST-JSON shape (moto has no BatchUpdateFindings).

- ``POST /findings`` (GetFindings): ``{Filters, MaxResults, NextToken}`` -> ``{Findings, NextToken}``;
  filters: StringFilter (EQUALS, NOT_EQUALS, PREFIX), DateFilter (Start, End, DateRange DAYS) and
  MapFilter (EQUALS) on the top-level members used here;
- ``POST /findings/import`` (BatchImportFindings) -> ``{FailedCount, SuccessCount, FailedFindings}``;
- ``PATCH /findings/batchupdate`` (BatchUpdateFindings) -> ``{ProcessedFindings, UnprocessedFindings}``:
  applies ``Note`` (with ``UpdatedAt``) and ``UserDefinedFields`` (the map sent replaces the finding's),
  leaves ``UpdatedAt`` alone, enforces the documented limits (400 ``InvalidInputException`` otherwise)
  and answers ``FindingNotFound`` for unknown identifiers.

Every request is kept by the :class:`conftest.LocalServer` it runs in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

_PATHS = {"AwsAccountId": "AwsAccountId", "Id": "Id", "ProductArn": "ProductArn", "RecordState": "RecordState",
          "SeverityLabel": ("Severity", "Label"), "ProductName": "ProductName", "WorkflowStatus": ("Workflow", "Status")}


def _get(f: dict[str, Any], key: str) -> Any:
    path = _PATHS.get(key, key)
    if isinstance(path, tuple):
        cur: Any = f
        for p in path:
            cur = (cur or {}).get(p)
        return cur
    return f.get(path)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _match(f: dict[str, Any], filters: dict[str, list[dict[str, Any]]]) -> bool:
    for key, conds in (filters or {}).items():
        value = _get(f, key)
        positive = [c for c in conds if c.get("Comparison") in ("EQUALS", "PREFIX", None)]
        for c in conds:
            if "Start" in c or "End" in c or "DateRange" in c:
                t = _time(value) if value else None
                if t is None:
                    return False
                if "Start" in c and t < _time(c["Start"]):
                    return False
                if "End" in c and t > _time(c["End"]):
                    return False
                if "DateRange" in c and t < datetime.now(UTC) - timedelta(days=c["DateRange"]["Value"]):
                    return False
            elif "Key" in c:
                if (value or {}).get(c["Key"]) != c["Value"]:
                    return False
            elif c.get("Comparison") == "NOT_EQUALS" and value == c["Value"]:
                return False
        strings = [c for c in positive if "Value" in c and "Key" not in c]
        if strings and not any((value == c["Value"]) if c.get("Comparison", "EQUALS") == "EQUALS"
                               else str(value or "").startswith(c["Value"]) for c in strings):
            return False
    return True


class FakeSecurityHub:
    """State and request handler of the local Security Hub."""

    def __init__(self) -> None:
        self.findings: dict[tuple[str, str], dict[str, Any]] = {}
        self.updates: list[dict[str, Any]] = []
        self.gets = 0

    def __call__(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        body = json.loads(raw) if raw else {}
        if method == "POST" and path == "/findings":
            return self._get(body)
        if method == "POST" and path == "/findings/import":
            for f in body["Findings"]:
                self.findings[(f["Id"], f["ProductArn"])] = json.loads(json.dumps(f))
            return 200, {}, {"FailedCount": 0, "SuccessCount": len(body["Findings"]), "FailedFindings": []}
        if method == "PATCH" and path == "/findings/batchupdate":
            return self._update(body)
        return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, {"message": f"no route {method} {path}"}

    def _get(self, body: dict[str, Any]) -> tuple[int, dict, Any]:
        self.gets += 1
        size = int(body.get("MaxResults") or 100)
        if not 1 <= size <= 100:
            return _invalid("MaxResults must be between 1 and 100")
        matched = [f for _, f in sorted(self.findings.items()) if _match(f, body.get("Filters") or {})]
        start = int(body.get("NextToken") or 0)
        page = matched[start:start + size]
        nxt = str(start + size) if start + size < len(matched) else None
        return 200, {}, {"Findings": page, **({"NextToken": nxt} if nxt else {})}

    def _update(self, body: dict[str, Any]) -> tuple[int, dict, Any]:
        ids = body.get("FindingIdentifiers") or []
        if not 1 <= len(ids) <= 100:
            return _invalid(f"FindingIdentifiers must hold 1 to 100 items, got {len(ids)}")
        udf = body.get("UserDefinedFields")
        if udf is not None and (len(udf) > 50 or any(len(k) > 128 or len(v) > 1024 or not k
                                                     for k, v in udf.items())):
            return _invalid("UserDefinedFields exceed the limits (50 pairs, key 128, value 1024)")
        note = body.get("Note")
        if note is not None and (not note.get("Text") or len(note["Text"]) > 512 or not note.get("UpdatedBy")
                                 or len(note["UpdatedBy"]) > 512):
            return _invalid("Note.Text and Note.UpdatedBy are required, at most 512 characters")
        self.updates.append(body)
        processed, unprocessed = [], []
        for ident in ids:
            f = self.findings.get((ident["Id"], ident["ProductArn"]))
            if f is None:
                unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound",
                                    "ErrorMessage": "Finding Not Found"})
                continue
            if udf is not None:
                f["UserDefinedFields"] = dict(udf)
            if note is not None:
                f["Note"] = {**note, "UpdatedAt": datetime.now(UTC).isoformat(timespec="milliseconds")
                             .replace("+00:00", "Z")}
            processed.append(ident)
        return 200, {}, {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}


def _invalid(message: str) -> tuple[int, dict, Any]:
    return 400, {"x-amzn-ErrorType": "InvalidInputException"}, {"Code": "InvalidInputException", "Message": message}
