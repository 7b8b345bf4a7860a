"""Synthetic Nodes: realistically sized (about 12 KiB of JSON, 40 labels, 15 images each),
in pools with taints, some cordoned, NotReady or under maintenance (see bench/README.md)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from bench.node_facts import (
    DEDICATED_POOLS,
    GPU_POOLS,
    POOL_COUNT,
    SPOT_POOLS,
    T0,
    NodeFacts,
    apply_facts,
    ts,
)

Json = dict[str, Any]

TIERS: Final = ("frontend", "backend", "batch", "system", "data")
REGIONS: Final = {"europe-west4": ("a", "b", "c"), "us-central1": ("a", "b", "c", "f")}
TEAMS: Final = tuple(f"team-{n:02d}" for n in range(12))
# (instance type, machine family, vCPUs, memory GiB)
MACHINES: Final = (
    ("n2-standard-8", "n2", 8, 32),
    ("n2-standard-16", "n2", 16, 64),
    ("n2d-highmem-32", "n2d", 32, 256),
    ("c3-standard-44", "c3", 44, 176),
    ("e2-standard-4", "e2", 4, 16),
    ("t2d-standard-16", "t2d", 16, 64),
)
CORDONED_SHARE: Final = 0.05
NOT_READY_SHARE: Final = 0.03
MAINTENANCE_SHARE: Final = 0.02  # custom NoExecute taint
CONDITION_TYPES: Final = (
    "FrequentContainerdRestart",
    "KernelDeadlock",
    "MemoryPressure",
    "DiskPressure",
    "PIDPressure",
    "Ready",
)


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    machine: tuple[str, str, int, int]
    tier: str
    region: str
    spot: bool
    dedicated: bool
    gpus: int


POOLS: Final = tuple(
    Pool(
        name=f"p{k}",
        machine=("a2-highgpu-1g", "a2", 12, 85) if k in GPU_POOLS else MACHINES[k % len(MACHINES)],
        tier=TIERS[k % len(TIERS)],
        region="europe-west4" if k % 3 else "us-central1",
        spot=k in SPOT_POOLS,
        dedicated=k in DEDICATED_POOLS,
        gpus=(1 if k == 18 else 8) if k in GPU_POOLS else 0,
    )
    for k in range(POOL_COUNT)
)
# Pools of uneven size, as in real clusters.
POOL_WEIGHTS: Final = tuple(1 + (k * 7) % 5 for k in range(POOL_COUNT))


def hex_digits(rng: random.Random, chars: int) -> str:
    return f"{rng.getrandbits(chars * 4):0{chars}x}"


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def image_catalogue(rng: random.Random) -> list[Json]:
    """Images shared across nodes: long registry paths, a digest name and a tag name each."""
    registries = (
        "europe-west4-docker.pkg.dev/prod-platform-381204/services",
        "europe-west4-docker.pkg.dev/prod-platform-381204/data-pipelines",
        "gke.gcr.io",
        "registry.k8s.io",
        "quay.io/prometheus",
        "docker.io/grafana",
        "ghcr.io/example-org/platform",
    )
    images = []
    for n in range(80):
        repo = f"{rng.choice(registries)}/component-{n:02d}-{rng.choice(TIERS)}-service"
        version = f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        tag = f"{version}-gke.{hex_digits(rng, 8)}"
        images.append(
            {
                "names": [f"{repo}@sha256:{hex_digits(rng, 64)}", f"{repo}:{tag}"],
                "sizeBytes": rng.randint(2_000_000, 900_000_000),
            }
        )
    return images


def _labels(pool: Pool, zone: str, name: str, instance_id: str, rng: random.Random) -> Json:
    """About 40 labels, as GKE and a platform team set them (a declarative table)."""
    instance_type, family, cpus, memory_gib = pool.machine
    labels: dict[str, str] = {
        "addon.gke.io/node-local-dns-ds-ready": "true",
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": instance_type,
        "beta.kubernetes.io/os": "linux",
        "cloud.google.com/gke-boot-disk": "pd-balanced",
        "cloud.google.com/gke-container-runtime": "containerd",
        "cloud.google.com/gke-cpu-scaling-level": str(cpus),
        "cloud.google.com/gke-logging-variant": "DEFAULT",
        "cloud.google.com/gke-max-pods-per-node": "110",
        "cloud.google.com/gke-memory-gb-scaling-level": str(memory_gib),
        "cloud.google.com/gke-netd-ready": "true",
        "cloud.google.com/gke-nodepool": f"prod-{pool.name}",
        "cloud.google.com/gke-os-distribution": "cos",
        "cloud.google.com/gke-provisioning": "spot" if pool.spot else "standard",
        "cloud.google.com/gke-stack-type": "IPV4",
        "cloud.google.com/machine-family": family,
        "cloud.google.com/private-node": "true",
        "csi.storage.example.com/node-id": f"projects/prod-platform-381204/zones/{zone}/{name}",
        "env": "prod" if rng.random() < 0.8 else "staging",
        "example.com/boot-id": uid(rng),
        "example.com/cost-center": f"cc-{rng.randint(1000, 1009)}",
        "example.com/generation": str(rng.randint(1, 5)),
        "example.com/gpu-count": str(pool.gpus),
        "example.com/instance-id": instance_id,
        "example.com/rack": f"rack-{rng.randint(0, 49):02d}",
        "failure-domain.beta.kubernetes.io/region": pool.region,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "iam.gke.io/gke-metadata-server-enabled": "true",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/worker": "",
        "node.kubernetes.io/instance-type": instance_type,
        "node.kubernetes.io/masq-agent-ds-ready": "true",
        "pool": pool.name,
        "team": rng.choice(TEAMS),
        "tier": pool.tier,
        "topology.example.com/host": hex_digits(rng, 32),
        "topology.gke.io/zone": zone,
        "topology.kubernetes.io/region": pool.region,
        "topology.kubernetes.io/zone": zone,
    }
    if pool.spot:
        labels["cloud.google.com/gke-spot"] = "true"
    if pool.gpus:
        labels["nvidia.com/gpu"] = "present"
        labels["cloud.google.com/gke-accelerator"] = "nvidia-tesla-a100"
    return labels


def _metadata(
    name: str, instance_id: str, zone: str, labels: Json, created: datetime, rng: random.Random
) -> Json:
    return {
        "name": name,
        "uid": uid(rng),
        "resourceVersion": str(rng.randint(10**8, 10**9)),
        "creationTimestamp": ts(created),
        "labels": labels,
        "annotations": {
            "container.googleapis.com/instance_id": instance_id,
            "csi.volume.kubernetes.io/nodeid": json.dumps(
                {
                    "pd.csi.storage.gke.io": f"projects/prod-platform-381204/zones/{zone}/"
                    f"instances/{name}",
                    "filestore.csi.storage.gke.io": name,
                }
            ),
            "node.alpha.kubernetes.io/ttl": "0",
            "node.gke.io/last-applied-node-labels": ",".join(
                f"{k}={v}" for k, v in list(labels.items())[:12]
            ),
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        },
        "managedFields": _managed_fields(labels, created),
    }


def _status(
    index: int,
    pool: Pool,
    zone: str,
    metadata: Json,
    created: datetime,
    ip: str,
    images: list[Json],
    rng: random.Random,
) -> Json:
    name = metadata["name"]
    _, _, cpus, memory_gib = pool.machine
    return {
        "capacity": _resources(cpus, memory_gib, pool.gpus),
        "allocatable": _resources(cpus - 0.2, memory_gib - 3, pool.gpus),
        "conditions": [_condition(kind, created, T0, rng) for kind in CONDITION_TYPES],
        "addresses": [
            {"type": "InternalIP", "address": ip},
            {"type": "ExternalIP", "address": f"34.{rng.randint(0, 255)}.1.{index % 250}"},
            {"type": "InternalDNS", "address": f"{name}.{zone}.c.prod-platform.internal"},
            {"type": "Hostname", "address": f"{name}.{zone}.c.prod-platform.internal"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": hex_digits(rng, 32),
            "systemUUID": uid(rng),
            "bootID": metadata["labels"]["example.com/boot-id"],
            "kernelVersion": "6.1.100+",
            "osImage": "Container-Optimized OS from Google",
            "containerRuntimeVersion": "containerd://1.7.24",
            "kubeletVersion": "v1.33.5-gke.1080000",
            "kubeProxyVersion": "v1.33.5-gke.1080000",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "images": rng.sample(images, rng.randint(10, 20)),
        "config": {},
    }


def make_node(index: int, rng: random.Random, images: list[Json]) -> Json:
    # The random draws happen in a fixed order: a seed always gives the same cluster.
    pool = POOLS[rng.choices(range(POOL_COUNT), weights=POOL_WEIGHTS)[0]]
    zone = f"{pool.region}-{rng.choice(REGIONS[pool.region])}"
    name = f"gke-prod-{pool.name}-{hex_digits(rng, 8)}-{index:05d}"
    instance_id = str(rng.randint(10**18, 10**19 - 1))
    created = T0 - timedelta(days=rng.randint(1, 90), seconds=rng.randint(0, 86400))
    labels = _labels(pool, zone, name, instance_id, rng)
    facts = NodeFacts(
        cordoned=rng.random() < CORDONED_SHARE,
        ready=rng.random() >= NOT_READY_SHARE,
        maintenance=rng.random() < MAINTENANCE_SHARE,
    )
    ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
    node: Json = {"kind": "Node", "apiVersion": "v1"}
    node["metadata"] = _metadata(name, instance_id, zone, labels, created, rng)
    node["spec"] = {
        "podCIDR": f"10.{rng.randint(64, 127)}.{rng.randint(0, 255)}.0/24",
        "podCIDRs": [f"10.{rng.randint(64, 127)}.{rng.randint(0, 255)}.0/24"],
        "providerID": f"gce://prod-platform-381204/{zone}/{name}",
    }
    node["status"] = _status(index, pool, zone, node["metadata"], created, ip, images, rng)
    apply_facts(node, facts)
    return node


def _resources(cpus: float, memory_gib: int, gpus: int) -> dict[str, str]:
    found = {
        "cpu": f"{int(cpus * 1000)}m",
        "ephemeral-storage": "98831908Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory_gib * 1024 * 1024}Ki",
        "pods": "110",
    }
    if gpus:
        found["nvidia.com/gpu"] = str(gpus)
    return found


def _condition(kind: str, created: datetime, now: datetime, rng: random.Random) -> Json:
    reasons = {
        "FrequentContainerdRestart": ("NoFrequentContainerdRestart", "containerd is functioning"),
        "KernelDeadlock": ("KernelHasNoDeadlock", "kernel has no deadlock"),
        "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory"),
        "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        "Ready": ("KubeletReady", "kubelet is posting ready status"),
    }
    reason, message = reasons[kind]
    return {
        "type": kind,
        "status": "True" if kind == "Ready" else "False",
        "lastHeartbeatTime": ts(now - timedelta(seconds=rng.randint(0, 40))),
        "lastTransitionTime": ts(created + timedelta(seconds=rng.randint(30, 600))),
        "reason": reason,
        "message": message,
    }


def _managed_fields(labels: dict[str, str], created: datetime) -> list[Json]:
    def entry(manager: str, subresource: str, fields: Json) -> Json:
        found: Json = {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": ts(created + timedelta(minutes=3)),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields,
        }
        if subresource:
            found["subresource"] = subresource
        return found

    conditions: Json = {
        f'k:{{"type":"{kind}"}}': {
            ".": {},
            "f:lastHeartbeatTime": {},
            "f:lastTransitionTime": {},
            "f:message": {},
            "f:reason": {},
            "f:status": {},
            "f:type": {},
        }
        for kind in CONDITION_TYPES
    }
    return [
        entry(
            "kubelet",
            "",
            {
                "f:metadata": {
                    "f:annotations": {
                        ".": {},
                        "f:volumes.kubernetes.io/controller-managed-attach-detach": {},
                    },
                    "f:labels": {".": {}, **{f"f:{k}": {} for k in labels}},
                },
                "f:spec": {"f:providerID": {}},
            },
        ),
        entry("kube-controller-manager", "", {"f:spec": {"f:podCIDR": {}, "f:podCIDRs": {}}}),
        entry(
            "kubelet",
            "status",
            {
                "f:status": {
                    "f:allocatable": {"f:cpu": {}, "f:memory": {}, "f:pods": {}},
                    "f:capacity": {"f:cpu": {}, "f:memory": {}, "f:pods": {}},
                    "f:conditions": conditions,
                    "f:images": {},
                    "f:nodeInfo": {"f:bootID": {}, "f:kernelVersion": {}, "f:osImage": {}},
                }
            },
        ),
    ]
