"""Importing list versions: from a folder, from a real loopback HTTP server, idempotently,
audited in every organization's trail; through the CLI and the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from laurel.audit.models import AuditEntry
from laurel.db import Database
from laurel.kit.errors import Invalid
from laurel.screening import service, sources
from laurel.screening.models import ListEntry, ListVersion
from tests.cli.test_commands import laurel
from tests.conftest import Tenant, make_tenant
from tests.screening.support import CONS_HANIYA, HANIYEH, SAMPLE_SDN, sample_folder, serve_folder


def test_folder_import_stores_version_entries_and_audits(
    database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    other = make_tenant(database, "globex")
    folder = sample_folder(tmp_path / "ofac")
    with database.session() as session:
        outcome = service.store_version(session, sources.fetch(str(folder)), actor="test")
    assert outcome.created
    version = outcome.version
    assert version.entries == len(SAMPLE_SDN) + 1
    assert len(version.checksum) == 64
    assert version.list_date_source == "file-mtime"
    assert set(version.files) == {
        "sdn.csv",
        "alt.csv",
        "add.csv",
        "cons_prim.csv",
        "cons_alt.csv",
        "cons_add.csv",
    }
    with database.read_session() as session:
        haniyeh = session.scalar(
            select(ListEntry).where(ListEntry.list_code == "SDN", ListEntry.ent_num == HANIYEH)
        )
        assert haniyeh is not None
        assert haniyeh.programs == ["SDGT"]
        assert "HANIYA, Ismail" in haniyeh.aliases
        assert haniyeh.remarks.startswith("DOB 1962")
        cons = session.scalar(
            select(ListEntry).where(ListEntry.list_code == "CONS", ListEntry.ent_num == CONS_HANIYA)
        )
        assert cons is not None
        for org in (tenant.id, other.id):
            actions = session.scalars(
                select(AuditEntry.action).where(AuditEntry.organization_id == org)
            ).all()
            assert "screening:list:import" in actions


def test_same_files_again_are_the_same_version(database: Database, tmp_path: Path) -> None:
    folder = sample_folder(tmp_path / "ofac")
    with database.session() as session:
        first = service.store_version(session, sources.fetch(str(folder)), actor="test")
    # Same bytes from another place: same checksum, nothing new.
    copy = sample_folder(tmp_path / "copy")
    when = datetime(2024, 5, 3, tzinfo=UTC)
    with database.session() as session:
        again = service.store_version(
            session, sources.fetch(str(copy)), actor="test", list_date=when
        )
    assert not again.created
    assert again.version.id == first.version.id
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(ListVersion)) == 1
        assert session.scalar(select(func.count()).select_from(ListEntry)) == len(SAMPLE_SDN) + 1


def test_url_import_from_loopback_server_with_ofac_names(
    database: Database, tmp_path: Path
) -> None:
    folder = sample_folder(tmp_path / "ofac")
    with serve_folder(folder, upper=True) as base:
        fetched = sources.fetch(base)
    assert set(fetched.files) >= {"sdn.csv", "alt.csv", "add.csv", "cons_prim.csv"}
    assert fetched.list_date == datetime(2024, 5, 3, 18, 43, tzinfo=UTC)
    with database.session() as session:
        outcome = service.store_version(session, fetched, actor="test")
    assert outcome.version.list_date == datetime(2024, 5, 3, 18, 43, tzinfo=UTC)
    assert outcome.version.list_date_source == "last-modified"
    assert outcome.version.source == base


def test_url_without_the_files_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve_folder(empty) as base, pytest.raises(Invalid) as caught:
        sources.fetch(base)
    assert caught.value.detail == [
        {
            "field": "source",
            "message": f"{base} lacks sdn.csv, alt.csv, add.csv",
            "type": "value_error",
        }
    ]


def test_api_import_needs_live_admin_and_reports_the_version(
    client: TestClient, tenant: Tenant, tmp_path: Path
) -> None:
    folder = sample_folder(tmp_path / "ofac")
    with serve_folder(folder) as base:
        refused = client.post(
            "/api/v1/screening/lists", json={"url": base}, headers=tenant.test_headers
        )
        assert refused.status_code == 403
        bad = client.post(
            "/api/v1/screening/lists", json={"url": "ftp://x"}, headers=tenant.headers
        )
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["field"] == "url"
        answer = client.post(
            "/api/v1/screening/lists",
            json={"url": base, "list_date": "2024-05-03T00:00:00Z"},
            headers=tenant.headers,
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["created"] is True
    assert body["version"]["entries"] == len(SAMPLE_SDN) + 1
    assert body["version"]["list_date"].startswith("2024-05-03")
    assert body["version"]["list_date_source"] == "given"
    listed = client.get("/api/v1/screening/lists", headers=tenant.headers)
    assert [v["id"] for v in listed.json()] == [body["version"]["id"]]


def test_cli_import_then_refresh(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = sample_folder(tmp_path / "ofac")
    done = laurel("sdn", "import", str(folder), url=database.url)
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout
    assert f"{len(SAMPLE_SDN) + 1} entries" in done.stdout
    again = laurel("sdn", "import", str(folder), url=database.url)
    assert "unchanged" in again.stdout
    missing = laurel("sdn", "import", str(tmp_path / "nope"), url=database.url)
    assert missing.returncode == 2
    assert "PATH_OR_URL:" in missing.stderr
    assert "is not a folder" in missing.stderr
    unset = laurel("sdn", "refresh", url=database.url)
    assert unset.returncode == 0
    assert "nothing to refresh" in unset.stdout
    newer = sample_folder(tmp_path / "newer", sdn=[HANIYEH])
    with serve_folder(newer) as base:
        monkeypatch.setenv("LAUREL_SCREENING_LIST_URL", base)
        refreshed = laurel("sdn", "refresh", url=database.url)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "imported; 2 entries" in refreshed.stdout
    versions = laurel("sdn", "versions", url=database.url)
    assert versions.stdout.count("entries") == 2
