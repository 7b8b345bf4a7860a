"""`nodecount-scaler migrate-cpa`: read a cluster-proportional-autoscaler setup, print the
annotations that replace it (as `kubectl annotate` commands or JSON merge patches), with the
behaviour differences as comments. Nothing is written to the cluster.

The setup is read from manifest files (YAML or JSON: CPA's ConfigMap, and its Deployment
when present, whose container args carry --target, --namespace, --nodelabels and
--default-params) or from the cluster (the ConfigMap by name, CPA's Deployment by name).
Flags given to this command win over the ones read.
"""

from __future__ import annotations

import enum
import json
import shlex
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TextIO

import yaml

from nodecount_scaler import limits
from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.model.cpa_migration import (
    CpaFlags,
    Migration,
    MigrationError,
    parse_cpa_args,
    translate,
)

_WIDTH: Final = 96
_STOP_CPA: Final = (
    "Stop cluster-proportional-autoscaler before applying this (scale its Deployment to 0 "
    "or delete it): both would write spec.replicas."
)

JsonObject = dict[str, Any]


class OutputFormat(enum.StrEnum):
    KUBECTL = "kubectl"
    PATCH = "patch"


@dataclass(frozen=True, slots=True)
class MigrateOptions:
    # Where CPA's setup is: a manifest file ("-" for standard input), or the cluster.
    file: str | None = None
    configmap: str | None = None  # [namespace/]name of CPA's ConfigMap in the cluster
    cpa_deployment: str | None = None  # [namespace/]name of CPA's Deployment in the cluster
    # CPA's flags, given here: they win over the ones read from CPA's Deployment.
    target: str | None = None
    namespace: str | None = None
    nodelabels: str | None = None
    default_params: str | None = None
    # CPA's command line as a whole, e.g. pasted from its manifest.
    cpa_args: tuple[str, ...] = ()
    output: OutputFormat = OutputFormat.KUBECTL
    kubeconfig: str | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class CpaSource:
    """What was found of CPA's setup."""

    description: str
    data: Mapping[str, object] | None  # the ConfigMap's data; None: no ConfigMap
    namespace: str | None  # CPA's own namespace, the fallback for --namespace
    flags: CpaFlags  # read from CPA's Deployment


class SourceError(Exception):
    """The setup could not be read (file, cluster): exit code 2."""


# --- rendering (pure) -------------------------------------------------------------------------


def _wrap(text: str, first: str, rest: str) -> list[str]:
    # Never split at a hyphen: flags and annotation keys must stay whole to be searched for.
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _comments(migration: Migration, description: str) -> list[str]:
    lines = [
        "# nodecount-scaler annotations translated from cluster-proportional-autoscaler",
        *_wrap(
            f"source: {description} ({migration.mode} mode, parameters from "
            f"{migration.params_source})",
            "# ",
            "#   ",
        ),
        "#",
        *_wrap(_STOP_CPA, "# ", "# "),
        "#",
        "# Differences from cluster-proportional-autoscaler:",
    ]
    for difference in migration.differences:
        lines += _wrap(difference, "# - ", "#   ")
    return lines


def render(migration: Migration, output: OutputFormat, description: str) -> str:
    """The commands or patches for every target, after the differences as comments."""
    lines = _comments(migration, description)
    for target in migration.targets:
        lines.append("")
        if output is OutputFormat.KUBECTL:
            lines.append(
                f"kubectl annotate {target.kind.kind.lower()} {shlex.quote(target.name)} "
                f"--namespace {shlex.quote(migration.namespace)} --overwrite \\"
            )
            pairs = [shlex.quote(f"{k}={v}") for k, v in migration.annotations]
            lines += [f"  {pair} \\" for pair in pairs[:-1]] + [f"  {pairs[-1]}"]
        else:
            lines.append(f"# {target.kind.kind.lower()} {migration.namespace}/{target.name}")
            patch = {"metadata": {"annotations": dict(migration.annotations)}}
            lines += json.dumps(patch, indent=2).splitlines()
    return "\n".join(lines) + "\n"


# --- reading manifests (pure) -----------------------------------------------------------------


