#!/usr/bin/env bash
# Build a Python base image without any registry: mmdebstrap (Debian packages from THIS machine's apt sources)
# piped into `docker import`. Cached: nothing happens when the tag is present (FORCE=1 rebuilds).
#
# The result behaves like python:3.11-slim for our Dockerfiles: `python` and `pip` on PATH (a venv in /opt/venv
# that may pip-install freely), the machine's CA bundle (so HTTPS through a TLS-inspecting proxy works inside).
# Nothing about the machine's mirrors is written into the repository: the sources and apt options are read
# from the machine when this script runs.
#
# Usage: scripts/docker/build-base-image.sh [TAG]    (default: $LONGSHOREMAN_BASE_IMAGE or longshoreman-base:py3.11)
set -euo pipefail

TAG=${1:-${LONGSHOREMAN_BASE_IMAGE:-longshoreman-base:py3.11}}
SUITE=${LONGSHOREMAN_BASE_SUITE:-bookworm}
say() { echo "build-base-image: $*" >&2; }

if [ -z "${FORCE:-}" ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    say "$TAG is present (cached; FORCE=1 rebuilds)"
    exit 0
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
    say "installing mmdebstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The machine's own apt sources and the apt options that reaching them needs (snapshot dates, proxies).
sources=()
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -s "$file" ] && sources+=("$file")
done
[ ${#sources[@]} -gt 0 ] || { say "this machine has no apt sources"; exit 1; }
apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|Retries)' >"$work/host-apt.conf" || true

started=$(date +%s)
say "building $TAG from Debian $SUITE"
# minbase + no docs/man/locales keeps the image small; the hooks make the venv and copy the CA bundle in.
# shellcheck disable=SC2016  # "$1" in the hooks is mmdebstrap's (the chroot), not ours
mmdebstrap --quiet --variant=minbase --format=tar \
    --include=python3,python3-venv,ca-certificates,netbase \
    --aptopt="$work/host-apt.conf" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='chroot "$1" python3 -m venv /opt/venv' \
    --customize-hook='chroot "$1" ln -sf /opt/venv/bin/python /usr/local/bin/python' \
    --customize-hook='copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/etc/apt/sources.list.d/* "$1"/etc/apt/apt.conf.d/99mmdebstrap' \
    "$SUITE" - "${sources[@]}" \
    | docker import \
        --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change 'CMD ["python3"]' \
        --message "offline Python base image (Debian $SUITE, mmdebstrap)" \
        - "$TAG" >/dev/null
say "built $TAG in $(($(date +%s) - started)) s ($(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
