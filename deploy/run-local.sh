#!/usr/bin/env bash
# Runs the whole system locally on a fresh Debian 12 machine, no Docker:
# installs missing packages, builds, starts a private PostgreSQL + Redis under
# .local/ (git-ignored), migrates, loads the demo city, starts the gateway
# simulator and `dustwatch serve`.  Ctrl-C (or SIGTERM) stops everything it
# started; data stays in .local/ for the next run (`rm -rf .local` resets).
#
# Ports: API + dashboard on $DW_API_PORT (8080), ingest on $DW_INGEST_PORT (8081).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
api_port=${DW_API_PORT:-8080}
ingest_port=${DW_INGEST_PORT:-8081}

deploy/install-deps.sh
[ -d build-local/meson-private ] || meson setup build-local -Dbuildtype=release -Dwerror=false >/dev/null
ninja -C build-local >/dev/null
bin=$root/build-local/dustwatch

local_dir=$root/.local
DW_PG_PORT=${DW_PG_PORT:-55432} DW_REDIS_PORT=${DW_REDIS_PORT:-56379} deploy/services.sh start "$local_dir" >/dev/null
set -a
. "$local_dir/env"
DUSTWATCH_API_LISTEN=127.0.0.1:$api_port
DUSTWATCH_INGEST_LISTEN=127.0.0.1:$ingest_port
set +a

pids=()
stop_all() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    deploy/services.sh stop "$local_dir"
    echo "dustwatch: stopped (data kept in .local/)"
}
trap stop_all INT TERM EXIT

"$bin" migrate
if [ -x "$root/deploy/demo-seed.sh" ]; then
    "$root/deploy/demo-seed.sh" "$bin" "$local_dir"
fi

"$bin" serve &
pids+=($!)
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$api_port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
if [ -f "$local_dir/fleet.json" ] && "$bin" simulate --help >/dev/null 2>&1; then
    "$bin" simulate --fleet "$local_dir/fleet.json" --url "http://127.0.0.1:$ingest_port" >"$local_dir/simulator.log" 2>&1 &
    pids+=($!)
fi

cat <<MSG

dustwatch is running.
  dashboard + API : http://127.0.0.1:$api_port/
  ingest          : http://127.0.0.1:$ingest_port/
  readiness       : curl http://127.0.0.1:$api_port/readyz
MSG
[ -f "$local_dir/demo-accounts.txt" ] && { echo "  demo accounts   :"; sed 's/^/    /' "$local_dir/demo-accounts.txt"; }
echo "Press Ctrl-C to stop everything."
wait "${pids[0]}"
