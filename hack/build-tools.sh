#!/usr/bin/env bash
# Builds the operator tools the tests drive (helm) from their Go modules into a cache
# directory outside the checkout, keyed by version, like hack/build-control-plane.sh.
# A binary that already reports the pinned version is not rebuilt. Also fetches the
# Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule) from its Go module, for the
# chart's server-side dry runs: `go mod download` verifies the module against the checksum
# database; the two files are kept in tools/prometheus-operator-<version>/crds.
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

fetch_prometheus_operator_crds() {
  local dir="$cache/tools/prometheus-operator-${PROMETHEUS_OPERATOR_VERSION}/crds"
  local names=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)
  if [ -s "$dir/${names[0]}" ] && [ -s "$dir/${names[1]}" ]; then
    log "prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs cached"
    return
  fi
  log "fetching the prometheus-operator $PROMETHEUS_OPERATOR_VERSION module (4 MiB) for its CRDs"
  local module="github.com/prometheus-operator/prometheus-operator@${PROMETHEUS_OPERATOR_VERSION}"
  local json src
  # Outside any module: no go.mod here may pull the download into a build list.
  json=$(cd "$(mktemp -d)" && go mod download -json "$module")
  src=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/example/prometheus-operator-crd" ] || { log "no CRDs in $module: $json"; exit 1; }
  mkdir -p "$dir"
  for name in "${names[@]}"; do cp "$src/example/prometheus-operator-crd/$name" "$dir/$name"; done
}

build_helm
fetch_prometheus_operator_crds
log "done"
echo "$bin"
