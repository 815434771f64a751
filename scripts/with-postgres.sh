#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on 127.0.0.1 and
# ATLAS_SYNC_TEST_PG_DSN pointing at it, then stops the server and deletes
# its data directory. When ATLAS_SYNC_TEST_PG_DSN is already set, or no
# PostgreSQL server binaries are installed, it runs the command as it is and
# the PostgreSQL tests skip with a message.
set -euo pipefail

if [ -n "${ATLAS_SYNC_TEST_PG_DSN:-}" ]; then
	exec "$@"
fi

bindir=""
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
	bindir=$(dirname "$(command -v initdb)")
else
	for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$candidate/initdb" ]; then
			bindir=$candidate
			break
		fi
	done
fi
if [ -z "$bindir" ]; then
	echo "with-postgres: PostgreSQL server binaries not found; PostgreSQL tests will skip (apt-get install postgresql to run them)" >&2
	exec "$@"
fi

workdir=$(mktemp -d /tmp/atlas-sync-pg.XXXXXX)
password="throwaway-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"

# PostgreSQL refuses to run as root; use the distribution's postgres user.
as_owner=()
if [ "$(id -u)" = 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir "$workdir" --shell /usr/sbin/nologin postgres
	fi
	chown postgres "$workdir"
	as_owner=(runuser -u postgres --)
fi

port=""
for candidate in $(seq 55432 55532); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
		port=$candidate
		break
	fi
done
if [ -z "$port" ]; then
	echo "with-postgres: no free port between 55432 and 55532 on 127.0.0.1" >&2
	exit 1
fi

stop() {
	"${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$workdir"
}
trap stop EXIT

printf '%s\n' "$password" >"$workdir/pwfile"
chmod 600 "$workdir/pwfile"
[ "$(id -u)" = 0 ] && chown postgres "$workdir/pwfile"
"${as_owner[@]}" "$bindir/initdb" -D "$workdir/data" -U postgres --pwfile="$workdir/pwfile" \
	--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 ||
	{ cat "$workdir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w \
	-o "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c fsync=off -c max_connections=100" start >/dev/null ||
	{ cat "$workdir/server.log" >&2; exit 1; }

export ATLAS_SYNC_TEST_PG_DSN="postgres://postgres:${password}@127.0.0.1:${port}/postgres?sslmode=disable"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
