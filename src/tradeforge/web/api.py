"""The JSON API: what the pages do, for scripts. A session login or ``Authorization: Bearer
TOKEN`` (`tokens`; `auth.TokenAuthMiddleware`); viewers read, operators act (403 JSON
otherwise). Bodies of POSTs are JSON objects; errors are ``{"error": "..."}`` with 400
(bad input), 403 (role), 404, 405 or 409 (a refused state change)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.web import compliance, jobs, launch, sessions
from tradeforge.web.auth import operator_required
from tradeforge.web.models import Backtest, RuntimeState
from tradeforge.web.views import (
    PAGE_SIZE,
    audit_entry,
    cancel_audited,
    filtered_backtests,
    page_number,
)


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        doc = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ConfigError(f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("the body must be a JSON object")
    return doc


def _error(exc: Exception, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": str(exc)}, status=status)


# -- backtests --------------------------------------------------------------------------------
def backtest_doc(b: Backtest) -> dict[str, Any]:
    report = getattr(b, "report", None)
    return {
        "id": b.pk,
        "status": b.status,
        "progress": b.progress,
        "stage": b.stage,
        "error": b.error,
        "spec": b.spec,
        "created": b.created.isoformat(),
        "started": b.started.isoformat() if b.started else None,
        "finished": b.finished.isoformat() if b.finished else None,
        "run_dir": b.run_dir,
        "worker": b.worker,
        "attempts": b.attempts,
        "summary": report.summary if report else None,
    }


def backtests(request: HttpRequest) -> JsonResponse:
    """GET: the filtered list (``status``, ``strategy``, ``symbol``, ``sort``; ``page``: 100
    a page, ``next`` says whether another follows); POST
    (operators): submit a run specification (`RunSpec.to_dict` form)."""
    if request.method == "POST":
        return _submit(request)
    if request.method != "GET":
        return _error(ConfigError("GET or POST"), 405)
    qs, _ = filtered_backtests(request.GET)
    page = page_number(request.GET)
    rows = list(qs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    return JsonResponse(
        {
            "backtests": [backtest_doc(b) for b in rows[:PAGE_SIZE]],
            "page": page,
            "next": len(rows) > PAGE_SIZE,
        }
    )


@operator_required
def _submit(request: HttpRequest) -> JsonResponse:
    try:
        backtest = jobs.submit(_body(request), request.user)
    except TradeforgeError as exc:
        return _error(exc)
    audit_entry(request, "backtest_submit", f"backtest #{backtest.pk}", backtest.spec, "")
    return JsonResponse(backtest_doc(backtest), status=201)


@require_GET
def backtest(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(backtest_doc(get_object_or_404(Backtest, pk=pk)))


@operator_required
@require_POST
def backtest_cancel(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        outcome = cancel_audited(request, pk)
    except ConfigError as exc:
        return _error(exc, 409)
    return JsonResponse({"id": pk, "outcome": outcome})


# -- sessions ---------------------------------------------------------------------------------
def session_doc(row: RuntimeState) -> dict[str, Any]:
    return {
        "state_dir": row.state_dir,
        "mode": row.mode,
        "symbol": row.symbol,
        "running": row.running,
        "strategies": row.strategies,
        "positions": row.positions,
        "control": row.control,
        "error": row.error,
        "pid": row.pid,
        "launched_by": row.launched_by,
    }


@require_GET
def session_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sessions": [session_doc(r) for r in sessions.refresh()]})


@operator_required
@require_POST
def session_command(request: HttpRequest) -> JsonResponse:
    """``{"state_dir": ..., "action": "pause", "args": {...}}`` through the control channel."""
    try:
        doc = _body(request)
        args = doc.get("args") or {}
        if not isinstance(args, dict):
            raise ConfigError("args must be a JSON object")
        answer = sessions.send_command(
            request.user, str(doc.get("state_dir") or ""), str(doc.get("action") or ""), args
        )
    except ConfigError as exc:
        return _error(exc, 409)
    except TradeforgeError as exc:
        return _error(exc, 502)
    return JsonResponse({"answer": answer})


@operator_required
@require_POST
def session_start(request: HttpRequest) -> JsonResponse:
    """A new session (`launch.start`): ``name``, ``strategy``, ``params`` (list of ``k=v``),
    ``symbol``, ``timeframe``, ``replay`` (``START:END``), ``pace``, ...; or ``"mode": "live"``
    with ``broker`` and its connection fields and ``"confirm": true``."""
    try:
        row = launch.start(request.user, _body(request))
    except TradeforgeError as exc:
        return _error(exc)
    return JsonResponse(session_doc(row), status=201)


@operator_required
@require_POST
def session_stop(request: HttpRequest) -> JsonResponse:
    try:
        detail = launch.stop(request.user, str(_body(request).get("state_dir") or ""))
    except ConfigError as exc:
        return _error(exc, 409)
    return JsonResponse({"outcome": detail})


@operator_required
@require_POST
def session_resume(request: HttpRequest) -> JsonResponse:
    """``{"state_dir": ..., "confirm": true}`` (a live session needs the confirmation)."""
    body = _body(request)
    try:
        row = launch.resume(
            request.user, str(body.get("state_dir") or ""), body.get("confirm") is True
        )
    except ConfigError as exc:
        return _error(exc, 409)
    return JsonResponse(session_doc(row))


# -- compliance and audit ----------------------------------------------------------------------
@require_GET
def compliance_doc(request: HttpRequest) -> JsonResponse:
    rows = sessions.refresh()
    return JsonResponse(
        {"guards": compliance.guard_states(rows), "events": compliance.events(rows)}
    )
