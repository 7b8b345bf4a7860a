#!/usr/bin/env bash
# The main job on the embedded default: build (or reuse) a local control plane, run
# nodecount-scaler on it and narrate node changes. Extra arguments go to the demo
# (`--pause SECONDS`, `--keep`). To run the service against your own cluster instead:
# `.venv/bin/nodecount-scaler run` (uses KUBECONFIG / ~/.kube/config or in-cluster config).
# `hack/demo.sh --image` (first argument): the service runs from the container image
# instead, as a pod of the shipped Deployment (built or reused by hack/build-image.sh, as
# root).
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh >/dev/null
hack/build-control-plane.sh >/dev/null
image=()
if [ "${1:-}" = --image ]; then
  shift
  image=(--image "$(hack/build-image.sh | tail -n1)")
fi
# Prometheus shows the "target invalid" alert firing; without it the demo says so and goes on.
hack/install-prometheus.sh || true
PATH="$PWD/.venv/bin:$PATH" exec .venv/bin/python -m devcluster.demo "${image[@]}" "$@"
