"""The kinds of workload a target can be: one record per kind (WorkloadKind), the table of
the built-in ones (BUILTIN), and custom resources with a scale subresource named on the
command line (`--workload group/version/resource[:template.path]`).

Everything that differs per kind is on its record, and every consumer reads it there (the
watches and writes, the projection, steering, /status and plan, the generated manifests:
nodecount_scaler/manifests.py):

- where its API is, and the name its watch goes by;
- where its pod template sits, and whether spec.selector is a label selector or a plain
  map of labels (core/v1);
- where its replicas are read, and how they are written: a merge patch of the object itself
  under the shipped admission policy (built-in kinds), or its /scale subresource (custom);
- whether it surges in a rollout (maxSurge), and how its controller picks the pods a
  scale-down removes;
- how a target of it is shown, and the groups an HPA may name it by;
- what RBAC grants it and what its admission policy holds equal on a write.

Adding a built-in kind is one row of BUILTIN, plus its tests.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from nodecount_scaler.model.objects import integer, nested


class Removal(enum.StrEnum):
    """How the workload's controller picks the pods a scale-down removes."""

    # The ReplicaSet controller ranks pods and honours controller.kubernetes.io/
    # pod-deletion-cost (Deployments run ReplicaSets): steering works.
    DELETION_COST = "deletion-cost"
    # The StatefulSet controller removes the highest ordinal, whatever node it is on.
    HIGHEST_ORDINAL = "highest-ordinal"
    # A custom controller: unknown; no steering is attempted.
    UNKNOWN = "unknown"


Rule = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    kind: str
    group: str
    version: str
    resource: str
    template_path: tuple[str, ...] = ("spec", "template")
    removal: Removal = Removal.DELETION_COST
    # Built-in kinds get spec.replicas written on the object itself (under the shipped
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
    # A rollout may add pods beyond replicas (a Deployment's RollingUpdate maxSurge).
    surges: bool = False
    # spec.selector is a plain map of labels (core/v1), not a LabelSelector.
    selector_is_map: bool = False
    # kubectl's default kind: a target of it is shown by its name alone.
    shown_bare: bool = False
    # Other API groups an HPA's scaleTargetRef may name it by (extensions/v1beta1).
    legacy_groups: tuple[str, ...] = ()
    # Watched unless --kind names others.
    by_default: bool = True
    # The admission policy that guards its writes (built-in kinds), and the fields of its
    # spec besides selector and template (and replicas) that a write must leave unchanged.
    policy: str = ""
    fixed_spec: tuple[str, ...] = ()

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

    def scale_path(self, namespace: str, name: str) -> str:
        return self.object_path(namespace, name) + "/scale"

    def write_path(self, namespace: str, name: str) -> str:
        """Where a target's replicas are written: a built-in workload itself, by a merge
        patch the shipped admission policy checks (the opt-in, and that nothing but replicas
        changes; a Scale carries no annotations, so no policy could check the opt-in on
        /scale); a custom resource through its /scale subresource, which no policy can
        guard (docs/install.md, "Permissions")."""
        if self.builtin:
            return self.object_path(namespace, name)
        return self.scale_path(namespace, name)

    @property
    def written_resource(self) -> str:
        """The resource RBAC must let this service patch to write the kind's replicas."""
        return self.resource if self.builtin else f"{self.resource}/scale"

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

    def replicas(self, obj: Mapping[str, Any]) -> int:
        """The replicas of an object of this kind; raises objects.ShapeError."""
        *parents, field = self.replicas_path
        return integer(nested(obj, parents), field, self.replicas_where, self.replicas_default)

    def named_by(self, group: str, kind: str) -> bool:
        """Whether an HPA's scaleTargetRef (its apiVersion's group, its kind) names this kind."""
        return kind == self.kind and (group == self.group or group in self.legacy_groups)

    def shown(self, name: str) -> str:
        """A target as kubectl prints it: a Deployment by its name, others as kind/name."""
        return name if self.shown_bare else f"{self.kind.lower()}/{name}"

    def rbac_rules(self) -> list[Rule]:
        """What the service account needs on this kind: list and watch its objects and
        patch their replicas (a built-in kind's object, a custom resource's /scale); for
        a custom resource also get on its CustomResourceDefinition, read at start-up for
        where /scale keeps the replicas (kube/discovery.py)."""
        if self.builtin:
            return [rule(self.group, [self.resource], ["list", "watch", "patch"])]
        return [
            rule(self.group, [self.resource], ["list", "watch"]),
            rule(self.group, [f"{self.resource}/scale"], ["patch"]),
            rule(
                "apiextensions.k8s.io",
                ["customresourcedefinitions"],
                ["get"],
                names=[f"{self.resource}.{self.group}"],
            ),
        ]


