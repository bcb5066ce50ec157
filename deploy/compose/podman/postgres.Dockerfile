# A local stand-in for the postgres:15-alpine image of docker-compose.yml, for machines that
# reach no image registry (make test-compose): Debian's PostgreSQL 15 behind an entrypoint
# that keeps the official image's contract (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB,
# PGDATA; a first start creates the cluster; `postgres ARGS` passes ARGS to the server).
ARG BASE_IMAGE=localhost/suite-base:bookworm
FROM ${BASE_IMAGE}
# No cluster from the package: the entrypoint makes one in PGDATA, as the official image does.
RUN install -d /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-get update -q \
 && apt-get install -y -q -o Dpkg::Options::=--force-confold postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 2775 /run/postgresql
COPY deploy/compose/podman/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
