# syntax=docker/dockerfile:1
#
# recsys model-server image: the KServe model server of one tenant's recommender
# (the container of the chart's ServingRuntime / every tenant InferenceService).
#
#   docker build -f docker/model-server.Dockerfile -t recsys-model-server:0.1.0 .
#   docker run -p 8080:8080 recsys-model-server:0.1.0 --name T_acme \
#       --model-uri models:/recsys-acme@champion --tracking-uri http://mlflow:5000 --tenant-id acme
#
# Settings come from flags or RECSYS_MODEL_SERVER_* variables (docs/model-server.md).
#
# The base is pinned by tag only: its digest could not be resolved where this file was written
# (no access to a container registry). When building in CI, pin it by digest as well:
#   FROM python:3.11.7-slim-bookworm@sha256:<digest> (both stages).
#
# Runs as uid 10001 on a read-only root filesystem: the model artifact is downloaded to a
# temporary folder under /tmp (an emptyDir in Kubernetes) and deleted once loaded.

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
# dependency. The model server imports the shared recommender code from recsys_platform.
COPY pyproject.toml README.md ./
COPY platform ./platform
COPY pipelines ./pipelines
COPY model_servers ./model_servers
COPY clients/python ./clients/python
RUN pip install --no-cache-dir --no-deps ./clients/python . \
    && pip check


FROM python:3.11.7-slim-bookworm

# OpenMP and the C++ runtime for lightgbm, faiss and implicit (their wheels do not bundle them).
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

# KServe REST (V1 and V2); gRPC (8081) only with --enable-grpc.
EXPOSE 8080

# No HEALTHCHECK: Kubernetes probes GET /v2/health/ready (see the chart's ServingRuntime).
ENTRYPOINT ["python", "-m", "recsys_model_servers"]
CMD ["--help"]
