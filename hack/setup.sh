#!/usr/bin/env bash
# Creates .venv with the package (editable) and its dev/test tools, from the package index.
# Idempotent: a venv whose install stamp matches pyproject.toml is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
echo "$venv"
