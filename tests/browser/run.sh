#!/usr/bin/env bash
# Runs the browser tests: installs playwright-core (pinned, package-lock.json;
# never a browser download) when missing, then node run.mjs.  Needs DW_BIN
# (the dustwatch binary) and the services of tests/run-all.sh (DW_PG_PORT,
# DW_PGBIN, DUSTWATCH_REDIS_URL) in the environment; meson test sets them.
set -euo pipefail
cd "$(dirname "$0")"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -d node_modules/playwright-core ] || ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
[ -x "${DW_CHROMIUM:-/usr/bin/chromium}" ] || { echo "browser tests need ${DW_CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"; exit 1; }
# an argument names another test file of this folder (each has its own server and city)
exec node "${1:-run.mjs}"
