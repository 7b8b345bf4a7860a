#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from Go
# modules into a cache directory outside the checkout, keyed by version. A component whose
# binary already reports the pinned version is not rebuilt. One build of a version at a
# time: a second caller (another worktree, a test tier) waits on that version's lock file
# and then finds the binaries cached.
#
# Usage: hack/build-control-plane.sh [VERSION]   (prints the bin directory on the last line)
#   VERSION  a supported Kubernetes release pinned in hack/versions.env: v1.34.4, 1.34 or
#            v1.34 (the pinned patch of that minor); default: $NODECOUNT_SCALER_KUBERNETES_VERSION,
#            else KUBERNETES_VERSION of hack/versions.env
# Env:   NODECOUNT_SCALER_CACHE  cache root (default ~/.cache/nodecount-scaler)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

log() { printf '[build-control-plane] %s\n' "$*" >&2; }

requested=${1:-${NODECOUNT_SCALER_KUBERNETES_VERSION:-$KUBERNETES_VERSION}}
if [[ ! $requested =~ ^v?1\.([0-9]+)(\.[0-9]+)?$ ]]; then
  log "not a Kubernetes version: '$requested' (expected v1.NN.P, v1.NN or 1.NN)"; exit 2
fi
k8s_minor=${BASH_REMATCH[1]}
pin_k8s="KUBERNETES_1_$k8s_minor" pin_etcd="ETCD_1_$k8s_minor" pin_kwok="KWOK_1_$k8s_minor"
KUBERNETES_VERSION=${!pin_k8s:-} ETCD_VERSION=${!pin_etcd:-} KWOK_VERSION=${!pin_kwok:-}
if [ -z "$KUBERNETES_VERSION" ] || [ -z "$ETCD_VERSION" ] || [ -z "$KWOK_VERSION" ] ||
   { [ -n "${BASH_REMATCH[2]}" ] && [ "v${requested#v}" != "$KUBERNETES_VERSION" ]; }; then
  pinned=$(compgen -v KUBERNETES_1_ | while read -r v; do printf ' %s' "${!v}"; done)
  log "Kubernetes $requested is not pinned in hack/versions.env (pinned:$pinned)"; exit 2
fi

cache=${NODECOUNT_SCALER_CACHE:-$HOME/.cache/nodecount-scaler}
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
bin="$cache/control-plane/$key/bin"
work="$cache/control-plane/$key/src"
mkdir -p "$bin" "$work"
exec 9>"$cache/control-plane/$key.lock"
if ! flock --nonblock 9; then
  log "another build of $key is running; waiting for it"
  flock 9
fi
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

staging_version="v0.${KUBERNETES_VERSION#v1.}"

has_version() { # binary expected-substring
  # Capture first: `--version | grep -q` under pipefail fails at random (SIGPIPE, 141).
  [ -x "$1" ] || return 1
  local out
  out=$("$1" --version 2>/dev/null) || return 1
  [[ $out == *"$2"* ]]
}

build_kubernetes() {
  if has_version "$bin/kube-apiserver" "$KUBERNETES_VERSION" &&
     has_version "$bin/kube-controller-manager" "$KUBERNETES_VERSION" &&
     has_version "$bin/kube-scheduler" "$KUBERNETES_VERSION"; then
    log "kubernetes $KUBERNETES_VERSION cached"; return
  fi
  log "building kubernetes $KUBERNETES_VERSION (cold: 10-25 min on 2 cores)"
  local mod="$work/kubernetes"; rm -rf "$mod"; mkdir -p "$mod"; cd "$mod"
  go mod init nodecount-scaler.local/control-plane/kubernetes >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local
  # paths; a consumer must replace each one with the published staging version instead.
  go mod edit -json "$gomod" | python3 -c '
import json, sys
m = json.load(sys.stdin)
for r in m.get("Require") or []:
    if r["Path"].startswith("k8s.io/") and r["Version"] == "v0.0.0":
        print("-replace=%s=%s@%s" % (r["Path"], r["Path"], sys.argv[1]))
for g in m.get("GoDebug") or []:
    print("-godebug=%s=%s" % (g["Key"], g["Value"]))
' "$staging_version" | xargs go mod edit
  go mod edit -go="$(go mod edit -json "$gomod" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])')"
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$KUBERNETES_VERSION"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor -X $p.gitTreeState=clean"
  done
  go build -trimpath -tags=selinux,notest -ldflags "$ld" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
}

build_etcd() {
  if has_version "$bin/etcd" "${ETCD_VERSION#v}"; then log "etcd $ETCD_VERSION cached"; return; fi
  log "building etcd $ETCD_VERSION"
  local mod="$work/etcd"; rm -rf "$mod"; mkdir -p "$mod"; cd "$mod"
  go mod init nodecount-scaler.local/control-plane/etcd >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
}

copy_kwok_stages() {
  # The stage definitions kwok needs at run time ship inside the module zip.
  # kustomize/stage/fast is only a kustomization.yaml pointing at ../node/fast,
  # ../node/heartbeat-with-lease and ../pod/fast, so copy those stage files, flat.
  local stages="$bin/../kwok-stages"
  if [ -f "$stages/node-heartbeat-with-lease.yaml" ] && [ -f "$stages/pod-ready.yaml" ]; then return; fi
  local dir
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$stages"; mkdir -p "$stages"
  local sub
  for sub in node/fast node/heartbeat-with-lease pod/fast; do
    find "$dir/kustomize/stage/$sub" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
      -exec cp {} "$stages/" \;
  done
  chmod -R u+w "$stages"
}

build_kwok() {
  if has_version "$bin/kwok" "${KWOK_VERSION}"; then
    log "kwok $KWOK_VERSION cached"
  else
    log "building kwok $KWOK_VERSION"
    GOBIN="$bin" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" \
      "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  fi
  copy_kwok_stages
}

build_etcd
build_kwok
build_kubernetes
log "done"
echo "$bin"
