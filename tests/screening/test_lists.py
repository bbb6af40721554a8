"""Reading OFAC's legacy CSV files: the real shared copies and broken ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from laurel.kit.errors import Invalid
from laurel.screening import lists, sources
from tests.screening.support import (
    BANCO_NACIONAL,
    CONS_HANIYA,
    HANIYEH,
    MAR_AZUL,
    OFAC,
    full_entries,
    sample_folder,
)


def test_full_lists_parse_with_ofac_counts() -> None:
    entries = full_entries()
    sdn = [e for e in entries if e.list_code == "SDN"]
    cons = [e for e in entries if e.list_code == "CONS"]
    # Row counts from the shared copy's SOURCE.md.
    assert len(sdn) == 14_965
    assert len(cons) == 442
    types = {t: sum(1 for e in sdn if e.sdn_type == t) for t in ("individual", "entity")}
    assert types == {"individual": 6_854, "entity": 6_884}
    assert sum(1 for e in cons if e.sdn_type == "individual") == 79


def test_entry_fields_nulls_programs_aliases_countries() -> None:
    by_key = {(e.list_code, e.ent_num): e for e in full_entries()}
    haniyeh = by_key[("SDN", HANIYEH)]
    assert haniyeh.name == "HANIYEH, Ismail"
    assert haniyeh.sdn_type == "individual"
    assert haniyeh.programs == ["SDGT"]
    assert "HANIYA, Ismail" in haniyeh.aliases
    assert haniyeh.remarks.startswith("DOB 1962")
    banco = by_key[("SDN", BANCO_NACIONAL)]
    assert banco.sdn_type == "entity"  # OFAC's -0- type
    assert banco.remarks == "a.k.a. 'BNC'."
    assert banco.countries == ["Switzerland", "Spain", "Japan", "Panama"]
    vessel = by_key[("SDN", MAR_AZUL)]
    assert vessel.sdn_type == "vessel"
    assert by_key[("CONS", CONS_HANIYA)].programs == ["NS-PLC"]


def test_several_programs_split_and_comments_appended() -> None:
    entries = full_entries()
    assert any(len(e.programs) > 1 for e in entries)
    assert all("]" not in p and "[" not in p for e in entries for p in e.programs)
    # sdn_comments.csv continues column 12 of 19 entries in this sdn.csv (SOURCE.md).
    by_num = {e.ent_num: e for e in entries if e.list_code == "SDN"}
    comments = list(lists.rows((OFAC / "sdn_comments.csv").read_bytes(), filename="c", columns=2))
    continued = [(int(c[0]), c[1]) for c in comments if int(c[0]) in by_num]
    assert len(continued) == 19
    assert all(by_num[num].remarks.endswith(text.strip()) for num, text in continued)


def test_orphan_aliases_are_dropped() -> None:
    files = {name: (OFAC / name).read_bytes() for name in ("sdn.csv", "alt.csv")}
    parsed = {e.ent_num for e in lists.parse(lists.SDN, files)}
    alias_owners = {
        int(line.split(",", 1)[0])
        for line in (OFAC / "alt.csv").read_text().splitlines()
        if line[:1].isdigit()
    }
    assert alias_owners - parsed  # the shared copy has orphans (see SOURCE.md) …
    assert all(e.ent_num in parsed for e in lists.parse(lists.SDN, files))  # … none kept


def test_short_record_is_refused_with_file_and_line() -> None:
    files = {"sdn.csv": b'36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA"\r\n'}
    with pytest.raises(Invalid) as caught:
        lists.parse(lists.SDN, files)
    assert caught.value.detail == [
        {
            "field": "sdn.csv",
            "message": "line 1: expected 12 columns, found 4",
            "type": "value_error",
        }
    ]


def test_bad_ent_num_is_refused() -> None:
    row = b'X1,"NAME",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'
    with pytest.raises(Invalid) as caught:
        lists.parse(lists.SDN, {"sdn.csv": row})
    assert "ent_num 'X1' is not a number" in caught.value.detail[0]["message"]


def test_folder_without_required_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_bytes(b"")
    with pytest.raises(Invalid) as caught:
        sources.fetch(str(tmp_path))
    assert caught.value.detail[0]["field"] == "source"
    assert "lacks alt.csv, add.csv" in caught.value.detail[0]["message"]
    with pytest.raises(Invalid, match="not a folder"):
        sources.fetch(str(tmp_path / "missing"))


def test_consolidated_parts_without_primary_are_refused(tmp_path: Path) -> None:
    folder = sample_folder(tmp_path / "lists")
    (folder / "consolidated" / "cons_prim.csv").unlink()
    with pytest.raises(Invalid) as caught:
        sources.fetch(str(folder))
    assert "has cons_alt.csv, cons_add.csv but not cons_prim.csv" in str(caught.value.detail)
