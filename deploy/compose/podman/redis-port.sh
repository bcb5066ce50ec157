#!/bin/sh
# redis-server or redis-cli (by the name it is called under), on REDIS_PORT when set; the
# server also binds REDIS_BIND when set. Later options win, so these come last.
name="$(basename "$0")"
if [ "$name" = redis-cli ]; then
  exec "/usr/bin/$name" ${REDIS_PORT:+-p "$REDIS_PORT"} "$@"
fi
exec "/usr/bin/$name" "$@" ${REDIS_PORT:+--port "$REDIS_PORT"} ${REDIS_BIND:+--bind "$REDIS_BIND"}
