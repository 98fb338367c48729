#!/bin/sh
# Copies the run-time files of the pinned npm packages (package-lock.json)
# into vendor/.  vendor/ is committed (about 0.8 MB), so serving the
# dashboard needs neither npm nor a network; run this after changing a
# version:  cd web-static && npm ci && ./build.sh
set -eu
cd "$(dirname "$0")"
[ -d node_modules/echarts ] && [ -d node_modules/leaflet ] || npm ci --no-audit --no-fund
rm -rf vendor
mkdir -p vendor/leaflet/images
# ECharts "common" build: line, bar, pie, scatter, gauge + dataZoom, tooltip, legend
cp node_modules/echarts/dist/echarts.common.min.js vendor/echarts.min.js
cp node_modules/leaflet/dist/leaflet.js vendor/leaflet/leaflet.js
cp node_modules/leaflet/dist/leaflet.css vendor/leaflet/leaflet.css
cp node_modules/leaflet/dist/images/*.png vendor/leaflet/images/
cp node_modules/echarts/LICENSE vendor/LICENSE.echarts
cp node_modules/leaflet/LICENSE vendor/LICENSE.leaflet
{
  echo "echarts $(node -p "require('./node_modules/echarts/package.json').version")"
  echo "leaflet $(node -p "require('./node_modules/leaflet/package.json').version")"
} > vendor/VERSIONS.txt
echo "vendor/: $(du -sh vendor | cut -f1)"
