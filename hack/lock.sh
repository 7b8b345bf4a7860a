#!/usr/bin/env bash
# Refreshes the hash-pinned lock files from pyproject.toml, then rebuilds .venv from them.
# Run it after changing a dependency in pyproject.toml (or to take newer releases):
#   requirements/build.txt    [build-system] requires: the Dockerfile's build stage
#   requirements/runtime.txt  [project] dependencies: the Dockerfile's runtime stage
#   requirements/dev.txt      all of the above plus the dev/test extras: hack/setup.sh, CI
# dev.txt is constrained to the runtime and build pins, so tests run what the image ships.
# Resolved by uv (`uv pip compile --universal`: one file valid for every platform and
# Python >= requires-python; `--generate-hashes`: pip installs with --require-hashes).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
if [ ! -x "$uv" ]; then  # first run: no venv yet, or one from before uv was a dev tool
  tools=$(mktemp -d)
  trap 'rm -rf "$tools"' EXIT
  "${PYTHON:-python3}" -m venv "$tools"
  "$tools/bin/pip" install --quiet uv
  uv=$tools/bin/uv
fi
build_in=$(mktemp --suffix=.in)
trap 'rm -f "$build_in"; [ -z "${tools:-}" ] || rm -rf "$tools"' EXIT
"${PYTHON:-python3}" -c '
import sys, tomllib
for req in tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]:
    print(req)
' >"$build_in"

compile() {  # compile OUTPUT INPUT... [OPTIONS]
  local out=$1
  shift
  "$uv" pip compile --quiet --universal --generate-hashes --python-version 3.11 \
    --custom-compile-command "hack/lock.sh" --output-file "$out" "$@"
}
compile requirements/build.txt "$build_in"
compile requirements/runtime.txt pyproject.toml
# hack/setup.sh installs the package editable without build isolation: hatchling's editable
# build also needs `editables` (its get_requires_for_build_editable).
editable_in=$(mktemp --suffix=.in)
trap 'rm -f "$build_in" "$editable_in"; [ -z "${tools:-}" ] || rm -rf "$tools"' EXIT
echo editables >"$editable_in"
compile requirements/dev.txt pyproject.toml "$build_in" "$editable_in" --extra dev \
  --constraint requirements/runtime.txt --constraint requirements/build.txt
hack/setup.sh >/dev/null
echo "locked: $(grep -c '==' requirements/runtime.txt) runtime, $(grep -c '==' requirements/dev.txt) dev packages"
