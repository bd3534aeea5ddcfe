# syntax=docker/dockerfile:1
#
# recsys pipelines image: the image of every Kubeflow pipeline component.
#
#   docker build -f docker/pipelines.Dockerfile -t recsys-pipelines:0.1.0 .
#
# Components run `python -m recsys_pipelines....`. kfp and our packages are baked in (from
# requirements.lock), so compiled pipelines need no pip at run time: components use this
# image as their base_image with no packages_to_install.
#
# The base is pinned by tag only: its digest could not be resolved where this file was written
# (no access to a container registry). When building in CI, pin it by digest as well:
#   FROM python:3.11.7-slim-bookworm@sha256:<digest> (both stages).

FROM python:3.11.7-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

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

# The KFP launcher sets each component's command; `python` is the default for ad-hoc runs.
CMD ["python"]
