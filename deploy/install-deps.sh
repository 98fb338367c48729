#!/usr/bin/env bash
# Installs the Debian 12 packages dustwatch needs to build, run and test,
# skipping apt entirely when everything is already there.
#   deploy/install-deps.sh          build + run
#   deploy/install-deps.sh --test   also what the tests need (browser included)
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config git ca-certificates curl python3
      libmicrohttpd-dev libpq-dev libjansson-dev libevent-dev libhiredis-dev libsodium-dev libssl-dev
      libcurl4-openssl-dev libxlsxwriter-dev libzip-dev libexpat1-dev libxxhash-dev
      postgresql postgresql-client redis-server redis-tools openssl brotli)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(chromium fonts-wqy-microhei openssl nodejs npm clang-format clang libclang-rt-dev
               prometheus nginx-light postgresql-15-auto-failover pg-auto-failover-cli python3-openpyxl libfaketime)
    # promtool (int-metrics), nginx (int-local_cluster), pg_auto_failover (deploy/failover-test.sh)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from outside Debian (nodesource, the image): a working npm counts
if printf '%s\n' "${missing[@]}" | grep -qx npm && command -v npm >/dev/null; then
    missing=("${missing[@]/npm}")
fi
if printf '%s\n' "${missing[@]}" | grep -qx nodejs && command -v node >/dev/null; then
    missing=("${missing[@]/nodejs}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a system cluster; ours are private, so it
# is left alone (it listens on 5432, we never do).
