#!/usr/bin/env bash
# Undo what the docker tests and ensure-engine.sh left running; idempotent.
#
# - Containers and stop markers of test agents (agent names `lstest-*`) that a crashed test could not remove.
# - Dangling image layers older than a day (the newest ones are the build cache of the next run).
# - The dockerd that ensure-engine.sh started (never an engine someone else runs).
# Images stay in the engine's data root, so the next run's builds start warm where the machine is kept.
set -euo pipefail

RUN_DIR=${LONGSHOREMAN_DOCKERD_DIR:-/var/run/longshoreman-dockerd}
say() { echo "teardown: $*" >&2; }

if docker info >/dev/null 2>&1; then
    leftovers=$(docker ps -a --filter label=longshoreman.managed-by=longshoreman \
        --format '{{.ID}} {{.Label "longshoreman.agent"}}' | awk '$2 ~ /^lstest-/ {print $1}')
    if [ -n "$leftovers" ]; then
        # shellcheck disable=SC2086
        docker rm -f $leftovers >/dev/null && say "removed $(echo "$leftovers" | wc -l) leftover test container(s)"
    fi
    docker volume ls -q --filter label=longshoreman.kind=stop-marker | grep '^lstest-' | xargs -r docker volume rm >/dev/null || true
    docker image prune --force --filter until=24h >/dev/null || true
fi

if [ -f "$RUN_DIR/started-by-longshoreman" ]; then
    pid=$(cat "$RUN_DIR/dockerd.pid" 2>/dev/null || cat "$RUN_DIR/started-by-longshoreman")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            say "dockerd (pid $pid) did not stop in 30 s: killing it"
            kill -KILL "$pid" || true
        fi
        say "stopped dockerd (pid $pid)"
    fi
    rm -f "$RUN_DIR/started-by-longshoreman"
fi
