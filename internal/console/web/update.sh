#!/bin/sh
# Copies the console's front-end packages (installed from package-lock.json)
# to ../assets, which the binary embeds. Run after changing package.json:
#   npm install --prefix internal/console/web && internal/console/web/update.sh
# TestAssetsMatchPackages checks the copies against node_modules.
set -eu
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund
cp node_modules/htmx.org/dist/htmx.min.js ../assets/htmx.min.js
cp node_modules/uplot/dist/uPlot.iife.min.js ../assets/uPlot.iife.min.js
cp node_modules/uplot/dist/uPlot.min.css ../assets/uPlot.min.css
