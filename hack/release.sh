#!/usr/bin/env bash
# Packs a release of the version written in nodecount_scaler/__init__.py into
# dist/nodecount-scaler-<version>/:
#   nodecount-scaler-<version>-image.tar.gz  the image (podman save, docker-archive, gzip):
#                                            `docker load -i FILE`, `gunzip -c FILE | podman load`
#   nodecount-scaler-<version>.tgz           the Helm chart (helm package)
#   SHA256SUMS                               `sha256sum -c SHA256SUMS` checks both
# The image packed is the one the image tier ran: it is built (hack/build-image.sh), the
# image tier runs against it (hack/test.sh image), and it is saved only if its ID is the
# one tested. Refuses a tree with uncommitted changes, versions that disagree
# (tests/unit/test_release_versions.py) and a version without a dated CHANGELOG.md section.
#
# Usage: hack/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="$PWD/hack/containers.conf"
log() { printf '[release] %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' nodecount_scaler/__init__.py)
[ -n "$version" ] || fail "no __version__ in nodecount_scaler/__init__.py"
[ -z "$(git status --porcelain)" ] || fail "uncommitted changes: a release is made from a commit"
grep -Eq "^## \[$version\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md \
  || fail "CHANGELOG.md has no dated section '## [$version] - YYYY-MM-DD'"
hack/setup.sh >/dev/null
.venv/bin/python -m pytest -q -p no:cacheprovider tests/unit/test_release_versions.py >&2

ref=$(hack/build-image.sh | tail -n1)
tested=$(podman image inspect --format '{{.Id}}' "$ref")
log "testing $ref ($tested)"
hack/test.sh image -p no:cacheprovider -q >&2
[ "$(podman image inspect --format '{{.Id}}' "$ref")" = "$tested" ] \
  || fail "$ref changed while it was tested"

out="dist/nodecount-scaler-$version"
rm -rf "$out"
mkdir -p "$out"
log "podman save $ref"
archive="$out/nodecount-scaler-$version-image.tar.gz"
podman save --format docker-archive "$ref" | gzip -n >"$archive"
# The archive loads back as the tested image (podman 4.3 reads no gzip with -i: a pipe).
gunzip -c "$archive" | podman load >/dev/null
[ "$(podman image inspect --format '{{.Id}}' "$ref")" = "$tested" ] \
  || fail "$archive does not load as the tested image"
helm=$(hack/build-tools.sh | tail -n1)/helm
"$helm" package charts/nodecount-scaler --destination "$out" >&2
(cd "$out" && sha256sum -- *.tar.gz *.tgz >SHA256SUMS)
log "release $version in $out (image $tested, commit $(git rev-parse --short HEAD)):"
(cd "$out" && ls -l -- * >&2 && cat SHA256SUMS >&2)
echo "$out"
