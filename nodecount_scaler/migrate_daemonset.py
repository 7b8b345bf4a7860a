"""`nodecount-scaler migrate-daemonset`: read a DaemonSet, print the Deployment (and a
PodDisruptionBudget if asked) that do the same job with nodecount-scaler, each change
marked with its reason as a YAML comment, and what does not carry over. Or, with
`-o patch`, the JSON merge patch that turns the DaemonSet's manifest into the Deployment.

Nothing is written to the cluster: `nodecount-scaler cutover` (cutover.py) moves the
nodes from the DaemonSet to the Deployment without leaving one without its agent.
"""

from __future__ import annotations

import copy
import enum
import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

import yaml

from nodecount_scaler.kube.client import ApiError, KubeClient
from nodecount_scaler.migrate import SourceError, connect, load_manifests, read_file
from nodecount_scaler.model.daemonset_migration import (
    DaemonSetMigration,
    DaemonSetOptions,
    Mark,
    Marked,
    Path,
    translate_daemonset,
)

_WIDTH: Final = 96
JsonObject = dict[str, Any]


class DaemonSetOutput(enum.StrEnum):
    YAML = "yaml"
    PATCH = "patch"


@dataclass(frozen=True, slots=True)
class MigrateDaemonSetOptions:
    file: str | None = None  # a manifest ("-": standard input) holding the DaemonSet
    daemonset: str | None = None  # [namespace/]name: in the file, or read from the cluster
    translation: DaemonSetOptions = field(default_factory=DaemonSetOptions)
    output: DaemonSetOutput = DaemonSetOutput.YAML
    kubeconfig: str | None = None
    context: str | None = None


# --- YAML with the reasons as comments (pure) -----------------------------------------------


def _wrap(text: str, indent: str, bullet: str = "") -> list[str]:
    # Never split at a hyphen: keys and flags stay whole, to be searched for.
    return textwrap.wrap(
        text,
        _WIDTH,
        initial_indent=f"{indent}# {bullet}",
        subsequent_indent=f"{indent}#   ",
        break_on_hyphens=False,
        break_long_words=False,
    )


