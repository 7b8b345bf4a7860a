"""From cluster-proportional-autoscaler (CPA) to annotations: what to write, and what changes.

Input: the data of CPA's ConfigMap (one key, `linear` or `ladder`, holding JSON parameters)
and CPA's flags (--target, --namespace, --nodelabels, --default-params, --configmap).
Output: the annotations each target workload needs, and plain-English differences.

CPA's parsing is followed where it decides a number: Go's encoding/json matches field names
case-insensitively and leaves a null field at its zero value; linear `min` below 1 becomes 1,
`max` 0 means no maximum, a per-replica value of 0 means unused; ladder steps are sorted;
an empty ladder table gives 0 replicas. Sources:
https://github.com/kubernetes-sigs/cluster-proportional-autoscaler/tree/master/pkg/autoscaler
(controller/linearcontroller, controller/laddercontroller, controller/plugin, k8sclient) and
cmd/cluster-proportional-autoscaler/options/options.go.

Stricter than CPA, as typed errors: a key given twice, a value of the wrong JSON type, a
step that is not exactly two whole numbers (Go silently pads or truncates a [2]int), two
steps with one threshold (CPA's unstable sort then picks either), a ladder whose replicas
decrease as the cluster grows.

CPA's --target names deployment/, replicaset/, statefulset/ and replicationcontroller/
targets (singular or plural, any case: k8sclient.go's requestForTarget); they are read from
the kind table (kinds.BUILTIN), which holds exactly those four, so a kind added there is a
kind migrate-cpa translates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from fractions import Fraction
from typing import Final

from nodecount_scaler.limits import (
    CPA_FLAG_MAX_LENGTH,
    CPA_MAX_TARGETS,
    CPA_NUMBER_MAX_EXPONENT,
    CPA_PARAMS_MAX_LENGTH,
)
from nodecount_scaler.model.annotations import parse_config, parse_scaling
from nodecount_scaler.model.display import shortened
from nodecount_scaler.model.keys import (
    CORES_PER_REPLICA,
    CORES_TO_REPLICAS,
    ENABLED,
    INCLUDE_UNSCHEDULABLE_NODES,
    MAX_REPLICAS,
    MIN_REPLICAS,
    NODE_SELECTOR,
    NODES_PER_REPLICA,
    NODES_TO_REPLICAS,
    PREVENT_SINGLE_POINT_FAILURE,
)
from nodecount_scaler.model.kinds import BUILTIN, REPLICATIONCONTROLLER, STATEFULSET, WorkloadKind
from nodecount_scaler.model.scaling import (
    MAX_STEP_NUMBER,
    Mode,
    Step,
    format_decimal,
    format_steps,
    steps_from_json,
)
from nodecount_scaler.model.selector import SelectorError, parse_selector
from nodecount_scaler.model.strict_json import JsonProblem, load_json


def _target_names(kind: WorkloadKind) -> tuple[str, ...]:
    """What --target may call a kind: CPA's singular and plural names, and kubectl's forms
    with the group (`deployments.apps`, `deployments.v1.apps`) for a kind that has one."""
    bare = (kind.kind.lower(), kind.resource)
    if not kind.group:
        return bare
    return (
        *bare,
        *(f"{name}.{kind.group}" for name in bare),
        *(f"{name}.{kind.version}.{kind.group}" for name in bare),
    )


_TARGET_KINDS: Final = {name: kind for kind in BUILTIN for name in _target_names(kind)}
_DNS1123_SUBDOMAIN: Final = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_DNS1123_LABEL: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")

# The flags that carry configuration; every other CPA flag is about CPA's own running.
_VALUE_FLAGS: Final = frozenset(
    {"target", "configmap", "namespace", "nodelabels", "default-params"}
    | {"poll-period-seconds", "max-sync-failures", "kubeconfig"}
    | {"log-dir", "log-backtrace-at", "stderrthreshold", "v", "vmodule", "log_file"}
)


@dataclass(frozen=True, slots=True)
class MigrationError:
    """What cannot be translated: where (a flag or a parameter), its value, and why."""

    where: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}={self.value!r}: {self.problem}"


@dataclass(frozen=True, slots=True)
class CpaFlags:
    """CPA's command-line flags; None where not given."""

    target: str | None = None
    namespace: str | None = None
    nodelabels: str | None = None
    default_params: str | None = None
    configmap: str | None = None
    # Every other flag given, by name (poll-period-seconds, v, ...): reported, not translated.
    other: tuple[str, ...] = field(default=())

    def overlaid(self, top: CpaFlags) -> CpaFlags:
        """These flags with every flag that `top` gives taking precedence."""
        changes = {f.name: getattr(top, f.name) for f in fields(top) if f.name != "other"}
        merged = replace(self, **{k: v for k, v in changes.items() if v is not None})
        return replace(merged, other=tuple(dict.fromkeys(self.other + top.other)))


