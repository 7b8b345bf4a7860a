"""The article's Deployment from manifests/examples, placed in a namespace of one's own."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Final

import yaml

EXAMPLES: Final = Path(__file__).resolve().parents[1] / "manifests" / "examples"
EXAMPLE: Final = EXAMPLES / "nginx-everywhere.yaml"


def nginx_everywhere(
    namespace: str, name: str = "nginx-everywhere", **annotations: str
) -> dict[str, Any]:
    """The article's Deployment from manifests/examples, in the test's namespace."""
    obj: dict[str, Any] = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    obj["metadata"]["namespace"] = namespace
    if name != "nginx-everywhere":
        obj["metadata"]["name"] = name
        obj["spec"]["selector"]["matchLabels"] = {"app": name}
        obj["spec"]["template"]["metadata"]["labels"] = {"app": name}
        term = obj["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ][0]
        term["labelSelector"]["matchLabels"] = {"app": name}
    obj["metadata"].setdefault("annotations", {}).update(annotations)
    return obj
