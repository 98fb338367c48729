#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -Dfuzz=true in build-fuzz/) and runs
# each for N seconds (default 20), FUZZ_JOBS of them at a time (default: nproc):
#   tests/fuzz/run.sh [seconds] [harness ...]      e.g. tests/fuzz/run.sh 600 fuzz_hebei
# First every committed regression input (tests/fuzz/regressions/<harness>/)
# is replayed once, then the harness fuzzes from the seed corpus
# (tests/fuzz/corpus/<harness>/, read-only) plus the regressions; what it
# learns goes to build-fuzz/fuzz-corpus/<harness>/ and survives between runs
# of the same build tree.  A crash, sanitizer report, leak or an input slower
# than FUZZ_TIMEOUT seconds (default 5; T22 asks 1 s, kept above that so a
# loaded CI machine does not flake) fails the script: the input is left in
# build-fuzz/fuzz-artifacts/ (its path is printed) and belongs, once fixed,
# in tests/fuzz/regressions/<harness>/.  One line per harness: executions,
# executions/s, coverage (edges) and features at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
secs=${1:-20}
shift || true
all=(fuzz_native fuzz_hebei fuzz_mem fuzz_csv_import fuzz_config fuzz_request_json fuzz_risk_model fuzz_xlsx)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
bdir=${FUZZ_BUILD_DIR:-$root/build-fuzz}

if [ ! -d "$bdir/meson-private" ]; then
    # -Werror stays the gcc build's gate: clang warns about a few idioms gcc accepts.
    CC=clang meson setup "$bdir" -Dfuzz=true -Dwerror=false -Dbuildtype=debugoptimized >/dev/null
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("tests/fuzz/$h"); done
nice ninja -C "$bdir" "${targets[@]}" >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
art="$bdir/fuzz-artifacts"
mkdir -p "$art"
# One harness: its line (or its failure) goes to $art/<harness>.result, printed in order below.
fuzz_one() {
    local h=$1
    local exe="$bdir/tests/fuzz/$h"
    local seeds="$root/tests/fuzz/corpus/$h"
    local regs="$root/tests/fuzz/regressions/$h"
    local work="$bdir/fuzz-corpus/$h"
    local log="$art/$h.log"
    local out="$art/$h.result"
    mkdir -p "$work"
    local dirs=("$work" "$seeds")
    if [ -d "$regs" ] && [ -n "$(ls -A "$regs")" ]; then
        if ! "$exe" -runs=0 "$regs"/* >"$art/$h.regressions.log" 2>&1; then
            echo "== FAILED: $h crashes on a committed regression input (see $art/$h.regressions.log)" >"$out"
            return 1
        fi
        dirs+=("$regs")
    fi
    if nice "$exe" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 \
        -max_len="${FUZZ_MAX_LEN:-16384}" -print_final_stats=1 -artifact_prefix="$art/$h-" \
        "${dirs[@]}" >"$log" 2>&1; then
        local done_line eps runs cov c f n
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
        eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)\/.*/\1 \2 \3/p' <<<"$done_line")
        read -r c f n <<<"${cov:-? ? ?}"
        printf '%-18s ok  %4ss  %9s runs  %6s exec/s  cov %5s  ft %6s  corpus %5s\n' \
            "$h" "$secs" "$runs" "$eps" "$c" "$f" "$n" >"$out"
    else
        { echo "== FAILED: $h (log: $log)"
          grep -E 'ERROR: |runtime error|invariant broken|Test unit written' "$log" | head -5 || true
        } >"$out"
        return 1
    fi
}

# FUZZ_JOBS harnesses at a time (default: one per core); each is single-threaded, so one at a
# time left a core idle for the whole run.
lanes=${FUZZ_JOBS:-$(nproc)}
status=0
pids=()
for h in "${harnesses[@]}"; do
    rm -f "$art/$h.result"
    fuzz_one "$h" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$lanes" ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do
    wait "$p" || status=1
done
for h in "${harnesses[@]}"; do
    cat "$art/$h.result" 2>/dev/null || { echo "== FAILED: $h left no result"; status=1; }
done
exit $status
