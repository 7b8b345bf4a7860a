"""CPA ConfigMap data and flags to annotations: CPA's parser tables, its README, bad input."""

from __future__ import annotations

import math
import time
from fractions import Fraction

import pytest

from nodecount_scaler.limits import CPA_MAX_TARGETS
from nodecount_scaler.model.annotations import parse_config
from nodecount_scaler.model.cpa_migration import (
    FLOAT_EXAMPLES,
    CpaFlags,
    FloatExample,
    Migration,
    MigrationError,
    parse_cpa_args,
    parse_targets,
    translate,
)
from nodecount_scaler.model.kinds import (
    BUILTIN,
    DEPLOYMENT,
    REPLICASET,
    REPLICATIONCONTROLLER,
    STATEFULSET,
    WorkloadKind,
)
from nodecount_scaler.model.scaling import Mode, replicas

P = "nodecount-scaler.io/"
FLAGS = CpaFlags(target="deployment/coredns", namespace="kube-system")


def annotations_of(data: dict[str, object] | None, flags: CpaFlags = FLAGS) -> dict[str, str]:
    migration, errors = translate(data, flags)
    assert errors == ()
    assert migration is not None
    return dict(migration.annotations)


def migrate(data: dict[str, object] | None, flags: CpaFlags = FLAGS) -> Migration:
    migration, errors = translate(data, flags)
    assert errors == (), errors
    assert migration is not None
    return migration


def errors_of(data: dict[str, object] | None, flags: CpaFlags = FLAGS) -> list[MigrationError]:
    migration, errors = translate(data, flags)
    assert migration is None
    assert errors
    return list(errors)


# CPA's README, "Linear Mode" and "Ladder Mode" (the ConfigMap examples; the README's linear
# JSON lacks a comma after preventSinglePointFailure, added here so that it is JSON at all).
README_LINEAR = """{
  "coresPerReplica": 2,
  "nodesPerReplica": 1,
  "min": 1,
  "max": 100,
  "preventSinglePointFailure": true,
  "includeUnschedulableNodes": true
}"""
README_LADDER = """{
  "coresToReplicas":
  [
    [ 1, 1 ],
    [ 64, 3 ],
    [ 512, 5 ],
    [ 1024, 7 ],
    [ 2048, 10 ],
    [ 4096, 15 ]
  ],
  "nodesToReplicas":
  [
    [ 1, 1 ],
    [ 2, 2 ]
  ]
}"""
README_ZERO = '{"nodesToReplicas": [[0, 0], [6, 1]]}'


def test_readme_linear() -> None:
    """CPA's README linear ConfigMap: every parameter has its annotation."""
    assert annotations_of({"linear": README_LINEAR}) == {
        P + "enabled": "true",
        P + "min-replicas": "1",
        P + "max-replicas": "100",
        P + "nodes-per-replica": "1",
        P + "cores-per-replica": "2",
        P + "prevent-single-point-failure": "true",
        P + "include-unschedulable-nodes": "true",
    }


def test_readme_ladder() -> None:
    """CPA's README ladder ConfigMap: both tables, compact."""
    assert annotations_of({"ladder": README_LADDER}) == {
        P + "enabled": "true",
        P + "nodes-to-replicas": "[[1,1],[2,2]]",
        P + "cores-to-replicas": "[[1,1],[64,3],[512,5],[1024,7],[2048,10],[4096,15]]",
    }


def test_readme_scale_to_zero_ladder() -> None:
    """The README's optional-feature ladder keeps its 0 step."""
    assert annotations_of({"ladder": README_ZERO})[P + "nodes-to-replicas"] == "[[0,0],[6,1]]"


LINEAR_CPA_TESTS = (
    "https://github.com/kubernetes-sigs/cluster-proportional-autoscaler/blob/"
    "c8dbb176254fb31b892da4bab408f6c494114493/pkg/autoscaler/controller/linearcontroller/"
    "linear_controller_test.go"
)
# LINEAR_CPA_TESTS, TestControllerParser: the rows CPA refuses, refused here too.
LINEAR_PARSER_INVALID = [
    ('{ "coresPerReplica": {{ 1:1 } }', "not valid JSON"),
    ('{ "coresPerReplica": "whatisthis"', "not valid JSON"),
    ('{ "nodesPerReplica":  -20 }', "must not be negative"),
    ('{ \n "nodesPerReplica": 1,\n "min": 100,\n "max": 50\n }', "max 50 is less than min 100"),
    ('{ \n "min": 1,\n "max": 100\n }', "neither coresPerReplica nor nodesPerReplica"),
    (
        '{"coresPerReplica": 2, "nodesPerReplica": 1, "min": 1, "max": 100, '
        '"preventSinglePointFailure": invalid, }',
        "not valid JSON",
    ),
]


