#!/usr/bin/env bash
# Installs prometheus and promtool from Debian's `prometheus` package (the alert rule tests
# and the integration tests that scrape the service need both). Idempotent: nothing is done
# when both are on PATH. Needs root (CI and this project's machines run as root); the
# package's own service is not started (no systemd here; policy-rc.d denies it in images).
set -euo pipefail
log() { printf '[install-prometheus] %s\n' "$*" >&2; }
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  log "present: $(prometheus --version 2>&1 | head -n1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "prometheus/promtool missing; run as root: apt-get update && apt-get install -y --no-install-recommends prometheus"
  exit 1
fi
log "apt-get install prometheus (about 35 s)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends prometheus >/dev/null
log "installed: $(prometheus --version 2>&1 | head -n1)"
