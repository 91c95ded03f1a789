#!/usr/bin/env bash
# The one command that runs the whole system: installs and builds, makes sure
# nats-server is installed and PostgreSQL runs, starts its own NATS (127.0.0.1:4230, the
# deployed users and permissions), the znet
# simulator and the three services, and shows a few orders reaching their PIN.
# Pass --once to stop after the demo orders settle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ensure-infra.sh
exec node test/dist/demo/run-system.js "$@"
