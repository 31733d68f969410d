# bso-ingest: the IMAP -> Zendesk ingestion service.
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" -t bso-ingest .
#   docker run --rm --read-only --tmpfs /tmp -v bso-var:/app/var -p 8080:8080 \
#     -e BSO_INGEST_SERVICE__SOURCE=imap ... bso-ingest
# Without settings it runs the demo: a Maildir inbox and the dry-run sink.
# docs/OPERATIONS.md is the runbook (volumes, secrets, arbitrary UIDs, probes).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a virtualenv with the pinned dependencies and the package --------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The lock first: its layer is reused while only our code changes.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-virtualenv --no-compile -r requirements.lock
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY parsers ./parsers
COPY routing ./routing
# --no-deps: everything it needs came from the lock (postgres extra included).
# build/ and *.egg-info stay in this stage; only /opt/venv is copied on.
RUN /opt/venv/bin/pip install --require-virtualenv --no-compile --no-deps . \
    && /opt/venv/bin/python -c "import ingest.cli, psycopg, alembic, prometheus_client"

# -- run ---------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="bso-ingest" \
      org.opencontainers.image.description="Turns support e-mails sent to the BSO RM inbox into Zendesk tickets, exactly once." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/totvs/bso-ingest" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    BSO_INGEST_SERVICE__HTTP_PORT=8080

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY settings.toml ./settings.toml

# Numeric UID/GID (Kubernetes runAsNonRoot can check it).  The state directory
# belongs to group 0 and is group-writable, so an arbitrary UID (OpenShift runs
# containers as a random UID in group 0) can write it too; with a read-only
# root filesystem it is the only place written (mount a volume there).
RUN useradd --uid 10001 --gid 0 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin bso \
    && mkdir -p /app/var \
    && chown 10001:0 /app/var \
    && chmod 2775 /app/var
USER 10001:0
VOLUME ["/app/var"]
EXPOSE 8080

# /healthz: the loop made progress recently (ingest/health.py).  Set
# BSO_INGEST_SERVICE__HTTP_PORT to move it; the probe follows.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BSO_INGEST_SERVICE__HTTP_PORT', '8080'), timeout=4)"]

# SIGTERM lets the current message finish (service.shutdown_grace_seconds, 10 s);
# give the container a stop timeout above that (docker run --stop-timeout 20).
STOPSIGNAL SIGTERM
ENTRYPOINT ["bso-ingest"]
CMD ["run"]
