"""Which file column holds which field: saved mappings first, then common header names.

Headers are compared normalized (lower case, letters and digits only), so ``Completion Date``,
``completion_date`` and ``COMPLETION-DATE`` are one name. The synonyms are the headers LMS
completion reports and Workday / ADP worker exports use out of the box.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from laurel.imports.models import ImportKind


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    synonyms: tuple[str, ...]
    required: bool = False


COMPLETION_FIELDS: tuple[Field, ...] = (
    Field(
        "learner_id",
        (
            "learner id",
            "user id",
            "userid",
            "employee id",
            "employee number",
            "person id",
            "student id",
            "learner external id",
            "user external id",
            "external user id",
            "username",
            "user name",
            "login",
            "user login",
            "learner",
        ),
    ),
    Field(
        "email",
        (
            "email",
            "email address",
            "e-mail",
            "user email",
            "learner email",
            "work email",
            "primary email",
            "user email address",
        ),
    ),
    Field(
        "name",
        (
            "name",
            "full name",
            "learner name",
            "user full name",
            "employee name",
            "display name",
            "student name",
        ),
    ),
    Field("first_name", ("first name", "given name", "firstname")),
    Field("last_name", ("last name", "surname", "family name", "lastname")),
    Field(
        "course_id",
        (
            "course id",
            "course code",
            "course number",
            "course external id",
            "lo id",
            "learning object id",
            "training id",
            "item id",
            "activity id",
            "content id",
            "course_id",
            "training object id",
            "module id",
        ),
        required=True,
    ),
    Field(
        "course_name",
        (
            "course name",
            "course title",
            "title",
            "training title",
            "course",
            "learning object title",
            "item title",
            "training name",
            "content title",
            "module name",
        ),
    ),
    Field(
        "completion_date",
        (
            "completion date",
            "completed date",
            "date completed",
            "completed on",
            "completed at",
            "completion time",
            "completion datetime",
            "completion date time",
            "date of completion",
            "training record completed date",
            "completion_date",
            "finish date",
            "end date",
            "date",
        ),
        required=True,
    ),
    Field(
        "enrollment_date",
        (
            "enrollment date",
            "enrolment date",
            "enrolled on",
            "enrolled date",
            "date enrolled",
            "enrollment time",
            "enrolment time",
            "registration date",
            "registered on",
            "start date",
            "started on",
            "date started",
            "assigned date",
            "assignment date",
            "date assigned",
            "assigned on",
        ),
    ),
    Field(
        "score",
        (
            "score",
            "final score",
            "grade",
            "score percent",
            "percent",
            "percentage",
            "result",
            "score %",
            "final grade",
        ),
    ),
    Field(
        "status",
        (
            "status",
            "completion status",
            "course status",
            "training status",
            "record status",
            "enrollment status",
            "outcome",
        ),
    ),
    Field(
        "classification",
        (
            "classification",
            "employee type",
            "worker type",
            "user type",
            "learner type",
            "learner classification",
            "audience",
        ),
    ),
    Field(
        "department",
        (
            "department",
            "dept",
            "division",
            "organization unit",
            "org unit",
            "business unit",
            "department name",
        ),
    ),
    Field("country", ("country", "country code", "location country", "work country")),
    Field("amount", ("amount", "reward amount", "amount override", "incentive amount", "reward")),
    Field("currency", ("currency", "currency code", "reward currency")),
)

ROSTER_FIELDS: tuple[Field, ...] = (
    Field(
        "employee_id",
        (
            "employee id",
            "worker id",
            "employee number",
            "associate id",
            "file number",
            "person number",
            "employee",
            "emplid",
            "personnel number",
            "id",
        ),
        required=True,
    ),
    Field(
        "email",
        (
            "email",
            "work email",
            "email primary work",
            "primary work email",
            "work contact work email",
            "email address",
            "business email",
            "work e-mail",
        ),
    ),
    Field(
        "status",
        (
            "status",
            "worker status",
            "employee status",
            "employment status",
            "position status",
            "active status",
            "associate status",
        ),
        required=True,
    ),
    Field(
        "department",
        (
            "department",
            "home department description",
            "home department",
            "supervisory organization",
            "department description",
            "cost center",
            "dept",
            "organization",
        ),
    ),
    Field(
        "manager",
        (
            "manager",
            "manager name",
            "reports to name",
            "reports to",
            "supervisor",
            "manager id",
            "reports to associate id",
            "worker s manager",
            "workers manager",
        ),
    ),
    Field(
        "classification",
        (
            "classification",
            "worker type",
            "employee type",
            "worker category description",
            "worker category",
            "employee class",
            "employment type",
        ),
    ),
    Field(
        "country",
        ("country", "location country", "work country", "country code", "work location country"),
    ),
    Field(
        "hire_date",
        ("hire date", "original hire date", "start date", "date of hire", "most recent hire date"),
    ),
    # ADP lists a worker with several positions on several rows; this says which is primary.
    Field(
        "primary_position",
        ("primary position", "is primary position", "primary job", "is primary job"),
    ),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    ImportKind.completions: COMPLETION_FIELDS,
    ImportKind.roster: ROSTER_FIELDS,
}


def normalize(header: str) -> str:
    return re.sub(r"[^a-z0-9%]+", "", header.lower())


# A mapping's way to pick one of several columns with the same header: "Date#2" is the second.
_OCCURRENCE = re.compile(r"^(?P<header>.*?)\s*#\s*(?P<n>[0-9]+)$")


def labels(headers: Sequence[str | None]) -> list[str]:
    """Each column's name in messages and payloads: its header, ``Date#1`` / ``Date#2`` where
    the header occurs more than once (as a mapping names them), ``column 3`` when blank."""
    seen: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        if header is not None and header.strip():
            seen.setdefault(normalize(header), []).append(index)
    out: list[str] = []
    for index, header in enumerate(headers):
        if header is None or not header.strip():
            out.append(f"column {index + 1}")
            continue
        places = seen[normalize(header)]
        out.append(header if len(places) == 1 else f"{header}#{places.index(index) + 1}")
    return out


class ColumnError(ValueError):
    """The file's headers cannot serve this import (detail: field-level messages)."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


