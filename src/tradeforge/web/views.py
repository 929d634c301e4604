"""Pages and the JSON API. Views read the database and the run folders, and act only through
`jobs` (submit, cancel) and `sessions` (commands to a running session); none runs a backtest."""

from __future__ import annotations

import csv
import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from tradeforge.core.errors import ConfigError, TradeforgeError
from tradeforge.notify.config import TOKEN_ENV
from tradeforge.web import compliance, jobs, launch, notifications, research, sessions
from tradeforge.web.auth import operator_required
from tradeforge.web.models import (
    AuditLog,
    Backtest,
    NotificationConfig,
    Strategy,
    WebhookConfig,
)

#: the list's sort keys (``?sort=-sharpe``): column → database field
SORTS = {
    "created": "created",
    "status": "status",
    "strategy": "strategy__name",
    "net_profit": "report__net_profit",
    "return_pct": "report__return_pct",
    "sharpe": "report__sharpe",
    "max_drawdown_pct": "report__max_drawdown_pct",
    "trades": "report__trades",
}


#: rows of one page of the backtest list
PAGE_SIZE = 100
#: the big JSON columns the list does not show
LIST_DEFERRED = (
    "spec",
    "report__summary",
    "report__breakdowns",
    "report__periods",
    "report__stability",
)


def _without_page(params: Any) -> str:
    copy = params.copy()
    copy.pop("page", None)
    return copy.urlencode()


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for supervisors: 200 "ok" when the database answers."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return HttpResponse("ok\n", content_type="text/plain")


# -- backtests ------------------------------------------------------------------------------
def filtered_backtests(params: Any) -> tuple[Any, str]:
    """The list's query from ``status``, ``strategy``, ``symbol`` and ``sort`` parameters."""
    qs = Backtest.objects.select_related("strategy", "report", "submitted_by")
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    if params.get("strategy"):
        qs = qs.filter(strategy__name=params["strategy"])
    if params.get("symbol"):
        qs = qs.filter(symbols__icontains=params["symbol"].strip().upper())
    sort = params.get("sort") or "-created"
    field = SORTS.get(sort.lstrip("-"))
    if field is None:
        sort, field = "-created", "created"
    order = f"-{field}" if sort.startswith("-") else field
    return qs.order_by(order, "-id"), sort


def page_number(params: Any) -> int:
    try:
        return max(1, int(params.get("page") or 1))
    except ValueError:
        return 1


