"""Domain errors: a stable machine code, an HTTP status, and the field at fault when there is one.

Services raise these; the API renders them as {"error": {"code", "message", "field"}} and the
console shows the message. Nothing else turns business failures into responses.
"""

from django.db import IntegrityError, transaction


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None, status: int | None = None, details: list | None = None):
        # Translated when raised, in the language of the request that raised it.
        message = str(message)
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field

    def as_dict(self) -> dict:
        error = {"code": self.code, "message": self.message, "field": self.field}
        return {"error": {**error, "details": self.details} if self.details else error}


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 400


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class TooManyRequests(DomainError):
    code = "rate_limited"
    status = 429


class Unavailable(DomainError):
    """Something Siyu depends on (WeCom) did not answer in time; the same request may work later."""

    code = "unavailable"
    status = 503


def save_or_conflict(obj, conflict: Conflict):
    """Save a row whose unique constraint may be taken (a name in use); raise `conflict` then, with
    the savepoint rolled back so the surrounding transaction carries on."""

    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise conflict from None
    return obj
