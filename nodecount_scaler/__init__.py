"""nodecount-scaler: keeps annotated Deployments sized to the nodes where their pods can run."""

# The release version, written here only: the package metadata reads it (pyproject.toml,
# tool.hatch.version), hack/build-image.sh tags and labels the image with it, and
# tests/unit/test_release_versions.py holds every other copy (the Dockerfile's default, the
# chart, the manifests' image tag, CHANGELOG.md) equal to it.
__version__ = "0.1.0"
