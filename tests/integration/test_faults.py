"""Faults: the API server restarts, watches expire, a write is forbidden, SIGTERM arrives.

Every test scopes its target to its own nodes with the node-selector annotation on a label
unique to the test, and runs its own scaler with ``--namespace``.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import itertools
import json
import secrets
import signal
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster import Cluster
from devcluster.credentials import bind_cluster_role
from devcluster.pki import serving_cert
from devcluster.polling import wait_until
from devcluster.scaler import ScalerFactory, ScalerProcess
from devcluster.testing import NodeFactory
from devcluster.workloads import replicas
from testkit.workloads import nginx_everywhere
from tests.integration.workloads import apply, log_time

LABEL = "faults.test/group"
SELECTOR = "nodecount-scaler.io/node-selector"


def _target(namespace: str, name: str, group: str) -> dict[str, Any]:
    obj = nginx_everywhere(namespace, name, **{SELECTOR: f"{LABEL}={group}"})
    # Pods only on this test's nodes: a node another test is tearing down must not hold
    # the first replica hostage before the service even starts.
    obj["spec"]["template"]["spec"]["nodeSelector"] = {LABEL: group}
    return obj


def _wait_replicas(cluster: Cluster, namespace: str, name: str, want: int, timeout: float) -> None:
    wait_until(
        lambda: replicas(cluster, namespace, name) == want,
        timeout=timeout,
        interval=0.05,
        describe=f"{namespace}/{name} at {want} replicas",
    )


def _at_rest(cluster: Cluster, namespace: str, name: str) -> bool:
    dep = cluster.api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    status = dep.get("status") or {}
    want = dep["spec"].get("replicas", 1)
    return bool(
        status.get("observedGeneration") == dep["metadata"]["generation"]
        and status.get("readyReplicas", 0) == want
        and status.get("availableReplicas", 0) == want
        and status.get("updatedReplicas", 0) == want
    )


class Prober:
    """Polls /readyz and /healthz in a thread; records (monotonic time, status)."""

    def __init__(self, scaler: ScalerProcess, interval: float = 0.05) -> None:
        self.scaler = scaler
        self.interval = interval
        self.readyz: list[tuple[float, int | None]] = []
        self.healthz: list[tuple[float, int | None]] = []
        self.exit_codes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        assert self.scaler.proc is not None
        while not self._stop.is_set():
            code = self.scaler.proc.poll()
            if code is not None:
                self.exit_codes.append(code)
                return
            self.readyz.append((time.monotonic(), self.scaler.probe("/readyz")))
            self.healthz.append((time.monotonic(), self.scaler.probe("/healthz")))
            time.sleep(self.interval)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def downtime(self) -> tuple[float, float] | None:
        """(first non-200, first 200 after it) of /readyz, None if it never dropped."""
        down = next((t for t, s in self.readyz if s != 200), None)
        if down is None:
            return None
        up = next((t for t, s in self.readyz if t > down and s == 200), None)
        return None if up is None else (down, up)


# --------------------------------------------------------------------------- (a)


@pytest.mark.compat
def test_apiserver_restart_drops_readiness_and_recovers(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """kube-apiserver restarts under a running service: the process stays up, /healthz
    stays 200 (liveness must not kill it for an outage it cannot fix), /readyz drops while
    the watches are disconnected and comes back, and a node added afterwards is followed."""
    group = f"g{secrets.token_hex(4)}"  # a letter first: "1e5" would read as a number
    nodes.add_many(2, labels={LABEL: group})
    apply(cluster, _target(namespace, "web", group))
    scaler = scalers.start("--namespace", namespace)
    _wait_replicas(cluster, namespace, "web", 2, 30)

    with Prober(scaler) as prober:
        t0 = time.monotonic()
        cluster.restart_apiserver()
        apiserver_back = time.monotonic()
        wait_until(lambda: prober.downtime(), timeout=60, describe="/readyz to drop and come back")
        wait_until(lambda: scaler.probe("/readyz") == 200, timeout=60, describe="/readyz 200")
    scaler.assert_alive()
    assert prober.exit_codes == []
    span = prober.downtime()
    assert span is not None
    statuses = {s for _, s in prober.readyz}
    assert statuses - {200}, "observed at least one non-200 /readyz"
    unhealthy = [(round(t - t0, 2), s) for t, s in prober.healthz if s != 200]
    assert unhealthy == [], f"/healthz failed during the restart: {unhealthy}"

    nodes.add(labels={LABEL: group})
    _wait_replicas(cluster, namespace, "web", 3, 30)
    print(
        f"\napiserver restart took {apiserver_back - t0:.2f} s; /readyz non-200 for "
        f"{span[1] - span[0]:.2f} s (from +{span[0] - t0:.2f} s to +{span[1] - t0:.2f} s; "
        f"statuses seen {sorted(statuses, key=str)}); /healthz 200 throughout "
        f"({len(prober.healthz)} probes)"
    )


# --------------------------------------------------------------------------- (b)


@pytest.mark.compat
def test_compaction_forces_relist_and_converges(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory
) -> None:
    """410 Gone: with the watches idle, compact etcd, then make them reconnect.

    The devcluster runs kube-apiserver with the watch cache off, so every watch is an etcd
    watch. An etcd watch that is already established is not cancelled by a compaction (it is
    past the compacted revision), so "compact, then change something" is delivered as a
    normal event and no 410 ever reaches the service (checked below: no expired relist).
    A 410 arrives only when a watch is re-opened from a resourceVersion older than the
    compacted revision. So: compact, then restart kube-apiserver; every watch reconnects from
    its last resourceVersion, gets 410 Gone (etcd: "required revision has been compacted"),
    and must relist. Then a node change must still be followed.
    """
    group = f"g{secrets.token_hex(4)}"  # a letter first: "1e5" would read as a number
    nodes.add_many(2, labels={LABEL: group})
    apply(cluster, _target(namespace, "web", group))
    scaler = scalers.start("--namespace", namespace)
    _wait_replicas(cluster, namespace, "web", 2, 30)
    relists = "nodecount_scaler_watch_relists_total"
    assert scaler.metric_sum(relists, reason="expired") == 0

    # Compaction alone: the established watch keeps working, the change arrives as an event.
    cluster.compact_etcd()
    nodes.add(labels={LABEL: group})
    _wait_replicas(cluster, namespace, "web", 3, 30)
    assert scaler.metric_sum(relists, reason="expired") == 0

    # Move etcd's revision past every watch's resourceVersion with a write the service does
    # not watch (the HPA watch has seen no event since its list, so its version is older
    # than the compaction for sure), compact, and force the watches to reconnect.
    cluster.api.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump"}},
    )
    revision = cluster.compact_etcd()
    cluster.restart_apiserver()
    wait_until(
        lambda: scaler.metric_sum(relists, reason="expired") > 0,
        timeout=60,
        describe="a relist with reason expired",
    )
    scaler.wait_ready(60)
    expired_lines = scaler.log_events("watch expired, relisting")
    assert expired_lines, "a log line 'watch expired, relisting'"
    resources = sorted({str(line["resource"]) for line in expired_lines})

    nodes.add(labels={LABEL: group})
    _wait_replicas(cluster, namespace, "web", 4, 30)
    scaler.assert_alive()
    print(
        f"\ncompacted at revision {revision}; expired relists "
        f"{scaler.metric_sum(relists, reason='expired'):.0f} ({', '.join(resources)}); "
        "converged to 4 replicas"
    )


# --------------------------------------------------------------------------- (c)


def _restricted_kubeconfig(cluster: Cluster, namespace: str, sa: str, path: Path) -> Path:
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server_cluster = admin["clusters"][0]["cluster"]
    token = cluster.kubectl("create", "token", sa, "-n", namespace, "--duration", "1h").stdout
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": server_cluster}],
        "users": [{"name": sa, "user": {"token": token.strip()}}],
        "contexts": [{"name": sa, "context": {"cluster": "devcluster", "user": sa}}],
        "current-context": sa,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.contextmanager
def _rbac(cluster: Cluster, sa_namespace: str, writable: str) -> Iterator[str]:
    """A ServiceAccount allowed everything the service needs, except patching
    deployments anywhere but in ``writable``. Yields its name; cleans up the
    cluster-scoped objects afterwards."""
    name = f"scaler-{secrets.token_hex(3)}"
    api = cluster.api
    api.post(
        f"/api/v1/namespaces/{sa_namespace}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
    )
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": sa_namespace}]
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    api.post(
        f"{rbac}/clusterroles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list", "watch"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "patch"]},
                {
                    "apiGroups": ["autoscaling"],
                    "resources": ["horizontalpodautoscalers"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create"]},
            ],
        },
    )
    bind_cluster_role(api, name, name, subject)
    api.post(
        f"{rbac}/namespaces/{writable}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}],
        },
    )
    api.post(
        f"{rbac}/namespaces/{writable}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subject,
        },
    )
    try:
        yield name
    finally:
        api.delete(f"{rbac}/clusterrolebindings/{name}")
        api.delete(f"{rbac}/clusterroles/{name}")


def test_forbidden_target_does_not_delay_the_others(
    cluster: Cluster,
    namespace: str,
    nodes: NodeFactory,
    scalers: ScalerFactory,
    tmp_path: Path,
) -> None:
    """Namespace A's target cannot be scaled (RBAC), namespace B's can; both select the same
    nodes. B converges and follows a node change at once while A fails with a hint naming
    deployments and is retried with a growing delay."""
    ns_a = namespace
    ns_b = cluster.create_namespace("faults-writable")
    try:
        group = f"g{secrets.token_hex(4)}"  # a letter first: "1e5" would read as a number
        nodes.add_many(2, labels={LABEL: group})
        apply(cluster, _target(ns_a, "web", group))
        apply(cluster, _target(ns_b, "web", group))
        with _rbac(cluster, ns_a, writable=ns_b) as sa:
            kubeconfig = _restricted_kubeconfig(cluster, ns_a, sa, tmp_path / "sa.kubeconfig")
            # Both Deployments at rest first (no status update left to come), so that the
            # service learns of them from its initial lists alone.
            for ns in (ns_a, ns_b):

                def at_rest(ns: str = ns) -> bool:
                    return _at_rest(cluster, ns, "web")

                # Generous: after the apiserver restarts of the tests before, the controller
                # manager's own watches may still be backing off.
                wait_until(at_rest, timeout=120, describe=f"{ns}/web at rest")
            # This test's own RBAC covers Deployments only: watch no other kind.
            scaler = scalers.start(
                "--namespace",
                ns_a,
                "--namespace",
                ns_b,
                "--kind",
                "Deployment",
                kubeconfig=kubeconfig,
            )
            time.sleep(0.5)
            known = [ns for ns in (ns_a, ns_b) if scaler.target(ns, "web") is not None]
            assert known == [ns_a, ns_b], (
                f"/status knows the targets of {known} only: with several --namespace flags, "
                "each namespace's relist replaces every namespace's targets"
            )
            _wait_replicas(cluster, ns_b, "web", 2, 30)

            def failures() -> list[dict[str, Any]]:
                return [
                    e for e in scaler.log_events("scale write failed") if e.get("namespace") == ns_a
                ]

            wait_until(lambda: len(failures()) >= 4, timeout=30, describe="4 failed writes in A")
            # While A is backing off, B follows a node change without waiting for it.
            added_at = time.time()
            nodes.add(labels={LABEL: group})
            _wait_replicas(cluster, ns_b, "web", 3, 10)
            b_write = [e for e in scaler.log_events("rescaled") if e.get("namespace") == ns_b][-1]
            b_latency = log_time(b_write) - added_at

            failed = failures()
            assert all("patch on deployments" in str(e.get("hint")) for e in failed), failed[0]
            assert replicas(cluster, ns_a, "web") == 1, "A's replicas were left alone"
            forbidden = scaler.metric_sum(
                "nodecount_scaler_scale_patches_total", result="forbidden"
            )
            assert forbidden >= len(failed) >= 4
            assert not [e for e in scaler.log_events("rescaled") if e.get("namespace") == ns_a]
            retries = [
                float(e["retry_in"])
                for e in scaler.log_events("reconcile failed, will retry")
                if ns_a in str(e.get("target"))
            ]
            gaps = [log_time(b) - log_time(a) for a, b in itertools.pairwise(failed)]
            assert len(retries) >= 4
            assert retries[:4] == sorted(retries[:4]), retries
            assert retries[3] > retries[0], retries
            assert b_latency < 2.0, f"B followed the node change after {b_latency:.2f} s"
            scaler.assert_alive()
            print(
                f"\nB followed a node change in {b_latency:.3f} s while A failed "
                f"{len(failed)} times (forbidden patches metric {forbidden:.0f}); "
                f"A's retry delays {retries[:6]}; gaps between A's attempts "
                f"{[round(g, 3) for g in gaps[:6]]}; hint: {failed[0].get('hint')!r}"
            )
    finally:
        cluster.delete_namespace(ns_b, wait=False)


# --------------------------------------------------------------------------- (d)


class SlowWebhook:
    """A validating admission webhook that holds every replica change of a Deployment in
    one namespace for ``delay`` seconds before allowing it: a scale write stays in flight."""

    def __init__(self, cluster: Cluster, namespace: str, directory: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.delay = 0.0
        self.received: list[float] = []
        self.name = f"slow-scale-{secrets.token_hex(3)}"
        served = serving_cert(directory, "slow-webhook")
        cert, key, self.ca = served.cert, served.key, served.ca_bundle
        webhook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                webhook.received.append(time.monotonic())
                time.sleep(webhook.delay)
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": review["request"]["uid"], "allowed": True},
                    }
                ).encode()
                with contextlib.suppress(OSError):  # the apiserver may have given up
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowWebhook:
        self._thread.start()
        port = self.server.server_address[1]
        self.cluster.api.post(
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": self.name},
                "webhooks": [
                    {
                        "name": "slow.faults.test",
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}/validate",
                            "caBundle": base64.b64encode(self.ca).decode(),
                        },
                        "rules": [
                            {
                                "apiGroups": ["apps"],
                                "apiVersions": ["v1"],
                                "operations": ["UPDATE"],
                                "resources": ["deployments"],
                            }
                        ],
                        # Only replica changes: the Deployment controller's own updates
                        # (revision annotations) pass at once.
                        "matchConditions": [
                            {
                                "name": "replicas-changed",
                                "expression": "object.spec.replicas != oldObject.spec.replicas",
                            }
                        ],
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": self.namespace}
                        },
                        "failurePolicy": "Ignore",
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1"],
                        "timeoutSeconds": 30,
                    }
                ],
            },
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.api.delete(
            f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{self.name}"
        )
        self.server.shutdown()
        self.server.server_close()


def _sigterm(scaler: ScalerProcess, timeout: float = 15.0) -> tuple[int | None, float]:
    assert scaler.proc is not None
    started = time.monotonic()
    scaler.signal(signal.SIGTERM)
    try:
        code = scaler.proc.wait(timeout)
    except Exception:  # noqa: BLE001 - reported as "did not exit"
        scaler.kill()
        return None, time.monotonic() - started
    return code, time.monotonic() - started


def test_sigterm_exits_zero_promptly(
    cluster: Cluster, namespace: str, nodes: NodeFactory, scalers: ScalerFactory, tmp_path: Path
) -> None:
    """SIGTERM -> exit 0 within 5 s: idle; with a scale write held in flight for 1.5 s by a
    slow admission webhook (the write completes before exit); with one held for 25 s (the
    drain gives up and the process still exits in time)."""
    group = f"g{secrets.token_hex(4)}"  # a letter first: "1e5" would read as a number
    nodes.add_many(2, labels={LABEL: group})
    apply(cluster, _target(namespace, "web", group))

    idle = scalers.start("--namespace", namespace)
    _wait_replicas(cluster, namespace, "web", 2, 30)
    idle_code, idle_seconds = _sigterm(idle)
    assert idle_code == 0
    assert idle_seconds < 5.0

    measured: dict[str, float] = {"idle": idle_seconds}
    with SlowWebhook(cluster, namespace, tmp_path) as webhook:
        for label, delay, expect_write in (("write 1.5 s", 1.5, True), ("write 25 s", 25.0, False)):
            scaler = scalers.start("--namespace", namespace)
            webhook.delay = delay
            before = len(webhook.received)
            want = replicas(cluster, namespace, "web") + 1
            nodes.add(labels={LABEL: group})

            def reached(before: int = before) -> bool:
                return len(webhook.received) > before

            wait_until(
                reached,
                timeout=20,
                interval=0.02,
                describe="the scale write to reach the webhook",
            )
            code, seconds = _sigterm(scaler)
            measured[label] = seconds
            assert code == 0, f"{label}: exit code {code}"
            assert seconds < 5.0, f"{label}: exited after {seconds:.2f} s"
            wrote = [e for e in scaler.log_events("rescaled") if e.get("to") == want]
            if expect_write:
                assert wrote, "the in-flight write finished before the process exited"
                _wait_replicas(cluster, namespace, "web", want, 10)
            assert [e for e in scaler.logs() if e.get("event") == "stopped"], "clean shutdown"
        webhook.delay = 0.0
    print("\nSIGTERM -> exit: " + ", ".join(f"{k}: {v:.2f} s" for k, v in measured.items()))
