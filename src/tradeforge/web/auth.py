"""Roles: every page needs a login (Django's ``LoginRequiredMiddleware``); a *viewer* (any
user) reads, an *operator* (group ``operator``) or an *admin* (superuser) also acts:
submits and cancels backtests and sends commands to sessions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

OPERATOR = "operator"


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
