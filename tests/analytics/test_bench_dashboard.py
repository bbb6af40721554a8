"""``bench.dashboard`` runs end to end at a tiny scale (not timed: it proves the bench works)."""

from __future__ import annotations

import pytest
from bench import dashboard

from tests.conftest import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_the_dashboard_bench_runs_small(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--learners", "40", "--events", "400", "--samples", "1", "--databases", kind]
    assert dashboard.main(argv) == 0
    out = capsys.readouterr().out
    assert f"{kind}: 41 learners" in out  # and one in test mode
    assert "404 events" in out  # 400 live and 1 % again in test mode
    paths = dashboard.pages("{program}", "{learner}", "{reward}")
    for user, wanted in paths.items():
        for path in wanted:
            # Every page answered 200 (the bench asserts it) and has its row in the table.
            assert f"| {user.split('@')[0]} " in out
            assert f"| {path} " in out
