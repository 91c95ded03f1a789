#!/usr/bin/env bash
# Everything a fresh machine needs before pinflow runs: pnpm, the workspace's
# dependencies, NATS and PostgreSQL, and a build.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then echo "pinflow pins Node 20 (.node-version); found $(node -v)" >&2; exit 1; fi

want_pnpm=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v)" != "$want_pnpm" ]; then
  echo "[setup] installing pnpm $want_pnpm from the npm registry"
  npm install -g "pnpm@$want_pnpm" --no-fund --no-audit >/dev/null
fi

echo "[setup] installing dependencies"
pnpm install --frozen-lockfile --reporter=silent

bash scripts/ensure-infra.sh

echo "[setup] building"
pnpm run -s build
