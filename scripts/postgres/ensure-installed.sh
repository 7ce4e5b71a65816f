#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries are on this machine, for the throw-away clusters of the tests
# (tests/support/postgres.py) and of `bench/launch_throughput.py --database postgres`; idempotent, and quick when
# they are there.
#
# 1. initdb is found (Debian: /usr/lib/postgresql/<version>/bin; elsewhere on PATH): nothing to do.
# 2. Otherwise install Debian's postgresql package (needs root and apt-get) without starting the cluster the
#    package creates: the tests make clusters of their own, on free ports, and remove them.
#
# Exit status: 0 when the binaries are there, 1 otherwise (with a one-line hint on how to get them).
set -euo pipefail

HINT="install PostgreSQL's server (as root: scripts/postgres/ensure-installed.sh, or apt-get install postgresql)"

say() { echo "ensure-installed: $*" >&2; }
found() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1; }

if found; then
    say "PostgreSQL is installed"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "PostgreSQL is not installed and only root with apt-get can install it here; $HINT"
    exit 1
fi

started=$(date +%s)
say "installing postgresql"
export DEBIAN_FRONTEND=noninteractive
# No service starts during the install (the package would start its own cluster on port 5432): the standard
# policy-rc.d answer "not allowed", only while we install and only if the machine has no policy of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
# A machine that never ran `apt-get update` has no package lists: update only then (or if the install fails).
install() { apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
if ! install && ! { apt-get update -qq && install; }; then
    say "apt-get could not install postgresql; $HINT"
    exit 1
fi
found || { say "postgresql was installed but initdb is still missing; $HINT"; exit 1; }
say "postgresql installed in $(($(date +%s) - started)) s"