def load_manifests(text: str) -> list[JsonObject]:
    """The objects of a YAML or JSON manifest (several documents, or a List, are flattened)."""
    try:
        documents = list(yaml.safe_load_all(text))
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise SourceError(f"not a YAML or JSON manifest: {exc}") from exc
    objects: list[JsonObject] = []
    for document in documents:
        if isinstance(document, dict):
            items = document.get("items")
            if isinstance(items, list) and str(document.get("kind", "")).endswith("List"):
                objects += [item for item in items if isinstance(item, dict)]
            else:
                objects.append(document)
    return objects


def _metadata(obj: Mapping[str, Any]) -> tuple[str | None, str]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return None, ""
    namespace = metadata.get("namespace")
    return (namespace if isinstance(namespace, str) else None), str(metadata.get("name", ""))


def cpa_args_of(deployment: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The command line of the CPA container of a Deployment, or None if it runs no CPA."""
    spec = deployment.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    for container in containers if isinstance(containers, list) else ():
        if not isinstance(container, dict):
            continue
        words = [*(container.get("command") or ()), *(container.get("args") or ())]
        words = [w for w in words if isinstance(w, str)]
        if any(w.lstrip("-").startswith(("configmap", "target")) for w in words if w[:1] == "-"):
            return tuple(words)
    return None


def _named(name: str | None, wanted: str | None) -> bool:
    """Whether an object's [namespace/]name matches `wanted` (None matches everything)."""
    return wanted is None or name == wanted.rpartition("/")[2]


def source_from_manifests(
    objects: Sequence[JsonObject], options: MigrateOptions, origin: str
) -> CpaSource:
    """CPA's ConfigMap and Deployment among manifest objects."""
    deployments = [
        (obj, args)
        for obj in objects
        if obj.get("kind") == "Deployment"
        and (args := cpa_args_of(obj)) is not None
        and _named(_metadata(obj)[1], options.cpa_deployment)
    ]
    if len(deployments) > 1:
        names = ", ".join(_metadata(obj)[1] for obj, _ in deployments)
        raise SourceError(f"{origin} holds several CPA Deployments ({names}): name one")
    flags, namespace = CpaFlags(), None
    if deployments:
        flags, errors = parse_cpa_args(deployments[0][1])
        if errors:
            raise SourceError("; ".join(str(e) for e in errors))
        namespace = _metadata(deployments[0][0])[0]
    wanted = options.configmap or flags.configmap
    configmaps = [
        obj
        for obj in objects
        if obj.get("kind") == "ConfigMap"
        and _named(_metadata(obj)[1], wanted)
        and (wanted or _is_cpa_data(obj.get("data")))
    ]
    if len(configmaps) > 1:
        raise SourceError(f"{origin} holds several CPA ConfigMaps: name one with --configmap")
    if not configmaps:
        return CpaSource(f"{origin} (no ConfigMap)", None, namespace, flags)
    configmap_namespace, name = _metadata(configmaps[0])
    data = configmaps[0].get("data")
    if not isinstance(data, dict):
        raise SourceError(f"ConfigMap {name} in {origin} has no data")
    return CpaSource(f"ConfigMap {name} in {origin}", data, configmap_namespace or namespace, flags)


def _is_cpa_data(data: object) -> bool:
    return isinstance(data, dict) and bool({"linear", "ladder"} & data.keys())


# --- reading the cluster ----------------------------------------------------------------------


def _split(reference: str, namespace: str | None) -> tuple[str, str]:
    ref_namespace, slash, name = reference.rpartition("/")
    chosen = ref_namespace if slash else namespace
    if not chosen or not name:
        raise SourceError(f"{reference!r}: give namespace/name, or --namespace")
    return chosen, name


async def source_from_cluster(client: KubeClient, options: MigrateOptions) -> CpaSource:
    """CPA's Deployment (when named) and ConfigMap, read from the API server."""
    flags, namespace = CpaFlags(), options.namespace
    if options.cpa_deployment:
        dep_namespace, dep_name = _split(options.cpa_deployment, namespace)
        path = f"/apis/apps/v1/namespaces/{dep_namespace}/deployments/{dep_name}"
        deployment = await _get(client, path)
        args = None if deployment is None else cpa_args_of(deployment)
        if args is None:
            raise SourceError(f"Deployment {dep_namespace}/{dep_name} runs no CPA container")
        flags, errors = parse_cpa_args(args)
        if errors:
            raise SourceError("; ".join(str(e) for e in errors))
        namespace = namespace or flags.namespace or dep_namespace
    reference = options.configmap or flags.configmap
    if not reference:
        raise SourceError("no ConfigMap named: give --configmap, or CPA's Deployment")
    cm_namespace, cm_name = _split(reference, namespace or flags.namespace)
    path = f"/api/v1/namespaces/{cm_namespace}/configmaps/{cm_name}"
    configmap = await _get(client, path, missing_ok=True)
    if configmap is None:
        # CPA creates a missing ConfigMap from --default-params; translate() does the same.
        return CpaSource(f"ConfigMap {cm_namespace}/{cm_name} (absent)", None, cm_namespace, flags)
    data = configmap.get("data")
    description = f"ConfigMap {cm_namespace}/{cm_name}"
    return CpaSource(description, data if isinstance(data, dict) else {}, cm_namespace, flags)


async def _get(client: KubeClient, path: str, *, missing_ok: bool = False) -> JsonObject | None:
    try:
        return await client.request("GET", path)
    except ApiError as exc:
        if exc.status == 404 and missing_ok:
            return None
        raise SourceError(str(exc)) from exc


# --- the command ------------------------------------------------------------------------------


def read_file(path: str) -> str:
    """A manifest file's text ("-": standard input), bounded; SourceError if unreadable."""
    try:
        if path == "-":
            text = sys.stdin.read(limits.CPA_MANIFEST_MAX_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(limits.CPA_MANIFEST_MAX_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    if len(text) > limits.CPA_MANIFEST_MAX_BYTES:
        raise SourceError(f"{path} is larger than {limits.CPA_MANIFEST_MAX_BYTES} bytes")
    return text


async def connect(kubeconfig: str | None, context: str | None) -> KubeClient:
    """A client for the kubeconfig, or SourceError naming what is wrong with it."""
    try:
        return await KubeClient.connect(kubeconfig, context)
    except Exception as exc:  # any configuration problem becomes one clear line
        raise SourceError(f"cannot load Kubernetes configuration: {exc}") from exc


async def _read_source(options: MigrateOptions) -> CpaSource:
    if options.file is not None:
        objects = load_manifests(read_file(options.file))
        origin = "standard input" if options.file == "-" else options.file
        return source_from_manifests(objects, options, origin)
    if options.configmap is None and options.cpa_deployment is None:
        return CpaSource("flags only (no ConfigMap)", None, None, CpaFlags())
    async with await connect(options.kubeconfig, options.context) as client:
        return await source_from_cluster(client, options)


def _flags(options: MigrateOptions, read: CpaFlags) -> tuple[CpaFlags, list[MigrationError]]:
    """Precedence: this command's flags, then --cpa-args, then what CPA's Deployment says."""
    given, errors = parse_cpa_args(options.cpa_args)
    explicit = CpaFlags(
        target=options.target,
        namespace=options.namespace,
        nodelabels=options.nodelabels,
        default_params=options.default_params,
    )
    return read.overlaid(given).overlaid(explicit), list(errors)


async def run_migrate(options: MigrateOptions, out: TextIO, err: TextIO | None = None) -> int:
    """Exit code 0, or 1 when the setup cannot be translated, or 2 when it cannot be read."""
    errors_to = err if err is not None else sys.stderr
    try:
        source = await _read_source(options)
    except SourceError as exc:
        errors_to.write(f"error: {exc}\n")
        return 2
    flags, errors = _flags(options, source.flags)
    migration, problems = translate(source.data, flags, namespace=source.namespace)
    for problem in [*errors, *problems]:
        errors_to.write(f"error: {problem}\n")
    if migration is None or errors:
        return 1
    out.write(render(migration, options.output, source.description))
    return 0
