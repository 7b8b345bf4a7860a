"""The chart's Prometheus Operator objects: the PrometheusRule carries exactly the plain
rules file, and the ServiceMonitor scrapes the metrics Service the way the rules expect
(job nodecount-scaler, the service's own labels kept, HTTPS with a bearer token)."""

from __future__ import annotations

import yaml

from devcluster.prometheus import JOB
from tests.manifests import NAMESPACE, Obj, chart, one, render
from tests.monitoring import ALERTS

MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}


def test_off_by_default() -> None:
    """Without the operator's CRDs the defaults must install: neither object is rendered."""
    assert not MONITORING_KINDS & {d["kind"] for d in render(chart())}


def test_prometheus_rule_is_the_plain_rules_file() -> None:
    """spec equals monitoring/alerts.yaml (the chart's files/alerts.yaml is its copy, written
    by hack/render-prometheusrule.py); the selector labels are added to the chart's."""
    docs = render(chart(prometheusRule={"enabled": True, "labels": {"release": "kps"}}))
    rule = one(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text())


def service_monitor(**values: object) -> tuple[Obj, Obj]:
    docs = render(chart(serviceMonitor={"enabled": True, **values}))
    return one(docs, "ServiceMonitor"), one(docs, "Service", "nodecount-scaler-metrics")


def test_service_monitor_gives_the_job_and_labels_the_rules_expect() -> None:
    """jobLabel names a label of the Service whose value is the job the rules select on;
    honorLabels keeps each series' own namespace label (the target's namespace)."""
    monitor, service = service_monitor(labels={"release": "kps"}, interval="30s")
    spec = monitor["spec"]
    assert service["metadata"]["labels"][spec["jobLabel"]] == JOB
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["metadata"]["labels"]["release"] == "kps"
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert (endpoint["scheme"], endpoint["path"], endpoint["interval"]) == (
        "https",
        "/metrics",
        "30s",
    )
    assert endpoint["honorLabels"] is True


def test_service_monitor_authenticates_with_the_prometheus_token() -> None:
    """The pod's own service-account token as bearer token; the self-signed serving
    certificate is not verified unless a tlsConfig of one's own replaces that."""
    monitor, _ = service_monitor()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert endpoint["tlsConfig"] == {"insecureSkipVerify": True}
    own = {"ca": {"configMap": {"name": "ca", "key": "ca.crt"}}, "serverName": "nodecount-scaler"}
    monitor, _ = service_monitor(tlsConfig=own)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["tlsConfig"] == own
    assert "interval" not in endpoint
