#!/bin/sh
# Docker HEALTHCHECK: healthy (0) unless `tradeforge health` says the session is down (exit 2:
# stopped, stuck past its watchdog, or gone). A degraded session (exit 1) is healthy here: its
# health rules already act on it (halt entries, flatten) and a restart would not help.
tradeforge health --state "${TRADEFORGE_STATE:-/data/sessions/engine}" >/dev/null 2>&1
[ "$?" -lt 2 ]
