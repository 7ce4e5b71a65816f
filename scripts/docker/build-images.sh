#!/usr/bin/env bash
# Build the project image and the example user-code image on the local engine, offline and cached.
#
# 1. A wheelhouse in build/docker-wheels made by `pip wheel` on the host: the host's own pip configuration
#    (index, mirrors, certificates) does the fetching, so no index or mirror is named anywhere and pip inside
#    the image build never touches the network. Dependencies are re-resolved only when pyproject.toml changes;
#    the project's own wheel is rebuilt every time.
# 2. `docker build` of Dockerfile (BASE_IMAGE, default: the offline base of build-base-image.sh) and of
#    examples/hello/Dockerfile on top of it. Docker's layer cache makes an unchanged rebuild take seconds.
#
# Environment: LONGSHOREMAN_BASE_IMAGE (longshoreman-base:py3.11), LONGSHOREMAN_IMAGE (longshoreman:dev),
#              LONGSHOREMAN_EXAMPLE_IMAGE (longshoreman-hello:dev), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BASE_IMAGE=${LONGSHOREMAN_BASE_IMAGE:-longshoreman-base:py3.11}
IMAGE=${LONGSHOREMAN_IMAGE:-longshoreman:dev}
EXAMPLE_IMAGE=${LONGSHOREMAN_EXAMPLE_IMAGE:-longshoreman-hello:dev}
PYTHON=${PYTHON:-.venv/bin/python}
WHEELS=build/docker-wheels
# The legacy builder needs no buildx plugin and works with every engine version this project meets.
export DOCKER_BUILDKIT=0
say() { echo "build-images: $*" >&2; }
seconds() { echo $(($(date +%s) - $1)); }

started=$(date +%s)
mkdir -p "$WHEELS"
stamp="$WHEELS/.pyproject.sha256"
rm -f "$WHEELS"/longshoreman-*.whl
if [ "$(cat "$stamp" 2>/dev/null)" != "$(sha256sum pyproject.toml)" ]; then
    rm -f "$WHEELS"/*.whl
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELS" . 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
    sha256sum pyproject.toml >"$stamp"
else
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$WHEELS" . 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
fi
ls "$WHEELS"/longshoreman-*.whl >/dev/null 2>&1 || { say "pip wheel did not produce the project's wheel"; exit 1; }
say "wheelhouse ready in $(seconds "$started") s ($(ls "$WHEELS"/*.whl | wc -l) wheels)"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
build() { # TAG ARGS...: quiet unless it fails
    local tag=$1 step
    step=$(date +%s)
    shift
    docker build --quiet -t "$tag" "$@" >"$log" 2>&1 || { cat "$log" >&2; say "building $tag failed"; exit 1; }
    say "built $tag in $(seconds "$step") s"
}
build "$IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE" .
build "$EXAMPLE_IMAGE" --build-arg "LONGSHOREMAN_IMAGE=$IMAGE" -f examples/hello/Dockerfile .
# Dangling layers of earlier builds pile up on a machine that rebuilds often; nothing uses them again.
docker image prune --force >/dev/null 2>&1 || true
say "images ready in $(seconds "$started") s"
