"""Real OFAC files for screening tests: the full lists, and small folders cut from them.

A cut keeps OFAC's bytes line for line (CRLF, ``-0-``, the Ctrl-Z end line) for the entries
asked for, so imports run on real records without loading 15,000 entries per test.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from laurel.screening import lists
from laurel.screening.matcher import NameIndex
from tests.conftest import SHARED

OFAC = SHARED / "data" / "ofac"
CONSOLIDATED = OFAC / "consolidated"

HANIYEH = 23627
"""SDN individual 'HANIYEH, Ismail' with aliases HANIYA, HANIYAH, HANIYYAH …"""
BIN_LADIN = 6365
ZAWAHIRI = 2676
PUTIN = 35096
QADHAFI = 12606
BANCO_NACIONAL = 306
"""An entity: 'BANCO NACIONAL DE CUBA'."""
MAR_AZUL = 4238
"""A vessel: 'MAR AZUL'."""
CONS_HANIYA = 9639
"""The consolidated (non-SDN) list's 'HANIYA, Ismail Abdul Salah'."""

SAMPLE_SDN = (HANIYEH, BIN_LADIN, ZAWAHIRI, PUTIN, QADHAFI, BANCO_NACIONAL, MAR_AZUL)


def _cut(source: Path, target: Path, ent_nums: set[int]) -> None:
    lines = source.read_bytes().split(b"\r\n")
    kept = [
        line
        for line in lines
        if line.split(b",", 1)[0].strip().isdigit() and int(line.split(b",", 1)[0]) in ent_nums
    ]
    target.write_bytes(b"\r\n".join([*kept, b"\x1a"]))


def sample_folder(
    folder: Path, sdn: Iterable[int] = SAMPLE_SDN, consolidated: Iterable[int] = (CONS_HANIYA,)
) -> Path:
    """A folder laid out like the shared copy, holding only these entries' rows."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(sdn)
    for name in ("sdn.csv", "alt.csv", "add.csv"):
        _cut(OFAC / name, folder / name, wanted)
    cons = set(consolidated)
    if cons:
        (folder / "consolidated").mkdir(exist_ok=True)
        for name in ("cons_prim.csv", "cons_alt.csv", "cons_add.csv"):
            _cut(CONSOLIDATED / name, folder / "consolidated" / name, cons)
    return folder


def read_files(folder: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    files |= {p.name: p.read_bytes() for p in (folder / "consolidated").glob("*.csv")}
    return files


@cache
def full_entries() -> list[lists.Entry]:
    """Every entry of the shared SDN and consolidated lists (parsed once per process)."""
    files = read_files(OFAC)
    return [e for spec in lists.SPECS for e in lists.parse(spec, files)]


@cache
def full_index() -> NameIndex:
    return NameIndex(full_entries(), types=("individual", "entity"))


@contextmanager
def serve_folder(folder: Path, *, upper: bool = False) -> Iterator[str]:
    """A real loopback HTTP server for ``folder``, flat, as OFAC publishes (``upper``: file
    names in capitals, like sanctionslistservice.ofac.treas.gov). Yields the base URL."""
    files = read_files(folder)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            name = self.path.rsplit("/", 1)[-1]
            key = name.lower() if upper and name.isupper() else name
            if (upper and not name.isupper()) or key not in files:
                self.send_error(404)
                return
            body = files[key]
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Last-Modified", "Fri, 03 May 2024 18:43:00 GMT")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/exports"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
