"""migrate-cpa reads CPA's setup from manifest files or from a (scripted) API server."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodecount_scaler.cli import migrate_options, parse_command
from nodecount_scaler.migrate import (
    MigrateOptions,
    OutputFormat,
    SourceError,
    load_manifests,
    run_migrate,
    source_from_cluster,
)
from tests.scripted_api import Reply, ScriptedApi

P = "nodecount-scaler.io/"
LINEAR = '{"coresPerReplica": 256, "nodesPerReplica": 16, "preventSinglePointFailure": true}'
CONFIGMAP = f"""\
kind: ConfigMap
apiVersion: v1
metadata:
  name: dns-autoscaler
  namespace: kube-system
data:
  linear: '{LINEAR}'
"""
# The layout of Kubernetes' dns-horizontal-autoscaler addon: CPA's flags in `command`.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: dns-autoscaler
  namespace: kube-system
spec:
  template:
    spec:
      containers:
      - name: autoscaler
        image: registry.k8s.io/cpa/cluster-proportional-autoscaler:v1.9.0
        command:
        - /cluster-proportional-autoscaler
        - --namespace=kube-system
        - --configmap=dns-autoscaler
        - --target=Deployment/coredns
        - --nodelabels=kubernetes.io/os=linux
        - --default-params={"linear":{"coresPerReplica":256,"nodesPerReplica":16,"min":2}}
        - --logtostderr=true
        - --v=2
"""


async def migrate(options: MigrateOptions) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_migrate(options, out, err)
    return code, out.getvalue(), err.getvalue()


def annotate_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("  ")]


