"""The notification config file (TOML or YAML): channels and their targets per level, risk
alert thresholds, delivery limits and muted events. The Telegram bot token is never in it:
it comes from an environment variable or a file (`tradeforge.core.secrets.read_secret`).

Example::

    [telegram]
    token_env = "TRADEFORGE_TELEGRAM_TOKEN"   # or token_file = "~/.config/tf/bot-token"
    chats = { info = [123456789], warning = [123456789], critical = [123456789, -1001234567890] }

    [webhook]
    urls = { critical = ["https://hooks.example.com/tradeforge"] }

    [risk]
    daily_loss_pct = [1.0, 2.0]
    drawdown_guard_fraction = [0.5, 0.8]

    [telegram.commands]                       # /status, /pause, /close ... from these users
    users = [123456789]
    confirm_seconds = 30

    [monitor]                                 # backtest vs session divergence alerts
    every_bars = 12
    max_missing = 0
    max_mean_slippage_pips = 0.5
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tradeforge.core.config import read_config_file
from tradeforge.core.errors import ConfigError
from tradeforge.core.paths import user_path
from tradeforge.core.secrets import read_secret
from tradeforge.notify.channel import Notifier
from tradeforge.notify.events import KINDS
from tradeforge.notify.message import Level
from tradeforge.notify.telegram import API_URL, TelegramNotifier
from tradeforge.notify.webhook import WebhookNotifier

TOKEN_ENV = "TRADEFORGE_TELEGRAM_TOKEN"
_CHAT = re.compile(r"^(-?\d+|@[A-Za-z][A-Za-z0-9_]{4,})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandSettings(_Strict):
    """Telegram commands (`tradeforge.notify.operator`): who may send them and how long a
    destructive one waits for its confirmation."""

    users: list[int] = Field(min_length=1)  # Telegram user ids allowed to command
    confirm_seconds: float = Field(30.0, gt=0, le=600)  # a /close, /closeall, /kill button
    poll_timeout: int = Field(25, ge=0, le=50)  # getUpdates long-poll seconds
    max_age: float = Field(120.0, gt=0)  # older commands (sent while nobody listened): ignored


class TelegramSettings(_Strict):
    token_env: str = TOKEN_ENV
    token_file: str | None = None
    base_url: str = API_URL
    chats: dict[Level, list[int | str]] = Field(default_factory=dict)
    chat_interval: float = Field(1.0, ge=0)  # seconds between two messages to one chat
    group_interval: float = Field(3.0, ge=0)  # groups and channels: 20 a minute
    overall_rate: float = Field(30.0, gt=0)  # messages a second over every chat
    timeout: float = Field(10.0, gt=0)
    commands: CommandSettings | None = None

    @field_validator("chats")
    @classmethod
    def _chat_ids(cls, chats: dict[Level, list[int | str]]) -> dict[Level, list[int | str]]:
        for ids in chats.values():
            for chat in ids:
                if not _CHAT.match(str(chat)):
                    raise ValueError(f"{chat!r} is not a chat id (a number or @channelname)")
        return chats

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url

    def token(self) -> str:
        """The bot token from ``token_file`` or the ``token_env`` variable (`ConfigError`)."""
        token = read_secret(self.token_env, self.token_file, "Telegram bot token")
        if not token:
            raise ConfigError(
                f"no Telegram bot token: set the environment variable {self.token_env} "
                "or telegram.token_file in the notification config"
            )
        return token.strip()


class WebhookSettings(_Strict):
    urls: dict[Level, list[str]] = Field(default_factory=dict)
    timeout: float = Field(10.0, gt=0)
    max_batch: int = Field(50, ge=1, le=1000)  # messages per POST
    interval: float = Field(0.0, ge=0)  # seconds between two POSTs to one URL

    @field_validator("urls")
    @classmethod
    def _urls(cls, urls: dict[Level, list[str]]) -> dict[Level, list[str]]:
        for targets in urls.values():
            for url in targets:
                if not url.startswith(("http://", "https://")):
                    raise ValueError(f"{url!r} is not an http(s) URL")
        return urls


class RiskSettings(_Strict):
    daily_loss_pct: list[float] = Field(default_factory=list)  # alert thresholds, % of day start
    drawdown_guard_fraction: list[float] = Field(default_factory=lambda: [0.5, 0.8])

    @field_validator("daily_loss_pct")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        if any(not v > 0 for v in values):
            raise ValueError("thresholds must be > 0")
        return values

    @field_validator("drawdown_guard_fraction")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v <= 1 for v in values):
            raise ValueError("fractions of the guard's limit must be in (0, 1]")
        return values


class DeliverySettings(_Strict):
    queue_size: int = Field(1000, ge=1, le=1_000_000)  # per queue; beyond it, drops
    drain_seconds: float = Field(5.0, ge=0)  # at the session's end, for what is still queued
    retry_seconds: tuple[float, float] = (1.0, 30.0)  # first and longest backoff

    @field_validator("retry_seconds")
    @classmethod
    def _backoff(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError("needs 0 < first <= longest")
        return value


class MonitorSettings(_Strict):
    """The divergence monitor (`tradeforge.notify.monitor`): how often it re-runs the shadow
    backtest, how trades are matched and the limits whose crossing raises an alert (the
    names of `tradeforge.research.consistency.Thresholds`). A limit without a default is off
    until the file sets it; TOML has no null, so a default one is loosened, not removed."""

    every_bars: int = Field(12, ge=1)  # closed bars between two comparisons (at most)
    max_bars: int = Field(20_000, ge=100)  # the shadow replays at most this many last bars
    min_trades: int = Field(5, ge=0)  # rates and metric deltas wait for this many trades
    tolerance: str = "0s"  # entry-time tolerance of a match
    # the shadow's costs when they differ from the session's (the backtest you validated)
    slippage: str | None = None
    commission: float | None = Field(None, ge=0)
    spread: str | float | None = None
    min_match_rate_pct: float | None = Field(None, ge=0, le=100)
    max_extra_pct: float | None = Field(None, ge=0)
    max_missing: int | None = Field(0, ge=0)
    max_extra: int | None = Field(0, ge=0)
    max_mean_entry_delay_s: float | None = Field(None, ge=0)
    max_mean_exit_delay_s: float | None = Field(None, ge=0)
    max_mean_slippage_pips: float | None = Field(0.5, ge=0)
    max_mean_exit_slippage_pips: float | None = Field(0.5, ge=0)
    max_trades_delta: int | None = Field(None, ge=0)
    max_win_rate_delta_pct: float | None = Field(10.0, ge=0)
    max_expectancy_r_delta: float | None = Field(0.2, ge=0)
    max_drawdown_delta_pct: float | None = Field(None, ge=0)
    max_r_ks_statistic: float | None = Field(None, ge=0, le=1)

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, value: str) -> str:
        import pandas as pd

        try:
            ok = pd.Timedelta(value) >= pd.Timedelta(0)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{value!r} is not a duration >= 0 (e.g. 30s, 5min)")
        return value


class NotifyConfig(_Strict):
    """A validated notification config (`load_notify_config`)."""

    label: str | None = None  # heads every Telegram message; default "STRATEGY SYMBOL TF"
    telegram: TelegramSettings | None = None
    webhook: WebhookSettings | None = None
    risk: RiskSettings = RiskSettings()
    delivery: DeliverySettings = DeliverySettings()
    monitor: MonitorSettings | None = None
    mute: list[str] = Field(default_factory=list)

    @field_validator("mute")
    @classmethod
    def _kinds(cls, kinds: list[str]) -> list[str]:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; events: {', '.join(KINDS)}")
        return kinds

    def channels_declared(self) -> bool:
        """Whether any chat or URL is configured."""
        tg = self.telegram is not None and any(self.telegram.chats.values())
        return tg or (self.webhook is not None and any(self.webhook.urls.values()))

    def commands(self) -> CommandSettings | None:
        """The Telegram command settings, when commands are on."""
        return self.telegram.commands if self.telegram is not None else None

    def check_secrets(self) -> None:
        """Fail now (`ConfigError`) when a channel's secret is missing."""
        tg = self.telegram
        if tg is not None and (any(tg.chats.values()) or tg.commands is not None):
            tg.token()

    def channels(self, label: str) -> list[Notifier]:
        """The configured channels that have at least one target."""
        out: list[Notifier] = []
        tg = self.telegram
        if tg is not None and any(tg.chats.values()):
            chats = {level: [str(c) for c in ids] for level, ids in tg.chats.items()}
            out.append(
                TelegramNotifier(
                    tg.token(),
                    chats,
                    base_url=tg.base_url,
                    label=label,
                    chat_interval=tg.chat_interval,
                    group_interval=tg.group_interval,
                    overall_rate=tg.overall_rate,
                    timeout=tg.timeout,
                )
            )
        wh = self.webhook
        if wh is not None and any(wh.urls.values()):
            out.append(
                WebhookNotifier(
                    wh.urls,
                    label=label,
                    timeout=wh.timeout,
                    max_batch=wh.max_batch,
                    interval=wh.interval,
                )
            )
        return out


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if str(p) not in ("", "[key]"))
        msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_notify_config(data: dict[str, Any], where: str = "notification config") -> NotifyConfig:
    """``data`` (a parsed file) as a `NotifyConfig`; `ConfigError` naming what is wrong."""
    tg = data.get("telegram")
    if isinstance(tg, dict) and ("token" in tg or "bot_token" in tg):
        raise ConfigError(
            f"{where}: telegram.token: the bot token is never read from the config file; put "
            f"it in the environment variable named by telegram.token_env (default {TOKEN_ENV}) "
            "or in the file named by telegram.token_file"
        )
    try:
        config = NotifyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    if not config.channels_declared() and config.commands() is None:
        raise ConfigError(f"{where}: no Telegram chat and no webhook URL to notify")
    return config


def load_notify_config(path: str | Path) -> NotifyConfig:
    """Read and validate the notification config file at ``path``."""
    path = user_path(path)
    return parse_notify_config(read_config_file(path, "notification config"), str(path))