@dataclass(frozen=True, slots=True)
class CpaTarget:
    """One workload of CPA's --target."""

    kind: WorkloadKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.kind.lower()}/{self.name}"


@dataclass(frozen=True, slots=True)
class Migration:
    mode: Mode
    namespace: str
    targets: tuple[CpaTarget, ...]
    # The same annotations for every target, in a stable, readable order.
    annotations: tuple[tuple[str, str], ...]
    differences: tuple[str, ...]
    # Where the parameters came from: "ConfigMap data" or "--default-params".
    params_source: str


# --- flags ------------------------------------------------------------------------------------


def parse_cpa_args(args: Sequence[str]) -> tuple[CpaFlags, tuple[MigrationError, ...]]:
    """CPA's flags from its container command and args (pflag syntax: --name=value or
    --name value; one dash works too). Words that are not flags, such as the binary's
    path, are skipped, as pflag leaves them to the program."""
    values: dict[str, str] = {}
    other: list[str] = []
    errors: list[MigrationError] = []
    position = 0
    while position < len(args):
        word = args[position]
        position += 1
        if not word.startswith("-") or word in ("-", "--"):
            continue
        name, has_value, value = word.lstrip("-").partition("=")
        if name in _VALUE_FLAGS and not has_value:
            if position >= len(args):
                errors.append(MigrationError(f"--{name}", "", "the flag needs a value"))
                continue
            value = args[position]
            position += 1
        if len(value) > CPA_FLAG_MAX_LENGTH:
            errors.append(MigrationError(f"--{name}", shortened(value), "too long"))
        elif name in ("target", "namespace", "nodelabels", "default-params", "configmap"):
            values[name.replace("-", "_")] = value
        else:
            other.append(name)
    flags = CpaFlags(**values, other=tuple(dict.fromkeys(other)))
    return flags, tuple(errors)


def parse_targets(raw: str) -> tuple[tuple[CpaTarget, ...], tuple[MigrationError, ...]]:
    """The workloads of --target ("deployment/coredns,StatefulSet/other"), kinds by the kind
    table; each one once, in the order given."""
    targets: list[CpaTarget] = []
    errors: list[MigrationError] = []
    # CPA lowercases the whole flag before reading it (options.go, ValidateFlags).
    items = [item.strip() for item in raw.lower().split(",")]
    if len(items) > CPA_MAX_TARGETS:
        return (), (
            MigrationError("--target", shortened(raw), f"more than {CPA_MAX_TARGETS} targets"),
        )
    for item in items:
        kind_name, slash, name = item.partition("/")
        kind = _TARGET_KINDS.get(kind_name)
        if not slash or "/" in name or not kind_name or not name:
            problem = "expected kind/name, like deployment/coredns"
        elif kind is None:
            known = ", ".join(k.kind.lower() for k in BUILTIN)
            problem = f"unknown kind {kind_name!r}: CPA and nodecount-scaler scale {known}"
        elif len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
            problem = f"not a valid {kind.kind} name"
        else:
            problem = ""
        if problem or kind is None:
            errors.append(MigrationError("--target", shortened(item), problem))
        elif (target := CpaTarget(kind, name)) not in targets:
            targets.append(target)
    return tuple(targets), tuple(errors)


