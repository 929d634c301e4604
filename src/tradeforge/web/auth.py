"""Roles: every page needs a login (Django's ``LoginRequiredMiddleware``); a *viewer* (any
user) reads, an *operator* (group ``operator``) or an *admin* (superuser) also acts:
submits and cancels backtests, starts and stops sessions and sends them commands.

The JSON API (``/api/``) also takes ``Authorization: Bearer TOKEN`` (`tokens`): the request
then acts as the token's user, and only such a request skips the CSRF check (a browser never
sends that header by itself, so a forged cross-site request cannot carry it)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

OPERATOR = "operator"
API = "/api/"


def can_act(user: Any) -> bool:
    """Whether ``user`` may change anything (operator or admin)."""
    return bool(
        user.is_authenticated and (user.is_superuser or user.groups.filter(name=OPERATOR).exists())
    )


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403 for a viewer (JSON for the API, a short page otherwise)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_act(request.user):
            message = "forbidden: only operators and admins may act"
            if request.path.startswith("/api/"):
                return JsonResponse({"error": message}, status=403)
            return HttpResponse(message, status=403, content_type="text/plain")
        return view(request, *args, **kwargs)

    return wrapped


def roles(request: HttpRequest) -> dict[str, bool]:
    """Template context: ``can_act`` shows or hides the action buttons."""
    user = getattr(request, "user", None)
    return {"can_act": bool(user is not None and can_act(user))}


class TokenAuthMiddleware:
    """Bearer-token authentication of the API (after Django's session authentication); an
    API request with neither a valid token nor a session gets 401 JSON, not a login page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API):
            return self.get_response(request)
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header:
            from tradeforge.web.tokens import authenticate

            scheme, _, token = header.partition(" ")
            user = authenticate(token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return JsonResponse({"error": "invalid API token"}, status=401)
            request.user = user
            request._dont_enforce_csrf_checks = True
        elif not request.user.is_authenticated:
            return JsonResponse(
                {"error": "authentication required: a session or an API token"}, status=401
            )
        return self.get_response(request)