def write(tmp_path: Path, text: str, name: str = "cpa.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


async def test_addon_manifest(tmp_path: Path) -> None:
    """ConfigMap and CPA's Deployment in one file: flags come from the container command."""
    code, out, err = await migrate(
        MigrateOptions(file=write(tmp_path, CONFIGMAP + "---\n" + DEPLOYMENT))
    )
    assert (code, err) == (0, "")
    assert "kubectl annotate deployment coredns --namespace kube-system --overwrite \\" in out
    assert annotate_lines(out) == [
        f"  {P}enabled=true \\",
        f"  {P}min-replicas=1 \\",
        f"  {P}nodes-per-replica=16 \\",
        f"  {P}cores-per-replica=256 \\",
        f"  {P}prevent-single-point-failure=true \\",
        f"  {P}node-selector=kubernetes.io/os=linux",
    ]
    assert "# - --default-params is not used" in out
    assert "# - --logtostderr, --v: about CPA's own running" in out


async def test_deployment_without_configmap_uses_default_params(tmp_path: Path) -> None:
    """No ConfigMap in the file: CPA would create it from --default-params, so they are used."""
    code, out, _err = await migrate(MigrateOptions(file=write(tmp_path, DEPLOYMENT)))
    assert code == 0
    assert f"  {P}min-replicas=2 \\" in out
    assert "parameters from --default-params" in out


async def test_configmap_only_with_flags_given(tmp_path: Path) -> None:
    """A lone ConfigMap: the target comes from this command's flags, the namespace from it."""
    options = MigrateOptions(file=write(tmp_path, CONFIGMAP), target="deployment/coredns")
    code, out, _err = await migrate(options)
    assert code == 0
    assert "--namespace kube-system" in out


async def test_given_flags_win_over_the_manifest(tmp_path: Path) -> None:
    """--target and --nodelabels given here replace the ones in CPA's Deployment."""
    options = MigrateOptions(
        file=write(tmp_path, CONFIGMAP + "---\n" + DEPLOYMENT),
        target="deployment/kube-dns",
        nodelabels="pool=system",
        output=OutputFormat.PATCH,
    )
    code, out, _err = await migrate(options)
    assert code == 0
    assert "# deployment kube-system/kube-dns" in out
    assert f'"{P}node-selector": "pool=system"' in out


async def test_cpa_args_option(tmp_path: Path) -> None:
    """CPA's command line given whole (cpa_args) supplies the flags a ConfigMap lacks."""
    options = MigrateOptions(
        file=write(tmp_path, CONFIGMAP), cpa_args=("--target=deployment/coredns", "--v=2")
    )
    code, out, _err = await migrate(options)
    assert code == 0
    assert "kubectl annotate deployment coredns" in out


@pytest.mark.parametrize(
    "words",
    [
        ["--cpa-args", "--target=deployment/coredns --nodelabels=pool=system"],
        ["--cpa-args=--target=deployment/coredns --nodelabels=pool=system"],
        ["--cpa-args", "--target deployment/coredns --nodelabels pool=system", "-o", "kubectl"],
    ],
)
async def test_cpa_args_pasted_after_the_flag(tmp_path: Path, words: list[str]) -> None:
    """The documented form, `--cpa-args "--target=..."`, whose value starts with a dash."""
    _command, settings, extra = parse_command(
        ["migrate-cpa", "-f", write(tmp_path, CONFIGMAP), *words]
    )
    code, out, err = await migrate(migrate_options(settings, extra))
    assert code == 0, err
    assert "kubectl annotate deployment coredns" in out
    assert f"{P}node-selector=pool=system" in out


def test_json_list_manifest() -> None:
    """A JSON List (kubectl get -o json) is flattened to its items."""
    document = {
        "kind": "List",
        "items": [
            {"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"ladder": "{}"}},
            {"kind": "ConfigMap", "metadata": {"name": "b"}},
        ],
    }
    assert [o["metadata"]["name"] for o in load_manifests(json.dumps(document))] == ["a", "b"]


UNREADABLE = [
    ("bad-yaml", "kind: [unclosed", None, "not a YAML or JSON manifest"),
    ("two-configmaps", CONFIGMAP + "---\n" + CONFIGMAP, None, "several CPA ConfigMaps"),
    ("two-cpas", DEPLOYMENT + "---\n" + DEPLOYMENT, None, "several CPA Deployments"),
    ("no-data", "kind: ConfigMap\nmetadata: {name: cm}\n", "cm", "has no data"),
]


@pytest.mark.parametrize(
    ("text", "configmap", "problem"), [r[1:] for r in UNREADABLE], ids=[r[0] for r in UNREADABLE]
)
async def test_unreadable_files_exit_2(
    tmp_path: Path, text: str, configmap: str | None, problem: str
) -> None:
    """A file that holds no single CPA setup: exit code 2 and one line on stderr."""
    options = MigrateOptions(file=write(tmp_path, text), configmap=configmap)
    code, out, err = await migrate(options)
    assert (code, out) == (2, "")
    assert err.startswith("error: ")
    assert problem in err


async def test_missing_file_exits_2(tmp_path: Path) -> None:
    """A path that does not exist is a clear error, not a traceback."""
    code, _out, err = await migrate(MigrateOptions(file=str(tmp_path / "absent.yaml")))
    assert code == 2
    assert "cannot read" in err


async def test_untranslatable_setup_exits_1(tmp_path: Path) -> None:
    """Bad parameters or flags: exit code 1, every problem on stderr, nothing on stdout."""
    bad = CONFIGMAP.replace(LINEAR, '{"nodesPerReplica": -1}')
    options = MigrateOptions(file=write(tmp_path, bad), target="daemonset/web")
    code, out, err = await migrate(options)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: --target='daemonset/web': unknown kind 'daemonset': CPA and nodecount-scaler "
        "scale deployment, statefulset, replicaset, replicationcontroller",
        "error: ConfigMap data.linear.nodesPerReplica='-1': must not be negative",
    ]


async def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "-" reads the manifest from standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(CONFIGMAP + "---\n" + DEPLOYMENT))
    code, out, _err = await migrate(MigrateOptions(file="-"))
    assert code == 0
    assert "in standard input" in out


