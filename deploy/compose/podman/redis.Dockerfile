# A local stand-in for the redis:7-alpine image of docker-compose.yml, for machines that reach
# no image registry (make test-compose): Debian's Redis 7 server and redis-cli. On a shared
# host network each test run needs a port of its own, and the compose file's command and
# health check name none: redis-server and redis-cli take REDIS_PORT (and the server
# REDIS_BIND) from the environment when set, so the file's own command and check run as written.
ARG BASE_IMAGE=localhost/suite-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -q \
 && apt-get install -y -q redis-server \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/compose/podman/redis-port.sh /usr/local/bin/redis-server
COPY deploy/compose/podman/redis-port.sh /usr/local/bin/redis-cli
WORKDIR /var/lib/redis
USER redis
CMD ["redis-server"]
