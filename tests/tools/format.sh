#!/bin/sh
# usage: format.sh CLANG_FORMAT fix|check — runs over every tracked C file.
set -eu
cf=$1; mode=$2
cd "${MESON_SOURCE_ROOT:-$(dirname "$0")/../..}"
files=$(git ls-files '*.c' '*.h')
[ -n "$files" ] || exit 0
if [ "$mode" = fix ]; then
    exec $cf -i $files
else
    exec $cf --dry-run --Werror $files
fi
