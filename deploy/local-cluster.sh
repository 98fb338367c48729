#!/usr/bin/env bash
# deploy/local-cluster.sh — the scale-out topology on one machine without containers:
# two API nodes, two ingest nodes and two workers (six `dustwatch serve` processes)
# against one PostgreSQL and one Redis, with nginx (Debian nginx-light) balancing each
# listener pair — the same shape as a multi-host install (deploy/README.md, "Splitting
# roles across machines").  tests/integration/test_local_cluster.py runs it.
#
#   deploy/local-cluster.sh start DIR     # prints the ports as shell assignments
#   deploy/local-cluster.sh stop DIR
#
# Environment: DUSTWATCH_DATABASE_URL, DUSTWATCH_REDIS_URL, DUSTWATCH_MASTER_KEY_FILE
# (e.g. `set -a; . /tmp/dw-svc/env; set +a` after deploy/services.sh; the database must
# be migrated), DW_BIN (default build/dustwatch), DW_CLUSTER_PORT (first of eight
# consecutive ports, default 28000: nginx API, nginx ingest, then api1, api2, ingest1,
# ingest2 and two spare), any other DUSTWATCH_* setting (passed to every node).
# nginx listens on plain HTTP here (loopback); the TLS version is deploy/nginx/.
set -euo pipefail
cmd=${1:?usage: local-cluster.sh start|stop DIR}
dir=${2:?usage: local-cluster.sh start|stop DIR}
bin=${DW_BIN:-build/dustwatch}
base=${DW_CLUSTER_PORT:-28000}

stop() {
    [ -d "$dir" ] || return 0
    if [ -f "$dir/nginx.pid" ]; then
        kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    fi
    for f in "$dir"/node-*.pid; do
        [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$dir"/node-*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$f"
    done
    for _ in $(seq 1 50); do [ -f "$dir/nginx.pid" ] || break; sleep 0.1; done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || { echo "usage: local-cluster.sh start|stop DIR" >&2; exit 2; }
: "${DUSTWATCH_DATABASE_URL:?local-cluster.sh: DUSTWATCH_DATABASE_URL is not set}"
: "${DUSTWATCH_MASTER_KEY_FILE:?local-cluster.sh: DUSTWATCH_MASTER_KEY_FILE is not set}"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "local-cluster.sh: apt-get install nginx-light" >&2; exit 2; }
mkdir -p "$dir"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
nginx_api=$base nginx_ingest=$((base + 1))
api1=$((base + 2)) api2=$((base + 3)) ing1=$((base + 4)) ing2=$((base + 5))
trap 'stop' ERR

node() { # name roles [VAR=value ...]
    local name=$1 roles=$2
    shift 2
    env DUSTWATCH_TRUSTED_PROXIES=127.0.0.1 "$@" "$bin" serve --roles "$roles" \
        >"$dir/node-$name.log" 2>&1 &
    echo $! >"$dir/node-$name.pid"
}
node api1 api DUSTWATCH_API_LISTEN=127.0.0.1:$api1
node api2 api DUSTWATCH_API_LISTEN=127.0.0.1:$api2
node ingest1 ingest DUSTWATCH_INGEST_LISTEN=127.0.0.1:$ing1
node ingest2 ingest DUSTWATCH_INGEST_LISTEN=127.0.0.1:$ing2
node worker1 worker
node worker2 worker

tmp=$dir/nginx-tmp
mkdir -p "$tmp"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log $dir/nginx-access.log;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    upstream api { server 127.0.0.1:$api1; server 127.0.0.1:$api2; keepalive 8; }
    upstream ingest { server 127.0.0.1:$ing1; server 127.0.0.1:$ing2; keepalive 8; }
    server {
        listen 127.0.0.1:$nginx_api;
        client_max_body_size 8m;
        location = /metrics { return 404; }
        location / {
            proxy_pass http://api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_buffering off;
        }
    }
    server {
        listen 127.0.0.1:$nginx_ingest;
        client_max_body_size 5m;
        location = /metrics { return 404; }
        location / {
            proxy_pass http://ingest;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout;
        }
    }
}
CONF

ready() { curl -fsS -o /dev/null "http://127.0.0.1:$1/readyz" 2>/dev/null; }
for port in $api1 $api2 $ing1 $ing2; do
    for _ in $(seq 1 200); do ready "$port" && break; sleep 0.1; done
    ready "$port" || { echo "local-cluster.sh: node on $port not ready" >&2; tail -5 "$dir"/node-*.log >&2; stop; exit 1; }
done
"$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log"
for _ in $(seq 1 100); do ready "$nginx_api" && ready "$nginx_ingest" && break; sleep 0.1; done
ready "$nginx_api" && ready "$nginx_ingest" || { echo "local-cluster.sh: nginx not ready" >&2; stop; exit 1; }
cat <<PORTS
NGINX_API=$nginx_api
NGINX_INGEST=$nginx_ingest
API1=$api1
API2=$api2
INGEST1=$ing1
INGEST2=$ing2
PORTS
