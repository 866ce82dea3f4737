# syntax=docker/dockerfile:1
# The project behind gunicorn (two workers by default). Built by `docker compose build`, or:
#   docker build --build-arg VERSION=0.1.0 --build-arg GIT_REVISION="$(git rev-parse HEAD)" \
#       -t recyclic-reception-stats:0.1.0 .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies in a layer of their own, before the code: changing the code rebuilds only the
# layers after COPY . , and any change to requirements.txt (COPY compares contents, not dates)
# reinstalls them. No need for --no-cache to see a change.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# An account without a shell or a home; the code stays root's, read-only to it. The metrics
# directory exists beforehand so that `manage.py` commands run in multiprocess mode too. /data
# holds Django's own tables (a SQLite file, docker-compose.yml): a named volume mounted there
# starts with this directory's owner, so the account can write it.
RUN useradd --system --uid 10001 --gid nogroup --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin recyclic \
    && install -d -o recyclic -g nogroup /tmp/prometheus-multiproc /data

COPY . .

# Static files at build time; the settings need a SECRET_KEY, any will do for this.
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput

# Last, so that a new revision does not invalidate the layers above.
ARG VERSION=0.1.0
ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.title="recyclic-reception-stats" \
      org.opencontainers.image.description="Live reception and till KPIs of Recyclic ressourceries" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_REVISION}"
# /healthz reports it as "revision".
ENV GIT_REVISION=${GIT_REVISION} \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc \
    GUNICORN_BIND=0.0.0.0:8000

USER recyclic
EXPOSE 8000

# Any answer but 503 (database unreachable) counts as healthy; 127.0.0.1 is allowed to see the
# details, and must stay in ALLOWED_HOSTS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# Exec form: gunicorn is PID 1 and receives the signals (`docker compose kill -s HUP app`).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "recyclic.wsgi"]
