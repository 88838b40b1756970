"""Who may see what of a case: one rule, used by every route that returns case data.

Pure: no web framework, no database. The web layer says who is asking (a Viewer: role, user
name, extension, department) and whether they are handling the case right now (it is the call on
their desktop, or the call they are interpreting); ``decide`` answers with an Access: a level
(``none``, ``masked``, ``full``) and the parts shown (the caller's identity, the address, the
form's text, the transcript, the recording).

The rule, per role:

- supervisor, admin (and the service itself): everything.
- operator: the cases they took (they answered the call, or entered the case by hand) and the call
  on their desktop now: everything, the recording included. Any other case that is not
  confidential: readable (a caller's history, the worklist), but not its recording. Another
  operator's confidential case: nothing (a list shows a stub: case number, status, dates).
- interpreter: only the call they are interpreting now, masked (no number, no name, no recording).
- department: only their department's cases; a confidential one without the caller's identity,
  the transcript or the recording (the form's text and address stay: they must act on it).
  Another department's case: nothing.
- anyone else: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NONE, MASKED, FULL = "none", "masked", "full"
IDENTITY = ("caller_number", "caller_key", "citizen_name")  # caller_key: the number normalised (caller_key.py)
ADDRESS = ("address", "address_key")
FORM_TEXT = ("description", "notes", "reply", "reply_summary", "return_reason")
HIDDEN = "(confidential)"
# what a list shows of a case its reader may not open
STUB = ("id", "uniqueid", "queued_at", "answered_at", "status", "state", "department", "dispatched_at", "due_at",
        "warn_at", "closed_at", "confidential")
EVERYONE_FULL = ("supervisor", "admin", "system")


@dataclass(frozen=True)
class Viewer:
    username: str
    role: str
    extension: str = ""
    department: str = ""


@dataclass(frozen=True)
class Access:
    level: str  # none | masked | full
    identity: bool = False  # the caller's number and name
    address: bool = False
    form: bool = False  # the form's text (description, notes) and the department's reply
    transcript: bool = False
    recording: bool = False
    reason: str = ""  # why (for a refusal's message and the audit)
    internal: bool = False  # the call's internal note (the hotline's own staff only)

    @property
    def readable(self) -> bool:
        return self.level != NONE


ALL = Access(FULL, True, True, True, True, True, "full access", internal=True)


def confidential(case: dict[str, Any]) -> bool:
    return bool(case.get("confidential"))


def took(viewer: Viewer, case: dict[str, Any]) -> bool:
    """The viewer is the operator who answered the call or entered the case by hand."""
    if viewer.extension and str(case.get("operator") or "") == viewer.extension:
        return True
    return bool(viewer.username) and str(case.get("form_saved_by") or "") == viewer.username \
        and case.get("source") == "manual"


def decide(viewer: Viewer, case: dict[str, Any], handling: bool = False) -> Access:
    """What ``viewer`` may see of ``case``; ``handling``: it is the call on their desktop now, or
    the call they are interpreting now."""
    role = viewer.role
    if role in EVERYONE_FULL:
        return ALL
    if role == "operator":
        if handling or took(viewer, case):
            return Access(FULL, True, True, True, True, True, "their call", internal=True)
        if confidential(case):
            return Access(NONE, reason="a confidential case is shown only to the operator who took the call")
        return Access(FULL, True, True, True, True, False, "a case of another operator (no recording)",
                      internal=True)
    if role == "interpreter":
        if handling:
            return Access(MASKED, False, True, True, True, False, "the call they interpret")
        return Access(NONE, reason="interpreters see only the call they are interpreting")
    if role == "department":
        if not viewer.department or str(case.get("department") or "") != viewer.department:
            return Access(NONE, reason="this case is not your department's")
        if confidential(case):
            return Access(MASKED, False, True, True, False, False, "a confidential case, without the caller")
        return Access(FULL, True, True, True, True, True, "their department's case")
    return Access(NONE, reason=f"the {role} role sees no cases")


def may_edit_form(viewer: Viewer, case: dict[str, Any], handling: bool = False) -> bool:
    """Only the operator who took the call (or has it on the desktop) and supervisors fill the form."""
    if viewer.role in EVERYONE_FULL:
        return True
    return viewer.role == "operator" and (handling or took(viewer, case))


def redact(case: dict[str, Any], access: Access) -> dict[str, Any]:
    """The case as ``access`` lets it be shown (a stub when not readable at all)."""
    if not access.readable:
        out = {k: case[k] for k in STUB if k in case}
        out["restricted"] = True
        return out
    out = dict(case)
    if not access.internal:
        out.pop("note", None)
    if not access.identity:
        for key in IDENTITY:
            if key in out:
                out[key] = HIDDEN
    if not access.address:
        for key in ADDRESS:
            if key in out:
                out[key] = HIDDEN if key == "address" else ""
    if not access.form:
        for key in FORM_TEXT:
            if key in out:
                out[key] = HIDDEN
    return out


@dataclass(frozen=True)
class SearchScope:
    """What a search may match for a viewer, applied in the query (so the totals and the pages
    agree, and a search cannot tell whether a hidden case matches)."""

    department: str = ""  # only this department's cases
    confidential: str = "all"  # all | own (only those the operator took) | form (match only their form text)
    extension: str = ""
    username: str = ""
    nothing: bool = False


def search_scope(viewer: Viewer) -> SearchScope:
    if viewer.role in EVERYONE_FULL:
        return SearchScope()
    if viewer.role == "operator":
        return SearchScope(confidential="own", extension=viewer.extension, username=viewer.username)
    if viewer.role == "department":
        if not viewer.department:
            return SearchScope(nothing=True)
        # a confidential case's transcript is not theirs to read, so not theirs to search either
        return SearchScope(department=viewer.department, confidential="form")
    return SearchScope(nothing=True)
