#!/usr/bin/env bash
# The test command. Three tiers, each a directory and a marker:
#   unit         tests/unit: pure; no network, no kubectl, no Go, no installs (< 30 s)
#   packaging    tests/packaging: the Dockerfile's install steps against the locks (package
#                index), the manifests rendered by `kubectl kustomize`, helm, promtool
#   integration  tests/integration: against a real local control plane (built from Go
#                modules on first use; the binaries are cached outside the checkout) and a
#                real Prometheus
# `hack/test.sh` runs every tier; `hack/test.sh unit` (or packaging, integration) runs one.
# What a tier needs is installed or built first (cached): prometheus and promtool from
# Debian's package, helm and the control plane from their Go modules.
# Further arguments go to pytest: `hack/test.sh unit -x -k selector`.
set -euo pipefail
cd "$(dirname "$0")/.."
tiers=(unit packaging integration)
case "${1:-}" in
  unit | packaging | integration) tiers=("$1"); shift ;;
esac
hack/setup.sh >/dev/null
paths=()
for tier in "${tiers[@]}"; do
  if [ "$tier" != unit ]; then
    hack/install-prometheus.sh
    hack/build-tools.sh >/dev/null
  fi
  [ "$tier" != integration ] || hack/build-control-plane.sh >/dev/null
  paths+=("tests/$tier")
done
exec .venv/bin/python -m pytest "${paths[@]}" "$@"
