#!/usr/bin/env bash
# bench-replay-compare.sh: TestReplayMeasure (make bench-replay) on two
# checkouts, runs interleaved (A B A B ...) over the same generated store,
# so that a machine whose load changes affects both alike. A checkout from
# before the harness gets this one's internal/devtools/replaybench copied
# in (it uses only APIs both have). One line per run, then the medians of
# each side and the median of the pairs' ratios (B ÷ A; for restart, A ÷ B,
# so above 1 is faster either way).
#
#   scripts/bench-replay-compare.sh /work/wt/replay-before .     # PAIRS=3
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 BEFORE_DIR AFTER_DIR  (env: PAIRS, BINDERY_REPLAY_EVENTS, BINDERY_REPLAY_DIR)" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
a=$(cd "$1" && pwd)
b=$(cd "$2" && pwd)
pairs=${PAIRS:-3}
for dir in "$a" "$b"; do
	if [[ ! -d $dir/internal/devtools/replaybench ]]; then
		mkdir -p "$dir/internal/devtools/replaybench"
		cp "$here"/internal/devtools/replaybench/*.go "$dir/internal/devtools/replaybench/"
	fi
done
out=$(mktemp "${TMPDIR:-/tmp}/bench-replay-compare.XXXXXX")
trap 'rm -f "$out"' EXIT
echo "bench-replay-compare: A=$a ($(git -C "$a" rev-parse --short HEAD)) B=$b ($(git -C "$b" rev-parse --short HEAD)), $pairs pairs, $(nproc) cores" >&2

run() { # run SIDE DIR PAIR
	local side=$1 dir=$2 pair=$3 line
	line=$(cd "$dir" && BINDERY_REPLAY_MEASURE=1 go test -count=1 -timeout 60m -run 'TestReplayMeasure$' -v ./internal/devtools/replaybench 2>&1 |
		grep -o 'round 1 (load [^)]*): replay [0-9]* events/s, verify [0-9]* events/s, restart ready in [0-9.]* s') || {
		echo "bench-replay-compare: run $side$pair failed" >&2
		return 1
	}
	echo "$side$pair $line"
	echo "$side $line" | sed -E 's/^(.) round 1 \(load ([^)]*)\): replay ([0-9]*) events\/s, verify ([0-9]*) events\/s, restart ready in ([0-9.]*) s/\1 \2 \3 \4 \5/' >>"$out"
}

# The first run generates the store when it is missing: not a measurement.
(cd "$b" && BINDERY_REPLAY_MEASURE=1 go test -count=1 -timeout 60m -run 'TestReplayMeasure$' ./internal/devtools/replaybench >/dev/null 2>&1) || true
for ((p = 1; p <= pairs; p++)); do
	run A "$a" "$p"
	run B "$b" "$p"
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
side = {s: [r for r in rows if r[0] == s] for s in "AB"}
med = lambda xs: statistics.median(xs)
for s in "AB":
    r = side[s]
    print(f"{s} median: replay {med([float(x[2]) for x in r]):.0f} events/s, verify {med([float(x[3]) for x in r]):.0f} events/s, restart {med([float(x[4]) for x in r]):.2f} s")
pairs = list(zip(side["A"], side["B"]))
print("median of pairs B/A: replay %.2fx, verify %.2fx, restart (A/B) %.2fx" % (
    med([float(b[2]) / float(a[2]) for a, b in pairs]),
    med([float(b[3]) / float(a[3]) for a, b in pairs]),
    med([float(a[4]) / float(b[4]) for a, b in pairs])))
PY
