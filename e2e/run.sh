#!/usr/bin/env bash
# Installs what the end-to-end tests need (Debian chromium, the web app's
# npm packages from the lockfile), then runs them against a fresh server.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && apt-get install -y -qq chromium
fi
if [ ! -d web/node_modules ]; then (cd web && npm ci --no-audit --no-fund); fi
# playwright-core must never fetch a browser: it drives /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
node e2e/e2e.mjs
