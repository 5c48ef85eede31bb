"""The API's one error shape, `{"errors": [{"field", "message"}]}`, for every refusal: the
exceptions the pages' services raise are answered here with the status they mean, never a 500
for bad input (docs/api.md, "Errors")."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from jobs.intake.uploads import UploadConflict
from storage.s3 import StorageError
from tenants.api_tokens import TokenRefused

log = logging.getLogger(__name__)


class ErrorItem(Schema):
    field: str | None
    message: str


class ErrorOut(Schema):
    errors: list[ErrorItem]


class ApiError(Exception):
    """A refusal with its status, and the field it is about when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None, *,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}


# Statuses every token-authenticated operation may answer (declared in the schema).
COMMON = (400, 401, 403, 404, 413, 422, 429, 503)


def responses(ok: dict, *extra: int) -> dict:
    """An operation's `response=`: its success shapes and the error shape for every refusal."""
    return {**ok, **{status: ErrorOut for status in (*COMMON, *extra)}}


def body(items: list[tuple[str | None, str]]) -> dict:
    return {"errors": [{"field": field, "message": message} for field, message in items]}


def validation_items(exc: ValidationError, *, renamed: dict | None = None
                     ) -> list[tuple[str | None, str]]:
    renamed = renamed or {}
    if hasattr(exc, "error_dict"):
        return [(None if field == "__all__" else renamed.get(field, field), message)
                for field, errors in exc.message_dict.items() for message in errors]
    return [(None, message) for message in exc.messages]


def _location(loc) -> str | None:
    # ninja names where a value came from first ("body", "query", "path") and the schema's
    # argument name second; the client knows its fields only.
    names = [str(part) for part in loc[1:] if str(part) not in ("payload", "filters")]
    return ".".join(names) or None


def install(api) -> None:
    def answer(request, status: int, items, headers=None):
        response = api.create_response(request, body(items), status=status)
        for name, value in (headers or {}).items():
            response[name] = value
        return response

    @api.exception_handler(ApiError)
    def api_error(request, exc: ApiError):
        return answer(request, exc.status, [(exc.field, exc.message)], exc.headers)

    @api.exception_handler(TokenRefused)
    def token_refused(request, exc: TokenRefused):
        return answer(request, 401, [(None, str(exc))], {"WWW-Authenticate": "Bearer"})

    @api.exception_handler(AuthenticationError)
    def no_token(request, exc):
        return answer(request, 401, [(None, "Send an API token: Authorization: Bearer wes_...")],
                      {"WWW-Authenticate": "Bearer"})

    @api.exception_handler(NinjaValidationError)
    def bad_shape(request, exc: NinjaValidationError):
        return answer(request, 422, [(_location(error.get("loc", ())), error.get("msg", "Invalid."))
                                     for error in exc.errors])

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return answer(request, 404, [(None, str(exc) or "Not found.")])

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return answer(request, 403, [(None, str(exc) or "You may not do this.")])

    @api.exception_handler(UploadConflict)
    def conflict(request, exc: UploadConflict):
        return answer(request, 409, validation_items(exc))

    @api.exception_handler(ValidationError)
    def invalid(request, exc: ValidationError):
        return answer(request, 400, validation_items(exc))

    @api.exception_handler(StorageError)
    def storage_down(request, exc: StorageError):
        # the server, bucket and key are for the operators' log
        log.warning("API: storage is unavailable: %s", exc)
        return answer(request, 503, [(None, "The file store is not answering; nothing was "
                                            "changed. Try again in a few minutes.")])

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        return answer(request, 413, [(None, "The request body is too large "
                                            "(DATA_UPLOAD_MAX_MEMORY_SIZE).")])

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        return answer(request, exc.status_code, [(None, str(exc))])

    @api.exception_handler(Exception)
    def unexpected(request, exc):
        log.exception("API: unexpected error")
        return answer(request, 500, [(None, "The portal failed to answer; the error was logged.")])
