# syntax=docker/dockerfile:1
#
# recsys platform image: control plane, gateway and stream processor (one image, three commands).
#
#   docker build -f docker/platform.Dockerfile -t recsys-platform:0.1.0 .
#   docker run recsys-platform:0.1.0 control-plane   # or: gateway | stream | db upgrade
#
# The base is pinned by tag only: its digest could not be resolved where this file was written
# (no access to a container registry). When building in CI, pin it by digest as well:
#   FROM python:3.11.7-slim-bookworm@sha256:<digest> (both stages).
#
# Runs as uid 10001 on a read-only root filesystem: the processes write only under /tmp
# (an emptyDir in Kubernetes). WORKDIR is /tmp, so even a relative default path (./var/...)
# lands there; the Helm chart sets every path explicitly anyway.

FROM python:3.11.7-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first (their layer is reused until requirements.lock changes).
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# Then the project itself: a regular (non-editable) install; the lock already holds every
# dependency. The wheel carries the Alembic migrations and demo data as package data.
COPY pyproject.toml README.md ./
COPY platform ./platform
COPY pipelines ./pipelines
COPY model_servers ./model_servers
COPY clients/python ./clients/python
RUN pip install --no-cache-dir --no-deps ./clients/python . \
    && pip check


FROM python:3.11.7-slim-bookworm

# OpenMP and the C++ runtime for lightgbm and implicit (their wheels do not bundle them).
# Versions are bookworm's; bump them when Debian ships a new gcc-12 point release.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libgomp1=12.2.0-14+deb12u1 \
        libstdc++6=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin recsys

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1 \
    OPENBLAS_NUM_THREADS=1 \
    HOME=/tmp \
    TMPDIR=/tmp

WORKDIR /tmp
USER 10001

# 8000 control plane, 8080 gateway, 9108 stream processor (/healthz, /readyz, /metrics).
EXPOSE 8000 8080 9108

# No HEALTHCHECK: the port differs per command, and Kubernetes uses its own probes
# (/healthz and /readyz on each service).
ENTRYPOINT ["recsys"]
CMD ["--help"]