# --- parameters -------------------------------------------------------------------------------

_NUMBER, _INT, _BOOL, _STEPS = "number", "int", "bool", "steps"
_FIELDS: Final[dict[Mode, dict[str, str]]] = {
    Mode.LINEAR: {
        "coresPerReplica": _NUMBER,
        "nodesPerReplica": _NUMBER,
        "min": _INT,
        "max": _INT,
        "preventSinglePointFailure": _BOOL,
        "includeUnschedulableNodes": _BOOL,
    },
    Mode.LADDER: {
        "coresToReplicas": _STEPS,
        "nodesToReplicas": _STEPS,
        "includeUnschedulableNodes": _BOOL,
    },
}


@dataclass(frozen=True, slots=True)
class _Params:
    mode: Mode
    # Field name -> value: Fraction, int, bool, or tuple[Step, ...] (an empty table is absent).
    values: Mapping[str, object]
    ignored: tuple[str, ...] = ()
    reordered: tuple[str, ...] = ()
    emptied: tuple[str, ...] = ()
    source: str = "ConfigMap data"


def _convert(kind: str, value: object) -> object:
    """A field's value converted, or a str saying why it cannot be."""
    if kind == _BOOL:
        return value if isinstance(value, bool) else "must be true or false"
    if kind == _STEPS:
        return steps_from_json(value, sort=True)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "must be a number"
    if isinstance(value, Decimal):
        if kind == _INT:
            return "must be a whole number (CPA reads it into a Go int)"
        if not -CPA_NUMBER_MAX_EXPONENT <= value.adjusted() <= CPA_NUMBER_MAX_EXPONENT:
            return "out of range"
    if value < 0:
        return "must not be negative"
    if kind == _INT and value > MAX_STEP_NUMBER:
        return f"larger than {MAX_STEP_NUMBER}"
    if kind == _NUMBER and value > 10**CPA_NUMBER_MAX_EXPONENT:
        return "out of range"
    return Fraction(value) if kind == _NUMBER else value


def _field_keys(
    spec: Mapping[str, str], decoded: Mapping[str, object], where: str
) -> tuple[dict[str, str], list[str], list[MigrationError]]:
    """Field -> key as written, matched as Go's encoding/json does (exact, else any case)."""
    keys: dict[str, str] = {}
    ignored: list[str] = []
    errors: list[MigrationError] = []
    for key in decoded:
        name = key if key in spec else next((f for f in spec if f.lower() == key.lower()), None)
        if name is None:
            ignored.append(key)
        elif name in keys:
            problem = f"{name} is given twice, as {keys[name]!r} and {key!r}"
            errors.append(MigrationError(where, key, problem))
        else:
            keys[name] = key
    return keys, ignored, errors


def _decode_params(
    mode: Mode, raw: object, where: str, source: str
) -> _Params | list[MigrationError]:
    decoded = load_json(raw, max_length=CPA_PARAMS_MAX_LENGTH) if isinstance(raw, str) else raw
    if isinstance(decoded, JsonProblem):
        return [MigrationError(where, shortened(str(raw)), decoded.problem)]
    if not isinstance(decoded, dict):
        return [MigrationError(where, shortened(str(raw)), "must be a JSON object of parameters")]
    spec = _FIELDS[mode]
    keys, ignored, errors = _field_keys(spec, decoded, where)
    values: dict[str, object] = {}
    reordered: list[str] = []
    emptied: list[str] = []
    for name, key in keys.items():
        value = decoded[key]
        if value is None:  # Go leaves a null field at its zero value
            continue
        if spec[name] == _STEPS and value == []:
            emptied.append(name)  # CPA: an empty table asks for 0 replicas
            continue
        converted = _convert(spec[name], value)
        if isinstance(converted, str):
            errors.append(MigrationError(f"{where}.{name}", shortened(str(value)), converted))
            continue
        if isinstance(converted, tuple) and _reordered(converted, value):
            reordered.append(name)
        values[name] = converted
    if errors:
        return errors
    return _Params(mode, values, tuple(ignored), tuple(reordered), tuple(emptied), source)


