#!/usr/bin/env bash
# The test command. Four tiers, each a directory and a marker:
#   unit         tests/unit: pure; no network, no kubectl, no Go, no installs (< 30 s;
#                on every core through pytest-xdist)
#   packaging    tests/packaging: what ships, rendered or checked by the real tools: the
#                manifests by `kubectl kustomize`, the chart by helm, the alerts by promtool
#   integration  tests/integration: against a real local control plane (built from Go
#                modules on first use; the binaries are cached outside the checkout) and a
#                real Prometheus
#   image        tests/image: the container image built with podman (hack/build-image.sh,
#                as root: it installs the engine from Debian's packages and caches the base),
#                its facts, and the image run as the shipped Deployment runs it, in-cluster,
#                against the local control plane
# `hack/test.sh` runs every tier; `hack/test.sh unit` (or packaging, integration, image) runs one.
# What a tier needs is installed or built first (cached): prometheus and promtool from
# Debian's package, helm and the control plane from their Go modules, the image with podman.
# Further arguments go to pytest: `hack/test.sh unit -x -k selector`.
set -euo pipefail
cd "$(dirname "$0")/.."
tiers=(unit packaging integration image)
case "${1:-}" in
  unit | packaging | integration | image) tiers=("$1"); shift ;;
esac
hack/setup.sh >/dev/null
# One pytest per tier: the unit tier runs on every core (pytest-xdist), the others in one
# process (the integration tier shares one control plane per session). Exit code 5 means the
# arguments selected nothing in that tier; it fails the run only if no tier ran a test.
ran=0
for tier in "${tiers[@]}"; do
  if [ "$tier" != unit ]; then
    hack/install-prometheus.sh
    hack/build-tools.sh >/dev/null
  fi
  case $tier in integration | image) hack/build-control-plane.sh >/dev/null ;; esac
  [ "$tier" != image ] || hack/build-image.sh >/dev/null
  parallel=()
  [ "$tier" != unit ] || parallel=(--numprocesses auto)
  status=0
  .venv/bin/python -m pytest "tests/$tier" "${parallel[@]}" "$@" || status=$?
  case $status in
    0) ran=1 ;;
    5) ;;
    *) exit "$status" ;;
  esac
done
[ "$ran" = 1 ] || { echo "hack/test.sh: no test selected in ${tiers[*]}" >&2; exit 5; }
