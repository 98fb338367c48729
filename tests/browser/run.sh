#!/usr/bin/env bash
# Runs a browser test file: installs playwright-core (pinned, package-lock.json;
# never a browser download) when missing, then node run.mjs.  Needs DW_BIN
# (the dustwatch binary) and the services of tests/run-all.sh (DW_PG_PORT,
# DW_PGBIN, DUSTWATCH_REDIS_URL) in the environment; meson test sets them.
set -euo pipefail
cd "$(dirname "$0")"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# meson starts the browser tests together: the first installs, the others wait for it
exec 9>.npm-install.lock
flock 9
# (npm's own node_modules/.package-lock.json never equals package-lock.json: it lacks the
# root entry, so the lock file installed is kept beside it)
if [ ! -d node_modules/playwright-core ] || ! cmp -s package-lock.json node_modules/.dustwatch-installed-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json node_modules/.dustwatch-installed-lock
fi
exec 9>&- # closing it releases the lock
[ -x "${DW_CHROMIUM:-/usr/bin/chromium}" ] || { echo "browser tests need ${DW_CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"; exit 1; }
# an argument names another test file of this folder (each has its own server and city)
exec node "${1:-run.mjs}"