def _reordered(steps: tuple[Step, ...], given: object) -> bool:
    written = [e[0] for e in given if isinstance(e, list)] if isinstance(given, list) else []
    return [s.threshold for s in steps] != written


def _choose_params(
    data: Mapping[str, object] | None, flags: CpaFlags
) -> _Params | list[MigrationError]:
    """The parameters CPA would use: the ConfigMap's, or --default-params when it is absent."""
    if data is not None:
        where, source, entries = "ConfigMap data", "ConfigMap data", dict(data)
    elif flags.default_params is not None:
        where, source = "--default-params", "--default-params"
        decoded = load_json(flags.default_params, max_length=CPA_FLAG_MAX_LENGTH)
        if isinstance(decoded, JsonProblem) or not isinstance(decoded, dict):
            problem = str(decoded) if isinstance(decoded, JsonProblem) else "must be an object"
            return [MigrationError(where, shortened(flags.default_params), problem)]
        entries = decoded
    else:
        return [MigrationError("ConfigMap", "", "none found, and no --default-params given")]
    if len(entries) != 1:
        shown = shortened(", ".join(sorted(entries)))
        problem = "expected exactly one key, linear or ladder (CPA refuses any other layout)"
        return [MigrationError(where, shown, problem)]
    ((key, raw),) = entries.items()
    if key not in (Mode.LINEAR, Mode.LADDER):
        return [MigrationError(where, shortened(key), "not a CPA mode: expected linear or ladder")]
    if isinstance(raw, str) == (where == "--default-params"):
        wanted = "a JSON object" if where == "--default-params" else "a string of JSON"
        return [MigrationError(f"{where}.{key}", shortened(str(raw)), f"must be {wanted}")]
    return _decode_params(Mode(key), raw, f"{where}.{key}", source)


# --- annotations ------------------------------------------------------------------------------


def _linear_annotations(params: _Params) -> list[tuple[str, str]] | list[MigrationError]:
    values = params.values
    nodes = values.get("nodesPerReplica")
    cores = values.get("coresPerReplica")
    where = f"{params.source}.linear"
    if not nodes and not cores:  # CPA: 0 means unused, and one of them must be used
        problem = "neither coresPerReplica nor nodesPerReplica is greater than 0"
        return [MigrationError(where, "", problem)]
    minimum = max(_as_int(values.get("min")), 1)  # CPA raises a min below 1 to 1
    maximum = _as_int(values.get("max"))  # 0: no maximum
    if maximum and maximum < minimum:
        problem = f"max {maximum} is less than min {minimum}"
        return [MigrationError(f"{where}.max", str(maximum), problem)]
    result = [(MIN_REPLICAS.key, str(minimum))]
    if maximum:
        result.append((MAX_REPLICAS.key, str(maximum)))
    for key, value in ((NODES_PER_REPLICA.key, nodes), (CORES_PER_REPLICA.key, cores)):
        if isinstance(value, Fraction) and value:
            result.append((key, format_decimal(value)))
    if values.get("preventSinglePointFailure") is True:
        result.append((PREVENT_SINGLE_POINT_FAILURE.key, "true"))
    return result


def _as_int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _ladder_annotations(params: _Params) -> list[tuple[str, str]] | list[MigrationError]:
    result = [
        (key, format_steps(steps))
        for key, name in (
            (NODES_TO_REPLICAS.key, "nodesToReplicas"),
            (CORES_TO_REPLICAS.key, "coresToReplicas"),
        )
        if isinstance(steps := params.values.get(name), tuple)
    ]
    if not result:
        problem = (
            "no steps in coresToReplicas or nodesToReplicas: CPA keeps the target at 0 replicas; "
            "scale it to 0 and leave it unmanaged instead"
        )
        return [MigrationError(f"{params.source}.ladder", "", problem)]
    return result


