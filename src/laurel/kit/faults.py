"""Fault injection for crash tests: ``LAUREL_FAULTS=point[,point]`` kills the process there.

The points are named places in the code where a crash is the hardest case (after a provider
call, before its result is recorded). Unset in every real deployment; reading the environment
costs nothing measurable.
"""

from __future__ import annotations

import os


def crash_point(name: str) -> None:
    faults = os.environ.get("LAUREL_FAULTS")
    if faults and name in faults.split(","):
        os._exit(86)
