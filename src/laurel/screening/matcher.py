"""The in-memory name index and the fuzzy matcher.

Matching a name against ~35,000 listed names and aliases one by one costs milliseconds; this
index answers in a fraction of that by working on words first:

1. Every listed name is split into normalised words (:func:`laurel.screening.names.tokens`).
   The distinct words form a vocabulary; each word has a posting list of the names using it.
2. A query word is compared (Jaro-Winkler, rapidfuzz) only with vocabulary words that share a
   lookup key with it: the word and its one-letter deletions, and the same for its sound-alike
   key (:func:`~laurel.screening.names.fold`). That finds words one typo apart and
   transliterations ('mohammed' / 'muhammad') with a few dictionary lookups instead of a scan
   of the vocabulary. Results per query word are cached.
3. Names that share enough similar words with the query are scored as a whole: each query
   word is paired with its best listed word (so order does not matter), initials pair with
   words that start with their letter, and listed words left over (a middle name the learner
   did not give) cost a little each.

The index is immutable after it is built, so threads share it without locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz.distance import JaroWinkler

from laurel.screening.lists import Entry
from laurel.screening.names import fold, respell, tokens

WORD_FLOOR = 0.88
"""Words less similar than this are not counted as the same word at all. Jaro-Winkler is
generous with short words ('sarah' / 'afrah' score 0.87), hence not lower."""
FOLD_SCORE = 0.92
"""Similarity given to two different spellings that sound alike (same fold key) …"""
FOLD_MIN_SIMILARITY = 0.8
"""… if they are this similar to begin with: 'mohammed' / 'muhammad' (0.85) and 'usama' /
'osama' (0.87) are, 'maria' / 'miera' (0.76) and 'hussein' / 'hassan' (0.77) are not."""
ONE_WORD_FLOOR = 0.95
"""One-word names (mostly entities and acronyms) must be nearly the same word."""
INITIAL_SCORE = 0.9
"""An initial against a word with that first letter: likely, never certain."""
INITIAL_WEIGHT = 0.5
"""An initial counts half as much as a word in the average."""
EXTRA_WORD_PENALTY = 0.02
"""Per word one side has and the other lacks (missing middle names) …"""
FUZZY_EXTRA_WORD_PENALTY = 0.04
"""… doubled when the words that did pair are not all exact: 'Mary Garcia' is not
'ZAMBADA GARCIA, Ismael Mario', though 'Ismael Zambada' is a likely short form of it."""
FIRST_NAME_MISSING_PENALTY = 0.08
"""When the listed person's first given name is paired with nothing: 'Patricia Lopez' is a
weak reading of 'LOPEZ LANDEY, Midian Patricia'."""
MIN_FOLD_LENGTH = 4


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _sound(word: str) -> str | None:
    """The sound-alike key: :func:`fold` for words of four letters or more; for shorter words
    the fold behind the unchanged first letter ('aly' / 'ali', 'ly' / 'li', not 'ali' /
    'ola')."""
    if len(word) >= MIN_FOLD_LENGTH:
        return fold(word)
    if len(word) >= 2:
        return f"{word[0]}:{fold(word)}"
    return None


def _keys(word: str) -> set[str]:
    """Lookup keys of a word: it, its one-letter deletions, and the same for its sound-alike
    key (marked with ``~``). Two words share a key when they are one typo apart (a letter
    added, dropped, changed or two swapped), or spelled alike once folded and then one typo
    apart ('haniya' / 'haniyeh')."""
    keys = {word} | _deletions(word)
    sound = _sound(word)
    if sound is not None:
        variants = {sound} | _deletions(sound) if len(word) >= MIN_FOLD_LENGTH else {sound}
        keys |= {f"~{k}" for k in variants}
    return keys


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    matched_name: str
    """The listed name or alias that scored best."""
    score: float


@dataclass(frozen=True, slots=True)
class _Name:
    entry: int
    display: str
    words: tuple[int, ...]
    """Vocabulary ids of the full words."""
    initials: str
    """First letters of one-letter words in the listed name."""
    first_given: bool
    """The first word is the first given name (OFAC's ``SURNAME, Given`` form)."""


class NameIndex:
    """Listed names and aliases of one list version, ready to be queried."""

    def __init__(self, entries: Sequence[Entry], *, types: Iterable[str]) -> None:
        wanted = set(types)
        self.entries = [e for e in entries if e.sdn_type in wanted]
        vocabulary: dict[str, int] = {}
        postings: list[list[int]] = []
        self._names: list[_Name] = []
        for position, entry in enumerate(self.entries):
            seen: set[tuple[str, ...]] = set()
            for display in (entry.name, *entry.aliases):
                words = tokens(display, surname_first=True)
                if not words or words in seen:
                    continue
                seen.add(words)
                ids = []
                for word in words:
                    if len(word) == 1:
                        continue
                    wid = vocabulary.setdefault(word, len(vocabulary))
                    if wid == len(postings):
                        postings.append([])
                    ids.append(wid)
                name_id = len(self._names)
                for wid in set(ids):
                    postings[wid].append(name_id)
                initials = "".join(w for w in words if len(w) == 1)
                given = "," in display and len(words[0]) > 1
                self._names.append(_Name(position, display, tuple(ids), initials, given))
        self.words = list(vocabulary)
        self._postings = [np.asarray(p, dtype=np.int32) for p in postings]
        self._word_count = np.asarray([len(n.words) for n in self._names], dtype=np.int32)
        self._respelled = [respell(w) for w in self.words]
        self._sounds = [_sound(w) for w in self.words]
        neighbours: dict[str, list[int]] = {}
        for wid, word in enumerate(self.words):
            for key in _keys(word):
                neighbours.setdefault(key, []).append(wid)
        self._neighbours = {key: tuple(ids) for key, ids in neighbours.items()}
        self._similar = lru_cache(maxsize=50_000)(self._similar_words)

    @property
    def names(self) -> int:
        """Listed names and aliases in the index (after removing duplicates per entry)."""
        return len(self._names)

    def _similar_words(self, word: str) -> dict[int, float]:
        """Vocabulary words at least ``WORD_FLOOR`` similar to ``word``, with their scores."""
        candidates: set[int] = set()
        for key in _keys(word):
            candidates.update(self._neighbours.get(key, ()))
        sound = _sound(word)
        respelled = respell(word)
        found: dict[int, float] = {}
        words, respellings, sounds = self.words, self._respelled, self._sounds
        for wid in candidates:
            score = JaroWinkler.normalized_similarity(word, words[wid])
            if respelled != word or respellings[wid] != words[wid]:
                score = max(score, JaroWinkler.normalized_similarity(respelled, respellings[wid]))
            # Jaro-Winkler cannot tell a short word's spellings from other words ('li' / 'ly'
            # 0.73); their key keeps the first letter, which is guard enough.
            if (
                sound is not None
                and sounds[wid] == sound
                and score < FOLD_SCORE
                and (score >= FOLD_MIN_SIMILARITY or len(word) < MIN_FOLD_LENGTH)
            ):
                score = FOLD_SCORE
            if score >= WORD_FLOOR:
                found[wid] = score
        return found

    def search(self, name: str, threshold: float) -> list[Match]:
        """Entries with a name or alias scoring at least ``threshold``, best first."""
        query = tokens(name)
        full = [w for w in dict.fromkeys(query) if len(w) > 1]
        if not full:
            return []
        query_initials = "".join(w for w in query if len(w) == 1)
        similar = [self._similar(w) for w in full]
        per_word = [
            np.unique(np.concatenate([self._postings[wid] for wid in words]))
            for words in similar
            if words
        ]
        if not per_word:
            return []
        hits, counts = np.unique(np.concatenate(per_word), return_counts=True)
        # A name is worth scoring only if it shares two words with the query (or all of its
        # words, or all of the query's, when either has fewer than two).
        needed = np.minimum(np.minimum(self._word_count[hits], len(full)), 2)
        best: dict[int, Match] = {}
        for name_id in hits[counts >= needed].tolist():
            listed = self._names[name_id]
            score = _score(full, query_initials, similar, listed, self.words)
            if score < threshold:
                continue
            current = best.get(listed.entry)
            if current is None or score > current.score:
                best[listed.entry] = Match(self.entries[listed.entry], listed.display, score)
        return sorted(best.values(), key=lambda m: (-m.score, m.entry.ent_num))


def _score(
    query: list[str],
    query_initials: str,
    similar: list[dict[int, float]],
    listed: _Name,
    words: list[str],
) -> float:
    """How well the query names this listed name, 0..1 (see the module docstring)."""
    pairs = sorted(
        (
            (similar[q].get(wid, 0.0), q, position)
            for q in range(len(query))
            for position, wid in enumerate(listed.words)
        ),
        reverse=True,
    )
    used_q: set[int] = set()
    used_l: set[int] = set()
    total = 0.0
    exact = True
    for score, q, position in pairs:
        if score < WORD_FLOOR:
            break
        if q in used_q or position in used_l:
            continue
        used_q.add(q)
        used_l.add(position)
        total += score
        exact = exact and score >= 1.0
    matched = len(used_q)
    # A one-word name on either side must meet a one-word name: a learner called 'Ali' is not
    # every listed person with Ali in their name, and a listed 'CIMEX' is not 'Cimex Diaz'.
    shorter = min(len(query), len(listed.words))
    if matched < min(shorter, 2) or (shorter == 1 and len(query) != len(listed.words)):
        return 0.0
    if shorter == 1 and total < ONE_WORD_FLOOR:
        return 0.0
    query_size = len(query) + len(query_initials)
    listed_size = len(listed.words) + len(listed.initials)
    weight = float(shorter)
    # Initials on either side pair with a leftover word of the other side that starts with
    # that letter; one without a partner counts as a missing word.
    spare_listed = [words[wid][0] for p, wid in enumerate(listed.words) if p not in used_l]
    spare_query = [query[q][0] for q in range(len(query)) if q not in used_q]
    extra = abs(query_size - listed_size)

    first_initial_unpaired = True
    for letter in query_initials:
        if letter in spare_listed:
            if listed.first_given and 0 not in used_l and spare_listed[0] == letter:
                first_initial_unpaired = False
            spare_listed.remove(letter)
            total += INITIAL_SCORE * INITIAL_WEIGHT
            weight += INITIAL_WEIGHT
    for letter in listed.initials:
        if letter in spare_query:
            spare_query.remove(letter)
            total += INITIAL_SCORE * INITIAL_WEIGHT
            weight += INITIAL_WEIGHT
    penalty = (EXTRA_WORD_PENALTY if exact else FUZZY_EXTRA_WORD_PENALTY) * extra
    if listed.first_given and 0 not in used_l and first_initial_unpaired:
        penalty += FIRST_NAME_MISSING_PENALTY
    return max(0.0, total / weight - penalty)
