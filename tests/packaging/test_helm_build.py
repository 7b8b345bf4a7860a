"""hack/build-tools.sh builds helm from its Go module at the version pinned in
hack/versions.env (or finds it cached outside the checkout), and the binary runs; it also
fetches the pinned Prometheus Operator's CRDs."""

from __future__ import annotations

import yaml

from devcluster.versions import cache_root, prometheus_operator_crds_dir, read_pins
from tests.helm import build_tools, helm


def test_build_tools_yields_the_pinned_helm() -> None:
    """`helm version` of the built binary reports exactly the pinned version."""
    pinned = read_pins()["HELM_VERSION"]
    assert build_tools().is_relative_to(cache_root()), "helm must be cached outside the checkout"
    shown = helm("version").stdout
    assert f'Version:"{pinned}"' in shown, shown
    assert 'GitTreeState:"clean"' in shown, shown


def test_build_tools_fetches_the_pinned_operator_crds() -> None:
    """The ServiceMonitor and PrometheusRule CRDs of the pinned module version, served as v1."""
    build_tools()
    version = read_pins()["PROMETHEUS_OPERATOR_VERSION"]
    crds = prometheus_operator_crds_dir()
    assert crds.is_relative_to(cache_root())
    kinds = {}
    for path in sorted(crds.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        assert crd["metadata"]["annotations"]["operator.prometheus.io/version"] == version[1:]
        kinds[crd["spec"]["names"]["kind"]] = [v["name"] for v in crd["spec"]["versions"]]
    assert kinds == {"ServiceMonitor": ["v1"], "PrometheusRule": ["v1"]}
