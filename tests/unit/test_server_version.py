"""model/server_version.py: what /version bodies say, the verdict on each release, and the
supported range kept equal in its three homes (the service, hack/versions.env, the chart)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from devcluster.versions import REPO_ROOT, supported
from nodecount_scaler.model.server_version import (
    MINIMUM,
    NEWEST_TESTED,
    ServerVersion,
    Verdict,
    parse_server_version,
)

BODIES: list[tuple[dict[str, Any], tuple[int, int] | None]] = [
    ({"major": "1", "minor": "34", "gitVersion": "v1.34.4"}, (1, 34)),
    # Managed offerings: "34+" and a suffixed gitVersion.
    ({"major": "1", "minor": "34+", "gitVersion": "v1.34.2-eks-9d4c2a1"}, (1, 34)),
    ({"major": "1", "minor": "37+", "gitVersion": "v1.37.1-gke.1200"}, (1, 37)),
    # major/minor missing or empty (some builds from source): gitVersion decides.
    ({"major": "", "minor": "", "gitVersion": "v1.36.3+k3s1"}, (1, 36)),
    ({"gitVersion": "v1.33.7"}, (1, 33)),
    ({"major": "one", "minor": "x", "gitVersion": "1.35.0"}, (1, 35)),
    # Nothing readable.
    ({"major": "one", "minor": "x", "gitVersion": "latest"}, None),
    ({}, None),
    ({"major": 1, "minor": 34}, None),
]


@pytest.mark.parametrize(("body", "release"), BODIES)
def test_release_read_from_version_body(body: dict[str, Any], release: Any) -> None:
    assert parse_server_version(body).release == release


VERDICTS = [
    ((1, 33), Verdict.TOO_OLD),
    ((0, 99), Verdict.TOO_OLD),
    ((1, 34), Verdict.SUPPORTED),
    ((1, 37), Verdict.SUPPORTED),
    ((1, 38), Verdict.UNTESTED_NEWER),
    ((2, 0), Verdict.UNTESTED_NEWER),
    (None, Verdict.UNKNOWN),
]


@pytest.mark.parametrize(("release", "verdict"), VERDICTS)
def test_verdict(release: tuple[int, int] | None, verdict: Verdict) -> None:
    assert ServerVersion(release, "v?").verdict is verdict


def test_supported_range_is_what_versions_env_pins() -> None:
    """The oldest and newest releases the compatibility tier runs on are the service's
    minimum and newest tested."""
    minors = [tuple(int(p) for p in minor.split(".")) for minor in supported()]
    assert (minors[0], minors[-1]) == (MINIMUM, NEWEST_TESTED)


def test_chart_kube_version_is_the_minimum() -> None:
    """helm install refuses the releases the service refuses (`-0` admits the pre-release
    suffixes of managed offerings, e.g. v1.34.2-eks-1)."""
    chart = yaml.safe_load((REPO_ROOT / "charts" / "nodecount-scaler" / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={MINIMUM[0]}.{MINIMUM[1]}.0-0"
