"""The chart refuses the Kubernetes releases the service refuses: helm checks Chart.yaml's
`kubeVersion` against the cluster's release (`--kube-version` stands for the cluster here;
`helm install` reads it from the API server's /version and runs the same check)."""

from __future__ import annotations

import pytest

from nodecount_scaler.model.server_version import MINIMUM
from tests.helm import helm
from tests.manifests import CHART, NAMESPACE

OLDEST = f"v{MINIMUM[0]}.{MINIMUM[1]}.0"
OLDER = f"v{MINIMUM[0]}.{MINIMUM[1] - 1}.9"


def template(kube_version: str) -> tuple[int, str]:
    result = helm("template", "nodecount-scaler", str(CHART), "-n", NAMESPACE,
                  "--kube-version", kube_version, check=False)  # fmt: skip
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("kube_version", [OLDER, "v1.30.14", f"{OLDER}-eks-4b2c1d"])
def test_older_release_is_refused(kube_version: str) -> None:
    code, output = template(kube_version)
    assert code != 0
    assert "chart requires kubeVersion: >=1.34.0-0 which is incompatible with Kubernetes" in output


@pytest.mark.parametrize("kube_version", [OLDEST, f"{OLDEST}-eks-4b2c1d", "v1.37.2", "v1.40.0"])
def test_supported_release_renders(kube_version: str) -> None:
    code, output = template(kube_version)
    assert code == 0, output
    assert "kind: ValidatingAdmissionPolicy" in output
