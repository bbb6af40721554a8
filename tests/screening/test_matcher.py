"""The matcher against the full shared SDN and consolidated lists (parsed once per process)."""

from __future__ import annotations

import pytest

from laurel.screening.matcher import NameIndex
from laurel.screening.names import fold, tokens
from tests.screening.support import (
    BANCO_NACIONAL,
    BIN_LADIN,
    CONS_HANIYA,
    HANIYEH,
    MAR_AZUL,
    PUTIN,
    QADHAFI,
    ZAWAHIRI,
    full_entries,
    full_index,
)

THRESHOLD = 0.91


def found(name: str, threshold: float = THRESHOLD) -> set[tuple[str, int]]:
    return {(m.entry.list_code, m.entry.ent_num) for m in full_index().search(name, threshold)}


def test_tokens_normalise_case_punctuation_diacritics_scripts_and_order() -> None:
    assert tokens("AL ZAWAHIRI, Dr. Ayman", surname_first=True) == ("ayman", "zawahiri")
    assert tokens("ayman al-Zawahiri") == ("ayman", "zawahiri")
    assert tokens("Ísmaíl  HANÍYEH") == ("ismail", "haniyeh")
    assert tokens("Владимир Путин") == ("vladimir", "putin")
    assert tokens("Osama bin Laden") == ("osama", "laden")
    assert tokens("O'Neil, Mary-Jane", surname_first=True) == ("mary", "jane", "oneil")
    assert fold("mohammed") == fold("muhammad")
    assert fold("kadhafi") == fold("qadhafi")


@pytest.mark.parametrize(
    ("query", "entry"),
    [
        ("Ismail Haniyeh", ("SDN", HANIYEH)),  # given name first
        ("HANIYEH, ISMAIL", ("SDN", HANIYEH)),  # OFAC order and case
        ("Ismail Hanieh", ("SDN", HANIYEH)),  # an alias spelling
        ("Ismael Haniye", ("SDN", HANIYEH)),  # spelling variants of both words
        ("Ísmaíl Haníyeh", ("SDN", HANIYEH)),  # diacritics
        ("Исмаил Хания", ("SDN", HANIYEH)),  # Cyrillic
        ("Ismail Haniya", ("CONS", CONS_HANIYA)),  # the consolidated list too
        ("Osama bin Laden", ("SDN", BIN_LADIN)),
        ("Usama Ladin", ("SDN", BIN_LADIN)),
        ("Usama Muhammad bin Laden", ("SDN", BIN_LADIN)),  # missing middle names
        ("Ayman al-Zawahiri", ("SDN", ZAWAHIRI)),
        ("Ayman Zawahri", ("SDN", ZAWAHIRI)),  # a dropped letter
        ("Putin Vladimir", ("SDN", PUTIN)),  # reordered
        ("Vladimir V. Putin", ("SDN", PUTIN)),  # an initial for the patronymic
        ("Vladimir Vladimirovich Putin", ("SDN", PUTIN)),
        ("Владимир Владимирович Путин", ("SDN", PUTIN)),
        ("Moammar Kadhafi", ("SDN", QADHAFI)),  # transliteration
        ("Muammar Gaddafi", ("SDN", QADHAFI)),
        ("Banco Nacional de Cuba", ("SDN", BANCO_NACIONAL)),  # an entity
    ],
)
def test_listed_people_are_caught_through_variants(query: str, entry: tuple[str, int]) -> None:
    assert entry in found(query)


@pytest.mark.parametrize(
    "query",
    [
        "Ana Díaz",
        "John Smith",
        "Mary Johnson",
        "Emily Chen",
        "Michael Brown",
        "Jennifer Kim",
        "Robert Taylor",
        "Sarah Ahmed",
        "Fatima Ali",
        "Ismail",  # one word: not every listed Ismail
        "Haniyeh",
        "Maria Lopez",
    ],
)
def test_ordinary_names_pass(query: str) -> None:
    assert found(query) == set()


def test_vessels_and_aircraft_are_not_screened_by_default() -> None:
    assert ("SDN", MAR_AZUL) not in found("Mar Azul")
    with_vessels = NameIndex(
        [e for e in full_entries() if e.ent_num == MAR_AZUL],
        types=("individual", "entity", "vessel"),
    )
    assert [m.entry.ent_num for m in with_vessels.search("Mar Azul", THRESHOLD)] == [MAR_AZUL]


def test_threshold_is_a_dial() -> None:
    typo = "Ayman Zawahri"
    [match] = full_index().search(typo, THRESHOLD)
    assert THRESHOLD <= match.score < 1.0
    assert full_index().search(typo, 0.99) == []


def test_scores_are_ordered_and_bounded() -> None:
    matches = full_index().search("Ismail Haniyeh", 0.5)
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    assert matches[0].score == 1.0
