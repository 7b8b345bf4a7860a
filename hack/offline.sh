#!/usr/bin/env bash
# Runs a command with the network unplugged: in a new network namespace (and a user
# namespace, so no privilege is needed) where only the loopback interface exists, and is up.
# `hack/offline.sh hack/test.sh unit` proves the unit tier needs no network.
set -euo pipefail
exec unshare --user --map-root-user --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
