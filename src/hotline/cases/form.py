"""The operator's case form: fields, limits and validation (pure; no I/O).

``validate`` returns the cleaned values and, per field, what is wrong, so the desktop can show
each error next to its field and keep everything the operator typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotline.config import Settings

URGENCIES = ("low", "normal", "high", "critical")
OTHER = "other"
DEFAULT_LIMIT = 100  # category, urgency, department: codes
LIMITS = {"district": 80, "address": 200, "description": 4000, "citizen_name": 100, "notes": 4000}
FIELDS = ("category", "district", "address", "description", "urgency", "citizen_name", "confidential", "notes",
          "department")
AUTO = "auto"  # the department: the dispatch rules' suggestion


def categories(settings: Settings) -> list[dict[str, str]]:
    return [{"code": t.code, "name": t.name} for t in settings.topics] + [{"code": OTHER, "name": "other"}]


def validate(data: Mapping[str, Any], settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    unknown = set(data) - set(FIELDS)
    if unknown:
        names = sorted(str(k)[:40] for k in unknown)
        errors["_form"] = f"unknown field(s): {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"

    def text(name: str) -> str:
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = "must be text"
            return ""
        value = value.strip()
        limit = LIMITS.get(name, DEFAULT_LIMIT)
        if len(value) > limit:
            errors[name] = f"at most {limit} characters (now {len(value)})"
            return value[:limit]
        return value

    category = text("category")
    if category not in {c["code"] for c in categories(settings)}:
        errors.setdefault("category", "choose a category")
    clean["category"] = category

    district = text("district")
    if not district:
        errors.setdefault("district", "the district is required")
    elif settings.districts and district not in settings.districts:
        errors.setdefault("district", "not a district of this city")
    clean["district"] = district

    clean["address"] = text("address")
    description = text("description")
    if len(description) < 5:
        errors.setdefault("description", "describe the appeal (at least 5 characters)")
    clean["description"] = description

    urgency = text("urgency") or "normal"
    if urgency not in URGENCIES:
        errors.setdefault("urgency", f"one of {', '.join(URGENCIES)}")
    clean["urgency"] = urgency

    clean["citizen_name"] = text("citizen_name")
    confidential = data.get("confidential", False)
    if not isinstance(confidential, bool):
        errors["confidential"] = "must be true or false"
    clean["confidential"] = int(bool(confidential))
    clean["notes"] = text("notes")
    department = text("department")
    if department not in ("", AUTO) and settings.department(department) is None:
        errors.setdefault("department", "not a department of this city")
    clean["department"] = department
    return clean, errors
