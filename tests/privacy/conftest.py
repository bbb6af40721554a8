from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def imports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Roster uploads wait in the test's own directory."""
    folder = tmp_path / "uploads"
    monkeypatch.setenv("LAUREL_IMPORTS_DIR", str(folder))
    return folder
