"""The kinds of workload a target can be: the apps/v1 ones, and custom resources with a scale
subresource named on the command line (`--workload group/version/resource[:template.path]`).

What differs per kind: where its API is, where its pod template sits, where its replicas
are read and how they are written, and how its controller picks the pod a scale-down
removes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


class Removal(enum.StrEnum):
    """How the workload's controller picks the pods a scale-down removes."""

    # The ReplicaSet controller ranks pods and honours controller.kubernetes.io/
    # pod-deletion-cost (Deployments run ReplicaSets): steering works.
    DELETION_COST = "deletion-cost"
    # The StatefulSet controller removes the highest ordinal, whatever node it is on.
    HIGHEST_ORDINAL = "highest-ordinal"
    # A custom controller: unknown; no steering is attempted.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    kind: str
    group: str
    version: str
    resource: str
    template_path: tuple[str, ...] = ("spec", "template")
    removal: Removal = Removal.DELETION_COST
    # apps/v1 kinds get spec.replicas written on the object itself (under the shipped
    # admission policy); custom resources through their /scale subresource.
    builtin: bool = True
    # Why targets of this kind cannot be scaled (a custom resource without /scale); every
    # such target is reported invalid with it, the rest go on.
    problem: str | None = None
    # Where the object keeps the replicas its scale subresource reads and writes, and what
    # an absent field means: apps/v1 defaults spec.replicas to 1; a custom resource's is
    # its CustomResourceDefinition's specReplicasPath, and the API server's Scale of it
    # reads an absent field as 0.
    replicas_path: tuple[str, ...] = ("spec", "replicas")
    replicas_default: int = 1

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None) -> str:
        base = f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"
        if namespace is None:
            return f"{base}/{self.resource}"
        return f"{base}/namespaces/{namespace}/{self.resource}"

    def object_path(self, namespace: str, name: str) -> str:
        return f"{self.collection_path(namespace)}/{name}"

    @property
    def watch_name(self) -> str:
        """The name its watch goes by in logs and metrics: "deployments", "rollouts.argoproj.io"."""
        return self.resource if self.builtin else f"{self.resource}.{self.group}"

    @property
    def template_where(self) -> str:
        return ".".join(self.template_path)

    @property
    def replicas_where(self) -> str:
        return ".".join(self.replicas_path)


DEPLOYMENT: Final = WorkloadKind("Deployment", "apps", "v1", "deployments")
STATEFULSET: Final = WorkloadKind(
    "StatefulSet", "apps", "v1", "statefulsets", removal=Removal.HIGHEST_ORDINAL
)
REPLICASET: Final = WorkloadKind("ReplicaSet", "apps", "v1", "replicasets")
BUILTIN: Final = (DEPLOYMENT, STATEFULSET, REPLICASET)

_GROUP_RE: Final = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_NAME_RE: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PATH_RE: Final = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")


@dataclass(frozen=True, slots=True)
class CustomWorkload:
    """A custom resource named by `--workload`, before discovery has told its Kind."""

    group: str
    version: str
    resource: str
    template_path: tuple[str, ...]

    def with_kind(
        self,
        kind: str,
        problem: str | None = None,
        replicas_path: tuple[str, ...] = ("spec", "replicas"),
    ) -> WorkloadKind:
        return WorkloadKind(
            kind,
            self.group,
            self.version,
            self.resource,
            self.template_path,
            Removal.UNKNOWN,
            builtin=False,
            problem=problem,
            replicas_path=replicas_path,
            replicas_default=0,
        )

    @property
    def definition(self) -> str:
        """The name of its CustomResourceDefinition: plural.group."""
        return f"{self.resource}.{self.group}"

    def __str__(self) -> str:
        return f"{self.group}/{self.version}/{self.resource}:{'.'.join(self.template_path)}"


_SIMPLE_PATH_RE: Final = re.compile(r"(\.[^.\[\]]+)+")


def scale_replicas_path(definition: object, version: str) -> tuple[str, ...] | str:
    """Where a CustomResourceDefinition's scale subresource keeps the replicas of `version`
    (its specReplicasPath, ".spec.size" -> ("spec", "size")), or the problem. The API
    server admits only a simple path of fields under .spec there (no index, no wildcard)."""
    spec = definition.get("spec") if isinstance(definition, Mapping) else None
    versions = spec.get("versions") if isinstance(spec, Mapping) else None
    entry = next(
        (
            v
            for v in (versions if isinstance(versions, list) else ())
            if isinstance(v, Mapping) and v.get("name") == version
        ),
        None,
    )
    if entry is None:
        return f"its CustomResourceDefinition has no version {version!r:.80}"
    subresources = entry.get("subresources")
    scale = subresources.get("scale") if isinstance(subresources, Mapping) else None
    path = scale.get("specReplicasPath") if isinstance(scale, Mapping) else None
    if not isinstance(path, str):
        return f"its CustomResourceDefinition has no scale subresource in version {version}"
    if len(path) > 256 or _SIMPLE_PATH_RE.fullmatch(path) is None or not path.startswith(".spec."):
        return f"specReplicasPath {path!r:.80} is not a path of fields under .spec"
    return tuple(path[1:].split("."))


def parse_workload(text: str) -> CustomWorkload | str:
    """`group/version/resource[:path.to.template]`, e.g. `argoproj.io/v1alpha1/rollouts`;
    the template path defaults to `spec.template`. Returns the problem as a string."""
    spec, _, path = text.strip().partition(":")
    parts = spec.split("/")
    if len(parts) != 3:
        return "expected GROUP/VERSION/RESOURCE[:TEMPLATE.PATH], e.g. argoproj.io/v1alpha1/rollouts"
    group, version, resource = parts
    if len(group) > 253 or _GROUP_RE.fullmatch(group) is None or "." not in group:
        return f"{group!r:.80} is not an API group of a custom resource (a DNS subdomain)"
    if group.endswith(".k8s.io") or group == "apps":
        return f"{group!r} is a built-in group; StatefulSets and ReplicaSets are watched already"
    if _NAME_RE.fullmatch(version) is None or len(version) > 63:
        return f"{version!r:.80} is not an API version"
    if _NAME_RE.fullmatch(resource) is None or len(resource) > 63:
        return f"{resource!r:.80} is not a resource name (plural, lower case)"
    template = tuple((path or "spec.template").split("."))
    if _PATH_RE.fullmatch(".".join(template)) is None or len(template) > 8:
        return f"{path!r:.80} is not a field path such as spec.template"
    return CustomWorkload(group, version, resource, template)
