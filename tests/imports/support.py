"""Building completion reports and rosters as files, and uploading them through the API."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook

from laurel.kit.clock import utcnow
from tests.conftest import Tenant

HEADERS = [
    "User ID",
    "Email",
    "Full Name",
    "Course Code",
    "Course Title",
    "Completion Date",
    "Score",
]


def day(days_ago: int = 1) -> str:
    return (utcnow() - timedelta(days=days_ago)).date().isoformat()


def report(rows: list[list[Any]], headers: list[str] | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers or HEADERS)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def good_row(n: int, course: str = "SEC-101", when: str | None = None) -> list[Any]:
    return [f"E{n}", f"e{n}@example.com", f"Learner {n}", course, "Security", when or day(), "88"]


def upload(
    client: TestClient,
    tenant: Tenant,
    content: bytes,
    *,
    filename: str = "report.csv",
    expect: int = 202,
    headers: dict[str, str] | None = None,
    **form: str,
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/imports",
        headers=headers or tenant.headers,
        files={"file": (filename, content)},
        data=form,
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    if expect == 202:
        assert body["status"] == "pending"
        return finished(client, tenant, body["id"], headers or tenant.headers)
    return body


def finished(
    client: TestClient, tenant: Tenant, import_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The import once the background runner is done with it (polled, bounded)."""
    deadline = time.monotonic() + 120
    while True:
        response = client.get(f"/api/v1/imports/{import_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("completed", "failed"):
            return body
        assert time.monotonic() < deadline, f"import still {body['status']}: {body}"
        time.sleep(0.02)


def write(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def workbook(rows: list[list[Any]], *, epoch: datetime | None = None) -> bytes:
    """An XLSX file of these rows (the first is the header), cells typed as given."""
    book = Workbook()
    if epoch is not None:
        book.epoch = epoch
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def with_dimension(content: bytes, ref: str) -> bytes:
    """The XLSX file with its first sheet's <dimension ref> rewritten, as some tools write it."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(
                    rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data
                )
                assert n == 1
            target.writestr(item, data)
    return out.getvalue()
