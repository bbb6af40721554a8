"""Name normalisation shared by the list index and the queries it answers.

Both sides go through :func:`tokens`, so a listed name and a learner's name meet in one form:
Latin letters only (any script is transliterated), lower case, no punctuation or diacritics,
titles, the Arabic article and connecting words ("bin", "de la") dropped.
"""

from __future__ import annotations

import re

from anyascii import anyascii

# Titles and honorifics OFAC keeps inside names ("AL ZAWAHIRI, Dr. Ayman"): they say nothing
# about who a person is, and a learner's record rarely carries them.
_TITLES = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "sheikh", "shaykh", "sheik", "haji", "hajji", "mullah"}
)
# Transliterations write the Arabic article or leave it out at will ("Ayman al-Zawahiri",
# "Ayman Zawahiri"), like the connecting words below.
_PARTICLES = frozenset({"al", "el", "ul"})
_SPLIT = re.compile(r"[^a-z0-9]+")
# Apostrophes sit inside one word ("O'Neil", "Ma'ruf"): drop them rather than split there.
_JOINERS = re.compile(r"['’`ʼ]")
# Connecting words carry no identity and are written or left out at will ("Osama bin Laden",
# "Usama Ladin"; "de la Cruz", "Cruz").
_CONNECTORS = frozenset(
    {
        "de",
        "del",
        "la",
        "las",
        "los",
        "da",
        "do",
        "dos",
        "das",
        "di",
        "van",
        "von",
        "der",
        "den",
        "bin",
        "ibn",
        "bint",
        "binti",
        "ben",
        "of",
        "the",
        "and",
        "y",
        "e",
    }
)
_DROPPED = _TITLES | _PARTICLES | _CONNECTORS


def latin(text: str) -> str:
    """Any script to lower-case ASCII: 'Владимир' -> 'vladimir', 'Díaz' -> 'diaz'."""
    ascii_text: str = anyascii(text)
    return ascii_text.lower()


def tokens(name: str, *, surname_first: bool = False) -> tuple[str, ...]:
    """The comparable words of a name, in reading order (given names first).

    ``surname_first`` reads OFAC's ``SURNAME, Given Names`` convention: the part before the
    first comma is moved to the end, so "HANIYA, Ismail" reads "ismail haniya".
    """
    if surname_first and "," in name:
        surname, _, given = name.partition(",")
        name = f"{given} {surname}"
    text = _JOINERS.sub("", latin(name))
    return tuple(w for w in _SPLIT.split(text) if w and w not in _DROPPED)


# Cyrillic and Arabic transliterations write one sound several ways: 'kh' / 'h' (Мухаммад ->
# 'mukhammad'), 'dzh' / 'j' (Джамал -> 'dzhamal'), 'x' / 'ks'.
_FOLD_PAIRS = (
    ("dzh", "j"),
    ("ph", "f"),
    ("kh", "h"),
    ("gh", "g"),
    ("dh", "d"),
    ("th", "t"),
    ("ck", "k"),
    ("x", "ks"),
)
_FOLD_CHARS = str.maketrans(
    {"e": "a", "i": "a", "o": "a", "u": "a", "y": "a", "q": "k", "c": "k", "z": "s", "w": "v"}
)
_RUNS = re.compile(r"(.)\1+")


def respell(token: str) -> str:
    """One spelling for sounds transliterations write several ways ('dzhamal' -> 'jamal')."""
    for pair, single in _FOLD_PAIRS:
        token = token.replace(pair, single)
    return token


def fold(token: str) -> str:
    """A rough sound-alike key, so transliterations of one name meet: 'mohammed' and
    'muhammad' both fold to 'mahamad', 'usama' and 'osama' to 'asama'.

    Vowels are where transliterations disagree most; folding them all is too coarse for short
    words ('ali' and 'ola' would meet), so the matcher keeps the first letter of short words.
    """
    return _RUNS.sub(r"\1", respell(token).translate(_FOLD_CHARS))
