#!/usr/bin/env bash
# The one command that runs every test (README, .ci/run):
#   1. installs missing Debian packages,
#   2. starts a throw-away PostgreSQL + Redis in a temp dir,
#   3. builds and runs the unit and browser suites,
#   4. rebuilds with ASan+UBSan and runs unit + integration (the integration
#      suite runs once, under the sanitizers: twice would put the command past
#      its 30-minute budget on 2 cores),
#   5. builds the libFuzzer harnesses with clang and runs each for
#      FUZZ_SECONDS (default 20 s; tests/fuzz/run.sh, T22 in tests/README.md),
# and exits non-zero on any failure.  Services are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

deploy/install-deps.sh --test

svc=$(mktemp -d /tmp/dustwatch-test.XXXXXX)
cleanup() {
    deploy/services.sh stop "$svc" || true
    rm -rf "$svc" 2>/dev/null || true
}
trap cleanup EXIT
deploy/services.sh start "$svc" >/dev/null
set -a
. "$svc/env"
set +a

status=0
# each step's start in seconds since the command began: where the budget goes
phase() { echo "== $1 (at ${SECONDS} s)"; }
run_suites() {
    local builddir=$1; shift
    local suites=()
    for s in "$@"; do suites+=(--suite "$s"); done
    if ! meson test -C "$builddir" "${suites[@]}" --print-errorlogs --num-processes "$jobs"; then
        status=1
    fi
}

phase "build (debugoptimized, -Werror)"
[ -d build/meson-private ] || meson setup build -Dwerror=true >/dev/null
ninja -C build
if ! ninja -C build format-check >/dev/null 2>&1; then
    echo "== FAILED: C sources are not clang-formatted (run: ninja -C build format)"
    status=1
fi
phase "unit + browser"
run_suites build unit browser

# PostgreSQL failover under ingest load, 0 acknowledged readings lost (~70 s;
# deploy/README.md): needs root, PostgreSQL runs as postgres
phase "PostgreSQL failover (deploy/failover-test.sh, pg_auto_failover)"
if [ "$(id -u)" -eq 0 ]; then
    DW_BIN=build/dustwatch deploy/failover-test.sh || status=1
else
    echo "   skipped: not root"
fi

phase "build (ASan + UBSan)"
[ -d build-san/meson-private ] || meson setup build-san -Dsanitize=address,undefined -Dbuildtype=debug -Dwerror=true >/dev/null
ninja -C build-san
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/tests/tools/lsan.supp:print_suppressions=0
phase "unit + integration (ASan + UBSan)"
run_suites build-san unit integration
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

phase "fuzz (libFuzzer + ASan + UBSan, ${FUZZ_SECONDS:-20} s per harness)"
if ! tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"; then
    status=1
fi

phase "done"
if [ "$status" -ne 0 ]; then
    echo "== FAILED: see the logs above"
fi
exit $status
