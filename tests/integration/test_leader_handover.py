"""Two instances on one Lease: one leader, one writer, and fast, safe handovers.

Each instance runs with its own ServiceAccount token, so every scale write in the API
server's audit log names the instance that sent it (both would otherwise be the same admin
user with the same user agent), and each talks to the API server through its own
`TcpProxy`, so one of them can be cut off.

Leadership terms are read from each process's log ("became leader" / "lost leadership",
ISO timestamps); a term of a process killed with SIGKILL ends at the kill. The safety
check for every scenario: terms of different instances never overlap, and every scale
write the API server received came from the instance whose term covers that moment.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devcluster import Cluster
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.tcpproxy import TcpProxy
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, log_time, replica_writes

APP = "nginx-everywhere"
LEASE = "handover"
LEASE_DURATION = 4.0
RENEW_DEADLINE = 3.0
RETRY_PERIOD = 0.5
ELECTION = (
    "--leader-elect",
    "--leader-election-id",
    LEASE,
    "--leader-election-lease-duration",
    str(LEASE_DURATION),
    "--leader-election-renew-deadline",
    str(RENEW_DEADLINE),
    "--leader-election-retry-period",
    str(RETRY_PERIOD),
)


def parse_time(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass
class Instance:
    name: str
    user: str
    proxy: TcpProxy
    kubeconfig: Path
    process: ScalerProcess | None = None
    killed_at: float | None = None

    @property
    def p(self) -> ScalerProcess:
        assert self.process is not None
        return self.process

    @property
    def identity(self) -> str:
        return str(self.p.log_events("started")[0]["identity"])

    def terms(self) -> list[tuple[float, float]]:
        """[start, end) of each leadership term; an open term ends at the kill, or now."""
        out: list[tuple[float, float]] = []
        start: float | None = None
        for line in self.p.logs():
            if line.get("event") == "became leader":
                assert start is None, f"{self.name}: became leader twice without losing it"
                start = log_time(line)
            elif line.get("event") == "lost leadership" and start is not None:
                out.append((start, log_time(line)))
                start = None
        if start is not None:
            out.append((start, self.killed_at or time.time()))
        return out

    def rescaled(self) -> list[dict[str, Any]]:
        return self.p.log_events("rescaled")

    def leading(self) -> bool:
        return bool(self.p.status()["leading"])


@dataclass
class Pair:
    cluster: Cluster
    namespace: str
    nodes: NodeFactory
    a: Instance
    b: Instance
    label: dict[str, str] = field(default_factory=dict)
    node_names: list[str] = field(default_factory=list)

    @property
    def both(self) -> tuple[Instance, Instance]:
        return self.a, self.b

    def replicas(self) -> int:
        return replicas(self.cluster, self.namespace, APP)

    def writes(self) -> list[tuple[str, float, int]]:
        """(user, received at, HTTP code) of every replica write to the target."""
        out = []
        for e in replica_writes(self.cluster, self.namespace, APP):
            received = parse_time(e["requestReceivedTimestamp"])
            out.append((e["user"]["username"], received, int(e["responseStatus"]["code"])))
        return out

    def leader(self, timeout: float = 15) -> tuple[Instance, Instance]:
        """Wait until exactly one instance leads and the other sees it; return (leader,
        follower)."""

        def settled() -> tuple[Instance, Instance] | None:
            statuses = {i.name: i.p.status() for i in self.both}
            leading = [i for i in self.both if statuses[i.name]["leading"]]
            if len(leading) != 1:
                return None
            leader = leading[0]
            follower = self.b if leader is self.a else self.a
            if statuses[follower.name]["leader"] != statuses[leader.name]["identity"]:
                return None
            return leader, follower

        found: tuple[Instance, Instance] = wait_until(
            settled, timeout=timeout, describe="exactly one leader"
        )
        return found

    def add_node(self) -> str:
        name = self.nodes.add(labels=self.label, ready_wait=False)
        self.node_names.append(name)
        return name

    def cordon(self, node: str, on: bool = True) -> None:
        self.cluster.api.merge_patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": on}})

    def expect(self, count: int, timeout: float = 15) -> None:
        wait_until(lambda: self.replicas() == count, timeout=timeout, describe=f"{count} replicas")

    def assert_single_writer(self) -> None:
        """Terms never overlap; every scale write lands inside its sender's term."""
        terms = {i.user: i.terms() for i in self.both}
        for s1, e1 in terms[self.a.user]:
            for s2, e2 in terms[self.b.user]:
                assert e1 <= s2 or e2 <= s1, f"overlapping terms: a {s1}-{e1}, b {s2}-{e2}"
        writes = self.writes()
        assert writes, "no scale writes at all"
        for user, at, code in writes:
            assert user in terms, f"scale write by {user} (not an instance)"
            assert any(s <= at <= e for s, e in terms[user]), (
                f"write at {at:.3f} by {user} outside its terms {terms[user]}; other terms {terms}"
            )
            assert code == 200, (user, at, code)