@pytest.mark.parametrize(
    ("params", "problem"), LINEAR_PARSER_INVALID, ids=[p for _, p in LINEAR_PARSER_INVALID]
)
def test_cpa_linear_parser_invalid_rows(params: str, problem: str) -> None:
    """What CPA's linear parser refuses is a typed error naming the parameter."""
    (error,) = errors_of({"linear": params})
    assert error.where.startswith("ConfigMap data.linear")
    assert problem in error.problem


def test_cpa_linear_parser_valid_row() -> None:
    """TestControllerParser's valid row (with preventSinglePointFailure) translates whole."""
    params = (
        '{"coresPerReplica": 2, "nodesPerReplica": 1, "min": 1, "max": 100, '
        '"preventSinglePointFailure": true}'
    )
    assert annotations_of({"linear": params})[P + "prevent-single-point-failure"] == "true"


LADDER_CPA_TESTS = (
    "https://github.com/kubernetes-sigs/cluster-proportional-autoscaler/blob/"
    "d4b6997deea105710a35809873a129612c69d9c5/pkg/autoscaler/controller/laddercontroller/"
    "ladder_controller_test.go"
)
# LADDER_CPA_TESTS, TestControllerParser.
LADDER_PARSER_INVALID = [
    ('{ "coresToReplicas" : {{ 1:1 } }', "not valid JSON"),
    ('{ "coresToReplicas" : [[ "1, "a"]] }', "not valid JSON"),
    ('{ "coresToReplicas" : [[:-200]] }', "not valid JSON"),
]
UNSORTED_TABLE = """{"coresToReplicas": [[0, 0], [1, 0], [2, 2], [3, 3], [512, 5], [1024, 7],
  [2048, 10], [4096, 15], [8192, 20], [12288, 30], [16384, 40], [20480, 50], [24576, 60],
  [28672, 70], [65535, 100], [32768, 80]]}"""


@pytest.mark.parametrize(
    ("params", "problem"), LADDER_PARSER_INVALID, ids=["object", "string", "colon"]
)
def test_cpa_ladder_parser_invalid_rows(params: str, problem: str) -> None:
    """What CPA's ladder parser refuses is refused here too."""
    (error,) = errors_of({"ladder": params})
    assert problem in error.problem


def test_cpa_ladder_parser_valid_rows() -> None:
    """The valid rows: a single step, and CPA's long table given out of order (sorted)."""
    assert annotations_of({"ladder": '{ "coresToReplicas" : [ [1,1] ] }'}) == {
        P + "enabled": "true",
        P + "cores-to-replicas": "[[1,1]]",
    }
    migration = migrate({"ladder": UNSORTED_TABLE})
    assert dict(migration.annotations)[P + "cores-to-replicas"] == (
        "[[0,0],[1,0],[2,2],[3,3],[512,5],[1024,7],[2048,10],[4096,15],[8192,20],[12288,30],"
        "[16384,40],[20480,50],[24576,60],[28672,70],[32768,80],[65535,100]]"
    )
    assert any("coresToReplicas: steps sorted" in d for d in migration.differences)


@pytest.mark.parametrize("flag", [True, False])
def test_cpa_ladder_include_unschedulable_row(flag: bool) -> None:
    """includeUnschedulableNodes true becomes include-unschedulable-nodes, with the refusal
    on one-pod-per-node targets spelled out; false (CPA's default) writes nothing."""
    params = (
        '{"coresToReplicas": [[0, 0], [1, 0], [2, 2], [3, 3]], '
        '"nodesToReplicas": [[1, 1], [2, 2], [3, 3]], '
        f'"includeUnschedulableNodes": {str(flag).lower()}}}'
    )
    migration = migrate({"ladder": params})
    assert migration.mode is Mode.LADDER
    assert (dict(migration.annotations).get(P + "include-unschedulable-nodes") == "true") is flag
    noted = [d for d in migration.differences if d.startswith("includeUnschedulableNodes becomes")]
    assert bool(noted) is flag
    assert not noted or "would stay Pending" in noted[0]


