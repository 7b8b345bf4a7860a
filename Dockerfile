# nodecount-scaler: build the wheel in one stage, install it into a venv in a clean one.

# ---- build: only the package sources go in; the result is one wheel in /wheels ----
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Every dependency comes from a hash-pinned lock (hack/lock.sh writes them from
# pyproject.toml): the build backend here, the runtime dependencies in the next stage.
COPY requirements/build.txt requirements/runtime.txt requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/build.txt
COPY pyproject.toml README.md ./
COPY nodecount_scaler/ nodecount_scaler/
# --no-deps: only our own wheel, next to the runtime lock it is installed with (all
# dependencies ship manylinux wheels, so no compiler is needed anywhere).
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
 && cp requirements/runtime.txt /wheels/requirements.txt

# ---- runtime ----
FROM python:3.11-slim

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="nodecount-scaler" \
      org.opencontainers.image.description="Keeps annotated Deployments sized to the number of nodes where their pods can run." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

# Fixed ids matching the Deployment's securityContext (runAsUser/runAsGroup 65532).
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin nonroot

COPY --from=build /wheels /wheels
# pip compiles the .pyc files at install time, so the read-only root filesystem at run
# time needs no writes (PYTHONDONTWRITEBYTECODE below only stops later attempts).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /wheels/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps /wheels/*.whl \
 && rm -rf /wheels

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# 8081: /healthz, /livez, /readyz (plain HTTP); 8443: /metrics, /status (HTTPS)
EXPOSE 8081 8443
USER 65532:65532
ENTRYPOINT ["nodecount-scaler"]
CMD ["run"]
