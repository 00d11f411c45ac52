#!/bin/sh
# Mirrors the official image's entrypoint: flags alone mean mariadbd; the first start makes the data
# folder, the root password, the database and the user its variables name, and runs the scripts in
# /docker-entrypoint-initdb.d; the server runs as the mysql user.
set -eu

if [ "${1#-}" != "$1" ]; then set -- mariadbd "$@"; fi
case "$1" in mysqld | mariadbd) ;; *) exec "$@" ;; esac

if [ "$(id -u)" = 0 ]; then
  mkdir -p /var/lib/mysql /run/mysqld
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

DATABASE="${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}"
USER_NAME="${MARIADB_USER:-${MYSQL_USER:-}}"
PASSWORD="${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}"
ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
SOCKET=/run/mysqld/mysqld.sock

# SQL string literals: backslashes and quotes doubled.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/''/g")"; }

if [ ! -d /var/lib/mysql/mysql ]; then
  echo "berth mariadb: initialising /var/lib/mysql"
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  "$@" --skip-networking --socket="$SOCKET" &
  pid=$!
  tries=0
  until mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then echo "berth mariadb: the server did not start" >&2; exit 1; fi
    sleep 0.1
  done
  {
    if [ -n "$DATABASE" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$DATABASE\`;"; fi
    if [ -n "$USER_NAME" ] && [ -n "$PASSWORD" ]; then
      echo "CREATE USER '$USER_NAME'@'%' IDENTIFIED BY $(quote "$PASSWORD");"
      if [ -n "$DATABASE" ]; then echo "GRANT ALL ON \`$DATABASE\`.* TO '$USER_NAME'@'%';"; fi
    fi
  } | mariadb --socket="$SOCKET" -uroot
  for file in /docker-entrypoint-initdb.d/*; do
    [ -e "$file" ] || continue
    case "$file" in
      *.sh) echo "berth mariadb: running $file"; . "$file" ;;
      *.sql) echo "berth mariadb: running $file"; mariadb --socket="$SOCKET" -uroot ${DATABASE:+"$DATABASE"} <"$file" ;;
      *.sql.gz) echo "berth mariadb: running $file"; gunzip -c "$file" | mariadb --socket="$SOCKET" -uroot ${DATABASE:+"$DATABASE"} ;;
      *) echo "berth mariadb: ignoring $file" ;;
    esac
  done
  # Root last: with a password, from anywhere; without one, only the container's own root (socket).
  {
    if [ -n "$ROOT_PASSWORD" ]; then
      echo "CREATE USER 'root'@'%' IDENTIFIED BY $(quote "$ROOT_PASSWORD");"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(quote "$ROOT_PASSWORD");"
    else
      echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket;"
    fi
    echo "SHUTDOWN;"
  } | mariadb --socket="$SOCKET" -uroot
  wait "$pid" || true
  echo "berth mariadb: initialised"
fi

exec "$@" --bind-address=0.0.0.0 --port=3306 --socket="$SOCKET"
