#!/usr/bin/env bash
# bench-rotate.sh: how long `binderyctl keys rotate` takes over N accounts.
#
# Builds bindery and binderyctl; starts "bindery serve" on a fresh data dir
# (embedded NATS, a generated master key); bulk-syncs N generated accounts
# (each one gets its data key); stops the server; times the rotation to a
# generated key with /usr/bin/time when it is there. Figures in
# BENCHMARKS.md "Master-key rotation".
#
#   scripts/bench-rotate.sh            # 20000 accounts
#   N=5000 scripts/bench-rotate.sh
#   KEEP=1 scripts/bench-rotate.sh     # keep the data dir and logs
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
N=${N:-20000}
work=$(mktemp -d "${TMPDIR:-/tmp}/bindery-rotate.XXXXXX")
pid=

cleanup() {
	local code=$?
	[[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if [[ "${KEEP:-}" == 1 || $code -ne 0 ]]; then
		echo "bench-rotate: logs and data kept in $work" >&2
	else
		rm -rf "$work"
	fi
	exit $code
}
trap cleanup EXIT INT TERM

free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	echo "bench-rotate: no free port found" >&2
	return 1
}

echo "bench-rotate: building" >&2
$GO build -o "$work/bindery" ./cmd/bindery
$GO build -o "$work/binderyctl" ./cmd/binderyctl

http_port=$(free_port)
nats_port=$(free_port)
export BINDERY_DATA_DIR="$work/data" BINDERY_HTTP_ADDR="127.0.0.1:$http_port" \
	BINDERY_NATS_LISTEN="127.0.0.1:$nats_port" BINDERY_RATE_LIMIT=0 \
	BINDERY_ADMIN_TOKEN="bench-rotate-admin-token-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
mkdir -m 700 -p "$BINDERY_DATA_DIR"
head -c 32 /dev/urandom | base64 >"$BINDERY_DATA_DIR/master.key"
chmod 600 "$BINDERY_DATA_DIR/master.key"

"$work/bindery" serve >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	curl -fsS -o /dev/null "http://$BINDERY_HTTP_ADDR/readyz" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { echo "bench-rotate: bindery exited; see $work/serve.log" >&2; exit 1; }
	sleep 0.1
done
curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $BINDERY_ADMIN_TOKEN" -H 'Content-Type: application/json' \
	"http://$BINDERY_HTTP_ADDR/v1/apps/hr" \
	-d '{"name":"HR","kind":"wechat","wechat":{"appid":"wxrotate","secret":"rotate-secret-0123456789abcdef"},"match_rules":["external_id"],"on_no_match":"register","field_mapping":{"empNo":"external_id","name":"display_name","mobile":"phone","mail":"email"}}'
for ((i = 0; i < N; i++)); do
	printf '{"empNo":"E%06d","name":"Employee %d","mobile":"+86 138 %08d","mail":"emp%d@example.com"}\n' "$i" "$i" "$i" "$i"
done >"$work/accounts.ndjson"
echo "bench-rotate: syncing $N accounts" >&2
BINDERY_URL="http://$BINDERY_HTTP_ADDR" "$work/binderyctl" sync accounts "$work/accounts.ndjson" --app hr | head -1
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

echo "bench-rotate: rotating (bindery stopped, the data dir's store opened by binderyctl)" >&2
timer=()
[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f "rotation: %e s wall, %U s user, %S s system, %M KiB max RSS")
start=$(date +%s.%N)
"${timer[@]}" "$work/binderyctl" keys rotate --data-dir "$BINDERY_DATA_DIR" --generate --new-key-file "$work/new.key"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$N" 'BEGIN { printf "bench-rotate: %d accounts rotated in %.1f s (%.0f data keys/s), load average now %s\n", n, e - s, n / (e - s), "'"$(cut -d' ' -f1-3 /proc/loadavg)"'" }'
