#!/usr/bin/env bash
# Build the web console's interface (src/llmtuner/console/frontend → its dist/, which `llmtuner console` serves).
#   npm ci (exactly the versions in package-lock.json) when node_modules is missing or older than the lock file,
#   then npm run build; skipped when dist/ is newer than every source file. Safe to run again.
# Environment: FORCE=1 rebuilds anyway; CONSOLE_BUILD_OPTIONAL=1 turns a missing Node.js/npm into a warning
# (exit 0: the console then serves a page saying how to build it) instead of an error (exit 3).
# No package host is written here: npm's own configuration decides (.npmrc, npm_config_registry).
set -euo pipefail
cd "$(dirname "$0")/../src/llmtuner/console/frontend"
NODE_MIN=18

missing() {
  if [ "${CONSOLE_BUILD_OPTIONAL:-}" = "1" ]; then
    echo "[console] warning: $1 The console's REST API works without it; its web pages need the build." >&2
    exit 0
  fi
  echo "[console] error: $1" >&2
  exit 3
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing "Node.js ${NODE_MIN}+ and npm are needed to build the web console (Debian/Ubuntu: apt-get install nodejs npm, or a Node.js ${NODE_MIN}+ release from nodejs.org / your mirror), then run scripts/build_console.sh again."
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt "$NODE_MIN" ]; then
  missing "Node.js $(node -v) is too old: the web console's build needs Node.js ${NODE_MIN} or newer."
fi

sources=(src public index.html package.json package-lock.json vite.config.ts tsconfig.json)
if [ "${FORCE:-}" != "1" ] && [ -f dist/index.html ] && [ -z "$(find "${sources[@]}" -newer dist/index.html -print -quit 2>/dev/null)" ]; then
  echo "[console] web interface up to date (src/llmtuner/console/frontend/dist)"
  exit 0
fi

if [ "${FORCE:-}" = "1" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[console] installing the frontend's packages (npm ci, node $(node -v), npm $(npm -v))"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "[console] building the web interface"
npm run build --silent
touch dist/index.html  # the build's time, for the up-to-date check above
echo "[console] done: src/llmtuner/console/frontend/dist (served by 'llmtuner console')"
