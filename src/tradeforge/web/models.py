"""The control plane's tables: what was asked (Strategy, Backtest), what came out (Report,
BreakdownRow, Trade), what runs (RuntimeState), who did what (AuditLog) and where
notifications go (NotificationConfig). Run folders stay the source of truth for a result;
these rows are its queryable index."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Strategy(models.Model):
    """A registered strategy (`tradeforge.strategy.registry`), synced by `jobs.sync_strategies`."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    defaults = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ParameterSet(models.Model):
    """A named set of parameter values of one strategy, offered when submitting a backtest."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="parameter_sets")
    name = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["strategy__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "name"], name="unique_parameter_set")
        ]

    def __str__(self) -> str:
        return f"{self.strategy.name}/{self.name}"


class Backtest(models.Model):
    """One asynchronous backtest: its `RunSpec` (``to_dict`` form) and its life in the queue."""

    QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)]
    FINISHED = (DONE, FAILED, CANCELLED)

    spec = models.JSONField()
    strategy = models.ForeignKey(Strategy, null=True, blank=True, on_delete=models.SET_NULL)
    symbols = models.CharField(max_length=200, blank=True, db_index=True)
    timeframe = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    #: the worker holding the job (``host:pid``) and its last sign of life
    worker = models.CharField(max_length=200, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    run_dir = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.strategy_name} {self.symbols} {self.status}"

    @property
    def strategy_name(self) -> str:
        return ((self.spec or {}).get("strategy") or {}).get("name", "")

    @property
    def duration_s(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None


class Report(models.Model):
    """A run's ``report.json``: the whole document plus its headline metrics as columns."""

    backtest = models.OneToOneField(Backtest, on_delete=models.CASCADE, related_name="report")
    status = models.CharField(max_length=20)
    summary = models.JSONField()
    breakdowns = models.JSONField()
    periods = models.JSONField()
    stability = models.JSONField(null=True)
    net_profit = models.FloatField(null=True, db_index=True)
    return_pct = models.FloatField(null=True, db_index=True)
    sharpe = models.FloatField(null=True, db_index=True)
    max_drawdown_pct = models.FloatField(null=True, db_index=True)
    profit_factor = models.FloatField(null=True)
    win_rate_pct = models.FloatField(null=True)
    expectancy_r = models.FloatField(null=True)
    trades = models.IntegerField(default=0, db_index=True)

    def __str__(self) -> str:
        return f"report of backtest #{self.backtest_id}"


class BreakdownRow(models.Model):
    """One row of a report breakdown (by symbol, tag, side, exit reason, month, year)."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="breakdown_rows")
    name = models.CharField(max_length=20, db_index=True)
    group = models.CharField(max_length=100)
    trades = models.IntegerField()
    win_rate_pct = models.FloatField(null=True)
    net_profit = models.FloatField(null=True)
    profit_factor = models.FloatField(null=True)
    expectancy = models.FloatField(null=True)
    expectancy_r = models.FloatField(null=True)

    class Meta:
        ordering = ["report", "name", "id"]


class Trade(models.Model):
    """One closed trade of a backtest (``trades.csv``)."""

    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="trades")
    trade_id = models.IntegerField()
    symbol = models.CharField(max_length=20, db_index=True)
    tag = models.CharField(max_length=50, blank=True)
    side = models.CharField(max_length=5)
    entry_time = models.DateTimeField()
    entry_price = models.FloatField()
    exit_time = models.DateTimeField()
    exit_price = models.FloatField()
    size = models.FloatField()
    pnl = models.FloatField()
    commission = models.FloatField()
    r_multiple = models.FloatField(null=True)
    exit_reason = models.CharField(max_length=20)
    bars_held = models.IntegerField()

    class Meta:
        ordering = ["backtest", "trade_id"]
        constraints = [
            models.UniqueConstraint(fields=["backtest", "trade_id"], name="unique_trade_id")
        ]


class RuntimeState(models.Model):
    """A dry-run/live session as last read from its state directory."""

    state_dir = models.CharField(max_length=500, unique=True)
    mode = models.CharField(max_length=10, blank=True)
    symbol = models.CharField(max_length=20, blank=True)
    strategies = models.JSONField(default=list)
    positions = models.JSONField(default=list)
    control = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    running = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    updated = models.DateTimeField(auto_now=True)
    #: a session this control plane started (`launch`): its process, who started it and how
    pid = models.IntegerField(null=True, blank=True)
    launched_by = models.CharField(max_length=150, blank=True)
    launched = models.DateTimeField(null=True, blank=True)
    command = models.JSONField(default=list, blank=True)
    log_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["state_dir"]

    def __str__(self) -> str:
        return self.state_dir


class AuditLog(models.Model):
    """Every action a user took through the control plane, with its outcome."""

    OK, REFUSED, ERROR = "ok", "refused", "error"

    time = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=500, blank=True)
    args = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=10)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-time", "-id"]


class ApiToken(models.Model):
    """A bearer token of the JSON API, acting as its user (and with the user's role). Only
    its SHA-256 digest is stored; the token itself is shown once, when it is made."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user__username", "name"]

    def __str__(self) -> str:
        return f"{self.user.get_username()}/{self.name}"


class NotificationConfig(models.Model):
    """A Telegram chat and the levels it receives (``tradeforge.notify.message.Level``), edited
    on the notifications page or in the admin and written to the notification config file
    the sessions started here read (`notifications`). The bot token stays in the environment
    (``token_env`` names the variable), never in the database."""

    name = models.CharField(max_length=100, unique=True)
    chat_id = models.CharField(max_length=100)
    levels = models.JSONField(default=list)
    token_env = models.CharField(max_length=100, default="TRADEFORGE_TELEGRAM_TOKEN")
    enabled = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class WebhookConfig(models.Model):
    """A webhook URL and the levels it receives, edited beside the Telegram chats and
    written to the same notification config file (its ``[webhook]`` table)."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=1000)
    levels = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
