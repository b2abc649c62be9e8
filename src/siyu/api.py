"""The JSON API at /api/v1/: token authentication and one renderer for every error."""

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer
from ninja.security import HttpBearer

from siyu.acquisition.api import router as acquisition_router
from siyu.analytics.api import router as analytics_router
from siyu.autotag.api import router as autotag_router
from siyu.corps.api import router as corps_router
from siyu.corps.selectors import actor_for_token
from siyu.customers.api import router as customers_router
from siyu.engagement.api import router as engagement_router
from siyu.groups.api import router as groups_router
from siyu.guides.api import router as guides_router
from siyu.journeys.api import router as journeys_router
from siyu.kit.errors import DomainError, InvalidInput
from siyu.kit.schema import input_problem
from siyu.messaging.api import router as messaging_router
from siyu.orders.api import router as orders_router
from siyu.tags.api import router as tags_router
from siyu.wecom.api import router as wecom_router


class Utf8JSONRenderer(JSONRenderer):
    # Customer names and tags are Chinese: send them readable, not as \u escapes.
    json_dumps_params = {"ensure_ascii": False}


class ObjectBodyParser(Parser):
    """Every JSON body is an object. ninja would otherwise read `[1, 2]`, `null` or `"x"` as "no
    fields given" and fill in the defaults: a staff member's welcome deleted, settings reset."""

    def parse_body(self, request):
        body = super().parse_body(request)
        if not isinstance(body, dict):
            raise InvalidInput(_("The request body must be a JSON object."), code="body_not_object", status=422)
        _refuse_unstorable(body)
        return body

    def parse_querydict(self, data, list_fields, request):
        parsed = super().parse_querydict(data, list_fields, request)
        _refuse_unstorable(parsed)
        return parsed


def _refuse_unstorable(data) -> None:
    # Values no field takes (NUL, integers beyond 64 bits, dates outside 1900–2199) are refused
    # here, for every route at once, before they reach a date conversion or the database.
    found = input_problem(data)
    if found:
        field, code, message = found
        raise InvalidInput(message, code=code, field=field, status=422)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer siyu_…`; the request then acts as the token's membership."""

    def authenticate(self, request, token):
        return actor_for_token(token)


api = NinjaAPI(
    title="Siyu API",
    version="1",
    description="Private-domain operations on WeCom. Every object belongs to the token's corp; another corp's id answers 404.",
    auth=TokenAuth(),
    renderer=Utf8JSONRenderer(),
    parser=ObjectBodyParser(),
    urls_namespace="api",
    docs_url="/docs",
)


def _error(request, status: int, code: str, message: str, field: str | None = None, details: list | None = None):
    # Requests run in one transaction (ATOMIC_REQUESTS); ninja turns exceptions into responses
    # inside it, so the rollback has to be asked for or a half-done write would commit.
    if not transaction.get_autocommit():
        transaction.set_rollback(True)
    error = {"code": code, "message": message, "field": field}
    if details:
        error["details"] = details  # e.g. an import's report: every bad row, not just the first
    return api.create_response(request, {"error": error}, status=status)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return _error(request, exc.status, exc.code, exc.message, exc.field, getattr(exc, "details", None))


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    # loc is like ("query", "limit") or ("body", "payload", "name"); the field is what the client sent.
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "payload", "filters")]
    field = ".".join(loc) or None
    message = first.get("msg") or _("Invalid input.")
    if field:
        message = f"{field}: {message}"
    return _error(request, 422, "invalid_input", message, field)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(request, 401, "unauthorized", _("A valid API token is required: Authorization: Bearer <token>."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    # ninja wraps what the body parser raises ("Cannot parse request body"); our parser's own
    # refusal says more.
    if isinstance(exc.__cause__, DomainError):
        return _domain_error(request, exc.__cause__)
    code = "bad_request" if exc.status_code == 400 else f"http_{exc.status_code}"
    return _error(request, exc.status_code, code, str(exc.message))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "not_found", _("Not found."))


api.add_router("/v1/", corps_router)
api.add_router("/v1/", customers_router)
api.add_router("/v1/", orders_router)
api.add_router("/v1/", analytics_router)
api.add_router("/v1/", tags_router)
api.add_router("/v1/", wecom_router)
api.add_router("/v1/", acquisition_router)
api.add_router("/v1/", autotag_router)
api.add_router("/v1/", groups_router)
api.add_router("/v1/", messaging_router)
api.add_router("/v1/", engagement_router)
api.add_router("/v1/", guides_router)
api.add_router("/v1/", journeys_router)
