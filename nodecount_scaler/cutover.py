"""`nodecount-scaler cutover`: move a DaemonSet's nodes to its Deployment (made by
`migrate-daemonset`), a few nodes at a time, never leaving a node without its agent for
longer than one pod's hand-over; `--reverse` moves them back the same way. The decisions
are in model/cutover.py; this module reads and writes the cluster and shows progress.

Forward: gate (label every node <gate>=daemonset, gate the DaemonSet, create the
Deployment at 0 replicas), then per batch: remove the label, wait until the DaemonSet's pod
is gone and the Deployment's is Ready on each node. Reverse: per batch: label, delete the
Deployment's pod there, wait for the DaemonSet's to be Ready; then delete the Deployment,
restore the DaemonSet and remove the labels. It needs nodecount-scaler running: it is what
adds the replica for each node moved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, TextIO

from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.migrate import SourceError, connect, load_manifests, read_file
from nodecount_scaler.migrate_daemonset import daemonset_from_cluster
from nodecount_scaler.model.cutover import (
    AgentPod,
    CutoverError,
    NodeAgents,
    deployment_gate,
    gate_patch,
    label_selector,
    next_batch,
    nodes_with_agents,
    progress,
    saved_state,
    to_move,
    ungate_patch,
)
from nodecount_scaler.model.daemonset_migration import DaemonSetOptions, Gate, translate_daemonset

FIELD_MANAGER: Final = "nodecount-scaler-cutover"
JSON_PATCH: Final = "application/json-patch+json"
POLL_SECONDS: Final = 0.1
LIST_PAGE: Final = 500
PATCH_ATTEMPTS: Final = 5
# Between labelling the nodes and gating the DaemonSet: watch caches lag by milliseconds.
GATE_SETTLE_SECONDS: Final = 2.0
JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CutoverOptions:
    daemonset: str  # namespace/name
    file: str | None = None  # the Deployment from migrate-daemonset; None: translate again
    translation: DaemonSetOptions = field(default_factory=DaemonSetOptions)
    batch: int = 1  # nodes moved together
    pause: float = 0.0  # seconds between two batches
    max_nodes: int | None = None  # stop after moving this many nodes
    timeout: float = 300.0  # seconds one batch may take
    reverse: bool = False
    dry_run: bool = False
    kubeconfig: str | None = None
    context: str | None = None


@dataclass(slots=True)
class _Watch:
    """One node of the batch in flight: when it was last seen with a Ready agent, and the
    longest stretch without one."""

    needs_agent: bool
    last_served: float
    gap_start: float | None = None
    longest_gap: float = 0.0

    def seen(self, served: bool, now: float) -> None:
        if served:
            if self.gap_start is not None:
                self.longest_gap = max(self.longest_gap, now - self.gap_start)
                self.gap_start = None
            self.last_served = now
        elif self.gap_start is None and self.needs_agent:
            self.gap_start = self.last_served


class StepTimeout(Exception):
    """A batch did not settle in time: the cutover stops there, resumable."""


@dataclass(slots=True)
class Cutover:
    client: KubeClient
    options: CutoverOptions
    out: TextIO
    daemonset: JsonObject
    deployment: JsonObject
    gate: Gate
    namespace: str
    selector: str
    pdb: JsonObject | None = None  # from --file: created with the Deployment
    moved: int = field(default=0)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    @property
    def _ds_path(self) -> str:
        name = self.daemonset["metadata"]["name"]
        return f"/apis/apps/v1/namespaces/{self.namespace}/daemonsets/{name}"

    @property
    def _deployment_path(self) -> str:
        name = self.deployment["metadata"]["name"]
        return f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}"

    async def _list(self, path: str, query: Sequence[tuple[str, str]] = ()) -> list[JsonObject]:
        found: list[JsonObject] = []
        token = ""
        while True:
            page = [*query, ("limit", str(LIST_PAGE))] + ([("continue", token)] if token else [])
            body = await self.client.request("GET", path, query=page)
            found += [i for i in body.get("items") or [] if isinstance(i, dict)]
            token = (body.get("metadata") or {}).get("continue") or ""
            if not token:
                return found

    async def _pods(self, node: str | None = None) -> list[AgentPod]:
        query = [("labelSelector", self.selector)]
        if node is not None:
            query.append(("fieldSelector", f"spec.nodeName={node}"))
        items = await self._list(f"/api/v1/namespaces/{self.namespace}/pods", query)
        uid = str(self.daemonset["metadata"].get("uid"))
        return [p for p in (AgentPod.of(i, uid) for i in items) if p is not None]

    async def snapshot(self) -> list[NodeAgents]:
        nodes = await self._list("/api/v1/nodes")
        return nodes_with_agents(nodes, await self._pods(), self.gate)

    async def _node(self, name: str) -> NodeAgents:
        node = await self.client.request("GET", f"/api/v1/nodes/{name}")
        return nodes_with_agents([node], await self._pods(name), self.gate)[0]

    async def _label(self, node: str, on_daemonset: bool) -> None:
        value = self.gate.value if on_daemonset else None
        patch = {"metadata": {"labels": {self.gate.key: value}}}
        await self.client.merge_patch(f"/api/v1/nodes/{node}", patch, field_manager=FIELD_MANAGER)

    # --- gating --------------------------------------------------------------------------------

    async def gate_all(self) -> None:
        """Label every node, gate the DaemonSet, create the Deployment at 0 replicas."""
        nodes = await self.snapshot()
        unlabelled = [n.name for n in nodes if not n.gated]
        ds_name = self.daemonset["metadata"]["name"]
        if self.options.dry_run:
            self.say(
                f"would label {len(unlabelled)} of {len(nodes)} nodes {self.gate.key}=daemonset"
            )
            self.say(f"would gate DaemonSet {self.namespace}/{ds_name}: OnDelete, and "
                     f"{self.gate.key} In [daemonset] in its node affinity")  # fmt: skip
            self.say(
                f"would create Deployment {self._deployment_path.rsplit('/', 1)[1]} at 0 replicas"
            )
            if self.pdb is not None:
                self.say(f"would create PodDisruptionBudget {self.pdb['metadata']['name']}")
            return
        for name in unlabelled:
            await self._label(name, on_daemonset=True)
        self.say(f"labelled {len(unlabelled)} of {len(nodes)} nodes {self.gate.key}=daemonset")
        # The DaemonSet controller decides from its own cache of the nodes: gated before
        # that cache has a node's label, it would delete the pod there (and start it again).
        await asyncio.sleep(GATE_SETTLE_SECONDS)
        await self._patch_daemonset(lambda ds: gate_patch(ds, self.gate))
        self.say(f"gated DaemonSet {self.namespace}/{ds_name} (OnDelete while the cutover lasts)")
        await self.ensure_deployment()

    async def _patch_daemonset(self, ops: Callable[[JsonObject], list[JsonObject]]) -> None:
        """A JSON patch made from the DaemonSet as it is now; its `test` of the
        resourceVersion fails (422) if the DaemonSet changed in between, then it is read
        and made again."""
        for attempt in range(PATCH_ATTEMPTS):
            current = await self.client.request("GET", self._ds_path)
            try:
                self.daemonset = await self.client.request(
                    "PATCH",
                    self._ds_path,
                    query=[("fieldManager", FIELD_MANAGER)],
                    body=ops(current),
                    content_type=JSON_PATCH,
                )
                return
            except ApiError as exc:
                if exc.status not in (409, 422) or attempt == PATCH_ATTEMPTS - 1:
                    raise

    async def check_existing_deployment(self) -> bool:
        """Whether the Deployment exists; CutoverError if it does without the gate."""
        try:
            existing = await self.client.request("GET", self._deployment_path)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise CutoverError(str(exc)) from exc
        if deployment_gate(existing) != self.gate:
            raise CutoverError(
                f"Deployment {self._deployment_path.rsplit('/', 1)[1]} exists without "
                f"{self.gate.key} NotIn [daemonset] in its node affinity: its pods would "
                "land beside the DaemonSet's"
            )
        return True

    async def ensure_deployment(self) -> None:
        """Create the Deployment at 0 replicas, or check the one there excludes the gate."""
        if await self.check_existing_deployment():
            await self._ensure_pdb()
            return
        body = {**self.deployment, "spec": {**self.deployment["spec"], "replicas": 0}}
        body["metadata"] = {**body["metadata"], "namespace": self.namespace}
        path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments"
        if self.options.dry_run:
            self.say(f"would create Deployment {body['metadata']['name']} at 0 replicas")
            return
        await self.client.request("POST", path, query=[("fieldManager", FIELD_MANAGER)], body=body)
        self.say(f"created Deployment {self.namespace}/{body['metadata']['name']} at 0 replicas")
        await self._ensure_pdb()

    @property
    def _pdb_path(self) -> str:
        assert self.pdb is not None
        name = self.pdb["metadata"]["name"]
        return f"/apis/policy/v1/namespaces/{self.namespace}/poddisruptionbudgets/{name}"

    async def _ensure_pdb(self) -> None:
        if self.pdb is None or self.options.dry_run:
            return
        body = {**self.pdb, "metadata": {**self.pdb["metadata"], "namespace": self.namespace}}
        try:
            await self.client.request(
                "POST",
                self._pdb_path.rsplit("/", 1)[0],
                query=[("fieldManager", FIELD_MANAGER)],
                body=body,
            )
        except ApiError as exc:
            if exc.status != 409:  # already there, from an earlier run
                raise
            return
        self.say(f"created PodDisruptionBudget {self.namespace}/{body['metadata']['name']}")

    async def ungate_all(self) -> None:
        """After a full reverse: delete the Deployment, restore the DaemonSet, unlabel."""
        saved = saved_state(self.daemonset)
        assert saved is not None
        nodes = await self.snapshot()
        labelled = [n.name for n in nodes if n.gated]
        name = self._deployment_path.rsplit("/", 1)[1]
        if self.options.dry_run:
            self.say(f"would delete Deployment {name}, restore the DaemonSet's update strategy "
                     f"and affinity, and unlabel {len(labelled)} nodes")  # fmt: skip
            return
        for path in [self._deployment_path] + ([self._pdb_path] if self.pdb else []):
            try:
                await self.client.request("DELETE", path)
                self.say(f"deleted {path.split('/')[-2]}/{path.split('/')[-1]}")
            except ApiError as exc:
                if exc.status != 404:
                    raise
        await self._patch_daemonset(lambda ds: ungate_patch(ds, saved))
        self.say("restored the DaemonSet's update strategy and affinity")
        for node in labelled:
            await self._label(node, on_daemonset=False)
        self.say(f"removed the gate label from {len(labelled)} nodes: the DaemonSet is as before")

    # --- moving nodes --------------------------------------------------------------------------

    async def _start(self, batch: Sequence[NodeAgents]) -> None:
        on_daemonset = self.options.reverse
        for node in batch:
            await self._label(node.name, on_daemonset)
            if on_daemonset:  # the Deployment's pod goes now, not when the scaler gets to it
                for pod in node.pods:
                    if not pod.daemon:
                        await self._delete_pod(pod.name)

    async def _delete_pod(self, name: str) -> None:
        try:
            await self.client.request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise

    async def _settle(self, batch: Sequence[NodeAgents]) -> dict[str, float]:
        """Wait until every node of the batch is on the other side; the longest time each
        was seen without a Ready agent (polled every POLL_SECONDS)."""
        started = time.monotonic()
        watches = {n.name: _Watch(bool(n.pods), started) for n in batch}
        waiting = set(watches)
        while waiting:
            now = time.monotonic()
            for name in sorted(waiting):
                node = await self._node(name)
                watches[name].seen(node.served, now)
                if node.settled(self.options.reverse, watches[name].needs_agent):
                    waiting.discard(name)
            if waiting and now - started > self.options.timeout:
                raise StepTimeout(", ".join(sorted(waiting)))
            if waiting:
                await asyncio.sleep(POLL_SECONDS)
        return {name: watch.longest_gap for name, watch in watches.items()}

    async def move(self) -> bool:
        """Move nodes batch by batch; True when none is left on the side moved away from."""
        if self.options.dry_run:
            return await self._plan_moves()
        limit = self.options.max_nodes
        while True:
            nodes = await self.snapshot()
            pending = to_move(nodes, self.options.reverse)
            if not pending or (limit is not None and self.moved >= limit):
                self.say(f"progress: {progress(nodes)}")
                return not pending
            size = (
                self.options.batch if limit is None else min(self.options.batch, limit - self.moved)
            )
            chosen = next_batch(nodes, self.options.reverse, size)
            await self._start(chosen)
            gaps = await self._settle(chosen)
            self._report(chosen, gaps, len(nodes) - len(pending) + len(chosen), len(nodes))
            if any(n.pods for n in chosen):
                self.moved += len(chosen)
                if self.options.pause and (limit is None or self.moved < limit):
                    await asyncio.sleep(self.options.pause)

    def _report(
        self, chosen: Sequence[NodeAgents], gaps: Mapping[str, float], done: int, total: int
    ) -> None:
        side = "DaemonSet" if self.options.reverse else "Deployment"
        if not any(n.pods for n in chosen):
            self.say(f"[{done}/{total}] {len(chosen)} nodes without an agent pod: on the {side}")
            return
        for node in chosen:
            self.say(f"[{done}/{total}] {node.name}: on the {side}; longest without a Ready "
                     f"agent {gaps[node.name]:.1f} s")  # fmt: skip

    async def _plan_moves(self) -> bool:
        nodes = await self.snapshot()
        if not self.options.reverse and saved_state(self.daemonset) is None:
            # Gating would label every node first.
            nodes = [replace(n, gated=True) for n in nodes]
        limit = self.options.max_nodes
        moved, finished = 0, True
        while to_move(nodes, self.options.reverse):
            if limit is not None and moved >= limit:
                finished = False
                break
            size = self.options.batch if limit is None else min(self.options.batch, limit - moved)
            chosen = next_batch(nodes, self.options.reverse, size)
            names = {n.name for n in chosen}
            if any(n.pods for n in chosen):
                moved += len(chosen)
                self.say(f"would move {', '.join(sorted(names))}")
            else:
                self.say(f"would move {len(chosen)} nodes without an agent pod at once")
            nodes = [n for n in nodes if n.name not in names]
        return finished


# --- the command ------------------------------------------------------------------------------


def _objects_from(
    options: CutoverOptions, daemonset: Mapping[str, Any]
) -> tuple[JsonObject, JsonObject | None]:
    """The Deployment (and PDB) of the file, or the DaemonSet translated again."""
    if options.file is not None:
        objects = load_manifests(read_file(options.file))
        found = [dict(o) for o in objects if o.get("kind") == "Deployment"]
        if len(found) != 1:
            raise SourceError(f"{options.file}: expected one Deployment, found {len(found)}")
        pdbs = [dict(o) for o in objects if o.get("kind") == "PodDisruptionBudget"]
        if len(pdbs) > 1:
            raise SourceError(f"{options.file}: expected at most one PodDisruptionBudget")
        return found[0], (pdbs[0] if pdbs else None)
    migration, problems = translate_daemonset(daemonset, options.translation)
    if migration is None:
        raise CutoverError("; ".join(str(p) for p in problems))
    return migration.deployment.obj, None


async def _prepare(client: KubeClient, options: CutoverOptions, out: TextIO) -> Cutover:
    daemonset = await daemonset_from_cluster(client, options.daemonset)
    namespace = options.daemonset.partition("/")[0]
    deployment, pdb = _objects_from(options, daemonset)
    gate = deployment_gate(deployment)
    if gate is None:
        raise CutoverError(
            "the Deployment's node affinity lacks the cutover gate (<key> NotIn [daemonset] in "
            "every required term): make it with `nodecount-scaler migrate-daemonset`"
        )
    saved = saved_state(daemonset)
    if options.reverse and saved is None:
        raise CutoverError(
            f"DaemonSet {options.daemonset} is not gated: there is nothing to reverse"
        )
    if saved is not None and saved.gate != gate:
        raise CutoverError(
            f"the DaemonSet is gated on {saved.gate.key}, the Deployment on {gate.key}"
        )
    spec = daemonset.get("spec") or {}
    selector = label_selector(spec.get("selector") or {})
    cutover = Cutover(client, options, out, daemonset, deployment, gate, namespace, selector, pdb)
    await cutover.check_existing_deployment()
    return cutover


async def _run(cutover: Cutover) -> int:
    options = cutover.options
    gated = saved_state(cutover.daemonset) is not None
    if not options.reverse:
        if gated:
            await cutover.ensure_deployment()
        else:
            await cutover.gate_all()
    finished = await cutover.move()
    if options.dry_run:
        cutover.say("dry run: nothing was written")
        return 0
    if not finished:
        cutover.say("stopped as asked; run the same command again to go on")
        return 0
    if options.reverse:
        await cutover.ungate_all()
        return 0
    name = cutover.daemonset["metadata"]["name"]
    cutover.say(
        f"every node is on the Deployment. Once satisfied, delete the DaemonSet "
        f"(kubectl delete daemonset -n {cutover.namespace} {name}); until then "
        "`nodecount-scaler cutover --reverse` can move the nodes back."
    )
    return 0


async def run_cutover(options: CutoverOptions, out: TextIO, err: TextIO) -> int:
    """0: done, or stopped where asked; 1: a step failed or timed out (resumable); 2: the
    objects could not be read."""
    try:
        client = await connect(options.kubeconfig, options.context)
    except SourceError as exc:
        err.write(f"error: {exc}\n")
        return 2
    async with client:
        try:
            cutover = await _prepare(client, options, out)
        except (SourceError, CutoverError) as exc:
            err.write(f"error: {exc}\n")
            return 2
        try:
            return await _run(cutover)
        except StepTimeout as exc:
            err.write(
                f"error: after {options.timeout:g} s not settled: {exc}. Is nodecount-scaler "
                "running, and does `nodecount-scaler plan` count these nodes? The cutover "
                "stopped here; run the same command again to go on.\n"
            )
        except (ApiError, CutoverError) as exc:
            err.write(f"error: {exc}; run the same command again to go on\n")
        return 1
