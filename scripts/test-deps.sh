#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: headless Chromium for the
# demo-page browser tests and Node.js for the example mini program's tests.
# Runs apt-get only when something is missing (and only as root).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: missing ${need[*]} (install them, or run as root); the browser/node tests skip, or fail when CI is set" >&2
  exit 0
fi
echo "test-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