def _node_selector(raw: str | None, errors: list[MigrationError]) -> list[tuple[str, str]]:
    if raw is None or not raw.strip():
        return []
    try:
        parse_selector(raw)
    except SelectorError as exc:
        errors.append(MigrationError("--nodelabels", shortened(raw), str(exc)))
        return []
    return [(NODE_SELECTOR.key, raw.strip())]


def _check_round_trip(annotations: Mapping[str, str]) -> list[MigrationError]:
    """The translation must read back as a valid target: the contract is checked, not assumed."""
    config, errors = parse_config(annotations)
    if config is None:
        return [MigrationError(e.key, e.value, e.problem) for e in errors]
    nodes_per_replica = config.nodes_per_replica if NODES_PER_REPLICA.key in annotations else None
    rule, errors = parse_scaling(
        annotations,
        nodes_per_replica=nodes_per_replica,
        min_replicas=config.min_replicas,
        max_replicas=config.max_replicas,
    )
    return [MigrationError(e.key, e.value, e.problem) for e in errors] if rule is None else []


def translate(
    data: Mapping[str, object] | None, flags: CpaFlags, *, namespace: str | None = None
) -> tuple[Migration | None, tuple[MigrationError, ...]]:
    """The annotations and differences for CPA's ConfigMap `data` (None: no ConfigMap) and flags.

    `namespace` stands in for --namespace when the flag is absent, as CPA falls back to its own
    pod's namespace: pass the namespace of the ConfigMap or of CPA's Deployment.
    """
    errors: list[MigrationError] = []
    chosen_namespace = flags.namespace or namespace or ""
    if not _DNS1123_LABEL.fullmatch(chosen_namespace) or len(chosen_namespace) > 63:
        problem = "not a namespace name" if chosen_namespace else "not given, and none to assume"
        errors.append(MigrationError("--namespace", shortened(chosen_namespace), problem))
    targets: tuple[CpaTarget, ...] = ()
    if flags.target is None:
        errors.append(MigrationError("--target", "", "not given: name the workloads CPA scales"))
    else:
        targets, target_errors = parse_targets(flags.target)
        errors.extend(target_errors)
    selector = _node_selector(flags.nodelabels, errors)
    params = _choose_params(data, flags)
    if isinstance(params, list):
        return None, (*errors, *params)
    by_mode = _linear_annotations if params.mode is Mode.LINEAR else _ladder_annotations
    scaling = by_mode(params)
    if scaling and isinstance(scaling[0], MigrationError):
        errors.extend(e for e in scaling if isinstance(e, MigrationError))
    annotations = [(ENABLED.key, "true")]
    annotations += [a for a in scaling if isinstance(a, tuple)] + selector
    if params.values.get("includeUnschedulableNodes") is True:
        annotations.append((INCLUDE_UNSCHEDULABLE_NODES.key, "true"))
    errors.extend(_check_round_trip(dict(annotations)))
    if errors:
        return None, tuple(errors)
    differences = _differences(params, flags, data is not None, targets)
    migration = Migration(
        params.mode,
        chosen_namespace,
        targets,
        tuple(annotations),
        differences,
        params.source,
    )
    return migration, ()


# --- differences ------------------------------------------------------------------------------