# Go's encoding/json and CPA's defaults, followed where they decide a number.
GO_AND_DEFAULTS = [
    (
        "case-insensitive",
        '{"NodesPerReplica": 4, "MIN": 2}',
        {"min-replicas": "2", "nodes-per-replica": "4"},
    ),
    (
        "null-is-absent",
        '{"nodesPerReplica": 4, "max": null}',
        {"min-replicas": "1", "nodes-per-replica": "4"},
    ),
    ("min-absent-is-1", '{"nodesPerReplica": 4}', {"min-replicas": "1", "nodes-per-replica": "4"}),
    (
        "min-0-is-1",
        '{"nodesPerReplica": 4, "min": 0}',
        {"min-replicas": "1", "nodes-per-replica": "4"},
    ),
    (
        "max-0-is-none",
        '{"nodesPerReplica": 4, "max": 0}',
        {"min-replicas": "1", "nodes-per-replica": "4"},
    ),
    (
        "per-replica-0-unused",
        '{"nodesPerReplica": 0, "coresPerReplica": 8}',
        {"min-replicas": "1", "cores-per-replica": "8"},
    ),
    ("float", '{"nodesPerReplica": 2.5}', {"min-replicas": "1", "nodes-per-replica": "2.5"}),
    ("exponent", '{"coresPerReplica": 1e2}', {"min-replicas": "1", "cores-per-replica": "100"}),
    (
        "spof-false",
        '{"nodesPerReplica": 1, "preventSinglePointFailure": false}',
        {"min-replicas": "1", "nodes-per-replica": "1"},
    ),
]


@pytest.mark.parametrize(
    ("params", "expected"), [r[1:] for r in GO_AND_DEFAULTS], ids=[r[0] for r in GO_AND_DEFAULTS]
)
def test_go_json_and_cpa_defaults(params: str, expected: dict[str, str]) -> None:
    """Field names in any case, null as absent, min raised to 1, 0 as unused or unlimited."""
    assert annotations_of({"linear": params}) == {
        P + "enabled": "true",
        **{P + k: v for k, v in expected.items()},
    }


NOTES = [
    ("min-default", {"linear": '{"nodesPerReplica": 4}'}, "raises a missing or 0 min to 1"),
    ("max-0", {"linear": '{"nodesPerReplica": 4, "max": 0}'}, "max 0 means no maximum"),
    ("float", {"linear": '{"nodesPerReplica": 0.1}'}, "CPA divides in floating point"),
    ("cores", {"linear": '{"coresPerReplica": 64}'}, "Cores are the allocatable CPU"),
    ("ladder-cores", {"ladder": '{"coresToReplicas": [[0,1]]}'}, "rounded up to whole cores"),
    ("unknown", {"linear": '{"nodesPerReplica": 4, "foo": 1}'}, "'foo' is not a linear parameter"),
    (
        "ladder-min",
        {"ladder": '{"nodesToReplicas": [[0,1]], "min": 2}'},
        "ignores it in ladder mode",
    ),
    (
        "empty-table",
        {"ladder": '{"nodesToReplicas": [[0,1]], "coresToReplicas": []}'},
        "coresToReplicas is empty",
    ),
    ("counting", {"linear": '{"nodesPerReplica": 4}'}, "the nodes where one of its pods can run"),
]


@pytest.mark.parametrize(("data", "note"), [r[1:] for r in NOTES], ids=[r[0] for r in NOTES])
def test_differences_are_spelled_out(data: dict[str, object], note: str) -> None:
    """Each behaviour that changes is named in the differences."""
    assert any(note in d for d in migrate(data).differences)


def test_no_float_note_for_whole_numbers() -> None:
    """Only a fractional per-replica value brings the floating-point note."""
    notes = migrate({"linear": '{"nodesPerReplica": 4, "min": 2}'}).differences
    assert not any("floating point" in d or "min: CPA" in d for d in notes)


