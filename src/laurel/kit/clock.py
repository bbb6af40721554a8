"""Timezone-aware UTC time. Naive datetimes never enter the system."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class OutOfRange(ValueError):
    """An aware time with no UTC equivalent Python can hold (0001-01-01 east of UTC, 9999-12-31
    west of it): every reader of sent times refuses it the way it refuses an unreadable one."""


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; :class:`OutOfRange` (a ``ValueError``) when there is no such time."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise OutOfRange("out of range: no such time in UTC") from None


SENDER_CLOCK_SKEW = timedelta(days=1)
"""How far ahead of Laurel's clock a sender's time is read as a clock error, not a claim."""


def sender_time(sent: datetime, received_at: datetime) -> tuple[datetime, bool]:
    """When something happened, by a sender whose clock may run ahead (content in a browser
    stamps statements with the learner's clock, often minutes or a time zone off): a time up to
    a day ahead of ``received_at`` is taken as ``received_at`` (True: it was corrected). Further
    ahead is no clock error; intake refuses it as in the future."""
    if received_at < sent <= received_at + SENDER_CLOCK_SKEW:
        return received_at, True
    return sent, False
