#!/bin/sh
# Mirrors the official image's entrypoint: flags alone mean memcached, which runs as the memcache user.
set -eu

if [ "${1#-}" != "$1" ]; then set -- memcached "$@"; fi

if [ "$1" = memcached ] && [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=memcache --regid=memcache --init-groups "$0" "$@"
fi

exec "$@"