BAD_DATA = [
    ("two-modes", {"linear": "{}", "ladder": "{}"}, "ConfigMap data", "expected exactly one key"),
    ("no-mode", {}, "ConfigMap data", "expected exactly one key"),
    ("unknown-mode", {"exponential": "{}"}, "ConfigMap data", "not a CPA mode"),
    (
        "not-a-string",
        {"linear": {"nodesPerReplica": 1}},
        "ConfigMap data.linear",
        "must be a string of JSON",
    ),
    ("not-an-object", {"linear": "[1]"}, "ConfigMap data.linear", "must be a JSON object"),
    ("duplicate-key", {"linear": '{"min": 1, "min": 2}'}, "ConfigMap data.linear", "given twice"),
    (
        "duplicate-any-case",
        {"linear": '{"min": 1, "Min": 2, "nodesPerReplica": 1}'},
        "ConfigMap data.linear",
        "min is given twice",
    ),
    (
        "min-float",
        {"linear": '{"nodesPerReplica": 1, "min": 1.0}'},
        "ConfigMap data.linear.min",
        "must be a whole number",
    ),
    (
        "min-negative",
        {"linear": '{"nodesPerReplica": 1, "min": -1}'},
        "ConfigMap data.linear.min",
        "must not be negative",
    ),
    (
        "max-huge",
        {"linear": '{"nodesPerReplica": 1, "max": 99999999999}'},
        "ConfigMap data.linear.max",
        "larger than",
    ),
    (
        "per-replica-string",
        {"linear": '{"nodesPerReplica": "2"}'},
        "ConfigMap data.linear.nodesPerReplica",
        "must be a number",
    ),
    (
        "per-replica-bool",
        {"linear": '{"nodesPerReplica": true}'},
        "ConfigMap data.linear.nodesPerReplica",
        "must be a number",
    ),
    (
        "per-replica-tiny",
        {"linear": '{"nodesPerReplica": 1e-40}'},
        "ConfigMap data.linear.nodesPerReplica",
        "out of range",
    ),
    (
        "per-replica-huge-integer",
        {"linear": '{"nodesPerReplica": ' + "9" * 4000 + "}"},
        "ConfigMap data.linear.nodesPerReplica",
        "out of range",
    ),
    (
        "per-replica-huge-exponent",
        {"linear": '{"coresPerReplica": 1e999999999}'},
        "ConfigMap data.linear.coresPerReplica",
        "out of range",
    ),
    (
        "per-replica-tiny",
        {"linear": '{"coresPerReplica": 0.00000000000000000000000000000000000000011}'},
        "ConfigMap data.linear.coresPerReplica",
        "out of range",
    ),
    (
        "spof-string",
        {"linear": '{"nodesPerReplica": 1, "preventSinglePointFailure": "true"}'},
        "ConfigMap data.linear.preventSinglePointFailure",
        "must be true or false",
    ),
    (
        "nan",
        {"linear": '{"nodesPerReplica": NaN}'},
        "ConfigMap data.linear",
        "NaN is not a JSON number",
    ),
    (
        "step-three-numbers",
        {"ladder": '{"nodesToReplicas": [[0,1,2]]}'},
        "ConfigMap data.ladder.nodesToReplicas",
        "not a [threshold, replicas] pair",
    ),
    (
        "step-one-number",
        {"ladder": '{"nodesToReplicas": [[0]]}'},
        "ConfigMap data.ladder.nodesToReplicas",
        "not a [threshold, replicas] pair",
    ),
    (
        "step-duplicate",
        {"ladder": '{"nodesToReplicas": [[4,2],[0,1],[4,3]]}'},
        "ConfigMap data.ladder.nodesToReplicas",
        "threshold 4 appears twice",
    ),
    (
        "step-decreasing",
        {"ladder": '{"nodesToReplicas": [[0,3],[4,1]]}'},
        "ConfigMap data.ladder.nodesToReplicas",
        "must not decrease",
    ),
    (
        "step-negative",
        {"ladder": '{"coresToReplicas": [[-1,1]]}'},
        "ConfigMap data.ladder.coresToReplicas",
        "negative",
    ),
    (
        "ladder-no-table",
        {"ladder": "{}"},
        "ConfigMap data.ladder",
        "CPA keeps the target at 0 replicas",
    ),
    (
        "ladder-empty-tables",
        {"ladder": '{"nodesToReplicas": [], "coresToReplicas": []}'},
        "ConfigMap data.ladder",
        "no steps",
    ),
    (
        "huge",
        {"linear": "{" + " " * 20_000 + "}"},
        "ConfigMap data.linear",
        "longer than 16384 characters",
    ),
    ("deep", {"linear": "[" * 16_000}, "ConfigMap data.linear", "nested too deeply"),
]


