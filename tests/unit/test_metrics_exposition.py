"""/metrics: the per-target families rendered from their table give exactly the samples
prometheus-client's own exposition gives, label values escaped; a removed target leaves
no series."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nodecount_scaler import metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: bytes) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_the_fast_exposition_equals_the_registry_s() -> None:
    odd = metrics.TargetGauges(("ns", "Deployment", 'we"ird\\name\nx'))
    odd.set_counts(3, 2)
    odd.current.set(1)
    invalid = metrics.TargetGauges(("ns", "StatefulSet", "broken"))
    invalid.invalid.set(1)
    invalid.remove_counts()
    gone = metrics.TargetGauges(("ns", "Deployment", "gone"))
    gone.set_counts(1, 1)
    gone.remove()
    fast = samples(metrics.metrics_bytes())
    assert fast == samples(generate_latest(metrics.REGISTRY))
    key = frozenset({("namespace", "ns"), ("kind", "Deployment"), ("name", 'we"ird\\name\nx')})
    assert fast[("nodecount_scaler_eligible_nodes", key)] == 3
    assert not [k for k in fast if ("name", "gone") in k[1]]
    broken = frozenset({("namespace", "ns"), ("kind", "StatefulSet"), ("name", "broken")})
    assert fast[("nodecount_scaler_target_invalid", broken)] == 1
    assert ("nodecount_scaler_eligible_nodes", broken) not in fast
    for labels in (odd, invalid):
        labels.remove()
