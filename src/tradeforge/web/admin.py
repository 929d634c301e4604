"""Every table in Django's admin (admins edit strategies' parameter sets and notifications)."""

from __future__ import annotations

from django.contrib import admin, messages

from tradeforge.core.errors import ConfigError
from tradeforge.web import models, notifications


@admin.register(models.Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = ("name", "description")


@admin.register(models.ParameterSet)
class ParameterSetAdmin(admin.ModelAdmin):
    list_display = ("strategy", "name", "params")


@admin.register(models.Backtest)
class BacktestAdmin(admin.ModelAdmin):
    list_display = ("id", "strategy", "symbols", "timeframe", "status", "progress", "created")
    list_filter = ("status", "timeframe", "strategy")
    readonly_fields = ("heartbeat", "worker", "attempts", "run_dir")


@admin.register(models.Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("backtest", "net_profit", "return_pct", "sharpe", "max_drawdown_pct", "trades")


@admin.register(models.BreakdownRow)
class BreakdownRowAdmin(admin.ModelAdmin):
    list_display = ("report", "name", "group", "trades", "net_profit")
    list_filter = ("name",)


@admin.register(models.Trade)
class TradeAdmin(admin.ModelAdmin):
    list_display = ("backtest", "trade_id", "symbol", "side", "entry_time", "pnl", "exit_reason")
    list_filter = ("symbol", "side", "exit_reason")


@admin.register(models.RuntimeState)
class RuntimeStateAdmin(admin.ModelAdmin):
    list_display = ("state_dir", "mode", "symbol", "running", "updated")


@admin.register(models.AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("time", "username", "action", "target", "outcome")
    list_filter = ("action", "outcome")

    def has_change_permission(self, request, obj=None) -> bool:  # the trail is append-only
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "created", "last_used")
    readonly_fields = ("digest", "created", "last_used")


class _AppliedAdmin(admin.ModelAdmin):
    """Every change is applied to the notification file at once (`notifications.apply`)."""

    def _apply(self, request) -> None:
        try:
            notifications.apply()
        except ConfigError as exc:
            messages.error(request, f"not applied to the sessions' notification file: {exc}")
            return
        for line in notifications.reload_sessions(request.user):
            messages.info(request, f"notifications: {line}")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        self._apply(request)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        self._apply(request)


@admin.register(models.NotificationConfig)
class NotificationConfigAdmin(_AppliedAdmin):
    list_display = ("name", "chat_id", "levels", "enabled", "updated")


@admin.register(models.WebhookConfig)
class WebhookConfigAdmin(_AppliedAdmin):
    list_display = ("name", "url", "levels", "enabled", "updated")