def service_account_kubeconfig(
    cluster: Cluster, namespace: str, account: str, server: str, path: Path
) -> str:
    """Create a ServiceAccount with a TokenRequest token; write a kubeconfig for it."""
    cluster.kubectl("create", "serviceaccount", account, "-n", namespace)
    token = cluster.kubectl(
        "create", "token", account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    admin = json.loads(cluster.kubeconfig.read_text())
    ca = admin["clusters"][0]["cluster"]["certificate-authority"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": account}}],
        "current-context": "c",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return f"system:serviceaccount:{namespace}:{account}"


@pytest.fixture
def pair(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    tmp_path: Path,
) -> Iterator[Pair]:
    """Two instances (a, b) on Lease `handover` in the test namespace, each through its
    own proxy with its own ServiceAccount; a target on two fresh nodes of this test."""
    binding = f"{namespace}-scalers"
    proxies: list[TcpProxy] = []
    instances = []
    try:
        for name in ("a", "b"):
            proxy = TcpProxy("127.0.0.1", cluster.ports.apiserver).start()
            proxies.append(proxy)
            kubeconfig = tmp_path / f"{name}.kubeconfig"
            user = service_account_kubeconfig(
                cluster, namespace, f"scaler-{name}", f"https://{proxy.address}", kubeconfig
            )
            instances.append(Instance(name, user, proxy, kubeconfig))
        cluster.kubectl(
            "create",
            "clusterrolebinding",
            binding,
            "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:scaler-a",
            f"--serviceaccount={namespace}:scaler-b",
        )
        label = {"nodecount-test": namespace}
        result = Pair(cluster, namespace, nodes, instances[0], instances[1], label)
        result.node_names = nodes.add_many(2, labels=label)
        target = nginx_everywhere(namespace)
        target["spec"]["template"]["spec"]["nodeSelector"] = label
        apply(cluster, target)
        for instance in instances:
            instance.process = scalers.start(
                "--namespace",
                namespace,
                "--leader-election-namespace",
                namespace,
                *ELECTION,
                kubeconfig=instance.kubeconfig,
                env={"POD_NAME": f"scaler-{instance.name}"},
                wait_ready=False,
            )
        for instance in instances:
            instance.p.wait_ready(30)
        yield result
    finally:
        # Stop the processes while their proxies still forward (they release the Lease).
        for instance in instances:
            if instance.process is not None:
                instance.process.stop()
        for proxy in proxies:
            proxy.close()
        cluster.kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


def since(events: list[dict[str, Any]], moment: float) -> list[dict[str, Any]]:
    return [e for e in events if log_time(e) >= moment]


def first_event_after(instance: Instance, event: str, moment: float, timeout: float) -> float:
    found: float = wait_until(
        lambda: next((log_time(e) for e in since(instance.p.log_events(event), moment)), None),
        timeout=timeout,
        describe=f"{event!r} from {instance.name}",
    )
    return found


def first_write_after(pair: Pair, instance: Instance, moment: float, timeout: float) -> float:
    found: float = wait_until(
        lambda: next(
            (at for user, at, _ in pair.writes() if user == instance.user and at >= moment), None
        ),
        timeout=timeout,
        describe=f"a scale write by {instance.name}",
    )
    return found


def steady_state(pair: Pair) -> tuple[Instance, Instance]:
    """One leader; several node changes; all writes from the leader alone."""
    leader, follower = pair.leader()
    assert pair.a.p.status()["leader"] == pair.b.p.status()["leader"] == leader.identity
    pair.expect(2)  # 1 -> 2 on start
    extra = pair.add_node()
    pair.expect(3)
    pair.cordon(pair.node_names[0])
    pair.expect(2)
    pair.cordon(pair.node_names[0], on=False)
    pair.expect(3)
    pair.nodes.delete(extra)
    pair.node_names.remove(extra)
    pair.expect(2)
    assert leader.leading()
    assert not follower.leading()
    assert follower.rescaled() == []
    moves = [(r["from"], r["to"]) for r in leader.rescaled()]
    assert moves == [(1, 2), (2, 3), (3, 2), (2, 3), (3, 2)]
    assert [user for user, _, _ in pair.writes()] == [leader.user] * len(moves)
    pair.assert_single_writer()
    return leader, follower


def report(title: str, **seconds: float) -> None:
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.3f} s" for k, v in seconds.items())
    print(f"\n{title}: {parts}")


@pytest.mark.compat
def test_one_leader_one_writer_then_kill9_handover(pair: Pair) -> None:
    leader, follower = steady_state(pair)

    killed_at = time.time()
    leader.p.kill()
    leader.killed_at = killed_at
    pair.add_node()  # a change nobody is there to act on until the follower leads
    became = first_event_after(follower, "became leader", killed_at, LEASE_DURATION + 10)
    pair.expect(3, timeout=10)
    write = first_write_after(pair, follower, killed_at, 5)

    report(
        "kill -9 handover",
        kill_to_became_leader=became - killed_at,
        kill_to_first_write=write - killed_at,
    )
    assert became - killed_at <= LEASE_DURATION + 2
    assert write - killed_at <= LEASE_DURATION + 2
    assert follower.leading()
    assert [(r["from"], r["to"]) for r in since(follower.rescaled(), killed_at)] == [(2, 3)]
    pair.assert_single_writer()


@pytest.mark.compat
def test_sigterm_releases_lease_and_hands_over_within_2s(pair: Pair) -> None:
    leader, follower = steady_state(pair)

    stopped_at = time.time()
    stopper = threading.Thread(target=leader.p.stop)  # SIGTERM, then wait for the exit
    stopper.start()
    pair.add_node()
    stopper.join(15)
    assert leader.p.proc is not None
    assert leader.p.proc.returncode == 0
    assert leader.p.log_events("lease released"), "the lease was not released on SIGTERM"
    became = first_event_after(follower, "became leader", stopped_at, 10)
    pair.expect(3, timeout=10)
    write = first_write_after(pair, follower, stopped_at, 5)

    report(
        "SIGTERM handover",
        sigterm_to_became_leader=became - stopped_at,
        sigterm_to_first_write=write - stopped_at,
    )
    assert became - stopped_at <= 2.0
    assert follower.leading()
    pair.assert_single_writer()


@pytest.mark.parametrize("mode", ["blackhole", "refuse"])
def test_partitioned_leader_stops_before_lease_expires(pair: Pair, mode: str) -> None:
    leader, follower = steady_state(pair)

    cut_at = time.time()
    leader.proxy.sever("blackhole" if mode == "blackhole" else "refuse")
    pair.add_node()
    lost = first_event_after(leader, "lost leadership", cut_at, RENEW_DEADLINE + 10)
    became = first_event_after(follower, "became leader", cut_at, LEASE_DURATION + 10)
    pair.expect(3, timeout=10)
    write = first_write_after(pair, follower, cut_at, 5)
    reason = since(leader.p.log_events("lost leadership"), cut_at)[0]["reason"]

    report(
        f"partition ({mode}) handover",
        cut_to_old_leader_stepped_down=lost - cut_at,
        cut_to_became_leader=became - cut_at,
        cut_to_first_write=write - cut_at,
        margin=became - lost,
    )
    assert reason == "renew deadline exceeded"
    assert lost < became, "the old leader still led when the other took over"
    assert became - cut_at <= LEASE_DURATION + 2 + RETRY_PERIOD * 2.2
    assert not leader.leading()  # /status still answers: it is local

    # Back on the network, the old leader follows and does not write.
    leader.proxy.heal()
    wait_until(
        lambda: leader.p.status()["leader"] == follower.identity,
        timeout=15,
        describe="the old leader to see the new one",
    )
    leader.p.wait_ready(30)
    healed_at = time.time()
    pair.cordon(pair.node_names[-1])
    pair.expect(2)
    assert since(leader.rescaled(), healed_at) == []
    assert [(r["from"], r["to"]) for r in since(follower.rescaled(), healed_at)] == [(3, 2)]
    assert not leader.leading()
    assert follower.leading()
    pair.assert_single_writer()
