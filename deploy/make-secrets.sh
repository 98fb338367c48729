#!/usr/bin/env bash
# deploy/make-secrets.sh DIR [HOSTNAME] — the secret files deploy/docker-compose.yml reads:
# random passwords (hex: they travel inside URLs), the connection URLs built from them,
# the 256-bit master key and a self-signed TLS pair for HOSTNAME (default localhost;
# replace tls.crt/tls.key with the real certificate).  Existing files are kept, so it
# is safe to run again.  DIR is made mode 0700; the files are 0444 because a compose
# (non-swarm) secret is the host file bind-mounted as is, and the containers run as
# their own users — the directory is what keeps other host users out.  Back up
# master_key apart from the database (server/README.md).
set -euo pipefail
dir=${1:?usage: make-secrets.sh DIR [HOSTNAME]}
host=${2:-localhost}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
new() { [ -s "$dir/$1" ] || { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/$1"; }; }
for f in postgres_password dw_owner_password dw_server_password redis_password; do new "$f"; done
[ -s "$dir/master_key" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/master_key"
echo "postgresql://dwowner:$(cat "$dir/dw_owner_password")@postgres:5432/dustwatch" > "$dir/dw_owner_url"
echo "postgresql://dw_server:$(cat "$dir/dw_server_password")@postgres:5432/dustwatch" > "$dir/dw_server_url"
echo "redis://:$(cat "$dir/redis_password")@redis:6379/0" > "$dir/redis_url"
if [ ! -s "$dir/tls.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$host" \
        -addext "subjectAltName=DNS:$host,IP:127.0.0.1" \
        -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
fi
chmod 444 "$dir"/*
echo "make-secrets: $dir"
