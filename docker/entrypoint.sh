#!/bin/sh
# Container entrypoint: make sure the data directories exist and are writable, then run the
# command — a tradeforge command (`live ...`, `web ...`, `health`) or any program (`sh`).
# `exec` makes it PID 1's replacement, so `docker stop` (SIGTERM) reaches it directly and a
# live session ends as on Ctrl-C.
set -eu
state="${TRADEFORGE_STATE:-/data/sessions/engine}"
home="${TRADEFORGE_HOME:-/data/home}"
for dir in "$home" "$(dirname "$state")"; do
    if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
        echo "entrypoint: $dir is not writable by uid $(id -u); fix the volume's owner" >&2
        exit 2
    fi
done
if [ "$#" -eq 0 ]; then
    set -- --help
fi
if command -v -- "$1" >/dev/null 2>&1; then
    exec "$@"
fi
exec tradeforge "$@"
