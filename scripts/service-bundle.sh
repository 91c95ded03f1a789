#!/usr/bin/env bash
# Each service's deploy directory: what its image contains (deploy/Dockerfile copies it).
#   bash scripts/service-bundle.sh [out-dir] [service ...]     (default: .run/bundles, all three)
# `pnpm deploy` writes the service with its production dependencies only (workspace packages
# copied in, not linked); sources, TypeScript build state and compiled tests are then removed.
# The result runs on its own: `node <out>/<service>/dist/start.js`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.run/bundles}")
shift || true
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(orders dispatcher status-poller)

pnpm run -s build

# What a runtime does not need, in the service and in each of its @pinflow packages.
prune() {
  local dir=$1
  rm -rf "$dir/src" "$dir/tsconfig.json" "$dir/tsconfig.tsbuildinfo"
  if [ -d "$dir/dist" ]; then
    find "$dir/dist" \( -name '*.spec.js' -o -name '*.spec.js.map' -o -name '*.spec.d.ts' -o -name '*.spec.d.ts.map' \
      -o -name '*.test-harness.*' -o -name 'test-arbitraries.*' \) -delete
  fi
}

for service in "${services[@]}"; do
  target="$out/$service"
  rm -rf "$target"
  echo "[bundle] $service → $target"
  pnpm --filter "@pinflow/$service" deploy --prod --legacy --reporter=silent "$target" >/dev/null
  prune "$target"
  for pkg in "$target"/node_modules/@pinflow/*; do prune "$(realpath "$pkg")"; done
  # The package catalog the orders service and the dispatcher read by default (CATALOG_FILE); a ConfigMap replaces it in Kubernetes.
  mkdir -p "$target/config" && cp config/catalog.json "$target/config/catalog.json"
  test -f "$target/dist/start.js" || { echo "[bundle] $service: dist/start.js missing" >&2; exit 1; }
  echo "[bundle] $service: $(du -sh "$target" | cut -f1)"
done
