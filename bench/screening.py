"""Sanctions name screening: speed, recall, false positives and memory of the name index.

    python -m bench.screening --variants 3000 --baseline-names 300

Against the full shared SDN and consolidated lists (primary names and strong aliases of
individuals and entities, the gate's default), in one process on one core:

- ``index``: names screened per second by ``laurel.screening.matcher.NameIndex`` (its word
  cache emptied first), over the variant and common-name queries below, in random order;
- ``baseline``: a plain rapidfuzz scan of the same names (``process.extract`` with Jaro-Winkler
  over every normalised listed name, ``score_cutoff`` = threshold) on the first
  ``--baseline-names`` of the same queries, with its recall on the variants among them;
- recall: share of generated variants of listed individuals whose source entry is matched at
  or above the threshold. Variants: given names first, one typo in the longest word, middle
  names dropped, a middle name cut to its initial, diacritics and lower case, a common
  transliteration swap, and the name in Cyrillic letters;
- false positives: share of ordinary first + last names (the 80 x 80 most common US given
  names and surnames below, every pairing) with any match at or above the threshold;
- memory: the growth of the process's resident set from building the index (after garbage
  collection), and the Python allocations the index holds (``tracemalloc``, numpy arrays
  included; measured on a second, throw-away build).

Targets (issue 5): >= 2,000 names/s, recall >= 98 %, false positives <= 1 %, index < 150 MB.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from laurel.config import Settings
from laurel.screening import lists
from laurel.screening.matcher import NameIndex
from laurel.screening.names import tokens

REPO = Path(__file__).resolve().parent.parent
OFAC = REPO.parent / "shared" / "data" / "ofac"
TYPES = ("individual", "entity")

# The most common US given names and surnames (SSA and Census rankings, well-known heads of
# both lists). Every pairing counts as a false positive when it matches, even where a listed
# person really has that name ('LEE, John' is on the SDN list): the stricter reading.
FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Christopher",
    "Karen",
    "Charles",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Dorothy",
    "Jason",
    "Rebecca",
    "Edward",
    "Sharon",
    "Jeffrey",
    "Laura",
    "Ryan",
    "Cynthia",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Brenda",
    "Stephen",
    "Emma",
    "Larry",
    "Anna",
    "Justin",
    "Pamela",
    "Scott",
    "Nicole",
    "Brandon",
    "Samantha",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
]

_CYRILLIC = {
    "shch": "щ",
    "zh": "ж",
    "kh": "х",
    "ts": "ц",
    "ch": "ч",
    "sh": "ш",
    "yu": "ю",
    "ya": "я",
    "a": "а",
    "b": "б",
    "v": "в",
    "g": "г",
    "d": "д",
    "e": "е",
    "z": "з",
    "i": "и",
    "y": "й",
    "k": "к",
    "l": "л",
    "m": "м",
    "n": "н",
    "o": "о",
    "p": "п",
    "r": "р",
    "s": "с",
    "t": "т",
    "u": "у",
    "f": "ф",
    "h": "х",
    "c": "к",
    "j": "дж",
    "q": "к",
    "w": "в",
    "x": "кс",
}
_ACCENTS = str.maketrans("aeiouAEIOU", "áéíóúÁÉÍÓÚ")
_SWAPS = (
    ("ou", "u"),
    ("u", "ou"),
    ("y", "i"),
    ("i", "y"),
    ("ph", "f"),
    ("ee", "i"),
    ("k", "q"),
    ("q", "k"),
    ("e", "a"),
    ("a", "e"),
    ("o", "u"),
    ("dh", "d"),
)


def load_entries(folder: Path) -> list[lists.Entry]:
    files: dict[str, bytes] = {}
    for path in [*folder.glob("*.csv"), *(folder / "consolidated").glob("*.csv")]:
        files[path.name] = path.read_bytes()
    return [e for spec in lists.SPECS if spec.primary in files for e in lists.parse(spec, files)]


def _reading_order(name: str) -> list[str]:
    surname, _, given = name.partition(",")
    return [*given.split(), *surname.split()] if given else name.split()


def _cyrillic(word: str) -> str:
    out, i, lower = [], 0, word.lower()
    while i < len(lower):
        for size in (4, 2, 1):
            piece = lower[i : i + size]
            if piece in _CYRILLIC:
                out.append(_CYRILLIC[piece])
                i += size
                break
        else:
            out.append(lower[i])
            i += 1
    return "".join(out).capitalize()


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "change"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    vowels = "aeiou"
    pool = vowels if word[i].lower() in vowels else "bcdfghklmnprst"
    return word[:i] + rng.choice([c for c in pool if c != word[i].lower()]) + word[i + 1 :]


def variants(rng: random.Random, name: str) -> dict[str, str]:
    """Ways a learner record might write a listed name (reading order, given names first)."""
    words = [w for w in _reading_order(name) if w.strip(".")]
    found: dict[str, str] = {"reordered": " ".join(words)}
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    if len(words[longest]) >= 5:
        found["typo"] = " ".join(_typo(rng, w) if i == longest else w for i, w in enumerate(words))
    if len(words) >= 3:
        found["no_middle"] = f"{words[0]} {words[-1]}"
        found["middle_initial"] = f"{words[0]} {words[1][0]}. {' '.join(words[2:])}"
    found["accents_lower"] = " ".join(words).lower().translate(_ACCENTS)
    for old, new in _SWAPS:
        swapped = [w.lower().replace(old, new, 1) for w in words]
        if swapped != [w.lower() for w in words]:
            found["transliteration"] = " ".join(swapped)
            break
    found["cyrillic"] = " ".join(_cyrillic(w) for w in words)
    return found


def resident_bytes() -> int:
    """The process's resident set now (Linux), or its peak elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * os.sysconf("SC_PAGE_SIZE")


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of this process: on a shared machine the CPU time is the
    one-core figure, the wall time includes waiting for a core."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screening", description=__doc__)
    parser.add_argument("--ofac", type=Path, default=OFAC, help="folder with the OFAC CSV files")
    parser.add_argument("--variants", type=int, default=3000, help="listed individuals varied")
    parser.add_argument("--baseline-names", type=int, default=300, help="queries for the scan")
    parser.add_argument(
        "--threshold", type=float, default=Settings.model_fields["screening_threshold"].default
    )
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    entries = load_entries(args.ofac)
    gc.collect()
    rss_before = resident_bytes()
    start = time.perf_counter()
    index = NameIndex(entries, types=TYPES)
    build_seconds = time.perf_counter() - start
    gc.collect()
    rss_growth = resident_bytes() - rss_before
    # A second, throw-away build under tracemalloc: what the index's objects hold.
    tracemalloc.start()
    probe = NameIndex(entries, types=TYPES)
    gc.collect()
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del probe

    individuals = [e for e in entries if e.sdn_type == "individual" and e.name]
    sample = rng.sample(individuals, min(args.variants, len(individuals)))
    variant_queries = [
        (kind, query, entry)
        for entry in sample
        for kind, query in variants(rng, entry.name).items()
    ]
    common = [f"{first} {last}" for first in FIRST for last in LAST]
    queries = [q for _, q, _ in variant_queries] + common
    rng.shuffle(queries)

    index._similar.cache_clear()  # measure from an empty word cache
    found: dict[str, list[int]] = {}

    def run_index() -> None:
        for query in queries:
            found[query] = [m.entry.ent_num for m in index.search(query, args.threshold)]

    index_seconds, index_cpu = timed(run_index)
    per_kind: dict[str, list[bool]] = {}
    for kind, query, entry in variant_queries:
        per_kind.setdefault(kind, []).append(entry.ent_num in found[query])
    recalled = sum(sum(v) for v in per_kind.values())
    false_hits = [q for q in common if found[q]]

    # Baseline: every listed name and alias, normalised the same way, scanned in full.
    names: list[str] = []
    owners: list[int] = []
    for entry in index.entries:
        for display in (entry.name, *entry.aliases):
            names.append(" ".join(tokens(display, surname_first=True)))
            owners.append(entry.ent_num)
    baseline_queries = queries[: args.baseline_names]
    baseline_found: dict[str, set[int]] = {}

    def run_baseline() -> None:
        for query in baseline_queries:
            hits = process.extract(
                " ".join(tokens(query)),
                names,
                scorer=JaroWinkler.normalized_similarity,
                score_cutoff=args.threshold,
                limit=None,
            )
            baseline_found[query] = {owners[i] for _, _, i in hits}

    baseline_seconds, baseline_cpu = timed(run_baseline)
    in_baseline = set(baseline_queries)
    base_variants = [(q, e) for _, q, e in variant_queries if q in in_baseline]
    base_recall = sum(e.ent_num in baseline_found[q] for q, e in base_variants)
    index_rate = len(queries) / index_cpu
    baseline_rate = len(baseline_queries) / baseline_cpu

    print(f"python {sys.version.split()[0]}, lists from {args.ofac}")
    print(
        f"entries {len(index.entries):,} ({', '.join(TYPES)}), names and aliases "
        f"{index.names:,}, words {len(index.words):,}; built in {build_seconds:.2f} s"
    )
    print(
        f"index memory {index_bytes / 1e6:.1f} MB (tracemalloc), "
        f"resident set growth {rss_growth / 1e6:.1f} MB   target < 150 MB"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"index    {len(queries):,} names in {index_cpu:.2f} s CPU ({index_seconds:.2f} s wall)"
        f" = {index_rate:,.0f} names/s per core   target >= 2,000"
    )
    print(
        f"baseline {len(baseline_queries):,} names in {baseline_cpu:.2f} s CPU "
        f"({baseline_seconds:.2f} s wall) = {baseline_rate:,.1f} names/s per core "
        f"(plain rapidfuzz scan); index/baseline = {index_rate / baseline_rate:,.0f}x"
    )
    print(
        f"recall   {recalled:,}/{len(variant_queries):,} = "
        f"{100 * recalled / len(variant_queries):.2f} %   target >= 98 %"
    )
    for kind, hits in sorted(per_kind.items()):
        print(f"           {kind:16} {100 * sum(hits) / len(hits):6.2f} %  of {len(hits):,}")
    if base_variants:
        print(
            f"           baseline scan on its {len(base_variants)} variants: "
            f"{100 * base_recall / len(base_variants):.2f} %"
        )
    print(
        f"false positives {len(false_hits)}/{len(common):,} = "
        f"{100 * len(false_hits) / len(common):.2f} %   target <= 1 %"
    )
    for query in false_hits[:20]:
        print(f"           {query!r} -> {found[query][:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