def _repeated(header: str, places: list[int]) -> str:
    numbers = [str(p + 1) for p in places]
    where = ", ".join(numbers[:-1]) + " and " + numbers[-1]
    picks = " or ".join(repr(f"{header}#{n}") for n in range(1, len(places) + 1))
    return (
        f"the file has {len(places)} columns {header!r} (columns {where}): name one in the "
        f"mapping as {picks}"
    )


def _explicit(header: str, places: dict[str, list[int]]) -> int | str:
    """The column a mapping's header names, or why it names none."""
    picked = _OCCURRENCE.match(header)
    if picked is not None and normalize(picked["header"]) in places:
        found = places[normalize(picked["header"])]
        n = int(picked["n"])
        if not 1 <= n <= len(found):
            return (
                f"the file has {len(found)} column{'s' if len(found) > 1 else ''} "
                f"{picked['header']!r}, so {header!r} names none"
            )
        return found[n - 1]
    found = places.get(normalize(header), [])
    if not found:
        return f"the file has no column {header!r}"
    if len(found) > 1:
        return _repeated(header, found)
    return found[0]


def resolve(
    kind: str, headers: Sequence[str | None], explicit: Mapping[str, str]
) -> dict[str, int]:
    """Field name → column index. Explicit (mapping) headers win; others are recognised by name.

    A mapping naming a header the file lacks, or a required field with no column, is an error
    for the whole file: every row would fail the same way. So is a field whose header occurs
    more than once, unless the mapping picks one (``Date#2``): taking the first would be a
    guess. Repeated headers no field uses do no harm.
    """
    fields = FIELDS[kind]
    known = {f.name for f in fields}
    places: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        if header is not None and header.strip():
            places.setdefault(normalize(header), []).append(index)
    problems: list[dict[str, str]] = []
    found: dict[str, int] = {}
    for field_name, header in explicit.items():
        if field_name not in known:
            problems.append(
                {
                    "field": f"columns.{field_name}",
                    "message": f"unknown field {field_name!r}; known: {', '.join(sorted(known))}",
                }
            )
            continue
        at = _explicit(header, places)
        if isinstance(at, str):
            problems.append({"field": f"columns.{field_name}", "message": at})
            continue
        found[field_name] = at
    taken = set(found.values())
    for f in fields:
        if f.name in found or f.name in explicit:
            continue
        for synonym in (f.name, *f.synonyms):
            free = [i for i in places.get(normalize(synonym), []) if i not in taken]
            if len(free) > 1:
                header = headers[free[0]] or synonym
                problems.append({"field": f.name, "message": _repeated(header, free)})
                break
            if free:
                found[f.name] = free[0]
                taken.add(free[0])
                break
    for f in fields:
        if f.required and f.name not in found and f.name not in explicit:
            if any(p["field"] == f.name for p in problems):
                continue
            problems.append(
                {
                    "field": f.name,
                    "message": f"no column for {f.name}: name one in the mapping or use a header "
                    f"such as {', '.join(repr(s) for s in f.synonyms[:3])}",
                }
            )
    if (
        kind == ImportKind.completions
        and "learner_id" not in found
        and "email" not in found
        and not any(p["field"] in ("learner_id", "email") for p in problems)
    ):
        problems.append(
            {
                "field": "learner_id",
                "message": "no column for learner_id or email: a row must name its learner",
            }
        )
    if problems:
        raise ColumnError(problems)
    return found
