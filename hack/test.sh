#!/usr/bin/env bash
# The test command. Four tiers, each a directory and a marker, and a fifth that reruns part
# of one on other Kubernetes releases:
#   unit         tests/unit: pure; no network, no kubectl, no Go, no installs (< 30 s;
#                on every core through pytest-xdist)
#   packaging    tests/packaging: what ships, rendered or checked by the real tools: the
#                manifests by `kubectl kustomize`, the chart by helm, the alerts by promtool
#   integration  tests/integration: against a real local control plane (built from Go
#                modules on first use; the binaries are cached outside the checkout) and a
#                real Prometheus, of the default Kubernetes release (hack/versions.env)
#   image        tests/image: the container image built with podman (hack/build-image.sh,
#                as root: it installs the engine from Debian's packages and caches the base),
#                its facts, and the image run as the shipped Deployment runs it, in-cluster,
#                against the local control plane
#   compat       the tests of tests/integration marked `compat` (the part that depends on
#                the API server: install, admission policies, every workload kind, the
#                oracle, leader election, bookmarks and watch restarts, metrics
#                authentication), once per supported release: every release pinned in
#                hack/versions.env, oldest first, or those named in
#                $NODECOUNT_SCALER_COMPAT_VERSIONS (e.g. "1.34 1.37"); each release's
#                control plane is built first (cached); docs/kubernetes-versions.md
# `hack/test.sh` runs the first four; `hack/test.sh unit` (or packaging, integration, image,
# compat) runs one. What a tier needs is installed or built first (cached): prometheus and
# promtool from Debian's package, helm and the control plane from their Go modules, the
# image with podman.
# Further arguments go to pytest: `hack/test.sh unit -x -k selector`.
set -euo pipefail
cd "$(dirname "$0")/.."
tiers=(unit packaging integration image)
case "${1:-}" in
  unit | packaging | integration | image | compat) tiers=("$1"); shift ;;
esac
hack/setup.sh >/dev/null
# One pytest per tier: the unit tier runs on every core (pytest-xdist), the others in one
# process (the integration tier shares one control plane per session). Exit code 5 means the
# arguments selected nothing in that tier; it fails the run only if no tier ran a test.
ran=0
compat() {  # one pytest of the compat tests per release; a line of figures for each
  local versions=${NODECOUNT_SCALER_COMPAT_VERSIONS:-}
  if [ -z "$versions" ]; then
    versions=$(. hack/versions.env && compgen -v KUBERNETES_1_ | sort -t_ -k3 -n |
      while read -r pin; do printf '%s ' "${!pin}"; done)
  fi
  local version start status summary=()
  for version in $versions; do
    start=$SECONDS
    echo "== compat: Kubernetes $version"
    status=0
    hack/build-control-plane.sh "$version" >/dev/null || status=$?
    if [ "$status" != 0 ]; then
      summary+=("Kubernetes $version: the control plane did not build (exit $status)")
      break
    fi
    NODECOUNT_SCALER_KUBERNETES_VERSION=$version .venv/bin/python -m pytest tests/integration \
      -m compat "$@" || status=$?
    summary+=("Kubernetes $version: pytest exit $status, $((SECONDS - start)) s with the build check")
    [ "$status" = 0 ] || break
  done
  printf 'compat: %s\n' "${summary[@]}"
  return "$status"
}

for tier in "${tiers[@]}"; do
  if [ "$tier" = compat ]; then
    hack/install-prometheus.sh
    hack/build-tools.sh >/dev/null
    compat "$@" && ran=1 || exit $?
    continue
  fi
  if [ "$tier" != unit ]; then
    hack/install-prometheus.sh
    hack/build-tools.sh >/dev/null
  fi
  case $tier in integration | image) hack/build-control-plane.sh >/dev/null ;; esac
  [ "$tier" != image ] || hack/build-image.sh >/dev/null
  # The unit tier on every core; the others name their slowest tests (where CI time goes).
  parallel=(--durations=15)
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
