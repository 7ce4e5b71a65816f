#!/usr/bin/env bash
# Make sure Debian's chromium is on this machine for the web UI's browser tests (tests/controlplane/ui/):
# Playwright drives it through `executable_path`; Playwright's own browser download is never used.
# Idempotent, and instant when chromium is there.
#
# Exit status: 0 when /usr/bin/chromium (or LONGSHOREMAN_CHROMIUM) exists, 1 otherwise (with a one-line hint).
set -euo pipefail

BINARY="${LONGSHOREMAN_CHROMIUM:-/usr/bin/chromium}"
HINT="install Debian's chromium (as root: scripts/browser/ensure-chromium.sh, or apt-get install chromium)"

say() { echo "ensure-chromium: $*" >&2; }

if [ -x "$BINARY" ]; then
    say "chromium is installed ($BINARY)"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "chromium is not installed and only root with apt-get can install it here; $HINT"
    exit 1
fi
started=$(date +%s)
say "installing chromium"
export DEBIAN_FRONTEND=noninteractive
# A machine that never ran `apt-get update` has no package lists: update only then (or if the install fails).
install() { apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }
if ! install && ! { apt-get update -qq && install; }; then
    say "apt-get could not install chromium; $HINT"
    exit 1
fi
[ -x "$BINARY" ] || { say "chromium was installed but $BINARY is still missing; $HINT"; exit 1; }
say "chromium installed in $(($(date +%s) - started)) s"
