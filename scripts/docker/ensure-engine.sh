#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine; idempotent and quick when one already runs.
#
# 1. `docker info` answers: nothing to do (any engine the user runs is fine, e.g. Docker Desktop or systemd's).
# 2. No `dockerd`: install Debian's docker.io (needs root and apt-get).
# 3. Start dockerd in the background with overlay2 storage and a bridge of its own, then wait until it answers.
#
# Exit status: 0 when an engine answers, 1 otherwise (with a one-line hint on how to get one).
# Environment: LONGSHOREMAN_DOCKER_BIP (bridge address, default 172.31.250.1/24),
#              LONGSHOREMAN_DOCKER_POOL (address pool of user-defined networks, default 172.31.0.0/16),
#              LONGSHOREMAN_DOCKERD_DIR (pid and log of the dockerd started here, default /var/run/longshoreman-dockerd).
set -euo pipefail

BIP=${LONGSHOREMAN_DOCKER_BIP:-172.31.250.1/24}
POOL=${LONGSHOREMAN_DOCKER_POOL:-172.31.0.0/16}
RUN_DIR=${LONGSHOREMAN_DOCKERD_DIR:-/var/run/longshoreman-dockerd}
HINT="start a Docker engine (e.g. as root: scripts/docker/ensure-engine.sh) so that 'docker info' answers"

say() { echo "ensure-engine: $*" >&2; }
answers() { docker info >/dev/null 2>&1; }

if answers; then
    say "a docker engine is already running"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    say "no docker engine answers and only root can install or start one; $HINT"
    exit 1
fi

started=$(date +%s)
if ! command -v dockerd >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        say "dockerd is not installed and apt-get is not available; $HINT"
        exit 1
    fi
    say "installing docker.io"
    export DEBIAN_FRONTEND=noninteractive
    # A machine that never ran `apt-get update` has no package lists: update only then (or if the install fails).
    if ! apt-get install -y -qq --no-install-recommends docker.io >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends docker.io >/dev/null
    fi
    say "docker.io installed in $(($(date +%s) - started)) s"
fi
# The docker CLI comes with docker.io; a machine may also have one of its own (newer) earlier on PATH.
command -v docker >/dev/null 2>&1 || { say "the docker CLI is missing"; exit 1; }

mkdir -p "$RUN_DIR"
if [ -f "$RUN_DIR/dockerd.pid" ] && kill -0 "$(cat "$RUN_DIR/dockerd.pid")" 2>/dev/null; then
    say "dockerd (pid $(cat "$RUN_DIR/dockerd.pid")) is starting"
else
    # overlay2: the vfs fallback copies whole layers and was 4-25x slower here. The bridge and the pool are
    # explicit so the engine's networks never overlap the machine's own routes.
    setsid nohup dockerd \
        --storage-driver overlay2 \
        --bip "$BIP" \
        --default-address-pool "base=$POOL,size=24" \
        --pidfile "$RUN_DIR/dockerd.pid" \
        >>"$RUN_DIR/dockerd.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/started-by-longshoreman"
fi
for _ in $(seq 1 300); do
    if answers; then
        say "docker engine ready ($(docker version --format '{{.Server.Version}}'), overlay2) after $(($(date +%s) - started)) s"
        exit 0
    fi
    sleep 0.2
done
say "dockerd did not answer within 60 s; its log ($RUN_DIR/dockerd.log) ends with:"
tail -n 20 "$RUN_DIR/dockerd.log" >&2 || true
exit 1