def _flow(value: object) -> str:
    """One value in YAML flow style, on one line."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=2**31 - 1)
    return "\n".join(line for line in text.splitlines() if line != "...").strip()


def _set(obj: Any, path: Path, value: object) -> object:
    for step in path[:-1]:
        obj = obj[step]
    old = obj[path[-1]]
    obj[path[-1]] = value
    return old


def marked_yaml(marked: Marked) -> list[str]:
    """The object as block YAML with each mark's comment above its value. Each marked value
    is swapped for a token that cannot occur in the dump, dumped, then put back in flow style
    under its comment: yaml.safe_load of the result is the object again."""
    plain = yaml.safe_dump(marked.obj, sort_keys=False)
    salt = 0
    while f"nodecount-scaler-mark-{salt}-" in plain:
        salt += 1
    obj = copy.deepcopy(marked.obj)
    values = [_set(obj, mark.path, f"nodecount-scaler-mark-{salt}-{i}") for i, mark in
              enumerate(marked.marks)]  # fmt: skip
    token = re.compile(rf"nodecount-scaler-mark-{salt}-(\d+)$")
    lines: list[str] = []
    for line in yaml.safe_dump(obj, sort_keys=False, width=_WIDTH).splitlines():
        found = token.search(line)
        if found is None:
            lines.append(line)
            continue
        index = int(found.group(1))
        indent = " " * (len(line) - len(line.lstrip(" ")))
        lines += _wrap(marked.marks[index].comment, indent)
        lines.append(line[: found.start()] + _flow(values[index]))
    return lines


def _header(migration: DaemonSetMigration, description: str) -> list[str]:
    reference = f"{migration.namespace}/{migration.daemonset}" if migration.namespace else (
        migration.daemonset
    )  # fmt: skip
    lines = [f"# nodecount-scaler: the Deployment that replaces DaemonSet {reference}"]
    lines += _wrap(f"source: {description}", "")
    lines.append("#")
    lines += _wrap(
        f"Apply it with `nodecount-scaler cutover --daemonset {reference} -f <this file>`: "
        "it gates the nodes first, creates the Deployment at 0 replicas, then hands the "
        "nodes over one by one, never leaving one without its agent. Applied alone beside "
        "the running DaemonSet, every node would get a second pod.",
        "",
    )
    lines += ["#", "# What does not carry over from a DaemonSet, and what changes:"]
    for difference in migration.differences:
        lines += _wrap(difference, "", "- ")
    return lines


def render_yaml(migration: DaemonSetMigration, description: str) -> str:
    lines = _header(migration, description)
    for marked in (migration.deployment, migration.pdb):
        if marked is not None:
            lines += ["---", *marked_yaml(marked)]
    return "\n".join(lines) + "\n"


# --- a merge patch over the DaemonSet's manifest (pure) ----------------------------------------


def merge_patch_between(source: Mapping[str, Any], target: Mapping[str, Any]) -> JsonObject:
    """The RFC 7386 merge patch that turns `source` into `target` (lists are replaced)."""
    patch: JsonObject = {}
    for key in source.keys() - target.keys():
        patch[key] = None
    for key, value in target.items():
        old = source.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            inner = merge_patch_between(old, value)
            if inner:
                patch[key] = inner
        elif key not in source or old != value or isinstance(old, dict):
            patch[key] = value
    return patch


def _paths(marks: Iterable[Mark]) -> list[str]:
    def shown(path: Path) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")

    return [f"{shown(mark.path)}: {mark.comment}" for mark in marks]


def render_patch(
    migration: DaemonSetMigration, daemonset: Mapping[str, Any], description: str
) -> str:
    lines = _header(migration, description)
    lines += ["#", "# The changes, by field:"]
    for text in _paths(migration.deployment.marks):
        lines += _wrap(text, "", "- ")
    lines += [
        "",
        "# JSON merge patch (RFC 7386) turning the DaemonSet's manifest into the Deployment",
    ]
    patch = merge_patch_between(daemonset, migration.deployment.obj)
    lines += json.dumps(patch, indent=2).splitlines()
    if migration.pdb is not None:
        lines += ["", "# PodDisruptionBudget"]
        lines += json.dumps(migration.pdb.obj, indent=2).splitlines()
    return "\n".join(lines) + "\n"


# --- reading the DaemonSet --------------------------------------------------------------------


def _reference(text: str) -> tuple[str | None, str]:
    namespace, slash, name = text.rpartition("/")
    return (namespace if slash else None), name


def pick_daemonset(
    objects: Sequence[Mapping[str, Any]], wanted: str | None, origin: str
) -> JsonObject:
    """The one DaemonSet of a manifest, or the one named [namespace/]name."""
    namespace, name = _reference(wanted) if wanted else (None, None)
    found = [
        dict(obj)
        for obj in objects
        if obj.get("kind") == "DaemonSet"
        and (name is None or _meta(obj, "name") == name)
        and (namespace is None or _meta(obj, "namespace") in (namespace, None))
    ]
    if not found:
        what = f"DaemonSet {wanted}" if wanted else "DaemonSet"
        raise SourceError(f"{origin} holds no {what}")
    if len(found) > 1:
        names = ", ".join(str(_meta(obj, "name")) for obj in found)
        raise SourceError(f"{origin} holds several DaemonSets ({names}): name one with --daemonset")
    return found[0]


def _meta(obj: Mapping[str, Any], key: str) -> object:
    metadata = obj.get("metadata")
    return metadata.get(key) if isinstance(metadata, dict) else None


async def daemonset_from_cluster(client: KubeClient, reference: str) -> JsonObject:
    namespace, name = _reference(reference)
    if not namespace or not name:
        raise SourceError(f"--daemonset {reference!r}: give namespace/name")
    path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"
    try:
        return await client.request("GET", path)
    except ApiError as exc:
        raise SourceError(str(exc)) from exc


async def read_daemonset(options: MigrateDaemonSetOptions) -> tuple[JsonObject, str]:
    """The DaemonSet and where it came from, from the file or else the cluster."""
    if options.file is not None:
        origin = "standard input" if options.file == "-" else options.file
        objects = load_manifests(read_file(options.file))
        return pick_daemonset(objects, options.daemonset, origin), origin
    if options.daemonset is None:
        raise SourceError(
            "give a manifest (-f) or a DaemonSet in the cluster (--daemonset NS/NAME)"
        )
    async with await connect(options.kubeconfig, options.context) as client:
        daemonset = await daemonset_from_cluster(client, options.daemonset)
    return daemonset, f"DaemonSet {options.daemonset} in the cluster"


async def run_migrate_daemonset(options: MigrateDaemonSetOptions, out: TextIO, err: TextIO) -> int:
    """Exit code 0, or 1 when the DaemonSet cannot be translated, or 2 when it cannot be read."""
    try:
        daemonset, origin = await read_daemonset(options)
    except SourceError as exc:
        err.write(f"error: {exc}\n")
        return 2
    migration, problems = translate_daemonset(daemonset, options.translation)
    for problem in problems:
        err.write(f"error: {problem}\n")
    if migration is None:
        return 1
    if options.output is DaemonSetOutput.PATCH:
        out.write(render_patch(migration, daemonset, origin))
    else:
        out.write(render_yaml(migration, origin))
    return 0
