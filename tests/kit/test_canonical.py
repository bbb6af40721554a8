"""The prebuilt JSON encoders write byte for byte what ``json.dumps`` writes with their options."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laurel.kit.canonical import canonical_json, plain_json, strict_canonical_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_the_same_text_as_json_dumps(value: Any) -> None:
    assert plain_json(value) == json.dumps(value)
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == canonical
    assert strict_canonical_json(value) == canonical


def test_values_json_has_no_type_for() -> None:
    odd = {"id": uuid.UUID(int=7), "at": datetime(2026, 11, 26, tzinfo=UTC)}
    assert canonical_json(odd) == json.dumps(
        odd, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    with pytest.raises(TypeError):
        strict_canonical_json(odd)
    with pytest.raises(TypeError):
        plain_json(odd)
