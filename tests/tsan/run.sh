#!/usr/bin/env bash
# ThreadSanitizer run of the integration tests that exercise the server's
# threads (ingest listener + writer threads, MHD API threads, the worker, the
# event-stream hub, the Redis publisher, the DB health monitor):
#   tests/tsan/run.sh [int-test ...]        (default: the list below)
# Needs the services of tests/run-all.sh in the environment (deploy/services.sh
# start DIR; set -a; . DIR/env; set +a).  Builds build-tsan/ (gcc,
# -Dsanitize=thread), runs the tests against that binary with every report
# written to build-tsan/tsan-reports/ (the tests themselves keep running,
# halt_on_error=0, so one run lists every race), and fails when any report
# exists.  Suppressions: tests/tsan/tsan.supp, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
bdir=${TSAN_BUILD_DIR:-$root/build-tsan}
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(int-ingest int-same_point_writers int-reading_conflicts int-api
                                  int-event_streams int-event_scope int-readyz int-db_stalls)
[ -d "$bdir/meson-private" ] || meson setup "$bdir" -Dsanitize=thread -Dwerror=true >/dev/null
nice ninja -C "$bdir" dustwatch >/dev/null
reports="$bdir/tsan-reports"
rm -rf "$reports"
mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:log_path=$reports/tsan:suppressions=$root/tests/tsan/tsan.supp"
status=0
# TSan slows the server 5-15x: give every test three times its timeout.
if ! nice meson test -C "$bdir" "${tests[@]}" --print-errorlogs --num-processes 1 \
    --timeout-multiplier 3; then
    status=1
fi
n=$(find "$reports" -type f | wc -l)
if [ "$n" -gt 0 ]; then
    echo "== TSan: $n report file(s) in $reports:"
    grep -h -A3 '^WARNING: ThreadSanitizer' "$reports"/* | grep -E 'WARNING|#0|#1' | head -40
    status=1
else
    echo "== TSan: no reports (${tests[*]})"
fi
exit $status
