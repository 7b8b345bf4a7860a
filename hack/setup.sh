#!/usr/bin/env bash
# Creates .venv from the hash-pinned dev lock (requirements/dev.txt, see hack/lock.sh), then
# installs the package itself (editable, --no-deps: its dependencies are in the lock, and
# --no-build-isolation: the build backend is too, so nothing unpinned is fetched).
# Idempotent: the venv is rebuilt only when the lock changes, and the package reinstalled
# (offline) only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv
lock=requirements/dev.txt
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
lock_stamp="$venv/.lock-$(sha256sum "$lock" | cut -c1-16)"
project_stamp="$venv/.project-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "${pip[@]}" --require-hashes -r "$lock"
  touch "$lock_stamp"
fi
if [ ! -f "$project_stamp" ]; then
  rm -f "$venv"/.project-*
  "${pip[@]}" --no-deps --no-build-isolation -e .
  touch "$project_stamp"
fi
echo "$venv"
