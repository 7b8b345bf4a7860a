"""The service's memory from the image next to the same service from a venv, in one run.

    python -m bench.image_rss [--venv V] [--image REF]

One local control plane with the demo's three nodes and its example Deployment; the service
twice at once, both with --dry-run so that neither writes (the two see the same events and
make the same decisions): as a pod of the shipped Deployment from the image
(devcluster/container.py: in-cluster, the shipped permissions) and as a process of the venv
`V` (default: the running interpreter's). Prints each one's RSS idle (after the first sync)
and its peak while the demo's node changes run (add, cordon, taint, uncordon and untaint,
delete), each change awaited until both report the new eligible count on /status. As root
(podman); the image from hack/build-image.sh.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from devcluster import shipped
from devcluster.cluster import Cluster
from devcluster.container import ContainerScaler, PodNetwork, build_image, deployment_pod
from devcluster.demo import APP, EXAMPLE
from devcluster.polling import wait_until
from devcluster.sampling import RssSampler
from devcluster.scaler import ScalerEndpoints, ScalerProcess, scaler_executable

Step = tuple[str, Callable[[Cluster], object], int]
STEPS: tuple[Step, ...] = (
    ("add node-4", lambda c: c.add_node("node-4"), 4),
    ("cordon node-2", lambda c: c.kubectl("cordon", "node-2"), 3),
    ("taint node-3", lambda c: c.kubectl("taint", "node", "node-3", "d=db:NoSchedule"), 2),
    ("uncordon node-2", lambda c: c.kubectl("uncordon", "node-2"), 3),
    ("untaint node-3", lambda c: c.kubectl("taint", "node", "node-3", "d=db:NoSchedule-"), 4),
    ("delete node-4", lambda c: c.delete_node("node-4"), 3),
)


def eligible(scaler: ScalerEndpoints) -> object:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return (scaler.target("default", APP) or {}).get("eligible")
    return None


def idle_rss(pid: int, seconds: float = 2.0) -> float:
    """The median of RSS samples over `seconds`."""
    with RssSampler(lambda: [pid], interval=0.1) as rss:
        time.sleep(seconds)
    return statistics.median(s[pid] for s in rss.samples if pid in s)


@contextlib.contextmanager
def both(
    cluster: Cluster, image: str, venv: Path | None, workdir: Path
) -> Iterator[tuple[ContainerScaler, ScalerProcess]]:
    docs = shipped.render_kustomize()
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(shipped.permission_objects(docs)))
    deployment = shipped.the_deployment(docs)
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = image
    executable = str(venv / "bin" / "nodecount-scaler") if venv else scaler_executable()
    local = ScalerProcess(
        cluster.kubeconfig, workdir / "venv.log", args=("--dry-run",), executable=executable
    )
    with PodNetwork(cluster.ports.apiserver).start(image) as network:
        pod = deployment_pod(
            cluster, deployment, network, workdir, ["run", "--dry-run", "--no-metrics-secure"]
        )
        try:
            yield pod.start(timeout=60), local.start(timeout=60)
        finally:
            print(f"stopped: image exit {pod.stop()}, venv exit {local.stop()}")


def measure(cluster: Cluster, image: str, venv: Path | None) -> None:
    cluster.add_nodes(["node-1", "node-2", "node-3"])
    cluster.kubectl("apply", "-f", str(EXAMPLE))
    with both(cluster, image, venv, cluster.workdir) as (pod, local):
        scalers: dict[str, ContainerScaler | ScalerProcess] = {"image": pod, "venv": local}
        wait_until(lambda: all(eligible(s) == 3 for s in scalers.values()), 30, describe="3")
        time.sleep(3)
        idle = {name: idle_rss(s.pid()) for name, s in scalers.items()}
        with RssSampler(lambda: [pod.pid(), local.pid()]) as rss:
            for step, change, count in STEPS:
                change(cluster)
                wait_until(
                    lambda c=count: all(eligible(s) == c for s in scalers.values()),  # type: ignore[misc]
                    30,
                    describe=f"{step}: {count} eligible",
                )
                time.sleep(0.5)
        peak = {"image": rss.peak(pod.pid()), "venv": rss.peak(local.pid())}
    print(f"{'':<8} {'idle MiB':>9} {'peak MiB':>9}   (peak: during {len(STEPS)} node changes)")
    for name in scalers:
        print(f"{name:<8} {idle[name]:>9.1f} {peak[name]:>9.1f}")
    ratio = {k: v["image"] / v["venv"] for k, v in (("idle", idle), ("peak", peak))}
    print(f"image / venv: idle {ratio['idle']:.3f}, peak {ratio['peak']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.image_rss", description=__doc__)
    parser.add_argument("--venv", type=Path, help="the venv to run the service from")
    parser.add_argument("--image", help="the image (default: hack/build-image.sh's)")
    args = parser.parse_args(argv)
    image = args.image or build_image()
    with Cluster(watch_cache=True) as cluster:
        measure(cluster, image, args.venv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
