"""``python -m devcluster build|up|down|status|measure``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devcluster.build import COMPONENTS, binary_version, ensure_binaries
from devcluster.cluster import Cluster
from devcluster.polling import wait_until
from devcluster.process import pid_alive
from devcluster.versions import (
    REPO_ROOT,
    VERSION_ENV,
    Versions,
    read_pins,
    read_versions,
    supported,
)

STATE_FILE = "state.json"
MARKER = ".devcluster"


def default_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"nodecount-scaler-devcluster-{os.getuid()}"


def _read_state(d: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((d / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state


def _write_state(d: Path, state: dict[str, Any]) -> None:
    tmp = d / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(d / STATE_FILE)


def _parse_labels(items: Sequence[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--node-label expects key=value, got {item!r}")
        labels[key] = value
    return labels


# --------------------------------------------------------------------------- build


def _versions(args: argparse.Namespace) -> Versions:
    """The pins of --version (default: $NODECOUNT_SCALER_KUBERNETES_VERSION, else the
    pinned default); an unpinned version exits with the list of pinned ones."""
    try:
        return read_versions(requested=args.version)
    except ValueError as e:
        raise SystemExit(str(e)) from None


def cmd_build(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    bins = ensure_binaries(_versions(args), force=args.force)
    elapsed = time.monotonic() - t0
    for c in COMPONENTS:
        first = (binary_version(bins / c) or "?").strip().splitlines()[0]
        print(f"  {c:<24} {first}", file=sys.stderr)
    print(f"binaries ready in {elapsed:.1f}s", file=sys.stderr)
    print(bins)
    return 0


# --------------------------------------------------------------------------- up / down


def _prepare_dir(d: Path) -> None:
    if d.exists() and any(d.iterdir()):
        if not (d / MARKER).exists():
            raise SystemExit(f"{d} is not empty and was not created by devcluster")
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    (d / MARKER).write_text("created by python -m devcluster up\n")


def _supervisor_argv(d: Path, args: argparse.Namespace, versions: Versions) -> list[str]:
    """`python -m devcluster _supervise` with the options of `up`."""
    argv = [
        sys.executable,
        "-m",
        "devcluster",
        "_supervise",
        "--dir",
        str(d),
        "--nodes",
        str(args.nodes),
        "--version",
        versions.kubernetes,
    ]
    for label in args.node_label:
        argv += ["--node-label", label]
    if args.watch_cache:
        argv.append("--watch-cache")
    return argv


def cmd_up(args: argparse.Namespace) -> int:
    d = Path(args.dir or default_dir()).resolve()
    state = _read_state(d)
    if state and pid_alive(int(state.get("supervisor_pid", 0))):
        print(f"already running (supervisor pid {state['supervisor_pid']}) in {d}")
        print(f"export KUBECONFIG={state['kubeconfig']}")
        return 1
    versions = _versions(args)
    _prepare_dir(d)
    ensure_binaries(versions)  # in the foreground, so that a build is visible
    argv = _supervisor_argv(d, args, versions)
    pythonpath = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    t0 = time.monotonic()
    with (d / "supervisor.log").open("ab") as log:
        sup = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives this shell; `down` stops it
            env=env,
            cwd=d,
        )

    def settled() -> dict[str, Any] | None:
        st = _read_state(d)
        if st and st.get("status") in ("ready", "failed"):
            return st
        if sup.poll() is not None:
            return {"status": "failed", "error": f"supervisor exited with {sup.returncode}"}
        return None

    try:
        st = wait_until(settled, args.timeout, interval=0.2, describe="the cluster to start")
    except TimeoutError as e:
        os.killpg(sup.pid, signal.SIGTERM)
        print(f"{e}; see {d / 'supervisor.log'}", file=sys.stderr)
        return 1
    if st["status"] != "ready":
        print(f"cluster failed to start: {st.get('error')}", file=sys.stderr)
        print(f"logs: {d / 'supervisor.log'}, {d / 'logs'}", file=sys.stderr)
        return 1
    print(
        f"Kubernetes {versions.kubernetes} up in {time.monotonic() - t0:.1f}s: "
        f"{st['server']} ({len(st['nodes'])} nodes)"
    )
    print(f"workdir: {d}  (stop with: python -m devcluster down --dir {d})")
    print(f"kubeconfig: {st['kubeconfig']}")
    print(f"export KUBECONFIG={st['kubeconfig']}")
    return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve()
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    cluster = Cluster(workdir=d, keep=True, watch_cache=args.watch_cache, version=args.version)
    base: dict[str, Any] = {"supervisor_pid": os.getpid(), "dir": str(d)}
    _write_state(d, {**base, "status": "starting", "kubeconfig": str(cluster.kubeconfig)})
    try:
        cluster.start()
        names = [f"node-{i}" for i in range(1, args.nodes + 1)]
        cluster.add_nodes(names, labels=_parse_labels(args.node_label))
    except (RuntimeError, OSError) as e:  # ClusterStartError, ApiError, TimeoutError
        cluster.stop()
        _write_state(d, {**base, "status": "failed", "error": str(e)})
        print(f"start failed: {e}", flush=True)
        return 1
    _write_state(d, {**base, **cluster.state(), "status": "ready", "nodes": names})
    print(f"ready: {cluster.server}; timings {cluster.timings.phases}", flush=True)
    reported_dead = False
    while not stop.wait(2.0):
        if not cluster.is_running() and not reported_dead:
            reported_dead = True
            dead = cluster.exited_components()
            print(f"components exited: {dead}", flush=True)
            _write_state(
                d, {**base, **cluster.state(), "status": "degraded", "nodes": names, "dead": dead}
            )
    print("stopping", flush=True)
    cluster.stop()
    _write_state(d, {**base, "status": "stopped", "kubeconfig": str(cluster.kubeconfig)})
    return 0


def _state_of(args: argparse.Namespace) -> tuple[Path, dict[str, Any] | None]:
    """The --dir (or the default) and its state file; says so when there is none."""
    d = Path(args.dir or default_dir()).resolve()
    state = _read_state(d)
    if state is None:
        print(f"no devcluster in {d}")
    return d, state


def cmd_down(args: argparse.Namespace) -> int:
    d, state = _state_of(args)
    if state is None:
        return 0
    pid = int(state.get("supervisor_pid", 0))
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not pid_alive(pid), 60, describe="the supervisor to exit")
        except TimeoutError:
            # Its children have PR_SET_PDEATHSIG: they die with it.
            os.kill(pid, signal.SIGKILL)
    # Belt and braces: components recorded in the state that are still alive.
    for name, cpid in (state.get("pids") or {}).items():
        if pid_alive(cpid) and _is_component(cpid, d):
            print(f"killing leftover {name} (pid {cpid})")
            os.killpg(cpid, signal.SIGKILL)
    if args.purge:
        shutil.rmtree(d, ignore_errors=True)
        print(f"stopped; removed {d}")
    else:
        print(f"stopped; logs kept in {d / 'logs'}")
    return 0


def _is_component(pid: int, d: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(d) in cmdline


def cmd_status(args: argparse.Namespace) -> int:
    d, state = _state_of(args)
    if state is None:
        return 3
    pid = int(state.get("supervisor_pid", 0))
    alive = pid_alive(pid)
    print(f"dir:        {d}")
    print(f"status:     {state.get('status')}{'' if alive else ' (supervisor not running)'}")
    if not alive or state.get("status") not in ("ready", "degraded"):
        return 3
    print(f"server:     {state.get('server')}")
    print(f"kubeconfig: {state.get('kubeconfig')}")
    for name, cpid in (state.get("pids") or {}).items():
        print(f"  {name:<24} pid {cpid:<8} {'running' if pid_alive(cpid) else 'DEAD'}")
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run(
            [kubectl, f"--kubeconfig={state['kubeconfig']}", "get", "nodes", "-o", "wide"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        print(out.stdout or out.stderr, end="")
    return 0 if state.get("status") == "ready" else 1


# --------------------------------------------------------------------------- measure


def cmd_measure(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    versions = _versions(args)
    ensure_binaries(versions)
    print(
        f"Kubernetes {versions.kubernetes}: binaries checked/built in {time.monotonic() - t0:.1f}s"
    )
    for label in ("cold", "warm"):
        c = Cluster(start_timeout=120, version=versions.kubernetes)
        try:
            t = time.monotonic()
            c.start()
            started = time.monotonic() - t
            t = time.monotonic()
            c.add_nodes([f"node-{i}" for i in range(1, args.nodes + 1)])
            nodes = time.monotonic() - t
            phases = ", ".join(f"{k} {v:.2f}s" for k, v in c.timings.phases.items())
            print(
                f"{label}: start {started:.2f}s ({phases}); {args.nodes} nodes Ready {nodes:.2f}s"
            )
            if label == "warm":
                time.sleep(args.settle)
                per = c.memory_by_component_mib()
                total = sum(per.values())
                detail = ", ".join(f"{k} {v:.0f}" for k, v in per.items())
                print(f"RSS ({args.nodes} nodes, after {args.settle:.0f}s): {total:.0f} MiB")
                print(f"  {detail}")
        finally:
            c.stop()
    return 0


# --------------------------------------------------------------------------- main


def _add_version(parser: argparse.ArgumentParser) -> None:
    pinned = ", ".join(v.kubernetes for v in supported().values())
    parser.add_argument(
        "--version",
        help=f"Kubernetes release pinned in hack/versions.env ({pinned}; or a minor: 1.34); "
        f"default ${VERSION_ENV}, else {read_pins()['KUBERNETES_VERSION']}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devcluster", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build", help="build or verify the pinned binaries; print the bin dir")
    b.add_argument("--force", action="store_true", help="run the build script even if cached")
    _add_version(b)
    b.set_defaults(fn=cmd_build)

    up = sub.add_parser("up", help="start a cluster in the background")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--node-label", action="append", default=[], metavar="K=V")
    up.add_argument("--dir", help=f"state/work directory (default {default_dir()})")
    up.add_argument("--watch-cache", action="store_true", help="enable the apiserver watch cache")
    up.add_argument("--timeout", type=float, default=180.0)
    _add_version(up)
    up.set_defaults(fn=cmd_up)

    sv = sub.add_parser("_supervise", help=argparse.SUPPRESS)
    sv.add_argument("--dir", required=True)
    sv.add_argument("--nodes", type=int, default=3)
    sv.add_argument("--node-label", action="append", default=[])
    sv.add_argument("--watch-cache", action="store_true")
    sv.add_argument("--version")
    sv.set_defaults(fn=cmd_supervise)

    down = sub.add_parser("down", help="stop the background cluster")
    down.add_argument("--dir")
    down.add_argument("--purge", action="store_true", help="also remove the directory")
    down.set_defaults(fn=cmd_down)

    st = sub.add_parser("status", help="show the background cluster")
    st.add_argument("--dir")
    st.set_defaults(fn=cmd_status)

    m = sub.add_parser("measure", help="cold/warm start time and RSS with N nodes")
    m.add_argument("--nodes", type=int, default=3)
    m.add_argument("--settle", type=float, default=10.0, help="seconds before reading RSS")
    _add_version(m)
    m.set_defaults(fn=cmd_measure)

    args = p.parse_args(argv)
    rc: int = args.fn(args)
    return rc
