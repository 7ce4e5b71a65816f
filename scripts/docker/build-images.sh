#!/usr/bin/env bash
# Build the project image and the example user-code image on the local engine, offline and cached.
#
# 1. A wheelhouse in build/docker-wheels made by `pip wheel` on the host: the host's own pip configuration
#    (index, mirrors, certificates) does the fetching, so no index or mirror is named anywhere and pip inside
#    the image build never touches the network. deps/ is re-resolved only when pyproject.toml changes;
#    project/ (our own wheel, reproducible) is rebuilt every time.
# 2. `docker build` of Dockerfile (BASE_IMAGE, default: the offline base of build-base-image.sh) and of
#    examples/hello/Dockerfile on top of it, and of examples/dagster_etl/Dockerfile (the dagster extra, from its
#    own wheelhouse in build/docker-wheels/dagster). Docker's layer cache makes an unchanged rebuild take seconds.
#
# Environment: LONGSHOREMAN_BASE_IMAGE (longshoreman-base:py3.11), LONGSHOREMAN_IMAGE (longshoreman:dev),
#              LONGSHOREMAN_EXAMPLE_IMAGE (longshoreman-hello:dev), LONGSHOREMAN_DAGSTER_IMAGE
#              (longshoreman-dagster:dev), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BASE_IMAGE=${LONGSHOREMAN_BASE_IMAGE:-longshoreman-base:py3.11}
IMAGE=${LONGSHOREMAN_IMAGE:-longshoreman:dev}
EXAMPLE_IMAGE=${LONGSHOREMAN_EXAMPLE_IMAGE:-longshoreman-hello:dev}
DAGSTER_IMAGE=${LONGSHOREMAN_DAGSTER_IMAGE:-longshoreman-dagster:dev}
PYTHON=${PYTHON:-.venv/bin/python}
WHEELS=build/docker-wheels
# The legacy builder needs no buildx plugin and works with every engine version this project meets.
export DOCKER_BUILDKIT=0
say() { echo "build-images: $*" >&2; }
seconds() { echo $(($(date +%s) - $1)); }

started=$(date +%s)
mkdir -p "$WHEELS/deps" "$WHEELS/project" "$WHEELS/dagster"
quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
# Same sources, same bytes: a reproducible wheel keeps Docker's layer cache warm across rebuilds.
export SOURCE_DATE_EPOCH=315532800
stamp="$WHEELS/deps/.pyproject.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$(sha256sum pyproject.toml)" ]; then
    rm -f "$WHEELS"/deps/*.whl
    # With the postgres extra: the image's control plane runs on PostgreSQL too.
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELS/deps" ".[postgres]" 2>&1 | quiet
    rm -f "$WHEELS"/deps/longshoreman-*.whl
    sha256sum pyproject.toml >"$stamp"
fi
# The dagster extra for the Dagster example image: its own wheelhouse, re-resolved with pyproject.toml too.
dagster_stamp="$WHEELS/dagster/.pyproject.sha256"
if [ "$(cat "$dagster_stamp" 2>/dev/null)" != "$(sha256sum pyproject.toml)" ]; then
    rm -f "$WHEELS"/dagster/*.whl
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELS/dagster" ".[dagster]" 2>&1 | quiet
    rm -f "$WHEELS"/dagster/longshoreman-*.whl
    sha256sum pyproject.toml >"$dagster_stamp"
fi
# setuptools builds in build/lib: a module deleted from the tree would otherwise live on in the wheel.
rm -rf "$WHEELS"/project/*.whl build/lib build/bdist.*
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$WHEELS/project" . 2>&1 | quiet
ls "$WHEELS"/project/longshoreman-*.whl >/dev/null 2>&1 || { say "pip wheel did not produce the project's wheel"; exit 1; }
say "wheelhouse ready in $(seconds "$started") s ($(ls "$WHEELS"/deps/*.whl | wc -l) dependency wheels)"

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
build "$DAGSTER_IMAGE" --build-arg "LONGSHOREMAN_IMAGE=$IMAGE" -f examples/dagster_etl/Dockerfile .
# No `docker image prune` here: the build stage's layers are untagged, and they are the cache of the next build.
say "images ready in $(seconds "$started") s"
