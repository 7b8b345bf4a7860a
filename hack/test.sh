#!/usr/bin/env bash
# The test command: installs what is missing, builds the local control plane when its cache
# is cold (binaries live outside the checkout), then runs unit and integration tests.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh >/dev/null
hack/build-control-plane.sh >/dev/null
exec .venv/bin/python -m pytest "$@"
