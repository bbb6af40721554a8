"""The connectors Laurel knows, by the name used in URLs, settings and event sources."""

from __future__ import annotations

from functools import cache

from laurel.events.connectors.base import Connector
from laurel.kit.errors import NotFound


class UnknownConnector(NotFound):
    code = "unknown_connector"


@cache
def connectors() -> dict[str, Connector]:
    # Imported here so that importing the framework does not import every source's module.
    from laurel.events.connectors import (  # noqa: PLC0415
        absorb,
        canvas,
        cornerstone,
        docebo,
        litmos,
        moodle,
        openedx,
        talentlms,
    )

    found: list[Connector] = [
        moodle.Moodle(),
        canvas.Canvas(),
        openedx.OpenEdx(),
        docebo.Docebo(),
        litmos.Litmos(),
        cornerstone.Cornerstone(),
        talentlms.TalentLms(),
        absorb.Absorb(),
    ]
    return {c.name: c for c in found}


def get(name: str) -> Connector:
    found = connectors().get(name)
    if found is None:
        raise UnknownConnector(f"no connector {name!r}; known: {', '.join(sorted(connectors()))}")
    return found
