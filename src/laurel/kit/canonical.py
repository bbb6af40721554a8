"""Canonical JSON: the one byte form hashed for idempotency and the audit chain.

The encoders here write exactly what ``json.dumps`` writes with the same options, but are built
once: ``json.dumps`` builds a new C encoder on every call, which for the small values Laurel
encodes by the thousand per batch (rule calculations, decisions, audit details) costs more than
the encoding itself. They skip the circular-reference check: every value comes from decoded JSON
or from Laurel's own plain dicts and lists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import partial
from json import encoder as _stdlib
from typing import Any

Dumps = Callable[[Any], str]


def _refuse(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _dumps(
    default: Callable[[Any], Any], *, ensure_ascii: bool, separators: tuple[str, str], sort: bool
) -> Dumps:
    make: Any = getattr(_stdlib, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator: the library's own path
        return partial(
            json.dumps,
            default=default,
            ensure_ascii=ensure_ascii,
            separators=separators,
            sort_keys=sort,
        )
    strings = _stdlib.encode_basestring_ascii if ensure_ascii else _stdlib.encode_basestring
    item, key = separators
    encode = make(None, default, strings, None, key, item, sort, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


plain_json: Dumps = _dumps(_refuse, ensure_ascii=True, separators=(", ", ": "), sort=False)
"""``json.dumps(value)``: the text SQLAlchemy's JSON type stores."""

canonical_json: Dumps = _dumps(str, ensure_ascii=False, separators=(",", ":"), sort=True)
"""Keys sorted, no spaces, UTF-8 kept, anything else as ``str``: what digests are taken over."""

strict_canonical_json: Dumps = _dumps(_refuse, ensure_ascii=False, separators=(",", ":"), sort=True)
"""``canonical_json`` that refuses (TypeError) a value JSON has no type for."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
