#!/usr/bin/env bash
# bench-durability.sh: what each BINDERY_NATS_SYNC policy costs, in runs
# interleaved policy by policy (A B C A B C ...), so that a machine whose load
# changes affects all of them alike. Per run: logins/s (scripts/bench-login.sh,
# 32 clients), refreshes/s (TestRefreshMeasure, 32 clients) and the bulk-sync
# rate of a first sync (TestSyncMeasure), each against a server with an
# embedded NATS. One line per run on stdout; medians are left to the reader.
#
#   scripts/bench-durability.sh                        # 3 rounds of group, always, 2m
#   ROUNDS=5 POLICIES="group 2m" scripts/bench-durability.sh
#   LOGIN_DURATION=20s REFRESH_SECONDS=10 SYNC_N=50000 scripts/bench-durability.sh
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
rounds=${ROUNDS:-3}
policies=${POLICIES:-"group always 2m"}

for round in $(seq 1 "$rounds"); do
	for policy in $policies; do
		load=$(cut -d' ' -f1 /proc/loadavg)
		login=$(BINDERY_NATS_SYNC=$policy bash scripts/bench-login.sh --duration "${LOGIN_DURATION:-10s}" \
			--raw-duration 0 --json 2>/dev/null |
			python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.0f p99=%sms" % (r["logins_per_second"], r["latency"]["p99_ms"]))')
		refresh=$(BINDERY_NATS_SYNC=$policy BINDERY_MEASURE=1 BINDERY_MEASURE_SECONDS=${REFRESH_SECONDS:-8} \
			$GO test -count=1 -run '^TestRefreshMeasure$' -v ./handlers/ | grep -o '= [0-9]* refreshes/s; p50 [^,]*, p90 [^,]*, p99 .*' | sed 's/^= //')
		sync=$(BINDERY_NATS_SYNC=$policy BINDERY_MEASURE=1 BINDERY_MEASURE_N=${SYNC_N:-20000} \
			$GO test -count=1 -run '^TestSyncMeasure$' -v -timeout 10m ./handlers/ | grep -o 'create: [0-9]* records .* records/s' | sed 's/.*= //')
		echo "round $round  sync=$policy  load $load  logins/s $login  refreshes/s $refresh  first-sync $sync"
	done
done