_COUNTING: Final = (
    "Which nodes count: CPA counts every node that matches --nodelabels and is not cordoned "
    "(and, in recent versions, is Ready), whatever the target's pods select or tolerate. "
    "nodecount-scaler counts, for each "
    "target, the nodes where one of its pods can run: the node-selector annotation, the pod "
    "template's nodeSelector and required node affinity, taints it does not tolerate, cordon "
    "and readiness. Its count can be lower than CPA's, and is then the right one: a replica "
    "for a node the pod cannot use would stay Pending or crowd onto the other nodes."
)
_CORES: Final = (
    "Cores are the allocatable CPU of those same eligible nodes, summed exactly; CPA sums the "
    "allocatable CPU of the nodes it counts and rounds the total up to whole cores."
)
_POLLING: Final = (
    "CPA recomputes every --poll-period-seconds (10 s by default); nodecount-scaler reacts to "
    "node and workload changes as they happen."
)
_CAPS: Final = (
    "nodecount-scaler never writes more replicas than its own --replica-cap flag (a cap for "
    "every target), and leaves a workload alone while a HorizontalPodAutoscaler targets it; "
    "CPA has neither."
)
# Both apply to every target, with the service's defaults (settings.py, model/guard.py).
_GUARD: Final = (
    "A large scale-down waits: one caused by nodes that removes more than half of a target's "
    "replicas (and at least 2) is held until a fresh list of nodes, taken 10 s later, "
    "confirms it (--scale-down-guard-share, --scale-down-guard-min, "
    "--scale-down-guard-delay); CPA scales down on its next poll. This guard is what keeps an "
    "empty or broken node list from scaling every target to its minimum."
)
_UNREADY_GRACE: Final = (
    "A node that turns NotReady keeps counting for 30 s (--unready-grace), so a short flap "
    "changes nothing; CPA stops counting it at its next poll (up to 10 s). Replicas therefore "
    "go down later here than in CPA when a node fails."
)
_UNSCHEDULABLE: Final = (
    "includeUnschedulableNodes becomes include-unschedulable-nodes: cordoned and NotReady "
    "nodes count too, as in CPA, which keeps replicas up while nodes are drained for an "
    "upgrade. The service refuses it (InvalidAnnotation, the workload left alone) on a "
    "target whose pod template keeps one pod per node, with required hostname anti-affinity "
    "or a maxSkew 1 hostname spread: the replica counted for a cordoned node would stay "
    "Pending. The nodes' taints and the template's selectors still decide, unlike in CPA."
)
_MIN_DEFAULT: Final = (
    "min: CPA's linear mode raises a missing or 0 min to 1; nodecount-scaler's min-replicas "
    'defaults to 0, so the translation writes min-replicas: "1" to keep CPA\'s floor.'
)


@dataclass(frozen=True, slots=True)
class FloatExample:
    """A count where CPA's float64 division and the exact one give different replicas."""

    what: str  # "nodes" or "cores"
    count: int
    per_replica: str  # CPA's parameter as written in the ConfigMap
    cpa: int  # math.Ceil(float64(count) / perReplica), as CPA computes it
    exact: int  # ceil(count / per_replica) in exact arithmetic, as nodecount-scaler does

    def __str__(self) -> str:
        return (
            f"{self.count} {self.what} at {self.what}PerReplica {self.per_replica}: "
            f"{self.cpa} replicas in CPA, {self.exact} here"
        )


# Checked against CPA's formula evaluated in float64 by a unit table. 21 / 0.7 is
# 30.000000000000004 in float64; 3 / 0.1, by contrast, is exactly 30.0 there too.
FLOAT_EXAMPLES: Final = (
    FloatExample("nodes", 21, "0.7", 31, 30),
    FloatExample("cores", 21, "1.4", 16, 15),
)
_FLOAT: Final = (
    "CPA divides in floating point, nodecount-scaler exactly: with a per-replica value that "
    "is not a whole number the results can differ by one ("
    + "; ".join(str(e) for e in FLOAT_EXAMPLES)
    + ")."
)

_LADDER_CORES: Final = (
    "CPA compares coresToReplicas thresholds with the total CPU rounded up to whole cores; "
    "nodecount-scaler with the exact total, so 63.5 allocatable cores reach a 64 step in CPA "
    "and not here."
)
_LADDER_IGNORED: Final = frozenset({"min", "max", "preventsinglepointfailure"})