@pytest.mark.parametrize(
    ("data", "where", "problem"), [r[1:] for r in BAD_DATA], ids=[r[0] for r in BAD_DATA]
)
def test_bad_data(data: dict[str, object], where: str, problem: str) -> None:
    """Bad ConfigMap data is one typed error: where, the value (shortened) and the problem."""
    errors = errors_of(data)
    assert [(e.where, problem in e.problem) for e in errors] == [(where, True)]
    assert all(len(str(e)) < 400 for e in errors)


def test_bad_data_takes_bounded_time() -> None:
    """All the bad data above, 10 times over, in well under a second."""
    started = time.perf_counter()
    for _ in range(10):
        for row in BAD_DATA:
            data = row[1]
            assert isinstance(data, dict)
            translate(data, FLAGS)
    assert time.perf_counter() - started < 1.0


def test_default_params_when_no_configmap() -> None:
    """Without a ConfigMap, CPA would create one from --default-params: so they are used."""
    flags = CpaFlags(
        target="deployment/coredns",
        namespace="kube-system",
        default_params='{"linear": {"coresPerReplica": 256, "nodesPerReplica": 16, "min": 2}}',
    )
    migration = migrate(None, flags)
    assert migration.params_source == "--default-params"
    assert dict(migration.annotations)[P + "min-replicas"] == "2"
    with_configmap = migrate({"ladder": README_ZERO}, flags)
    assert with_configmap.mode is Mode.LADDER
    assert any("--default-params is not used" in d for d in with_configmap.differences)


BAD_FLAGS = [
    ("no-target", CpaFlags(namespace="ns"), "--target", "not given"),
    ("daemonset", CpaFlags(target="daemonset/agent", namespace="ns"), "--target", "unknown kind"),
    (
        "core-group-form",
        CpaFlags(target="replicationcontrollers.v1/x", namespace="ns"),
        "--target",
        "unknown kind",
    ),
    ("crd", CpaFlags(target="scalecrd.v1.example/x", namespace="ns"), "--target", "unknown kind"),
    ("no-slash", CpaFlags(target="deployment", namespace="ns"), "--target", "expected kind/name"),
    (
        "two-slashes",
        CpaFlags(target="deployment/a/b", namespace="ns"),
        "--target",
        "expected kind/name",
    ),
    (
        "bad-name",
        CpaFlags(target="deployment/under_score", namespace="ns"),
        "--target",
        "not a valid Deployment name",
    ),
    (
        "too-many",
        CpaFlags(target=",".join(["deployment/a"] * (CPA_MAX_TARGETS + 1)), namespace="ns"),
        "--target",
        "more than 100 targets",
    ),
    ("no-namespace", CpaFlags(target="deployment/a"), "--namespace", "not given"),
    (
        "bad-namespace",
        CpaFlags(target="deployment/a", namespace="Kube_System"),
        "--namespace",
        "not a namespace name",
    ),
    (
        "bad-nodelabels",
        CpaFlags(target="deployment/a", namespace="ns", nodelabels="a=b,,c"),
        "--nodelabels",
        "invalid selector",
    ),
    (
        "default-params-json",
        CpaFlags(target="deployment/a", namespace="ns", default_params="{linear"),
        "--default-params",
        "not valid JSON",
    ),
    (
        "default-params-string",
        CpaFlags(target="deployment/a", namespace="ns", default_params='{"linear": "{}"}'),
        "--default-params.linear",
        "must be a JSON object",
    ),
    (
        "nothing",
        CpaFlags(target="deployment/a", namespace="ns"),
        "ConfigMap",
        "no --default-params given",
    ),
]


