"""The one application error base: each subclass carries its HTTP status and a stable code."""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Invalid(AppError):
    """Input that is well-formed but breaks a rule; detail lists the fields and why."""

    status = 422
    code = "validation_error"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class BodyTooLarge(AppError):
    """A request body past what the endpoint reads (each names its own limit)."""

    status = 413
    code = "body_too_large"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


def field_error(field: str, message: str) -> Invalid:
    return Invalid([{"field": field, "message": message, "type": "value_error"}])
