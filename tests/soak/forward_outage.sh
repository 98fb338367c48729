#!/usr/bin/env bash
# Upward forwarding (issue 18): a 24-hour upstream outage at the demo rate
# catches up in order without loss.  NOT part of the test command (the
# integration test int-forward_batching runs the same at one batch every 2 minutes
# for two enterprises); one command, figures printed at the end.
#
#   deploy/services.sh start /tmp/dw-svc >/dev/null; set -a; . /tmp/dw-svc/env; set +a
#   tests/soak/forward_outage.sh [HOURS] [INTERVAL_S] [ENTERPRISES]   # default 24 h, 10 s, 3
#
# One server (roles ingest,api,worker,forward) on its own database and the mock
# upstream (tests/integration/upstream_mock.py, Hebei V1.1, decrypting with
# openssl).  The mock goes down; each enterprise's gateway then posts one batch
# (hopper temperature and pressure difference) every INTERVAL_S of the last
# HOURS, backdated, through the real ingest; once the forwarder has failed
# against the dead upstream the mock comes back.  It asserts every
# acknowledged reading arrived exactly once and in order per point, the
# reconciliation report (acked = ingested, nothing refused, requests = what
# the mock got) and prints {batches, readings, requests, ingest_s,
# catch_up_s, readings_per_s}.  Exit 1 on a failed check.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
hours=${1:-24}
interval=${2:-10}
ents=${3:-3}
[ -n "${DW_PG_PORT:-}" ] || { echo "forward_outage: start the services first (see the header of $0)" >&2; exit 2; }
if [ ! -x "$root/build/dustwatch" ]; then
    (cd "$root" && meson setup build >/dev/null && ninja -C build >/dev/null)
fi
export DW_BIN=${DW_BIN:-$root/build/dustwatch} DW_SOURCE_ROOT=$root
export PYTHONPATH=$root/tests/integration${PYTHONPATH:+:$PYTHONPATH}
cd "$root"
exec python3 -c "
import test_forward_batching as m
m.backlog_catch_up(hours=$hours, interval_s=$interval, n_ents=$ents)
print('forward_outage: PASS')"
