#!/usr/bin/env bash
# deploy/debian-base.sh — a Debian 12 base image from Debian packages alone, for hosts
# that cannot pull from Docker Hub (a government intranet with a Debian mirror):
#
#   deploy/debian-base.sh [TAG] [MIRROR]
#
# debootstrap --variant=minbase bookworm from MIRROR (default http://deb.debian.org/debian,
# or the intranet mirror) into a temporary directory, then `docker import` as TAG (default
# dustwatch-base/debian:12).  Every image of deploy/docker-compose.yml builds FROM it
# (build argument DEBIAN); an operator with a vetted Debian image of their own passes that
# instead.  Needs root, debootstrap and a running Docker engine (DOCKER_HOST honoured).
set -euo pipefail
tag=${1:-dustwatch-base/debian:12}
mirror=${2:-http://deb.debian.org/debian}
command -v debootstrap >/dev/null || { echo "debian-base: apt-get install debootstrap" >&2; exit 2; }
root=$(mktemp -d /tmp/dw-debian-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
# the image fetches from the same mirror, security updates included
cat > "$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' -m "debootstrap bookworm $(date -u +%F)" - "$tag" >/dev/null
echo "debian-base: $tag ($(docker run --rm "$tag" cat /etc/debian_version))"
