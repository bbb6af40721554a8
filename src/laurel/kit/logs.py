"""Logs carry ids and decisions, never secrets or personal data.

Two layers. First, nothing in Laurel logs a person's data or a secret: messages name rewards,
requests and organizations by id. Libraries that log the data flowing through them (the SQL
engine logs statement parameters, HTTP clients log URLs with tokens) are held at WARNING
whatever the root level, so ``LAUREL_LOG_LEVEL=DEBUG`` stays safe to turn on in production.
Second, as a backstop, the handlers ``configure`` installs redact what still looks like an
API key, an email address or a US taxpayer number in any message or traceback.
"""

from __future__ import annotations

import logging
import re

DATA_LOGGERS = (
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "sqlalchemy.orm",
    "alembic.runtime.migration",
    "httpx",
    "httpcore",
    "urllib3",
    "multipart",
    "python_multipart",
    "uvicorn.access",
    "mail.log",
)

_PATTERNS = (
    (re.compile(r"lrl_(live|test)_[A-Za-z0-9_\-]+"), r"lrl_\1_[redacted]"),
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b\d{2}-\d{7}\b"), "[tin]"),
    (
        re.compile(r"(?i)(authorization|x-api-key|password|secret)([\"']?\s*[:=]\s*)\S+"),
        r"\1\2[redacted]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with :func:`redact` applied."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def quiet_data_loggers() -> None:
    for name in DATA_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def configure(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    quiet_data_loggers()
