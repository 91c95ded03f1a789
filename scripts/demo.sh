#!/usr/bin/env bash
# The one command that runs the whole system: installs and builds, makes sure
# NATS (127.0.0.1:4222, JetStream) and PostgreSQL run, starts the znet
# simulator and the three services, and shows a few orders reaching their PIN.
# Pass --once to stop after the demo orders settle.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PINFLOW_NEED_NATS_4222=1 bash scripts/ensure-infra.sh
exec node test/dist/demo/run-system.js "$@"
