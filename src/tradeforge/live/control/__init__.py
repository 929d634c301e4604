"""Runtime control of a running dry-run/live session: a local authenticated channel and the
operator's commands (pause / resume, enable / disable, blackout windows, manual closes,
close-all, kill), journaled when acknowledged and applied at the next event boundary.

* `server` — the Unix-socket channel served by a thread of the engine's process;
* `client` — what ``tradeforge ctl`` speaks;
* `commands` — the vocabulary and the checks that turn a request into journaled arguments;
* `apply` — commands and blackout flattens at an event boundary (inside `Engine.handle`);
* `gate` — whether a new entry may open (pause, disable, blackout);
* `blackout` — window arithmetic and the economic-calendar CSV; `status` — ``ctl status``.
"""

from tradeforge._lazy import lazy_exports

__all__ = [
    "ControlClient",
    "ControlServer",
    "apply_commands",
    "entry_block",
    "parse_calendar",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "tradeforge.live.control.apply": ("apply_commands",),
        "tradeforge.live.control.blackout": ("parse_calendar",),
        "tradeforge.live.control.client": ("ControlClient",),
        "tradeforge.live.control.gate": ("entry_block",),
        "tradeforge.live.control.server": ("ControlServer",),
    },
)
