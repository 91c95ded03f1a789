#!/usr/bin/env bash
# The one test command: sets the machine up, then typechecks, lints, checks
# service boundaries and runs every test (unit, integration against the real
# NATS and PostgreSQL, end-to-end with all services as processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] lint and boundaries"
pnpm exec eslint . --max-warnings=0
node scripts/check-boundaries.mjs
node scripts/asyncapi.mjs --check
node scripts/openapi.mjs --check
node scripts/nats-config.mjs --check
echo "[test] deploy: every overlay rendered (kubectl kustomize) and validated against the Kubernetes schemas"
node test/dist/deploy/validate-overlays.js
echo "[test] tests"
node scripts/run-tests.mjs "${1:-unit,int,e2e}"
