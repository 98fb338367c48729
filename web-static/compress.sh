#!/bin/sh
# Precompresses the dashboard's text files at build time: name.gz (gzip -9)
# and, when Debian's brotli tool is installed, name.br next to each file over
# 1 KB.  The server (api/core/api_static.c) sends a sibling when the client
# accepts its coding and ignores one older than its file, so an edit after
# the build is never hidden behind a stale copy.  Up-to-date siblings are
# kept, siblings whose file is gone are removed.
#   web-static/compress.sh [DIR] [STAMP]   (meson runs it on every build)
# Under `meson install` a relative DIR is taken inside the install prefix.
set -eu
dir=${1:-$(dirname "$0")}
case $dir in /*) ;; *) [ -n "${MESON_INSTALL_DESTDIR_PREFIX:-}" ] && dir=$MESON_INSTALL_DESTDIR_PREFIX/$dir ;; esac
have_br=0
command -v brotli >/dev/null 2>&1 && have_br=1
find "$dir" -type f \( -name '*.gz' -o -name '*.br' \) -not -path '*/node_modules/*' | while read -r c; do
    [ -e "${c%.*}" ] || rm -f "$c"
done
find "$dir" -type f -size +1k \( -name '*.js' -o -name '*.mjs' -o -name '*.css' -o -name '*.html' -o -name '*.svg' \
    -o -name '*.json' -o -name '*.geojson' -o -name '*.txt' -o -name '*.map' \) \
    -not -path '*/node_modules/*' -not -name 'package.json' -not -name 'package-lock.json' | while read -r f; do
    if [ ! "$f.gz" -nt "$f" ]; then
        gzip -9 -n -c "$f" > "$f.gz.tmp" && mv "$f.gz.tmp" "$f.gz"
    fi
    if [ $have_br = 1 ] && [ ! "$f.br" -nt "$f" ]; then
        brotli -q 11 -f -o "$f.br.tmp" "$f" && touch "$f.br.tmp" && mv "$f.br.tmp" "$f.br"
    fi
done
[ -z "${2:-}" ] || : > "$2"
