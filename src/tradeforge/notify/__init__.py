"""Notifications of dry-run and live sessions: Telegram and generic JSON webhooks.

* `message` — `Message` and its `Level` (info, warning, critical);
* `channel` — the `Notifier` interface a channel implements, `DeliveryError`, `NotifyError`;
* `telegram` — `TelegramNotifier` (python-telegram-bot, configurable Bot API address);
  `webhook` — `WebhookNotifier` (JSON POSTs);
* `dispatch` — `Dispatcher`: the bounded queue and the background thread that routes per
  level, coalesces bursts, paces, retries and counts drops;
* `events` (decisions to message texts), `risk` (`RiskWatch`: daily-loss and drawdown
  alerts), `records` (a commit's trades read back from the journal), `session`
  (`SessionNotifier`: follows an engine through the runner's observer hook);
* `updates` (``getUpdates`` long polling, the stored offset), `commands` (command syntax and
  answer texts), `operator` (`TelegramOperator`: allowlist, confirmations, the control
  client) — the session's Telegram commands;
* `monitor` — `DivergenceMonitor`: a shadow backtest compared with the session's trades;
* `config` — the notification config file (`load_notify_config`); `check` — `send_test`.

The names below load on first use, so the command's start-up pays nothing for them.
"""

from tradeforge._lazy import lazy_exports

__all__ = [
    "DeliveryError",
    "DispatchStats",
    "Dispatcher",
    "DivergenceMonitor",
    "Level",
    "Message",
    "Notifier",
    "NotifyConfig",
    "NotifyError",
    "RiskWatch",
    "SessionNotifier",
    "TelegramNotifier",
    "TelegramOperator",
    "WebhookNotifier",
    "load_notify_config",
    "send_test",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "tradeforge.notify.channel": ("DeliveryError", "Notifier", "NotifyError"),
        "tradeforge.notify.check": ("send_test",),
        "tradeforge.notify.config": ("NotifyConfig", "load_notify_config"),
        "tradeforge.notify.dispatch": ("DispatchStats", "Dispatcher"),
        "tradeforge.notify.message": ("Level", "Message"),
        "tradeforge.notify.monitor": ("DivergenceMonitor",),
        "tradeforge.notify.operator": ("TelegramOperator",),
        "tradeforge.notify.risk": ("RiskWatch",),
        "tradeforge.notify.session": ("SessionNotifier",),
        "tradeforge.notify.telegram": ("TelegramNotifier",),
        "tradeforge.notify.webhook": ("WebhookNotifier",),
    },
)
