#!/usr/bin/env bash
# Runs every Go fuzz target for a short fixed time ($1, default 3s): the
# decoders of login, bind, OTP, QR, the token endpoint, sync NDJSON and
# audit filters, among others (grep "^func Fuzz" for the list).
set -euo pipefail
t=${1:-3s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}'); do
    echo "fuzz $pkg $f ($t)"
    go test -run '^$' -fuzz "^${f}\$" -fuzztime "$t" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; exit 1; }
  done
done
