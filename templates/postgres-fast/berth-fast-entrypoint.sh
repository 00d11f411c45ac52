#!/bin/sh
# First start: make PGDATA a cluster (it may already be the one made at build time, when PGDATA points
# at it, or a template's) and give it this container's user, password and database by renaming the placeholders; then
# hand over to the image's own entrypoint, which finds a cluster and just runs postgres.
set -eu
template=/var/lib/postgresql/berth-template

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then cp -a "$template/." "$PGDATA/"; fi

if [ -e "$PGDATA/berth-placeholder" ]; then
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo 'error: POSTGRES_PASSWORD is not set' >&2
    exit 1
  fi
  ident() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
  literal() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
  # Renaming the placeholders made at build time is a catalog change; creating them would copy files.
  {
    if [ "$user" = postgres ]; then
      echo "ALTER ROLE postgres PASSWORD $(literal "$POSTGRES_PASSWORD");"
      echo "ALTER DATABASE berth_placeholder OWNER TO postgres;"
      echo "DROP ROLE berth_placeholder;"
    else
      echo "ALTER ROLE berth_placeholder RENAME TO $(ident "$user");"
      echo "ALTER ROLE $(ident "$user") PASSWORD $(literal "$POSTGRES_PASSWORD");"
    fi
    if [ "$db" = postgres ]; then
      echo "DROP DATABASE berth_placeholder;"
    else
      echo "ALTER DATABASE berth_placeholder RENAME TO $(ident "$db");"
    fi
  } | postgres --single -D "$PGDATA" postgres >/dev/null
  rm "$PGDATA/berth-placeholder"
fi

# A cluster from one of berth's database templates (or snapshots) has the role and database already, with
# the password of the agent it was made from: give the role this container's password.
if [ -e "$PGDATA/berth-from-template" ]; then
  user="${POSTGRES_USER:-postgres}"
  literal() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
  ident() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
  echo "ALTER ROLE $(ident "$user") PASSWORD $(literal "$POSTGRES_PASSWORD");" \
    | postgres --single -D "$PGDATA" postgres >/dev/null
  rm "$PGDATA/berth-from-template"
fi

exec docker-entrypoint.sh "$@"
