# PostgreSQL and Redis from Debian's packages, on the same Debian bookworm image as
# the portal (docker-compose.yml builds the `postgres` and `redis` targets), so the
# stack needs no image registry. See docs/deployment.md.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS postgres
# No cluster from the package: postgres-start makes one in the volume on first start.
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /run/postgresql \
    && chmod 0700 /var/lib/postgresql/data
COPY postgres-start /usr/local/bin/postgres-start
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
# Fast shutdown: running transactions are rolled back, not waited for.
STOPSIGNAL SIGINT
CMD ["postgres-start"]

FROM ${BASE_IMAGE} AS redis
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data \
    && chown redis:redis /data \
    && chmod 0700 /data
USER redis
WORKDIR /data
VOLUME ["/data"]
EXPOSE 6379
# Without a configuration file Redis listens on every interface, and protected mode
# would then refuse other hosts: off, because only the stack's private network
# reaches it (it is never published).
CMD ["redis-server", "--dir", "/data", "--protected-mode", "no"]
