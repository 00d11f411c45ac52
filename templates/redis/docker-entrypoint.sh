#!/bin/sh
# Mirrors the official image's entrypoint: flags alone mean redis-server, and it runs as the redis user.
set -eu

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data 2>/dev/null || true
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*|*.conf*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi

exec "$@"
