# hss-export-bot: multi-stage image. In the first stage, install the runtime dependencies
# from the lock (requirements/runtime.txt, every file checked against its hash) into a venv,
# then the project's own wheel with no dependency resolution of its own; copy just that
# venv into a clean slim image that runs as a non-root user.
#
#   docker build -t hss-export-bot:0.1.0 .
#   docker run --env-file .env -p 3000:3000 -v hss-bot-data:/app/data hss-export-bot:0.1.0
#
# The lock is for CPython 3.11 on Linux x86_64 (README: Dependencies and the lock), which
# is what this base image is on an amd64 host.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The dependencies first, from the lock alone: this layer is rebuilt only when the lock
# changes. The venv gets no pip of its own: the build stage's pip installs into it.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --require-hashes -r requirements/runtime.txt

# Then the project: only what the wheel is made of (see .dockerignore): no tests, no
# .env, no .venv. --no-deps: every dependency is already there, at the locked version.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY emulators ./emulators
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip --python /opt/venv/bin/python install --no-deps /wheels/hss_export_bot-*.whl \
 && pip --python /opt/venv/bin/python check

# --- runtime -------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="hss-export-bot" \
      org.opencontainers.image.description="Slack app that exports Huawei Cloud HSS container inventories" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    AUDIT_DB_URL=sqlite:////app/data/audit.db

RUN groupadd --system --gid 10001 bot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin bot \
 && mkdir -p /app/data \
 && chown -R 10001:10001 /app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The SQLite audit log lives here by default; mount a volume to keep it.
# (With PostgreSQL, AUDIT_DB_URL=postgresql://…, nothing is written here.)
VOLUME ["/app/data"]
USER 10001:10001
EXPOSE 3000

# No curl in slim: ask /healthz with the standard library (503 while draining fails it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# SIGTERM goes straight to the Python process (exec form, PID 1), which drains gracefully.
# In HTTP mode that process forwards it to its WEB_CONCURRENCY workers (default: one per CPU
# of the container's cgroup quota; `--cpus 1` or WEB_CONCURRENCY=1 for a single process).
STOPSIGNAL SIGTERM
CMD ["hss-export-bot", "serve"]