def _differences(
    params: _Params, flags: CpaFlags, from_configmap: bool, targets: Sequence[CpaTarget]
) -> tuple[str, ...]:
    notes = [_COUNTING]
    uses_cores = "coresPerReplica" in params.values or "coresToReplicas" in params.values
    if uses_cores:
        notes.append(_CORES)
    if params.values.get("includeUnschedulableNodes") is True:
        notes.append(_UNSCHEDULABLE)
    notes += _mode_differences(params)
    notes += _kind_differences(targets)
    if len(targets) > 1:
        notes.append(
            "CPA gives every target the same count; nodecount-scaler computes each target's count "
            "from its own pod template, so the targets can end up with different counts."
        )
    if flags.nodelabels and flags.nodelabels.strip():
        notes.append(
            "--nodelabels becomes the node-selector annotation (the same label-selector syntax); "
            "the pod template's own node constraints apply on top of it."
        )
    notes += _flag_differences(params, flags, from_configmap)
    notes += [_POLLING, _GUARD, _UNREADY_GRACE, _CAPS]
    return tuple(notes)


def _kind_differences(targets: Sequence[CpaTarget]) -> list[str]:
    notes: list[str] = []
    statefulsets = [str(t) for t in targets if t.kind is STATEFULSET]
    if statefulsets:
        notes.append(
            f"{', '.join(statefulsets)}: a StatefulSet scales down by removing its highest "
            "ordinals, whatever node they are on, as under CPA; nodecount-scaler cannot steer "
            "which pod goes, and says so with a ScaleDownByOrdinal Warning when a pod stays on "
            "a node that no longer counts."
        )
    controllers = [str(t) for t in targets if t.kind is REPLICATIONCONTROLLER]
    if controllers:
        notes.append(
            f"{', '.join(controllers)}: ReplicationControllers are watched only when the "
            "service runs with --kind ReplicationController (name every kind it should watch: "
            "--kind Deployment --kind ReplicationController ...); without it these annotations "
            "change nothing."
        )
    return notes


def _mode_differences(params: _Params) -> list[str]:
    values = params.values
    notes: list[str] = []
    if params.mode is Mode.LINEAR:
        if _as_int(values.get("min")) < 1:
            notes.append(_MIN_DEFAULT)
        if "max" in values and not values["max"]:
            notes.append("max 0 means no maximum in CPA: no max-replicas is written.")
        per = [values.get(name) for name in ("nodesPerReplica", "coresPerReplica")]
        if any(isinstance(v, Fraction) and v.denominator != 1 for v in per):
            notes.append(_FLOAT)
    else:
        if "coresToReplicas" in values:
            notes.append(_LADDER_CORES)
        for name in params.reordered:
            notes.append(
                f"{name}: steps sorted by threshold (CPA sorts them itself; the annotation "
                "lists them in the order they apply)."
            )
        for name in params.emptied:
            notes.append(f"{name} is empty (it would ask for 0 replicas in CPA): left out.")
    for key in params.ignored:
        why = (
            "CPA ignores it in ladder mode" if key.lower() in _LADDER_IGNORED else "CPA ignores it"
        )
        notes.append(f"{key!r} is not a {params.mode} parameter ({why}): not translated.")
    return notes


def _flag_differences(params: _Params, flags: CpaFlags, from_configmap: bool) -> list[str]:
    notes: list[str] = []
    if from_configmap and flags.default_params is not None:
        notes.append(
            "--default-params is not used: CPA only writes it into the ConfigMap when the "
            "ConfigMap is missing, and the ConfigMap exists."
        )
    if params.source == "--default-params":
        notes.append("No ConfigMap: the parameters come from --default-params, as CPA would use.")
    if "max-sync-failures" in flags.other:
        notes.append(
            "--max-sync-failures has no equivalent: nodecount-scaler does not exit after failed "
            "API calls; it retries them."
        )
    rest = [
        name for name in flags.other if name not in ("max-sync-failures", "poll-period-seconds")
    ]
    if rest:
        shown = ", ".join(f"--{name}" for name in rest)
        notes.append(f"{shown}: about CPA's own running (logging, API access); not translated.")
    notes.append(
        "Once CPA is stopped its ConfigMap is no longer read: the annotations are the whole "
        "configuration, and the ConfigMap can be deleted."
    )
    return notes
