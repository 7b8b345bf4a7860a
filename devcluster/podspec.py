"""A Deployment's pod spec as `podman run` flags: what the kubelet would do with it, for the
one container the shipped Deployment has.

Translated: the image and its pull policy, args (or a caller's in their place), env (values
and the pod's name and namespace by fieldRef), the pod's and the container's
securityContext (user, group, fsGroup, non-root, seccomp RuntimeDefault, read-only root
filesystem, no privilege escalation, capabilities), emptyDir volumes (tmpfs of their
sizeLimit), the service account's token volume, the memory and CPU limits and the CPU
request (as cpu.shares), terminationGracePeriodSeconds (podman's stop timeout), and the
`KUBERNETES_SERVICE_HOST/PORT` the kubelet sets. Scheduling (affinity, spread, node
selection) and the probes are the cluster's, not the container's: they are left to the
caller. Anything else in the spec is an error, so that a new field of the Deployment
cannot be silently left out of what the tests run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from nodecount_scaler.model.quantity import parse_quantity

SERVICE_ACCOUNT_DIR: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
PULL_POLICIES: Final = {"IfNotPresent": "missing", "Always": "always", "Never": "never"}
# The pod and container fields this module translates, and those it leaves to the cluster.
POD_FIELDS: Final = frozenset(
    {
        "containers",
        "securityContext",
        "volumes",
        "serviceAccountName",
        "automountServiceAccountToken",
    }
    | {"terminationGracePeriodSeconds"}
)
CLUSTER_POD_FIELDS: Final = frozenset(
    {"affinity", "topologySpreadConstraints", "nodeSelector", "tolerations"}
)
CONTAINER_FIELDS: Final = frozenset(
    {
        "name",
        "image",
        "imagePullPolicy",
        "args",
        "env",
        "ports",
        "securityContext",
        "volumeMounts",
        "resources",
    }
)
CLUSTER_CONTAINER_FIELDS: Final = frozenset({"startupProbe", "livenessProbe", "readinessProbe"})
SECURITY_FIELDS: Final = frozenset(
    {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
    | {"allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities"}
)

Obj = dict[str, Any]


class UnsupportedPodSpec(ValueError):
    """The pod spec asks for something this translation does not do."""


@dataclass(frozen=True)
class Placement:
    """Where the pod runs: its name, its network and the API server's Service address."""

    pod_name: str
    network: str
    service_host: str
    service_port: int
    token_dir: Path


@dataclass(frozen=True)
class PodRun:
    """`podman run [flags] image args` for one pod, and what the caller needs to reach it."""

    name: str
    image: str
    args: tuple[str, ...]
    flags: tuple[str, ...]
    ports: Mapping[str, int]
    grace_seconds: float
    readiness_path: str

    @property
    def secure_metrics(self) -> bool:
        return "--no-metrics-secure" not in self.args


def the_container(deployment: Obj) -> tuple[Obj, Obj]:
    """The pod spec and its one container, every field checked as known."""
    pod: Obj = deployment["spec"]["template"]["spec"]
    containers = pod["containers"]
    if len(containers) != 1 or pod.get("initContainers"):
        raise UnsupportedPodSpec("exactly one container and no init containers")
    container: Obj = containers[0]
    _known("pod", pod, POD_FIELDS | CLUSTER_POD_FIELDS)
    _known("container", container, CONTAINER_FIELDS | CLUSTER_CONTAINER_FIELDS)
    return pod, container


def _known(where: str, obj: Mapping[str, Any], fields: frozenset[str]) -> None:
    unknown = sorted(set(obj) - fields)
    if unknown:
        raise UnsupportedPodSpec(f"{where} fields not translated to podman: {', '.join(unknown)}")


def pod_run(deployment: Obj, where: Placement, args: Sequence[str] | None = None) -> PodRun:
    """The Deployment's pod as `podman run` would run it; `args` in place of the container's
    own when given."""
    pod, container = the_container(deployment)
    grace = float(pod.get("terminationGracePeriodSeconds", 30))
    flags = [
        *("--network", where.network, "--hostname", where.pod_name),
        *("--pull", PULL_POLICIES[container.get("imagePullPolicy", "IfNotPresent")]),
        *("--stop-timeout", str(int(grace))),
        *security_flags(pod.get("securityContext", {}), container.get("securityContext", {})),
        *env_flags(container, deployment["metadata"]["namespace"], where),
        *volume_flags(pod, container, where.token_dir),
        *resource_flags(container.get("resources", {})),
    ]
    readiness = container.get("readinessProbe", {}).get("httpGet", {})
    return PodRun(
        name=where.pod_name,
        image=container["image"],
        args=tuple(container.get("args", ()) if args is None else args),
        flags=tuple(flags),
        ports={p["name"]: int(p["containerPort"]) for p in container.get("ports", ())},
        grace_seconds=grace,
        readiness_path=str(readiness.get("path", "/readyz")),
    )


