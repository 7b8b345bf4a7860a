# nodecount-scaler: build a venv in one stage, copy it into a clean one.
#
# BASE is the Python image both stages run on. The default is the upstream image; the
# released image is built by hack/build-image.sh on a base made from Debian's own packages
# (docs/image.md says how the two differ). Both stages must use the same base: the venv's
# interpreter is the base's.
ARG BASE=docker.io/library/python:3.11-slim

# ---- build: the wheel, and the venv it is installed in ----
FROM ${BASE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# Every dependency comes from a hash-pinned lock (hack/lock.sh writes them from
# pyproject.toml): the build backend into a venv of its own, the runtime dependencies
# into /opt/venv. /opt/venv gets no pip and no setuptools: the build venv's pip installs
# into it (--python), so the image carries no installer and no build backend.
COPY requirements/build.txt requirements/runtime.txt requirements/
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes -r requirements/build.txt \
 && python3 -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --require-hashes \
      -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY nodecount_scaler/ nodecount_scaler/
# --no-deps: only our own wheel (every dependency ships a manylinux wheel, so no compiler
# is needed anywhere). pip compiles the .pyc files at install time, so the read-only root
# filesystem at run time needs no writes.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps /wheels/*.whl

# ---- runtime ----
FROM ${BASE}

ARG BASE
# Kept equal to nodecount_scaler/__version__ by a unit test; hack/build-image.sh passes it.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="nodecount-scaler" \
      org.opencontainers.image.description="Keeps annotated Deployments sized to the number of nodes where their pods can run." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE}"

# Fixed ids matching the Deployment's securityContext (runAsUser/runAsGroup 65532).
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin nonroot

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# 8081: /healthz, /livez, /readyz (plain HTTP); 8443: /metrics, /status (HTTPS)
EXPOSE 8081 8443
USER 65532:65532
ENTRYPOINT ["nodecount-scaler"]
CMD ["run"]
