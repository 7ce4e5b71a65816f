#!/usr/bin/env bash
# Install Azurite (Microsoft's Azure Storage emulator, from the npm registry) for the Azure Blob log-store tests;
# idempotent: a second run with it installed takes milliseconds.
#
# It goes into build/azurite (not the system): the tests start build/azurite/node_modules/.bin/azurite-blob on a
# free port (tests/support/azure.py). Needs node and npm; as root on Debian it installs them with apt-get if missing.
# npm uses the machine's own registry configuration: nothing is pinned here.
# Exit status: 0 when azurite-blob is there, 1 otherwise (with a one-line hint).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PREFIX=build/azurite
BIN=$PREFIX/node_modules/.bin/azurite-blob
say() { echo "azurite: $*" >&2; }

if [ -x "$BIN" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing node and npm with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        say "npm is missing: install Node.js (with npm), then run $0 again"
        exit 1
    fi
fi
mkdir -p "$PREFIX"
say "installing azurite into $PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error azurite@3 >&2
if [ ! -x "$BIN" ]; then
    say "npm finished but $BIN is missing"
    exit 1
fi
