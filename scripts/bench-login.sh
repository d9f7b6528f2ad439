#!/usr/bin/env bash
# bench-login.sh: the mini-program login load test in one command.
#
# Builds bindery, wxsim and binderyctl; starts wxsim and "bindery serve" (an
# embedded NATS on a free loopback port, BINDERY_RATE_LIMIT=0, the WeChat API
# pointed at wxsim, a fresh data dir); waits for /readyz; runs
# "binderyctl bench login" with the arguments given to this script; stops both
# and removes the data dir. Everything shares this machine's cores.
#
#   scripts/bench-login.sh                      # 1000 users, 32 clients, 20 s
#   scripts/bench-login.sh --duration 60s --concurrency 64
#   KEEP=1 scripts/bench-login.sh               # keep the data dir and logs
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/bindery-bench.XXXXXX")
pids=()

cleanup() {
	local code=$?
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ "${KEEP:-}" == 1 || $code -ne 0 ]]; then
		echo "bench-login: logs and data kept in $work" >&2
	else
		rm -rf "$work"
	fi
	exit $code
}
trap cleanup EXIT INT TERM

# pick_port NAME sets the variable NAME to a loopback port nobody listens
# on and that was not picked before.
taken=" "
pick_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 20000))
		if [[ "$taken" != *" $port "* ]] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			taken+="$port "
			printf -v "$1" '%s' "$port"
			return
		fi
	done
	echo "bench-login: no free port found" >&2
	return 1
}

# wait_for URL: polls until the URL answers 200 (30 s at most).
wait_for() {
	local url=$1 name=$2 pid=$3
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "$url" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "bench-login: $name exited; its log:" >&2
			tail -n 20 "$work/$name.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "bench-login: $name did not get ready at $url" >&2
	return 1
}

echo "bench-login: building" >&2
$GO build -o "$work/bin/" ./cmd/bindery ./cmd/wxsim ./cmd/binderyctl

pick_port http_port
pick_port sim_port
pick_port nats_port
token=$(head -c 33 /dev/urandom | base64 | tr -d '/+=')
master=$(head -c 32 /dev/urandom | base64)

WXSIM_ADDR="127.0.0.1:$sim_port" "$work/bin/wxsim" >"$work/wxsim.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$sim_port/sim/health" wxsim "${pids[0]}"

BINDERY_HTTP_ADDR="127.0.0.1:$http_port" \
BINDERY_DATA_DIR="$work/data" \
BINDERY_NATS_URL="" \
BINDERY_NATS_LISTEN="127.0.0.1:$nats_port" \
BINDERY_ADMIN_TOKEN="$token" \
BINDERY_MASTER_KEY="$master" \
BINDERY_RATE_LIMIT=0 \
BINDERY_WECHAT_API_BASE="http://127.0.0.1:$sim_port" \
	"$work/bin/bindery" serve >"$work/bindery.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$http_port/readyz" bindery "${pids[1]}"

echo "bench-login: bindery on :$http_port (NATS :$nats_port), wxsim on :$sim_port; $(nproc) cores shared by server, wxsim and client" >&2
echo "bench-login: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Under the group policy (the default) the server's acks wait for a sync of
# its disk; the raw publishes of the same run wait for the same syncs, so
# that the ratio compares like with like.
raw_sync=()
case "${BINDERY_NATS_SYNC:-group}" in
group) raw_sync=(--raw-sync-dir "$work/data") ;;
esac
BINDERY_URL="http://127.0.0.1:$http_port" \
BINDERY_ADMIN_TOKEN="$token" \
BINDERY_NATS_URL="nats://127.0.0.1:$nats_port" \
BINDERY_NATS_PASSWORD="$(cat "$work/data/nats-bindery.password")" \
WXSIM_URL="http://127.0.0.1:$sim_port" \
	"$work/bin/binderyctl" bench login "${raw_sync[@]}" "$@"
echo "bench-login: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
