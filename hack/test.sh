#!/usr/bin/env bash
# The test command: installs what is missing (prometheus and promtool from Debian's package),
# builds the local control plane and helm when their cache is cold (binaries live outside the
# checkout), then runs the unit, packaging and integration tests.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh >/dev/null
hack/build-control-plane.sh >/dev/null
hack/build-tools.sh >/dev/null
hack/install-prometheus.sh
exec .venv/bin/python -m pytest "$@"
