#!/usr/bin/env bash
# Builds the operator tools the tests drive (helm) from their Go modules into a cache
# directory outside the checkout, keyed by version, like hack/build-control-plane.sh.
# A binary that already reports the pinned version is not rebuilt.
#
# Usage: hack/build-tools.sh            (prints the bin directory on the last line)
# Env:   NODECOUNT_SCALER_CACHE  cache root (default ~/.cache/nodecount-scaler)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${NODECOUNT_SCALER_CACHE:-$HOME/.cache/nodecount-scaler}
bin="$cache/tools/helm-${HELM_VERSION}/bin"
mkdir -p "$bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[build-tools] %s\n' "$*" >&2; }

helm_reports_pinned_version() {
  [ -x "$bin/helm" ] || return 1
  local out
  # Capture first: `| grep -q` under pipefail fails at random (SIGPIPE, 141).
  out=$("$bin/helm" version --template '{{.Version}}' 2>/dev/null) || return 1
  [ "$out" = "$HELM_VERSION" ]
}

build_helm() {
  if helm_reports_pinned_version; then log "helm $HELM_VERSION cached"; return; fi
  log "building helm $HELM_VERSION (cold: 2-4 min on 2 cores)"
  # Without -X the binary calls itself "v4.3": the version lives in ldflags, as helm's
  # Makefile sets it (https://github.com/helm/helm/blob/v4.3.1/Makefile).
  local pkg="helm.sh/helm/${HELM_VERSION%%.*}"
  GOBIN="$bin" go install -trimpath \
    -ldflags "-s -w -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.gitTreeState=clean" \
    "$pkg/cmd/helm@$HELM_VERSION"
  helm_reports_pinned_version || { log "helm built but does not report $HELM_VERSION"; exit 1; }
}

build_helm
log "done"
echo "$bin"