@pytest.mark.parametrize(
    ("flags", "where", "problem"), [r[1:] for r in BAD_FLAGS], ids=[r[0] for r in BAD_FLAGS]
)
def test_bad_flags(flags: CpaFlags, where: str, problem: str) -> None:
    """A bad flag is a typed error naming the flag."""
    data: dict[str, object] | None = (
        None
        if where in ("ConfigMap", "--default-params", "--default-params.linear")
        else {"linear": '{"nodesPerReplica": 1}'}
    )
    errors = errors_of(data, flags)
    assert any(e.where == where and problem in e.problem for e in errors), errors


def test_targets_as_cpa_reads_them() -> None:
    """Comma list, spaces, any case (CPA lowercases the flag), group forms, duplicates once."""
    targets, errors = parse_targets(
        "Deployment/CoreDNS, deployments/b,deployment.apps/c,deployments.v1.apps/d,deployment/b"
    )
    assert errors == ()
    assert [(t.kind, t.name) for t in targets] == [
        (DEPLOYMENT, "coredns"),
        (DEPLOYMENT, "b"),
        (DEPLOYMENT, "c"),
        (DEPLOYMENT, "d"),
    ]


# CPA's requestForTarget (k8sclient.go) names the kinds it scales: each of the kind table's
# built-in kinds, singular or plural.
TARGET_KINDS = [
    ("deployment/a", DEPLOYMENT),
    ("replicaset/a", REPLICASET),
    ("ReplicaSets/a", REPLICASET),
    ("statefulset/a", STATEFULSET),
    ("statefulsets.apps/a", STATEFULSET),
    ("replicationcontroller/a", REPLICATIONCONTROLLER),
    ("ReplicationControllers/a", REPLICATIONCONTROLLER),
]


@pytest.mark.parametrize(("raw", "kind"), TARGET_KINDS, ids=[r[0] for r in TARGET_KINDS])
def test_every_kind_cpa_scales(raw: str, kind: WorkloadKind) -> None:
    """Every kind CPA's --target names is read from the kind table."""
    targets, errors = parse_targets(raw)
    assert errors == ()
    assert [(t.kind, t.name) for t in targets] == [(kind, "a")]


def test_every_builtin_kind_is_a_cpa_target() -> None:
    """The kind table and CPA's four kinds are the same set: a kind added to the table is read
    by migrate-cpa under its lower-case name and its resource name."""
    for kind in BUILTIN:
        for name in (kind.kind.lower(), kind.resource):
            targets, errors = parse_targets(f"{name}/x")
            assert (errors, [t.kind for t in targets]) == ((), [kind])


def test_same_name_of_two_kinds_is_two_targets() -> None:
    """deployment/web and statefulset/web are two workloads."""
    targets, errors = parse_targets("deployment/web,statefulset/web,deployments/web")
    assert errors == ()
    assert [str(t) for t in targets] == ["deployment/web", "statefulset/web"]


def test_kind_differences() -> None:
    """A StatefulSet target is told about ordinals; a ReplicationController about --kind."""
    flags = CpaFlags(target="statefulset/s,replicationcontroller/r,deployment/d", namespace="ns")
    migration = migrate({"linear": '{"nodesPerReplica": 1}'}, flags)
    assert [str(t) for t in migration.targets] == [
        "statefulset/s",
        "replicationcontroller/r",
        "deployment/d",
    ]
    notes = " ".join(migration.differences)
    assert "statefulset/s: a StatefulSet scales down by removing its highest ordinals" in notes
    assert "replicationcontroller/r: ReplicationControllers are watched only when" in notes
    assert "--kind ReplicationController" in notes
    plain = migrate({"linear": '{"nodesPerReplica": 1}'})
    assert not any("StatefulSet" in d or "ReplicationController" in d for d in plain.differences)


def test_nodelabels_become_node_selector() -> None:
    """--nodelabels is a label selector, written as node-selector; blank means none."""
    flags = CpaFlags(target="deployment/a", namespace="ns", nodelabels=" type!=virtual-kubelet ")
    annotations = annotations_of({"linear": '{"nodesPerReplica": 1}'}, flags)
    assert annotations[P + "node-selector"] == "type!=virtual-kubelet"
    blank = CpaFlags(target="deployment/a", namespace="ns", nodelabels="  ")
    assert P + "node-selector" not in annotations_of({"linear": '{"nodesPerReplica": 1}'}, blank)