def security_flags(pod: Obj, container: Obj) -> list[str]:
    """The pod's securityContext, then the container's (which wins for the same field)."""
    _known("securityContext", {**pod, **container}, SECURITY_FIELDS)
    merged = {**pod, **container}
    user, group = merged.get("runAsUser"), merged.get("runAsGroup")
    if merged.get("runAsNonRoot") and not user:
        raise UnsupportedPodSpec("runAsNonRoot needs a non-zero runAsUser here")
    flags = [] if user is None else ["--user", f"{user}:{group if group is not None else user}"]
    if "fsGroup" in pod:
        flags += ["--group-add", str(pod["fsGroup"])]
    seccomp = merged.get("seccompProfile", {"type": "RuntimeDefault"})
    if seccomp.get("type") != "RuntimeDefault":  # podman's default profile is the runtime's
        raise UnsupportedPodSpec(f"seccompProfile {seccomp}")
    if merged.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    if merged.get("readOnlyRootFilesystem"):
        # Not podman's extra tmpfs on /tmp, /run, /var/tmp: the kubelet mounts none.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    capabilities = merged.get("capabilities", {})
    flags += [f"--cap-drop={c}" for c in capabilities.get("drop", ())]
    flags += [f"--cap-add={c}" for c in capabilities.get("add", ())]
    return flags


def env_flags(container: Obj, namespace: str, where: Placement) -> list[str]:
    """The kubelet's service variables, then the container's env."""
    fields = {"metadata.name": where.pod_name, "metadata.namespace": namespace}
    pairs = [
        ("KUBERNETES_SERVICE_HOST", where.service_host),
        ("KUBERNETES_SERVICE_PORT", str(where.service_port)),
    ]
    for var in container.get("env", ()):
        if "value" in var:
            pairs.append((var["name"], str(var["value"])))
            continue
        path = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if path not in fields:
            raise UnsupportedPodSpec(f"env {var['name']}: only values and {sorted(fields)}")
        pairs.append((var["name"], fields[path]))
    return [flag for name, value in pairs for flag in ("--env", f"{name}={value}")]


def volume_flags(pod: Obj, container: Obj, token_dir: Path) -> list[str]:
    """emptyDir mounts as tmpfs (of the sizeLimit, mode 0777 as the kubelet makes them) and
    the service account's token volume, read-only, where the kubelet mounts it."""
    volumes = {v["name"]: v for v in pod.get("volumes", ())}
    flags: list[str] = []
    for mount in container.get("volumeMounts", ()):
        volume = volumes[mount["name"]]
        if set(volume) - {"name", "emptyDir"} or set(mount) - {"name", "mountPath", "readOnly"}:
            raise UnsupportedPodSpec(f"volume {mount['name']}: only emptyDir")
        options = [f"type=tmpfs,destination={mount['mountPath']}", "tmpfs-mode=0777"]
        if "sizeLimit" in volume["emptyDir"]:
            options.append(f"tmpfs-size={_bytes(volume['emptyDir']['sizeLimit'])}")
        if mount.get("readOnly"):
            options.append("ro=true")
        flags += ["--mount", ",".join(options)]
    if pod.get("automountServiceAccountToken", True):
        flags += ["--volume", f"{token_dir}:{SERVICE_ACCOUNT_DIR}:ro"]
    return flags


def resource_flags(resources: Obj) -> list[str]:
    """Limits as the cgroup limits the kubelet sets; the CPU request as cpu.shares (the
    kubelet's milliCPU * 1024 / 1000); the memory request only schedules."""
    flags: list[str] = []
    limits, requests = resources.get("limits", {}), resources.get("requests", {})
    if "memory" in limits:
        flags += ["--memory", str(_bytes(limits["memory"]))]
    if "cpu" in limits:
        flags += ["--cpus", str(float(_quantity(limits["cpu"])))]
    if "cpu" in requests:
        flags += ["--cpu-shares", str(max(2, int(_quantity(requests["cpu"]) * 1024)))]
    return flags


def _quantity(text: object) -> Fraction:
    value = parse_quantity(str(text))
    if not isinstance(value, Fraction):
        raise UnsupportedPodSpec(f"quantity {text!r}: {value}")
    return value


def _bytes(text: object) -> int:
    return int(_quantity(text))