def backtest_list(request: HttpRequest) -> HttpResponse:
    qs, sort = filtered_backtests(request.GET)
    page = page_number(request.GET)
    # the list shows headline columns only: leave the reports' documents in the database
    rows = list(qs.defer(*LIST_DEFERRED)[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    return render(
        request,
        "web/backtest_list.html",
        {
            "backtests": rows[:PAGE_SIZE],
            "page": page,
            "has_next": len(rows) > PAGE_SIZE,
            "query": _without_page(request.GET),
            "sort": sort,
            "statuses": [s for s, _ in Backtest.STATUSES],
            "strategies": Strategy.objects.all(),
            "filters": request.GET,
            "columns": list(SORTS),
        },
    )


def spec_from_form(data: Any) -> dict[str, Any]:
    """A run specification (`RunSpec.to_dict` form) from the submit form's fields."""
    from tradeforge.strategy.registry import parse_params
    from tradeforge.trading.execution import Sizing

    lines = [ln for ln in (data.get("params") or "").replace(",", "\n").splitlines() if ln.strip()]
    try:
        capital = float(data.get("capital") or 100_000)
    except ValueError:
        raise ConfigError(f"capital must be a number, got {data.get('capital')!r}") from None
    return {
        "strategy": {"name": data.get("strategy") or "", "params": parse_params(lines)},
        "symbols": [s.strip() for s in (data.get("symbols") or "").split(",") if s.strip()],
        "timeframe": (data.get("timeframe") or "").strip() or None,
        "start": (data.get("start") or "").strip() or None,
        "end": (data.get("end") or "").strip() or None,
        "initial_capital": capital,
        "sizing": Sizing.parse((data.get("sizing") or "").strip() or None).to_dict(),
        "portfolio": "shared",
    }


@operator_required
def backtest_new(request: HttpRequest) -> HttpResponse:
    if not Strategy.objects.exists():
        jobs.sync_strategies()
    form = request.POST if request.method == "POST" else {}
    if request.method == "POST":
        try:
            backtest = jobs.submit(spec_from_form(request.POST), request.user)
        except TradeforgeError as exc:
            messages.error(request, str(exc))
        else:
            audit_entry(request, "backtest_submit", f"backtest #{backtest.pk}", backtest.spec, "")
            return redirect("backtest_detail", pk=backtest.pk)
    return render(
        request,
        "web/backtest_new.html",
        {"strategies": Strategy.objects.prefetch_related("parameter_sets"), "form": form},
    )


def backtest_detail(request: HttpRequest, pk: int) -> HttpResponse:
    backtest = get_object_or_404(Backtest.objects.select_related("strategy"), pk=pk)
    report = getattr(backtest, "report", None)
    breakdowns = report.breakdown_rows.all() if report else []
    return render(
        request,
        "web/backtest_detail.html",
        {
            "b": backtest,
            "report": report,
            "breakdowns": breakdowns,
            "spec_json": json.dumps(backtest.spec, indent=2),
            "trades": backtest.trades.all()[:200],
        },
    )


@require_GET
def backtest_report_html(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's interactive ``report.html`` (same origin, so the report page can frame it)."""
    backtest = get_object_or_404(Backtest, pk=pk)
    if not backtest.run_dir:
        raise Http404("this backtest has no report yet")
    path = settings.RUNS_DIR / str(backtest.pk) / "report.html"
    if not path.is_file():
        raise Http404("report.html is missing from the run folder")
    return FileResponse(open(path, "rb"), content_type="text/html; charset=utf-8")


@operator_required
@require_POST
def backtest_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        outcome = cancel_audited(request, pk)
    except ConfigError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, outcome)
    return redirect("backtest_detail", pk=pk)


def cancel_audited(request: HttpRequest, pk: int) -> str:
    """Cancel backtest ``pk`` for the page and the API alike; the outcome or the refusal
    (a `ConfigError`, re-raised) goes to the audit log with the user."""
    backtest = get_object_or_404(Backtest, pk=pk)
    try:
        outcome = jobs.cancel(backtest)
    except ConfigError as exc:
        audit_entry(request, "backtest_cancel", f"backtest #{pk}", {}, str(exc), AuditLog.REFUSED)
        raise
    audit_entry(request, "backtest_cancel", f"backtest #{pk}", {}, outcome)
    return outcome


def audit_entry(
    request: HttpRequest,
    action: str,
    target: str,
    args: dict,
    detail: str,
    outcome: str = AuditLog.OK,
) -> None:
    """An `AuditLog` row of what ``request.user`` did."""
    AuditLog.objects.create(
        user=request.user,
        username=request.user.get_username(),
        action=action,
        target=target,
        args=args,
        outcome=outcome,
        detail=detail,
    )


def compare_rows(a: Backtest, b: Backtest) -> list[dict[str, Any]]:
    """`tradeforge compare`'s table of two finished backtests, formatted for a page."""
    from tradeforge.analytics import build_report, compare_reports, load_run
    from tradeforge.analytics.compare import _delta_text
    from tradeforge.analytics.format import SECTION_TITLES, fmt

    for job in (a, b):
        if job.status != Backtest.DONE:
            raise ConfigError(f"backtest #{job.pk} has not finished ({job.status})")
    table = compare_reports(build_report(load_run(a.run_dir)), build_report(load_run(b.run_dir)))
    rows = []
    for row in table.itertuples(index=False):
        delta = _delta_text(
            None if row.delta is None or row.delta != row.delta else row.delta, row.kind, row.key
        )
        rows.append(
            {
                "section": SECTION_TITLES[row.section],
                "key": row.key,
                "label": row.label,
                "a": fmt(row.a, row.kind),
                "b": fmt(row.b, row.kind),
                "delta": delta.plain,
                "better": {"green": "better", "red": "worse"}.get(str(delta.style), ""),
            }
        )
    return rows


def compare(request: HttpRequest) -> HttpResponse:
    ids = request.GET.getlist("id") or [request.GET.get("a"), request.GET.get("b")]
    ids = [i for i in ids if i]
    context: dict[str, Any] = {"choices": Backtest.objects.filter(status=Backtest.DONE)[:200]}
    if len(ids) == 2:
        try:
            a, b = (get_object_or_404(Backtest, pk=int(i)) for i in ids)
            context.update(a=a, b=b, rows=compare_rows(a, b))
        except (ValueError, TradeforgeError) as exc:
            context["error"] = str(exc)
    elif ids:
        context["error"] = "choose exactly two backtests"
    return render(request, "web/compare.html", context)


# -- research ---------------------------------------------------------------------------------
def research_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/research_list.html", {"results": research.results()})


def _research(root: int, name: str) -> research.ResearchResult:
    try:
        return research.find(f"{root}/{name}")
    except ConfigError as exc:
        raise Http404(str(exc)) from None


def research_detail(request: HttpRequest, root: int, name: str) -> HttpResponse:
    result = _research(root, name)
    scalars, frames = research.tables(result.document())
    return render(
        request,
        "web/research_detail.html",
        {"r": result, "scalars": scalars, "frames": frames, "has_page": result.page.is_file()},
    )


def research_page(request: HttpRequest, root: int, name: str) -> HttpResponse:
    result = _research(root, name)
    if not result.page.is_file():
        raise Http404("no interactive page in this folder")
    return FileResponse(open(result.page, "rb"), content_type="text/html; charset=utf-8")


# -- operations -------------------------------------------------------------------------------
def operations(request: HttpRequest) -> HttpResponse:
    rows = sessions.refresh()
    for row in rows:
        row.tail = launch.log_tail(row) if row.pid and not row.running else ""
    if not Strategy.objects.exists():
        jobs.sync_strategies()
    return render(
        request,
        "web/operations.html",
        {
            "sessions": rows,
            "audit": AuditLog.objects.all()[:20],
            "strategies": Strategy.objects.all(),
            "notify_path": notifications.active_path(),
        },
    )


def command_args(action: str, data: Any) -> dict[str, Any]:
    """The control command's arguments from the operations form."""
    strategy = (data.get("strategy") or "").strip() or None
    confirm = data.get("confirm") == "on"
    if action in ("pause", "resume", "enable", "disable"):
        return {"strategy": strategy}
    if action == "close":
        lots = (data.get("lots") or "").strip()
        try:
            return {"position": data.get("position") or "", "lots": float(lots) if lots else None}
        except ValueError:
            raise ConfigError(f"lots must be a number, got {lots!r}") from None
    if action == "close_all":
        return {"confirm": confirm}
    if action == "kill":
        return {
            "strategy": strategy,
            "reason": data.get("reason") or "operator",
            "confirm": confirm,
        }
    if action == "blackout_add":
        return {
            "start": data.get("start") or None,
            "end": data.get("end") or None,
            "flatten": data.get("flatten") == "on",
            "label": data.get("label") or "",
        }
    if action == "blackout_remove":
        return {"id": data.get("id") or ""}
    raise ConfigError(f"unknown action {action!r}")


@operator_required
@require_POST
def operations_command(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    state_dir = request.POST.get("state_dir", "")
    try:
        args = command_args(action, request.POST)
        answer = sessions.send_command(request.user, state_dir, action, args)
    except TradeforgeError as exc:
        if not AuditLog.objects.filter(action=action, target=state_dir, detail=str(exc)).exists():
            audit_entry(request, action, state_dir, {}, str(exc), AuditLog.REFUSED)
        messages.error(request, f"{action}: {exc}")
    else:
        messages.info(request, f"{action}: acknowledged as command {answer.get('id', '?')}")
    return redirect("operations")


def _csv(name: str, header: list[str], rows: Any) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def audit(request: HttpRequest) -> HttpResponse:
    entries = AuditLog.objects.select_related("user")
    if request.GET.get("format") == "csv":
        return _csv(
            "audit.csv",
            ["time", "user", "action", "target", "args", "outcome", "detail"],
            (
                [
                    e.time.isoformat(),
                    e.username,
                    e.action,
                    e.target,
                    json.dumps(e.args),
                    e.outcome,
                    e.detail,
                ]
                for e in entries.order_by("time", "id").iterator()
            ),
        )
    return render(request, "web/audit.html", {"entries": entries[:500]})


# -- sessions started here, compliance, notifications ------------------------------------------
@operator_required
@require_POST
def session_start(request: HttpRequest) -> HttpResponse:
    form = {k: request.POST.get(k, "") for k in request.POST if k != "csrfmiddlewaretoken"}
    try:
        row = launch.start(request.user, form)
    except TradeforgeError as exc:
        messages.error(request, f"start: {exc}")
    else:
        messages.info(request, f"started {row.state_dir} (pid {row.pid})")
    return redirect("operations")


@operator_required
@require_POST
def session_stop(request: HttpRequest) -> HttpResponse:
    try:
        detail = launch.stop(request.user, request.POST.get("state_dir", ""))
    except ConfigError as exc:
        messages.error(request, f"stop: {exc}")
    else:
        messages.info(request, f"stop: {detail}")
    return redirect("operations")


@operator_required
@require_POST
def session_resume(request: HttpRequest) -> HttpResponse:
    state_dir = request.POST.get("state_dir", "")
    try:
        row = launch.resume(request.user, state_dir, request.POST.get("confirm") == "on")
    except ConfigError as exc:
        messages.error(request, f"resume: {exc}")
    else:
        messages.info(request, f"resumed {row.state_dir} (pid {row.pid})")
    return redirect("operations")


def compliance_page(request: HttpRequest) -> HttpResponse:
    rows = sessions.refresh()
    events = compliance.events(rows)
    if request.GET.get("format") == "csv":
        return _csv(
            "compliance.csv",
            compliance.COLUMNS,
            ([e[c] for c in compliance.COLUMNS] for e in events),
        )
    return render(
        request,
        "web/compliance.html",
        {"guards": compliance.guard_states(rows), "events": events[::-1][:1000]},
    )


def notifications_page(request: HttpRequest) -> HttpResponse:
    """The chats and webhooks and their levels; operators add, change and remove them, and
    every change is written at once to the file sessions started here read
    (`notifications.apply`). ``?webhook=NAME`` fills the webhook form with that one."""
    if request.method == "POST":
        return _notifications_change(request)
    hook = WebhookConfig.objects.filter(name=request.GET.get("webhook") or "").first()
    form = {"name": hook.name, "url": hook.url, "levels": hook.levels} if hook else {}
    return _notifications_render(request, form)


def _notifications_render(request: HttpRequest, webhook_form: dict[str, Any]) -> HttpResponse:
    return render(
        request,
        "web/notifications.html",
        {
            "rows": NotificationConfig.objects.order_by("name"),
            "hooks": WebhookConfig.objects.order_by("name"),
            "webhook_form": webhook_form,
            "levels": notifications.LEVELS,
            "path": notifications.active_path(),
        },
    )


def _save_chat(name: str, data: Any) -> None:
    NotificationConfig.objects.update_or_create(
        name=name,
        defaults={
            "chat_id": (data.get("chat_id") or "").strip(),
            "levels": data.getlist("levels"),
            "token_env": (data.get("token_env") or "").strip() or TOKEN_ENV,
            "enabled": data.get("enabled") == "on",
        },
    )


def _save_webhook(name: str, data: Any) -> None:
    WebhookConfig.objects.update_or_create(
        name=name,
        defaults={
            "url": (data.get("url") or "").strip(),
            "levels": data.getlist("levels"),
            "enabled": data.get("enabled") == "on",
        },
    )


@operator_required
def _notifications_change(request: HttpRequest) -> HttpResponse:
    data = request.POST
    webhook = data.get("kind") == "webhook"
    model, save, noun = (
        (WebhookConfig, _save_webhook, "webhook")
        if webhook
        else (NotificationConfig, _save_chat, "chat")
    )
    name = (data.get("name") or "").strip()
    delete = data.get("delete") == "on"
    action = f"{'webhook' if webhook else 'notification'}_{'delete' if delete else 'set'}"
    target = "url" if webhook else "chat_id"
    args = {target: data.get(target, ""), "levels": data.getlist("levels")}
    try:
        with transaction.atomic():  # a change the file cannot take is rolled back
            if not name:
                raise ConfigError(f"a {noun} needs a name")
            if delete:
                model.objects.filter(name=name).delete()
            else:
                save(name, data)
            path = notifications.apply()
    except ConfigError as exc:
        audit_entry(request, action, name, args, str(exc), AuditLog.REFUSED)
        messages.error(request, f"notifications: {exc}")
        if webhook and not delete:  # the form again, holding what was typed, to correct it
            form = {"name": name, "url": data.get("url", ""), "levels": data.getlist("levels")}
            return _notifications_render(request, form)
    else:
        detail = f"written to {path}" if path else "nothing enabled: file removed"
        audit_entry(request, action, name, args, detail)
        running = notifications.reload_sessions(request.user)
        messages.info(request, "; ".join([f"notifications: {detail}", *running]))
    return redirect("notifications")
