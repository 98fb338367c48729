# shellcheck shell=bash
# A hook for api_bench.sh (DW_BENCH_HOOK): the point series' CPU floor, piece by piece, on the
# full-scale fixture (server/README.md, "The series' CPU floor").
#
#   DW_BENCH_HOOK=tests/bench/series_floor.sh tests/bench/api_bench.sh
#
# The statements are this tree's own (server/db/db_points.c and db.c, preprocessed with cc -E
# and read from their tables), prepared on one connection as the server prepares them and run
# the way db_read_pipeline runs them: one pipeline and one sync per request, over the
# district's history points (the bench's series route), a week from now minus 7 days, hourly.
# For each piece: requests, wall ms and the backend's CPU ms per request (tests/bench/
# series_pieces.c).  Run it under the bench lock: the CPU figures are of one backend, but the
# machine's other work still slows them.
#
# DW_FLOOR_SECONDS  seconds per piece (default 5)
# DW_FLOOR_ROUNDS   rounds (default 2)
# shellcheck disable=SC2154 # tmp, root, SRC, BUILD, did, sql, log, say: api_bench.sh's
fl_secs=${DW_FLOOR_SECONDS:-5}
fl_rounds=${DW_FLOOR_ROUNDS:-2}
stop_server
fl_bin=$BUILD/series_pieces
cc -O2 -Wall -Wextra -std=c17 -o "$fl_bin" "$here/series_pieces.c" -I"$(pg_config --includedir)" -lpq
fl_inc=()
while IFS= read -r d; do fl_inc+=("-I$d"); done < <(find "$SRC/server" "$SRC/api" -name '*.h' -printf '%h\n' | sort -u)
for f in db_points db; do
    cc -E -P -DDW_DB_INTERNAL "${fl_inc[@]}" -I"$BUILD" -I"$(pg_config --includedir)" \
        "$SRC/server/db/$f.c" -o "$tmp/$f.i"
done
python3 - "$tmp/db_points.i" "$tmp/db.i" >"$tmp/floor.sql" <<'PY'
import ast, re, sys
text = "".join(open(f).read() for f in sys.argv[1:])
def stmt(name):
    """the string literals after {"name", up to the entry's closing brace, joined"""
    i, parts = re.search(r'\{"%s",\s*"' % name, text).end() - 1, []
    while text[i] != "}":
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            parts.append(ast.literal_eval(text[i:j + 1]))
            i = j
        i += 1
    return "".join(parts)
for name in ("pts_series_scope", "db_set_scope_focus_generic", "pts_get", "pts_series_hour"):
    print("-- " + name)
    print(stmt(name))
PY
grep -c '^-- ' "$tmp/floor.sql" | grep -qx 4 || { log "series_floor: statements not found"; exit 1; }
# db_set_scope_focus_generic takes two parameters; series_pieces sends three
# shellcheck disable=SC2016 # $3 is the statement's parameter
sed -i '/^-- db_set_scope_focus_generic$/{n;s/$/ WHERE $3::bigint IS NOT NULL/}' "$tmp/floor.sql"
# the bench's series points: history points of the district, with their enterprise
awk -F'\t' 'NR == FNR {d[$1]; next} ($1 in d) {print $1, $2}' "$tmp/dpts" "$tmp/hist.tsv" >"$tmp/floor_points"
fl_scope="district $did $(date -u -d '-7 days' +%FT%TZ) $(date -u -d '+60 seconds' +%FT%TZ) 3600"
fl_app="host=127.0.0.1 port=$DW_PG_PORT dbname=dustwatch user=dw_server"
fl_owner="host=127.0.0.1 port=$DW_PG_PORT dbname=dustwatch user=dwadmin"
fl_run() { # label conninfo piece [statement]
    local label=$1
    shift
    printf '%-58s %s   load %s\n' "$label" \
        "$("$fl_bin" "$1" "$tmp/floor.sql" "$tmp/floor_points" "$fl_scope" "$fl_secs" "${@:2}")" \
        "$(cut -d' ' -f1 /proc/loadavg)"
}
log "series_floor: $(wc -l <"$tmp/floor_points") points, $fl_rounds rounds of ${fl_secs} s per piece"
say "PostgreSQL CPU per request, piece by piece (one connection, one pipeline + sync per request):"
for ((round = 1; round <= fl_rounds; round++)); do
    fl_run "SELECT 1 (round trip, implicit transaction)" "$fl_app" select1
    fl_run "scope only (set_config x3, enterprise known)" "$fl_app" scope db_set_scope_focus_generic
    fl_run "scope only (pts_series_scope, enterprise known)" "$fl_app" scope pts_series_scope
    SCOPE_STMT=db_set_scope_focus_generic fl_run "scope + pts_get (the point under row-level security)" \
        "$fl_app" piece pts_get
    # as db_points_series_answer: the plain scope statement when the enterprise is learnt
    SCOPE_STMT=db_set_scope_focus_generic fl_run "scope + pts_series_hour (the answer)" "$fl_app" \
        piece pts_series_hour
    NOFOCUS=1 fl_run "the same, enterprise not yet learnt (pts_series_scope)" "$fl_app" piece \
        pts_series_hour
    SCOPE_STMT=db_set_scope_focus_generic fl_run "the same as the owner (row-level security bypassed)" \
        "$fl_owner" piece pts_series_hour
done
