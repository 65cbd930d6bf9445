"""One error shape for the whole API: {"detail": "...", "errors": [{"item", "loc", "message"}]}.

Messages say what was wrong, where and what to do. They never repeat an answer or anything that
identifies a client: the scoring's own messages quote the answer given, so answers' problems are
rewritten here by their rule.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from ally.scoring.administration import Problem as AnswerProblem
from ally.web.actions.alerts import AlertActionError
from ally.web.api.schemas import ITEM_NUMBER
from ally.web.collect.errors import CollectError, InvalidAnswersError


class RequestRefusedError(Exception):
    """A request the API turns down with `status` and a message, e.g. an unknown measure."""

    def __init__(self, status: int, detail: str, problems: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = problems or []


MAX_BODY_BYTES = 64 * 1024
"""Largest request body the API reads. The largest body it needs, a 2,000-character note with
every character sent as an escaped surrogate pair (12 bytes each), is under 24 KiB; anything
bigger is a mistake or an attack."""


class UnreadableBodyError(ValueError):
    """A request body the API cannot take: too large (413), not sent as JSON (415), or not a
    JSON object with finite numbers (422)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


TOO_LARGE = (
    f"The request body is larger than the API takes ({MAX_BODY_BYTES // 1024} KiB); send only "
    "the fields the operation lists."
)


class JSONParser(Parser):
    """Bodies must be JSON objects sent as application/json, at most MAX_BODY_BYTES long, with
    finite numbers (NaN, Infinity and numbers too large for a float are not taken)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        if len(request.body) > MAX_BODY_BYTES:
            raise UnreadableBodyError(413, TOO_LARGE)
        content_type = request.content_type or ""
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise UnreadableBodyError(
                415,
                "Send the request body as JSON with the header Content-Type: application/json.",
            )
        try:
            data = json.loads(request.body, parse_constant=_no_constant, parse_float=_finite)
        except UnreadableBodyError:
            raise
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: brackets nested thousands deep, which no operation takes.
            raise UnreadableBodyError(
                422, "The request body is not valid JSON; check its brackets, quotes and commas."
            ) from None
        if not isinstance(data, dict):
            raise UnreadableBodyError(422, "The request body must be a JSON object: {...}.")
        return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        # Not quoted back: the number may be an answer.
        raise UnreadableBodyError(
            422, "The request body holds a number too large to use; check the numbers sent."
        )
    return number


SIGNED_OUT = (
    "Sign in first, or send a valid token as `Authorization: Bearer <token>`: a program gets "
    "one from /oauth/token/ with its API client's id and secret, and a new one when it expires."
)
CSRF_REFUSED = (
    "This request was refused because it carried no valid CSRF token; send the page's token "
    "in the X-CSRFToken header with every POST."
)
NOT_FOUND = "Not found."


def error_body(detail: str, problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": problems or []}


def answer_problem(problem: AnswerProblem) -> dict[str, Any]:
    """One scoring problem for the client, worded without the answer it quotes."""
    where = f"Item {problem.item}" if problem.item is not None else "The answers"
    if problem.rule == "not_a_number":
        message = f"{where}: the answer is not a number; give a number, or null to leave it out."
    elif problem.rule == "out_of_range":
        # The scoring's message reads "answer X is not allowed; give ..."; keep only the advice.
        _, _, advice = problem.message.partition("; ")
        message = f"{where}: this answer is not allowed" + (f"; {advice}." if advice else ".")
    else:
        message = f"{where}: {problem.message}."
    return {"item": problem.item, "loc": None, "message": message}


def _validation_problem(error: dict[str, Any]) -> dict[str, Any]:
    loc = [part for part in error.get("loc", ()) if part != "[key]"]
    if loc[:2] == ["body", "body"]:
        # Ninja names the parameter (every body parameter here is `body`); the caller's JSON
        # has no such level.
        del loc[1]
    if error.get("type") == "item_number":
        # The message names the key, as the caller can read it; the key is no item.
        return {"item": None, "loc": loc, "message": str(error.get("msg"))}
    item = None
    if len(loc) >= 3 and loc[:2] == ["body", "answers"] and ITEM_NUMBER.fullmatch(str(loc[2])):
        item = int(loc[2])
    if loc == ["body"] and error.get("type") == "missing":
        message = "The request body is missing; send a JSON object with the fields listed."
        return {"item": None, "loc": loc, "message": message}
    where = ".".join(str(part) for part in loc[1:]) or str(loc[0] if loc else "request")
    said = str(error.get("msg", "not valid"))
    return {"item": item, "loc": loc, "message": f"{where}: {said.rstrip('.')}."}


def register(api: NinjaAPI) -> None:
    """Install the handlers that give every error the one shape."""

    def respond(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
        return api.create_response(request, body, status=status)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return respond(request, 404, error_body(NOT_FOUND))

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        detail = str(exc) or "Your role does not allow this."
        response = respond(request, 403, error_body(detail))
        if getattr(request, "api_client", None) is not None:
            response["WWW-Authenticate"] = 'Bearer realm="Ally", error="insufficient_scope"'
        return response

    @api.exception_handler(RequestDataTooBig)
    def too_large(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE before the parser
        # sees it; the caller gets the same answer as for one over MAX_BODY_BYTES.
        return respond(request, 413, error_body(TOO_LARGE))

    @api.exception_handler(ValidationError)
    def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        problems = [_validation_problem(error) for error in exc.errors]
        return respond(
            request, 422, error_body("The request is not valid; see each problem.", problems)
        )

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, UnreadableBodyError):
            # Ninja reports every body it cannot parse as 400; Ally says which kind of problem.
            return respond(request, exc.__cause__.status, error_body(str(exc.__cause__)))
        if isinstance(exc, AuthenticationError):
            response = respond(request, 401, error_body(SIGNED_OUT))
            # RFC 6750 §3: how to authenticate, and whether the token sent was refused.
            refused = ', error="invalid_token"' if getattr(request, "bearer_refused", False) else ""
            response["WWW-Authenticate"] = f'Bearer realm="Ally"{refused}'
            return response
        if exc.status_code == 403 and str(exc).startswith("CSRF"):
            return respond(request, 403, error_body(CSRF_REFUSED))
        return respond(request, exc.status_code, error_body(str(exc)))

    @api.exception_handler(InvalidAnswersError)
    def invalid_answers(request: HttpRequest, exc: InvalidAnswersError) -> HttpResponse:
        problems = [answer_problem(problem) for problem in exc.problems]
        detail = f"The answers to {exc.measure_id} cannot be scored; fix each item listed."
        return respond(request, 422, error_body(detail, problems))

    @api.exception_handler(CollectError)
    def conflict(request: HttpRequest, exc: CollectError) -> HttpResponse:
        # A closed administration, a reused idempotency key, a refused amendment: the request
        # was well formed but the record's state forbids it.
        return respond(request, 409, error_body(str(exc)))

    @api.exception_handler(AlertActionError)
    def alert_conflict(request: HttpRequest, exc: AlertActionError) -> HttpResponse:
        return respond(request, 409, error_body(str(exc)))

    @api.exception_handler(RequestRefusedError)
    def refused(request: HttpRequest, exc: RequestRefusedError) -> HttpResponse:
        return respond(request, exc.status, error_body(exc.detail, exc.problems))
