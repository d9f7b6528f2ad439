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
		grep -o 'round 1 (load .*') || {
		echo "bench-replay-compare: run $side$pair failed" >&2
		return 1
	}
	echo "$side$pair $line"
	echo "$side $line" >>"$out"
}

# A first run generates the store when it is missing: not a measurement.
if [[ ! -f ${BINDERY_REPLAY_DIR:-${TMPDIR:-/tmp}/bindery-replay}/manifest.json ]]; then
	echo "bench-replay-compare: generating the store first (minutes)" >&2
	(cd "$b" && BINDERY_REPLAY_MEASURE=1 go test -count=1 -timeout 60m -run 'TestReplayMeasure$' ./internal/devtools/replaybench >/dev/null 2>&1) || true
fi
for ((p = 1; p <= pairs; p++)); do
	run A "$a" "$p"
	run B "$b" "$p"
done
python3 - "$out" <<'PY'
import re, statistics, sys
num = r"([0-9.]+)"
pat = re.compile(r"^(.) round 1 \(load ([0-9.]+)\): replay (\d+) events/s, verify (\d+) events/s, restart ready in ([0-9.]+) s"
                 r"(?:.*?CPU of the process: replay ([0-9.]+) µs/event, verify ([0-9.]+) µs/event, restart ([0-9.]+) s)?")
rows = [m.groups() for m in map(pat.match, open(sys.argv[1])) if m]
side = {s: [r for r in rows if r[0] == s] for s in "AB"}
med = statistics.median
def col(r, i):
    xs = [float(x[i]) for x in r if x[i] is not None]
    return med(xs) if xs else float("nan")
for s in "AB":
    r = side[s]
    print(f"{s} median: replay {col(r, 2):.0f} events/s, verify {col(r, 3):.0f} events/s, restart {col(r, 4):.2f} s; "
          f"CPU replay {col(r, 5):.1f} µs/event, verify {col(r, 6):.1f} µs/event, restart {col(r, 7):.2f} s")
pairs = list(zip(side["A"], side["B"]))
print("median of pairs B/A: replay %.2fx, verify %.2fx, restart (A/B) %.2fx" % (
    med([float(b[2]) / float(a[2]) for a, b in pairs]),
    med([float(b[3]) / float(a[3]) for a, b in pairs]),
    med([float(a[4]) / float(b[4]) for a, b in pairs])))
cpu = [(a, b) for a, b in pairs if a[5] and b[5]]
if cpu:
    print("median of pairs, CPU per event A/B: replay %.2fx, verify %.2fx; restart CPU A/B %.2fx" % (
        med([float(a[5]) / float(b[5]) for a, b in cpu]),
        med([float(a[6]) / float(b[6]) for a, b in cpu]),
        med([float(a[7]) / float(b[7]) for a, b in cpu])))
PY