# --- the cluster ------------------------------------------------------------------------------

CM_PATH = "/api/v1/namespaces/kube-system/configmaps/dns-autoscaler"
DEP_PATH = "/apis/apps/v1/namespaces/kube-system/deployments/dns-autoscaler"


def configmap_body() -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": "dns-autoscaler"}, "data": {"linear": LINEAR}}


async def test_cluster_configmap(api: ScriptedApi) -> None:
    """--configmap namespace/name: one GET, the data as stored."""
    api.script("GET", CM_PATH, Reply(200, configmap_body()))
    source = await source_from_cluster(
        api.client, MigrateOptions(configmap="kube-system/dns-autoscaler")
    )
    assert api.lines == [("GET", CM_PATH)]
    assert source.data == {"linear": LINEAR}
    assert source.namespace == "kube-system"


async def test_cluster_cpa_deployment(api: ScriptedApi) -> None:
    """CPA's Deployment named: its flags are read, then the ConfigMap they name."""
    api.script("GET", DEP_PATH, Reply(200, yaml.safe_load(DEPLOYMENT)))
    api.script("GET", CM_PATH, Reply(200, configmap_body()))
    options = MigrateOptions(cpa_deployment="kube-system/dns-autoscaler")
    source = await source_from_cluster(api.client, options)
    assert api.lines == [("GET", DEP_PATH), ("GET", CM_PATH)]
    assert source.flags.target == "Deployment/coredns"
    assert source.flags.nodelabels == "kubernetes.io/os=linux"


async def test_cluster_absent_configmap(api: ScriptedApi) -> None:
    """A 404 is no ConfigMap (CPA would create it from --default-params), not an error."""
    api.script("GET", CM_PATH, Reply(404))
    source = await source_from_cluster(
        api.client, MigrateOptions(configmap="kube-system/dns-autoscaler")
    )
    assert source.data is None


@pytest.mark.parametrize("status", [403, 500])
async def test_cluster_errors(api: ScriptedApi, status: int) -> None:
    """Any other failure is a SourceError naming the request."""
    api.script("GET", CM_PATH, Reply(status))
    with pytest.raises(SourceError, match="configmaps/dns-autoscaler"):
        await source_from_cluster(
            api.client, MigrateOptions(configmap="kube-system/dns-autoscaler")
        )


async def test_cluster_needs_a_namespace(api: ScriptedApi) -> None:
    """A bare ConfigMap name without --namespace cannot be looked up."""
    with pytest.raises(SourceError, match="give namespace/name"):
        await source_from_cluster(api.client, MigrateOptions(configmap="dns-autoscaler"))
    assert api.lines == []


async def test_run_migrate_against_the_cluster(api: ScriptedApi, tmp_path: Path) -> None:
    """End to end through a kubeconfig: connect, GET, translate, print."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": api.client.host}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    api.script("GET", CM_PATH, Reply(404))
    options = MigrateOptions(
        configmap="dns-autoscaler",
        namespace="kube-system",
        target="deployment/coredns",
        default_params='{"ladder": {"nodesToReplicas": [[0, 1], [4, 2]]}}',
        kubeconfig=str(kubeconfig),
    )
    code, out, err = await migrate(options)
    assert (code, err) == (0, "")
    assert api.lines == [("GET", CM_PATH)]
    assert f"  '{P}nodes-to-replicas=[[0,1],[4,2]]'" in out
    assert "source: ConfigMap kube-system/dns-autoscaler (absent)" in out


async def test_bad_kubeconfig_exits_2(tmp_path: Path) -> None:
    """A kubeconfig that cannot be loaded is one line and exit code 2."""
    options = MigrateOptions(configmap="ns/cm", kubeconfig=str(tmp_path / "nope"))
    code, _out, err = await migrate(options)
    assert code == 2
    assert err.startswith("error: cannot load Kubernetes configuration")
