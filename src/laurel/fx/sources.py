"""Where rate files come from: a path on disk or a URL the operator configured.

The download happens before any database work, so no lock is held while the network is slow.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from laurel.kit.errors import field_error

TIMEOUT_SECONDS = 60.0
ECB_HISTORY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"
"""The ECB's full history (ZIP of ``eurofxref-hist.csv``); the daily file is ``eurofxref.zip``."""


def fetch(source: str) -> tuple[str, bytes]:
    """(name, content) of the file at ``source``; precise errors when it cannot be read."""
    if source.startswith(("http://", "https://")):
        try:
            answer = httpx.get(source, timeout=TIMEOUT_SECONDS, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise field_error("source", f"could not download {source}: {exc}") from None
        if answer.status_code != 200:
            raise field_error("source", f"{source} answered HTTP {answer.status_code}")
        return source.rsplit("/", 1)[-1], answer.content
    path = Path(source)
    if not path.is_file():
        raise field_error("source", f"{path} is not a file")
    return path.name, path.read_bytes()
