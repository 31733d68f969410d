# bso-ingest: the IMAP -> Zendesk ingestion service.
#   docker build -t bso-ingest .
#   docker run --rm -v bso-var:/app/var -e BSO_INGEST_SERVICE__SOURCE=imap ... bso-ingest
# Without settings it runs the demo: a Maildir inbox and the dry-run sink.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY parsers ./parsers
COPY routing ./routing
RUN pip install . && rm -rf /app/ingest /app/parsers /app/routing

# State (ledger, lock, demo inbox) lives in /app/var; mount a volume there.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bso \
    && mkdir -p /app/var && chown bso:bso /app/var
COPY --chown=bso:bso settings.toml ./settings.toml
USER bso

# SIGTERM lets the current message finish (service.shutdown_grace_seconds, 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["bso-ingest"]
CMD ["run"]