def test_namespace_fallback() -> None:
    """Without --namespace, the namespace CPA runs in (its ConfigMap's) is assumed."""
    migration, errors = translate(
        {"linear": '{"nodesPerReplica": 1}'}, CpaFlags(target="deployment/a"), namespace="dns"
    )
    assert errors == ()
    assert migration is not None
    assert migration.namespace == "dns"


ARGS = [
    (
        "equals",
        ["/cluster-proportional-autoscaler", "--namespace=kube-system", "--target=deployment/x"],
        CpaFlags(target="deployment/x", namespace="kube-system"),
    ),
    (
        "separate-values",
        ["--configmap", "dns-autoscaler", "--nodelabels", "a=b", "--default-params", "{}"],
        CpaFlags(nodelabels="a=b", default_params="{}", configmap="dns-autoscaler"),
    ),
    (
        "other-flags",
        ["--logtostderr=true", "-v=2", "--v", "3", "--poll-period-seconds=30", "--alsologtostderr"],
        CpaFlags(other=("logtostderr", "v", "poll-period-seconds", "alsologtostderr")),
    ),
    (
        "last-wins",
        ["--target=deployment/a", "--target=deployment/b"],
        CpaFlags(target="deployment/b"),
    ),
    ("words-skipped", ["cpa", "--", "-", "x"], CpaFlags()),
]


@pytest.mark.parametrize(("args", "flags"), [r[1:] for r in ARGS], ids=[r[0] for r in ARGS])
def test_parse_cpa_args(args: list[str], flags: CpaFlags) -> None:
    """CPA's container command line, in pflag's forms."""
    assert parse_cpa_args(args) == (flags, ())


def test_parse_cpa_args_errors() -> None:
    """A flag without its value, and a 20,000-character value, are typed errors."""
    _flags, errors = parse_cpa_args(["--target"])
    assert [(e.where, e.problem) for e in errors] == [("--target", "the flag needs a value")]
    _flags, errors = parse_cpa_args(["--default-params=" + "x" * 20_000])
    assert [e.where for e in errors] == ["--default-params"]
    assert len(str(errors[0])) < 200


def test_overlaid_precedence() -> None:
    """Given flags win; absent ones keep what was read; other flags are merged."""
    read = CpaFlags(target="deployment/a", namespace="n1", other=("v",))
    top = CpaFlags(namespace="n2", other=("v", "logtostderr"))
    assert read.overlaid(top) == CpaFlags(
        target="deployment/a", namespace="n2", other=("v", "logtostderr")
    )


def cpa_linear_float64(count: int, per_replica: str) -> int:
    """CPA's linear term, math.Ceil(float64(count) / perReplica), with perReplica a float64
    read from the ConfigMap's JSON: Python's float is that float64, its division Go's."""
    return math.ceil(count / float(per_replica))


@pytest.mark.parametrize("example", FLOAT_EXAMPLES, ids=str)
def test_float_examples_are_what_cpa_and_this_compute(example: FloatExample) -> None:
    """Each example the differences print: CPA's float64 formula gives `cpa`, the
    annotations migrate-cpa writes give `exact`."""
    assert cpa_linear_float64(example.count, example.per_replica) == example.cpa
    param = "nodesPerReplica" if example.what == "nodes" else "coresPerReplica"
    annotations = annotations_of({"linear": f'{{"{param}": {example.per_replica}}}'})
    config, errors = parse_config(annotations)
    assert config is not None, errors
    nodes, cores = (example.count, 0) if example.what == "nodes" else (1, example.count)
    assert replicas(config.rule, nodes, Fraction(cores)) == example.exact
    notes = migrate({"linear": f'{{"{param}": {example.per_replica}}}'}).differences
    assert any(str(example) in note for note in notes)


@pytest.mark.parametrize(
    ("count", "per_replica", "cpa"),
    [(3, "0.1", 30), (21, "0.7", 31), (21, "1.4", 16), (42, "2.8", 16), (10, "0.5", 20)],
)
def test_cpa_float64_table(count: int, per_replica: str, cpa: int) -> None:
    """CPA's float64 arithmetic: 3 / 0.1 is exactly 30.0 (the old example of 31 was wrong)."""
    assert cpa_linear_float64(count, per_replica) == cpa
