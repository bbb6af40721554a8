"""The access archive: everything about a learner, as JSON and as CSV, in one zip file."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime
from typing import Any

from laurel.privacy.subject import Found

FORMAT = "laurel-access-export/1"

README = """Personal data held by {organization} about one person
=====================================================

data.json        everything, one object: "tables" maps each table to its rows
csv/<table>.csv  the same rows, one file per table (nested values as JSON text)

Generated {generated_at} for privacy request {request_id} (jurisdiction: {jurisdiction}).
Tables: {tables}.
Audit entries name people by internal id only; they are listed under "audit_entries".
"""


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # spreadsheets run such cells as formulas
    return value


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def build(
    found: Found,
    *,
    organization: str,
    request_id: str,
    jurisdiction: str,
    generated_at: datetime,
) -> bytes:
    document = {
        "format": FORMAT,
        "organization": organization,
        "request_id": request_id,
        "jurisdiction": jurisdiction,
        "generated_at": generated_at.isoformat(),
        "tables": found,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            README.format(
                organization=organization,
                generated_at=generated_at.isoformat(timespec="seconds"),
                request_id=request_id,
                jurisdiction=jurisdiction,
                tables=", ".join(sorted(found)),
            ),
        )
        archive.writestr(
            "data.json", json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
        )
        for name, rows in sorted(found.items()):
            archive.writestr(f"csv/{name}.csv", _csv(rows))
    return out.getvalue()
