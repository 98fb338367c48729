#!/usr/bin/env bash
# T24 soak / leak run (docs/reliability.md section 6), bounded.  NOT part of
# the test command: one command, figures printed at the end.
#
#   deploy/services.sh start /tmp/dw-svc >/dev/null; set -a; . /tmp/dw-svc/env; set +a
#   tests/soak/run.sh [MINUTES] [READINGS_PER_S]       # default 20 min, 1000 readings/s
#
# Builds build/ if needed, then tests/soak/soak.py: one server (release
# build, roles ingest,api,worker) on its own database and a private Redis;
# 10 enterprises ingesting at a fixed rate (batches of 100, Idempotency-Key,
# retried), 2 API readers, 3 live-event (SSE) clients.  Every 15 s it samples
# the server's RSS and open descriptors, its PostgreSQL connections and
# Redis used_memory; after a warm-up (a quarter of the run, at least 1 min)
# it asserts RSS growth < 5 % (+ 2 MiB), descriptors and connections flat
# (first vs last quarter's median within 5 % + 2), Redis memory growth < 5 % (+ 512 KiB), ingest p99 < 500 ms,
# and reconciles: stored == acknowledged, 0 duplicates.  Exit 1 on a breach.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
minutes=${1:-20}
rate=${2:-1000}
[ -n "${DW_PG_PORT:-}" ] || { echo "soak: start the services first (see the header of $0)" >&2; exit 2; }
if [ ! -x "$root/build/dustwatch" ]; then
    (cd "$root" && meson setup build >/dev/null && ninja -C build >/dev/null)
fi
export DW_BIN=${DW_BIN:-$root/build/dustwatch} DW_SOURCE_ROOT=$root
export PYTHONPATH=$root/tests/integration${PYTHONPATH:+:$PYTHONPATH}
exec python3 "$root/tests/soak/soak.py" --minutes "$minutes" --rate "$rate"
