#!/usr/bin/env bash
# Make sure the machine has what pinflow runs on: a nats-server binary with
# JetStream (tests start private ones; the demo uses 127.0.0.1:4222) and a
# PostgreSQL server on 127.0.0.1:5432 that trusts local connections.
# Installs the Debian packages when they are missing, starts the servers when
# they are not running. Safe to run again.
set -euo pipefail

log() { printf '[infra] %s\n' "$*"; }
apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "[infra] need root to apt-get install $*" >&2; exit 1; fi
  if [ $apt_updated = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- NATS -----------------------------------------------------------------
NATS_BIN="${NATS_SERVER_BIN:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
if [ ! -x "$NATS_BIN" ]; then
  log "installing nats-server"
  apt_install nats-server
  NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
fi
if [ "${PINFLOW_NEED_NATS_4222:-0}" = 1 ] && ! port_open 4222; then
  log "starting nats-server with JetStream on 127.0.0.1:4222"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$NATS_BIN" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 50); do port_open 4222 && break; sleep 0.2; done
  port_open 4222 || { echo "[infra] nats-server did not start" >&2; exit 1; }
fi

# --- PostgreSQL ------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "installing postgresql"
  apt_install postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "letting local TCP connections in without a password (development machine)"
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { echo "[infra] PostgreSQL did not start" >&2; exit 1; }
fi
# --- Chromium (headless browser for the page tests) ------------------------
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (browser tests drive it with playwright-core)"
  apt_install chromium
fi

psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null
log "nats-server at $NATS_BIN; PostgreSQL ready on 127.0.0.1:5432; chromium at $(command -v chromium)"
