"""A small OCSF schema walker for tests: checks an event against the OCSF 1.1.0 subset fixture.

Checks: class_uid/category_uid/type_uid arithmetic, every required attribute present (class, base event,
declared profiles, every nested object), every attribute known (unknown names are errors), data types
(integers, longs, floats, booleans, strings, epoch-millisecond timestamps, IP addresses, ports, JSON),
arrays vs scalars, and enum ids.
"""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ocsf" / "ocsf-1.1.0-subset.json"
CLASS_NAMES = {6003: "api_activity", 4001: "network_activity", 4003: "dns_activity", 2004: "detection_finding"}


@cache
def schema() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def _check_scalar(t: str, v: Any, path: str, errors: list[str]) -> None:
    def bad(why: str) -> None:
        errors.append(f"{path}: {why} (got {v!r})")

    if t in ("integer_t", "long_t"):
        if not isinstance(v, int) or isinstance(v, bool):
            bad(f"expected {t}")
        elif t == "integer_t" and not -(2**31) <= v < 2**31:
            bad("integer_t out of 32-bit range")
    elif t == "timestamp_t":
        if not isinstance(v, int) or isinstance(v, bool):
            bad("expected epoch milliseconds (integer)")
        elif not 10**11 < v < 10**14:
            bad("timestamp_t not in epoch milliseconds")
    elif t == "float_t":
        if not isinstance(v, int | float) or isinstance(v, bool):
            bad("expected float_t")
    elif t == "boolean_t":
        if not isinstance(v, bool):
            bad("expected boolean_t")
    elif t in ("string_t", "hostname_t", "username_t"):
        if not isinstance(v, str):
            bad(f"expected {t}")
    elif t == "ip_t":
        try:
            ipaddress.ip_address(v)
        except (ValueError, TypeError):
            bad("expected ip_t")
    elif t == "port_t":
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
            bad("expected port_t")
    elif t == "json_t":
        pass
    else:  # pragma: no cover - a fixture error
        bad(f"unknown type {t}")


def _check_attrs(obj: dict[str, Any], attrs: dict[str, Any], path: str, errors: list[str]) -> None:
    if not isinstance(obj, dict):
        errors.append(f"{path}: expected an object (got {obj!r})")
        return
    for name, spec in attrs.items():
        if spec["requirement"] == "required" and obj.get(name) is None:
            errors.append(f"{path}.{name}: required attribute missing".lstrip("."))
    for name, value in obj.items():
        where = f"{path}.{name}".lstrip(".")
        spec = attrs.get(name)
        if spec is None:
            errors.append(f"{where}: not an attribute of this class/object in OCSF 1.1.0")
            continue
        if spec.get("is_array"):
            if not isinstance(value, list):
                errors.append(f"{where}: expected an array")
                continue
            for i, item in enumerate(value):
                _check_value(spec, item, f"{where}[{i}]", errors)
        else:
            if isinstance(value, list) and spec["type"] != "json_t":
                errors.append(f"{where}: expected a single value, not an array")
                continue
            _check_value(spec, value, where, errors)


def _check_value(spec: dict[str, Any], value: Any, where: str, errors: list[str]) -> None:
    t = spec["type"]
    if value is None:
        errors.append(f"{where}: null (leave the attribute out instead)")
        return
    if t.startswith("object:"):
        name = t.split(":", 1)[1]
        _check_attrs(value, schema()["objects"][name], where, errors)
        return
    _check_scalar(t, value, where, errors)
    if "enum" in spec and str(value) not in spec["enum"]:
        errors.append(f"{where}: {value!r} is not one of the enum ids {spec['enum']}")


def validate(event: dict[str, Any]) -> list[str]:
    """The problems of ``event`` against OCSF 1.1.0 (empty when valid)."""
    s = schema()
    errors: list[str] = []
    cls_name = CLASS_NAMES.get(event.get("class_uid"))  # type: ignore[arg-type]
    if cls_name is None:
        return [f"class_uid {event.get('class_uid')!r} is not a class this fixture knows"]
    cls = s["classes"][cls_name]
    attrs = dict(s["base_event"])
    for profile in event.get("metadata", {}).get("profiles", []):
        if profile not in s["profiles"]:
            errors.append(f"metadata.profiles: unknown profile {profile!r}")
            continue
        attrs.update(s["profiles"][profile])
    attrs.update(cls["attributes"])
    _check_attrs(event, attrs, "", errors)
    if event.get("category_uid") != cls["category_uid"]:
        errors.append(f"category_uid: expected {cls['category_uid']}")
    if event.get("class_uid") != event.get("category_uid", 0) * 1000 + cls["class_uid"] % 1000:
        errors.append("class_uid is not category_uid * 1000 + class id")
    if event.get("type_uid") != cls["class_uid"] * 100 + event.get("activity_id", -1):
        errors.append("type_uid is not class_uid * 100 + activity_id")
    if "cloud" not in event.get("metadata", {}).get("profiles", []) and "cloud" in event:
        errors.append("cloud used without declaring the cloud profile")
    return errors
