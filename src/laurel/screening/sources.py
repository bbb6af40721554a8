"""Where list files come from: a local folder, or a base URL laid out as OFAC publishes them.

OFAC serves each file under one base (``…/exports/SDN.CSV``, ``…/exports/ALT.CSV``, …); copies
on disk usually use lower-case names, and some keep the consolidated files in a
``consolidated/`` folder beside the SDN files. Both spellings and both places are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from laurel.kit.errors import field_error
from laurel.screening.lists import CONSOLIDATED, SDN

REQUIRED = (SDN.primary, SDN.alt, SDN.add)
OPTIONAL = (
    SDN.comments,
    CONSOLIDATED.primary,
    CONSOLIDATED.alt,
    CONSOLIDATED.add,
    CONSOLIDATED.comments,
)
TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Fetched:
    source: str
    files: dict[str, bytes]
    """Lower-case file name -> content."""
    list_date: datetime | None
    list_date_source: str


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch(source: str) -> Fetched:
    """Read the list files from ``source`` (folder or base URL); precise errors when absent."""
    return _from_url(source) if is_url(source) else _from_folder(Path(source))


def _from_folder(folder: Path) -> Fetched:
    if not folder.is_dir():
        raise field_error("source", f"{folder} is not a folder")
    files: dict[str, bytes] = {}
    newest: float | None = None
    for name in (*REQUIRED, *OPTIONAL):
        for candidate in (
            folder / name,
            folder / name.upper(),
            folder / "consolidated" / name,
            folder / "consolidated" / name.upper(),
        ):
            if candidate.is_file():
                files[name] = candidate.read_bytes()
                mtime = candidate.stat().st_mtime
                newest = mtime if newest is None else max(newest, mtime)
                break
    _require(files, str(folder))
    when = datetime.fromtimestamp(newest, UTC) if newest is not None else None
    return Fetched(str(folder), files, when, "file-mtime")


def _from_url(base: str) -> Fetched:
    base = base.rstrip("/")
    files: dict[str, bytes] = {}
    newest: datetime | None = None
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=True) as client:
        for name in (*REQUIRED, *OPTIONAL):
            for spelled in (name, name.upper()):
                try:
                    response = client.get(f"{base}/{spelled}")
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    raise field_error(
                        "source", f"cannot download {base}/{spelled}: {exc}"
                    ) from None
                if response.status_code == 404:
                    continue
                if response.status_code != 200:
                    raise field_error(
                        "source", f"{base}/{spelled} answered HTTP {response.status_code}"
                    )
                files[name] = response.content
                modified = response.headers.get("last-modified")
                if modified:
                    try:
                        stamp = parsedate_to_datetime(modified).astimezone(UTC)
                    except (TypeError, ValueError):
                        stamp = None
                    if stamp is not None:
                        newest = stamp if newest is None else max(newest, stamp)
                break
    _require(files, base)
    return Fetched(base, files, newest, "last-modified")


def _require(files: dict[str, bytes], where: str) -> None:
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise field_error("source", f"{where} lacks {', '.join(missing)}")
    consolidated = [n for n in (CONSOLIDATED.alt, CONSOLIDATED.add) if n in files]
    if consolidated and CONSOLIDATED.primary not in files:
        raise field_error(
            "source", f"{where} has {', '.join(consolidated)} but not {CONSOLIDATED.primary}"
        )
