#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman and tags it
# localhost/nodecount-scaler:<version> (the version of nodecount_scaler/__init__.py).
#
# 1. The engine: podman, runc and mmdebstrap from Debian's packages when missing (as root).
#    Every podman command of this project reads hack/containers.conf (CONTAINERS_CONF).
# 2. The base: no image registry is reachable, so python:3.11-slim cannot be pulled. The
#    base is made from Debian's packages instead: mmdebstrap of the host's release (its apt
#    sources) with python3, python3-venv and passwd, imported as
#    localhost/nodecount-scaler-base:<suite>-<key>. The tarball is cached in
#    $cache/image/; --refresh-base makes it again (Debian's newest security updates).
# 3. The image: `podman build` of the unchanged build context with BASE set to that base.
#    pip inside the build reaches the package index only through the host's pip
#    configuration and CA bundle, mounted read-only for the RUN steps (never copied into a
#    layer). Skipped when the tagged image already carries the label of the inputs' hash
#    (the Dockerfile, the files it copies, the base and the version).
#
# Usage: hack/build-image.sh [--refresh-base]   (prints the image reference on the last line)
# Env:   NODECOUNT_SCALER_CACHE  cache root (default ~/.cache/nodecount-scaler)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${NODECOUNT_SCALER_CACHE:-$HOME/.cache/nodecount-scaler}/image
export CONTAINERS_CONF="$here/containers.conf"
refresh_base=0
[ "${1:-}" != --refresh-base ] || refresh_base=1

log() { printf '[build-image] %s\n' "$*" >&2; }

install_engine() {
  local missing=() tool
  for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing ${missing[*]}; as root: apt-get install --no-install-recommends podman runc mmdebstrap"
    exit 1
  fi
  log "apt-get install ${missing[*]} (about 25 s)"
  local started=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends podman runc mmdebstrap >/dev/null
  log "installed in $((SECONDS - started)) s: $(podman --version)"
}

# ---- the base -----------------------------------------------------------------------------
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
# Only the Debian release itself: what the runtime stage needs to run a venv (python3), what
# the build stage needs to make one (python3-venv), and useradd (passwd). The "essential"
# variant has no apt, the merged-usr hook spares the usrmerge package (and the perl it pulls
# in), and man pages, docs (but their copyright files), locales and info pages are left out.
base_packages=python3,python3-venv,passwd
base_options=(--variant=essential --include="$base_packages"
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright')

apt_sources() { # the host's apt source files that name its release
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && grep -qw "$suite" "$f" && echo "$f"
  done
  return 0
}

build_base() {
  [ -n "$suite" ] || { log "no VERSION_CODENAME in /etc/os-release: the base needs a Debian host"; exit 1; }
  local sources key tag tarball
  mapfile -t sources < <(apt_sources)
  [ ${#sources[@]} -gt 0 ] || { log "no apt source names $suite"; exit 1; }
  key=$( { echo "$suite ${base_options[*]}"; cat "${sources[@]}"; } | sha256sum | cut -c1-12)
  tag="localhost/nodecount-scaler-base:$suite-$key"
  tarball="$cache/base-$suite-$key.tar"
  if [ "$refresh_base" = 1 ]; then
    rm -f "$tarball"
    podman image rm "$tag" >/dev/null 2>&1 || true
  fi
  if podman image exists "$tag"; then log "base $tag cached"; echo "$tag"; return; fi
  if [ ! -s "$tarball" ]; then
    log "mmdebstrap $suite ($base_packages; about 90 s)"
    local started=$SECONDS
    mkdir -p "$cache"
    mmdebstrap --quiet --format=tar "${base_options[@]}" "$suite" "$tarball.part" "${sources[@]}" >&2
    mv "$tarball.part" "$tarball"
    log "made $tarball in $((SECONDS - started)) s"
  fi
  podman import --quiet --change 'CMD ["python3"]' "$tarball" "$tag" >/dev/null
  log "base $tag imported ($(du -m "$tarball" | cut -f1) MB)"
  echo "$tag"
}

# ---- the image ----------------------------------------------------------------------------
version() {
  sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/nodecount_scaler/__init__.py"
}

inputs_hash() { # base-id version: the Dockerfile, every file it copies, the base, the version
  # Keep in step with the Dockerfile's COPY sources (tests/unit/test_dockerfile_structure.py).
  (
    cd "$repo"
    echo "$1 $2"
    find Dockerfile .dockerignore pyproject.toml README.md requirements/build.txt \
      requirements/runtime.txt nodecount_scaler -type f \
      ! -name '*.py[cod]' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -c1-64
}

pip_mounts() { # -v options: the host's global pip configuration and the CA bundle it names
  [ -f /etc/pip.conf ] || return 0
  echo "--volume=/etc/pip.conf:/etc/pip.conf:ro"
  local cert
  cert=$(sed -n 's/^[[:space:]]*cert[[:space:]]*=[[:space:]]*//p' /etc/pip.conf | tail -n1)
  [ -z "$cert" ] || [ ! -f "$cert" ] || echo "--volume=$cert:$cert:ro"
}

build_image() { # base-tag
  local v ref base_id inputs old mounts
  v=$(version)
  ref="localhost/nodecount-scaler:$v"
  base_id=$(podman image inspect --format '{{.Id}}' "$1")
  inputs=$(inputs_hash "$base_id" "$v")
  old=$(podman image inspect --format '{{.Id}} {{index .Labels "io.nodecount-scaler.inputs"}}' "$ref" 2>/dev/null || true)
  if [ "${old#* }" = "$inputs" ]; then log "$ref cached (inputs ${inputs:0:12})"; echo "$ref"; return; fi
  mapfile -t mounts < <(pip_mounts)
  log "podman build $ref on $1"
  local started=$SECONDS
  podman build "${mounts[@]}" --build-arg "BASE=$1" --build-arg "VERSION=$v" \
    --label "io.nodecount-scaler.inputs=$inputs" --tag "$ref" "$repo" >&2
  log "built $ref in $((SECONDS - started)) s: $(podman image inspect --format '{{.Size}}' "$ref" | awk '{printf "%.1f MB", $1/1e6}')"
  # The image this one replaces, unless something else still names it.
  [ -z "$old" ] || podman image rm "${old%% *}" >/dev/null 2>&1 || true
  echo "$ref"
}

install_engine
base=$(build_base)
build_image "$base"
