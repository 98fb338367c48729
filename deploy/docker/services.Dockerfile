# syntax=docker/dockerfile:1
# PostgreSQL 15, Redis 7 and nginx for deploy/docker-compose.yml, from Debian 12
# packages alone (no Docker Hub): FROM the base image deploy/debian-base.sh makes
# (or an operator's own Debian 12 image: --build-arg DEBIAN=...).  One target each:
#   docker build -f deploy/docker/services.Dockerfile --target postgres deploy
# Package versions are pinned; a Debian point or security release that replaces
# one makes the build fail loudly: update the ARG here (apt-cache policy NAME).
ARG DEBIAN=dustwatch-base/debian:12

FROM ${DEBIAN} AS postgres
ARG POSTGRESQL_VERSION=15.20-0+deb12u1
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-15=${POSTGRESQL_VERSION} postgresql-client-15=${POSTGRESQL_VERSION} \
        libpq5=${POSTGRESQL_VERSION} locales-all \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY docker/pg-entrypoint.sh /usr/local/bin/pg-entrypoint.sh
COPY compose-init.sql /usr/local/share/dustwatch/compose-init.sql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/pg-entrypoint.sh"]

FROM ${DEBIAN} AS redis
ARG REDIS_VERSION=5:7.0.15-1~deb12u10
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        redis-server=${REDIS_VERSION} redis-tools=${REDIS_VERSION} \
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
# live values and fan-out only: PostgreSQL holds every fact, so no persistence.  The
# password is read from the secret file and reaches redis-server as configuration on
# standard input, never on a command line or in the environment.
ENTRYPOINT ["sh", "-c", "printf 'requirepass %s\\n' \"$(cat /run/secrets/redis_password)\" | exec redis-server - --bind 0.0.0.0 --save '' --appendonly no --maxmemory 512mb --maxmemory-policy allkeys-lru"]

FROM ${DEBIAN} AS nginx
ARG NGINX_VERSION=1.22.1-9+deb12u11
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx-light=${NGINX_VERSION} nginx-common=${NGINX_VERSION} \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx/dustwatch.conf /etc/nginx/conf.d/dustwatch.conf
EXPOSE 443 8443
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-g", "daemon off;"]