def rule(
    group: str, resources: list[str], verbs: list[str], names: list[str] | None = None
) -> Rule:
    """An RBAC PolicyRule, as the manifests write it."""
    found = {"apiGroups": [group], "resources": resources}
    if names:
        found["resourceNames"] = names
    return {**found, "verbs": verbs}


DEPLOYMENT: Final = WorkloadKind(
    "Deployment",
    "apps",
    "v1",
    "deployments",
    surges=True,
    shown_bare=True,
    legacy_groups=("extensions",),
    policy="nodecount-scaler-replicas",
    fixed_spec=(
        "strategy",
        "minReadySeconds",
        "revisionHistoryLimit",
        "paused",
        "progressDeadlineSeconds",
    ),
)
STATEFULSET: Final = WorkloadKind(
    "StatefulSet",
    "apps",
    "v1",
    "statefulsets",
    removal=Removal.HIGHEST_ORDINAL,
    policy="nodecount-scaler-replicas-statefulsets",
    fixed_spec=(
        "serviceName",
        "volumeClaimTemplates",
        "podManagementPolicy",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "ordinals",
        "minReadySeconds",
        "revisionHistoryLimit",
    ),
)
REPLICASET: Final = WorkloadKind(
    "ReplicaSet",
    "apps",
    "v1",
    "replicasets",
    legacy_groups=("extensions",),
    policy="nodecount-scaler-replicas-replicasets",
    fixed_spec=("minReadySeconds",),
)
REPLICATIONCONTROLLER: Final = WorkloadKind(
    "ReplicationController",
    "",
    "v1",
    "replicationcontrollers",
    selector_is_map=True,
    by_default=False,
    policy="nodecount-scaler-replicas-replicationcontrollers",
    fixed_spec=("minReadySeconds",),
)
# The built-in kinds, in the order they are shown and watched.
BUILTIN: Final = (DEPLOYMENT, STATEFULSET, REPLICASET, REPLICATIONCONTROLLER)
_SHOWN_BARE: Final = frozenset(k.kind for k in BUILTIN if k.shown_bare)


def shown_name(kind: str, name: str) -> str:
    """A target by its kind's name and its own, as kubectl prints it (WorkloadKind.shown;
    a custom kind is never kubectl's default)."""
    return name if kind in _SHOWN_BARE else f"{kind.lower()}/{name}"


def builtin_kinds(names: tuple[str, ...] | None) -> tuple[WorkloadKind, ...]:
    """The built-in kinds of these names (--kind), in table order; None: the default ones."""
    if names is None:
        return tuple(k for k in BUILTIN if k.by_default)
    return tuple(k for k in BUILTIN if k.kind in names)


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
        return f"{group!r} is a built-in group; its workload kinds are built in (--kind)"
    if _NAME_RE.fullmatch(version) is None or len(version) > 63:
        return f"{version!r:.80} is not an API version"
    if _NAME_RE.fullmatch(resource) is None or len(resource) > 63:
        return f"{resource!r:.80} is not a resource name (plural, lower case)"
    template = tuple((path or "spec.template").split("."))
    if _PATH_RE.fullmatch(".".join(template)) is None or len(template) > 8:
        return f"{path!r:.80} is not a field path such as spec.template"
    return CustomWorkload(group, version, resource, template)
