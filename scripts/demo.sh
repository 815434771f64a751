#!/usr/bin/env bash
# Syncs testdata/demo/accounts.csv into the Atlas emulator on 127.0.0.1,
# twice: the first run sends the valid accounts and reports the two broken
# rows by line, the second sends nothing because the checkpoint is current.
# Expects bin/atlas-sync and bin/atlas-emulator (make build).
set -euo pipefail
cd "$(dirname "$0")/.."

workdir=$(mktemp -d /tmp/atlas-sync-demo.XXXXXX)
port=""
for candidate in $(seq 18089 18189); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
		port=$candidate
		break
	fi
done
[ -n "$port" ] || { echo "demo: no free port between 18089 and 18189" >&2; exit 1; }

export ATLAS_API_TOKEN="demo-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
export ATLAS_BASE_URL="http://127.0.0.1:$port"
export ATLAS_SYNC_STATE="$workdir/atlas-sync.db"

bin/atlas-emulator --listen "127.0.0.1:$port" --token "$ATLAS_API_TOKEN" \
	--fields testdata/demo/fields.json 2>"$workdir/emulator.log" &
emulator=$!
trap 'kill $emulator 2>/dev/null || true; wait $emulator 2>/dev/null || true; rm -rf "$workdir"' EXIT

for _ in $(seq 1 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

status=0
echo "== first run: sends the accounts, reports the broken rows (exit status 3) =="
bin/atlas-sync run --config testdata/demo/atlas-sync.yaml 2>"$workdir/run1.log" || status=$?
grep -E '"(unreadable row|row cannot be mapped)"|WARN' "$workdir/run1.log" | sed 's/^/  log: /' || true
echo "exit status $status"
echo
echo "== second run: nothing changed, nothing sent; the two broken rows are still in the file, so it exits 3 again =="
status=0
bin/atlas-sync run --config testdata/demo/atlas-sync.yaml 2>"$workdir/run2.log" || status=$?
grep -E '"(unreadable row|row cannot be mapped)"|WARN' "$workdir/run2.log" | sed 's/^/  log: /' || true
echo "exit status $status"
echo
echo "== the accounts as the emulator stores them =="
accounts=$(curl -fsS -H "Authorization: Bearer $ATLAS_API_TOKEN" "$ATLAS_BASE_URL/v1/accounts?limit=100")
if command -v jq >/dev/null 2>&1; then
	jq -r '.data[] | "\(.externalId)\t\(.name)"' <<<"$accounts"
	echo
	jq '.data[] | select(.externalId == "CRM-0002")' <<<"$accounts"
else
	printf '%s\n' "$accounts"
fi
